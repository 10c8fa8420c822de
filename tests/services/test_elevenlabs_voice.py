"""ElevenLabsVoice with the real SDK against the loopback fake: audio, timings, joints, errors."""

from __future__ import annotations

import itertools
import socket
import string
import time
import wave
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from elevenlabs.client import AsyncElevenLabs
from elevenlabs.core.api_error import ApiError

from services import elevenlabs_voice
from services.content import WordTiming
from services.elevenlabs_voice import SAMPLE_RATE, ElevenLabsVoice, VoiceError, split_text
from services.usage import UsageLog
from services.voice import Voice
from tests.fakes.elevenlabs_server import API_KEY, CHAR_S, VOICES, FakeElevenLabs, synthesize

RACHEL, ADAM = VOICES
SHORT = "Hello, world! This is a test."
RATE = SAMPLE_RATE


def text_words(text: str) -> list[str]:
    """The words of `text` as a voice should report them: edge punctuation stripped."""
    return [w.strip(string.punctuation) for w in text.split() if w.strip(string.punctuation)]


def in_order(words: Sequence[WordTiming]) -> bool:
    """Every word has a length and starts no earlier than the previous one ends."""
    return all(w.start < w.end for w in words) and all(
        a.end <= b.start for a, b in itertools.pairwise(words)
    )


def read_wav(path: Path) -> tuple[wave._wave_params, np.ndarray[Any, np.dtype[np.int16]]]:
    """The WAV header and its samples."""
    with wave.open(str(path), "rb") as wav:
        params = wav.getparams()
        samples = np.frombuffer(wav.readframes(params.nframes), dtype="<i2").astype(np.int16)
    return params, samples


def long_text(chars: int) -> str:
    """Varied sentences, about `chars` characters long."""
    sentences: list[str] = []
    i = 0
    while len(" ".join(sentences)) < chars:
        end = "?!."[i % 3]
        sentences.append(f"Sentence {i} tells how the bakery{' really' * (i % 4)} rises early{end}")
        i += 1
    return " ".join(sentences)


@asynccontextmanager
async def voice_for(fake: FakeElevenLabs, **overrides: Any) -> AsyncIterator[ElevenLabsVoice]:
    """An ElevenLabsVoice talking to `fake`, closed afterwards."""
    options: dict[str, Any] = {
        "api_key": API_KEY,
        "base_url": fake.base_url,
        "default_voice_id": RACHEL,
        "price_per_1k_chars": 0.30,
        **overrides,
    }
    voice = ElevenLabsVoice(**options)
    try:
        yield voice
    finally:
        await voice.aclose()


@pytest.fixture
async def fake() -> AsyncIterator[FakeElevenLabs]:
    """A fake with the default audio: no leading silence, 250 ms trailing silence."""
    async with FakeElevenLabs() as server:
        yield server


async def test_short_text_gives_the_fake_audio_and_exact_word_timings(
    fake: FakeElevenLabs, tmp_path: Path
) -> None:
    out = tmp_path / "voice.wav"
    usage = UsageLog()
    async with voice_for(fake) as voice:
        checked: Voice = voice  # satisfies the Voice protocol
        result = await checked.speak(SHORT, out, usage=usage)

    params, samples = read_wav(out)
    assert (params.nchannels, params.sampwidth, params.framerate) == (1, 2, RATE)
    assert result.audio_path == out
    assert result.duration_s == params.nframes / RATE == len(SHORT) * CHAR_S + 0.25
    assert np.array_equal(samples, synthesize(SHORT, RATE)[0])  # one piece: untouched
    assert [w.word for w in result.words] == text_words(SHORT)
    first = 0
    for w in result.words:  # the fake's characters last CHAR_S each, from 0
        first = SHORT.index(w.word, first)
        assert w.start == pytest.approx(first * CHAR_S)
        assert w.end == pytest.approx((first + len(w.word)) * CHAR_S)
        first += len(w.word)
    assert result.words[0].start == 0.0
    assert in_order(result.words)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["voice.wav"]  # no temp file left

    [request] = fake.tts_requests()
    assert request.path == f"/v1/text-to-speech/{RACHEL}/with-timestamps"
    assert request.query == {"output_format": "pcm_24000"}
    assert request.headers["xi-api-key"] == API_KEY
    assert request.json == {"text": SHORT, "model_id": "eleven_multilingual_v2"}
    [item] = usage.items
    assert (item.kind, item.provider, item.quantity) == (
        "voice_chars",
        "elevenlabs:eleven_multilingual_v2",
        len(SHORT),
    )
    assert item.cost_usd == pytest.approx(len(SHORT) / 1000 * 0.30)


async def test_voice_id_and_model_are_sent(fake: FakeElevenLabs, tmp_path: Path) -> None:
    async with voice_for(fake, model_id="eleven_turbo_v2_5") as voice:
        await voice.speak("Hi there.", tmp_path / "a.wav", voice_id=ADAM)
    [request] = fake.tts_requests()
    assert request.path == f"/v1/text-to-speech/{ADAM}/with-timestamps"
    assert request.json["model_id"] == "eleven_turbo_v2_5"


async def test_long_text_is_split_at_sentences_and_joined_seamlessly(tmp_path: Path) -> None:
    text = long_text(6000)
    out = tmp_path / "long.wav"
    usage = UsageLog()
    fake = FakeElevenLabs(lead_silence_s=0.1, max_text_chars=2500)
    async with fake, voice_for(fake, max_chars_per_request=2500) as voice:
        started = time.perf_counter()
        result = await voice.speak(text, out, usage=usage)
        elapsed = time.perf_counter() - started
    print(f"long text: {len(text)} chars, {result.duration_s:.1f} s of audio in {elapsed:.2f} s")

    requests = fake.tts_requests()
    texts = [r.json["text"] for r in requests]
    assert len(requests) == 3
    assert all(len(t) <= 2500 for t in texts)
    assert all(t[-1] in ".?!" for t in texts)
    assert " ".join(texts) == text
    for i, request in enumerate(requests):  # request stitching
        assert request.json.get("previous_text") == (texts[i - 1] if i else None)
        assert request.json.get("next_text") == (texts[i + 1] if i + 1 < len(texts) else None)
    assert usage.items[0].quantity == len(text)  # one usage for the whole text

    params, samples = read_wav(out)
    assert params.framerate == RATE and result.duration_s == params.nframes / RATE
    pieces = [synthesize(t, RATE, lead_silence_s=0.1) for t in texts]
    # Each joint keeps 60 ms of the 250 ms tail and of the 100 ms lead, less a 10 ms crossfade.
    joints = len(pieces) - 1
    expected = sum(p[0].size for p in pieces) / RATE - joints * (0.19 + 0.04 + 0.01)
    assert result.duration_s == pytest.approx(expected, abs=0.002 * joints)

    words = result.words
    assert [w.word for w in words] == text_words(text)
    assert in_order(words)
    first = 0
    for k, (piece_samples, alignment) in enumerate(pieces):
        count = len(text_words(texts[k]))
        head, last = words[first], words[first + count - 1]
        if k:  # a pause like a sentence break: not swallowed, not a long gap
            assert 0.1 < head.start - words[first - 1].end < 0.25
        # The piece's speech is in the output unchanged, where its timings say.
        src = round(alignment["character_start_times_seconds"][0] * RATE)
        dst, length = round(head.start * RATE), round((last.end - head.start) * RATE)
        assert np.array_equal(samples[dst : dst + length], piece_samples[src : src + length])
        first += count
    assert first == len(words)
    assert elapsed < 10


async def test_joints_cut_mid_sound_are_crossfaded_without_clicks(tmp_path: Path) -> None:
    text = "One bright day. Two grey cats. Three small dogs. Four fast birds."
    out = tmp_path / "joints.wav"
    fake = FakeElevenLabs(abrupt_edges=True, tail_silence_s=0.0)
    async with fake, voice_for(fake, max_chars_per_request=17) as voice:
        result = await voice.speak(text, out)
    texts = [r.json["text"] for r in fake.tts_requests()]
    assert texts == ["One bright day.", "Two grey cats.", "Three small dogs.", "Four fast birds."]
    pieces = [synthesize(t, RATE, tail_silence_s=0.0, abrupt_edges=True)[0] for t in texts]
    _, samples = read_wav(out)
    fade = round(0.010 * RATE)
    assert samples.size == sum(p.size for p in pieces) - fade * (len(pieces) - 1)
    assert in_order(result.words)

    def max_step(signal: np.ndarray[Any, np.dtype[np.int16]], joints: list[int]) -> list[int]:
        """The largest sample-to-sample change within ±5 ms of each joint, and elsewhere."""
        diff = np.abs(np.diff(signal.astype(np.int32)))
        near = np.zeros(diff.size, dtype=bool)
        steps = []
        for j in joints:
            lo, hi = max(j - 120, 0), min(j + fade + 120, diff.size)
            near[lo:hi] = True
            steps.append(int(diff[lo:hi].max()))
        return [*steps, int(diff[~near].max())]

    starts = np.cumsum([p.size - fade for p in pieces[:-1]]).tolist()
    *at_joints, elsewhere = max_step(samples, starts)
    print(f"max step: joints {at_joints}, elsewhere {elsewhere}")
    assert max(at_joints) < 1.5 * elsewhere, (at_joints, elsewhere)
    # The check has teeth: plain concatenation of the same pieces clicks at every joint.
    naive = np.concatenate(pieces)
    *naive_joints, _ = max_step(naive, np.cumsum([p.size for p in pieces[:-1]]).tolist())
    print(f"naive concatenation: joints {naive_joints}")
    assert min(naive_joints) > 4 * elsewhere, (naive_joints, elsewhere)


async def test_pieces_are_synthesised_two_at_a_time(fake: FakeElevenLabs, tmp_path: Path) -> None:
    fake.delay_next(0.05, times=None)
    async with voice_for(fake, max_chars_per_request=120) as voice:
        result = await voice.speak(long_text(600), tmp_path / "a.wav")
    assert len(fake.tts_requests()) >= 5
    assert fake.max_in_flight == 2
    assert [w.word for w in result.words] == text_words(long_text(600))


def test_split_text_prefers_sentences_then_clauses_then_spaces() -> None:
    assert split_text("  One. Two!  Three?  ", 100) == [(2, 19)]
    text = "First one here. Second, a longer clause; and more words here. End."
    spans = split_text(text, 24)
    parts = [text[a:b] for a, b in spans]
    assert parts == ["First one here.", "Second, a longer clause;", "and more words here.", "End."]
    for text, limit, expected in [
        ("abcdefghij klm", 4, ["abcd", "efgh", "ij", "klm"]),  # hard cuts only without spaces
        ("Line one\nLine two", 12, ["Line one", "Line two"]),
        ("He said \u201cStop.\u201d Then left.", 20, ["He said \u201cStop.\u201d", "Then left."]),
    ]:
        assert [text[a:b] for a, b in split_text(text, limit)] == expected


@pytest.mark.parametrize("mode", ["missing", "garbled", "useless"])
async def test_mismatched_alignment_falls_back(
    fake: FakeElevenLabs, tmp_path: Path, mode: str
) -> None:
    def transform(answer: dict[str, Any]) -> dict[str, Any]:
        exact = answer["alignment"]
        if mode == "missing":  # only the normalized alignment is left
            return {**answer, "alignment": None}
        if mode == "garbled":  # a leading space, commas dropped: characters no longer 1:1
            keep = [i for i, c in enumerate(exact["characters"]) if c != ","]
            garbled = {k: [v[0], *(v[i] for i in keep)] for k, v in exact.items()}
            garbled["characters"][0] = " "
            return {**answer, "alignment": garbled, "normalized_alignment": None}
        nonsense = {**exact, "characters": ["#"] * len(exact["characters"])}
        return {**answer, "alignment": nonsense, "normalized_alignment": nonsense}

    fake.answer_transform = transform
    async with voice_for(fake) as voice:
        result = await voice.speak(SHORT, tmp_path / "a.wav")
    assert [w.word for w in result.words] == text_words(SHORT)
    assert in_order(result.words)
    if mode != "useless":  # the matched characters give the exact times
        assert result.words[1].start == pytest.approx(SHORT.index("world") * CHAR_S)
        assert result.words[-1].end == pytest.approx((len(SHORT) - 1) * CHAR_S)
    else:  # proportional spacing over the audio
        assert result.words[-1].end <= result.duration_s


async def expect_failure(
    fake: FakeElevenLabs, tmp_path: Path, match: str, text: str = SHORT, **options: Any
) -> None:
    """speak() raises VoiceError matching `match` and leaves the output folder empty."""
    voice_id = options.pop("voice_id", None)
    async with voice_for(fake, **options) as voice:
        with pytest.raises(VoiceError, match=match):
            await voice.speak(text, tmp_path / "out.wav", voice_id=voice_id)
    assert list(tmp_path.iterdir()) == []


async def test_refused_key(fake: FakeElevenLabs, tmp_path: Path) -> None:
    await expect_failure(fake, tmp_path, r"^ELEVENLABS_API_KEY was refused", api_key="wrong")
    assert len(fake.tts_requests()) == 1  # not retried


async def test_quota_exceeded(fake: FakeElevenLabs, tmp_path: Path) -> None:
    body = {"detail": {"status": "quota_exceeded", "message": "You have 3 credits left."}}
    fake.fail_next(401, body)
    await expect_failure(fake, tmp_path, r"quota is used up \(You have 3 credits left\.\)")


async def test_unknown_voice(fake: FakeElevenLabs, tmp_path: Path) -> None:
    match = r"^voice nobody does not exist; choose one with /voice$"
    await expect_failure(fake, tmp_path, match, voice_id="nobody")


async def test_rate_limit_then_success_honours_retry_after(
    fake: FakeElevenLabs, tmp_path: Path
) -> None:
    busy = {"detail": {"status": "too_many_concurrent_requests", "message": "busy"}}
    fake.fail_next(429, busy, headers={"Retry-After": "1"})
    async with voice_for(fake) as voice:
        result = await voice.speak(SHORT, tmp_path / "a.wav")
    first, second = fake.tts_requests()
    assert second.at - first.at >= 1.0
    assert [w.word for w in result.words] == text_words(SHORT)


async def test_rate_limit_forever(
    fake: FakeElevenLabs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(elevenlabs_voice, "_sleep", no_sleep)
    fake.fail_next(429, headers={"retry-after": "2"}, times=None)
    await expect_failure(fake, tmp_path, r"^ElevenLabs is rate-limiting .* after 3 attempts")
    assert waits == [2.0, 2.0]
    assert len(fake.tts_requests()) == 3


async def test_rate_limit_with_a_long_retry_after_fails_at_once(
    fake: FakeElevenLabs, tmp_path: Path
) -> None:
    fake.fail_next(429, headers={"retry-after": "120"})
    await expect_failure(fake, tmp_path, r"rate-limiting .* after 1 attempt; retry in 120 s")


async def test_server_error_is_retried_then_reported(
    fake: FakeElevenLabs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(elevenlabs_voice, "_sleep", no_sleep)
    fake.fail_next(500, {"detail": {"status": "internal", "message": "boom"}}, times=None)
    await expect_failure(fake, tmp_path, r"^ElevenLabs failed \(HTTP 500: boom\) after 3 attempts")
    assert waits == [1.0, 2.0]  # backoff without retry-after


@pytest.mark.parametrize(
    "body",
    [
        b'{"audio_base64": "AA',  # not JSON
        b'{"alignment": null}',  # no audio
        b'{"audio_base64": "!!notbase64!!", "alignment": null}',
        b'{"audio_base64": "AAAA"}',  # no alignment at all
    ],
)
async def test_malformed_answer(fake: FakeElevenLabs, tmp_path: Path, body: bytes) -> None:
    fake.malformed_next(body)
    await expect_failure(fake, tmp_path, r"^ElevenLabs sent a malformed answer")
    assert len(fake.tts_requests()) == 1


async def test_timeout(fake: FakeElevenLabs, tmp_path: Path) -> None:
    fake.delay_next(2.0)
    started = time.perf_counter()
    await expect_failure(fake, tmp_path, r"did not answer within 0\.2 s", timeout_s=0.2)
    assert time.perf_counter() - started < 1.5


async def test_unreachable_server(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with FakeElevenLabs() as fake:
        fake.base_url = f"http://127.0.0.1:{port}"
        await expect_failure(fake, tmp_path, r"^could not reach ElevenLabs at http://127")


async def test_a_failing_piece_fails_the_whole_text(tmp_path: Path) -> None:
    async with FakeElevenLabs(max_text_chars=150) as fake:
        match = r"refused the request \(HTTP 400: text is \d+ characters, the limit is 150\)"
        await expect_failure(fake, tmp_path, match, text=long_text(1000), max_chars_per_request=200)


async def test_empty_text_is_rejected_before_any_request(
    fake: FakeElevenLabs, tmp_path: Path
) -> None:
    async with voice_for(fake) as voice:
        for text in ("", "  \n ", "... !"):
            with pytest.raises(ValueError):
                await voice.speak(text, tmp_path / "a.wav")
    assert fake.tts_requests() == []


async def test_fake_lists_voices_for_the_sdk(fake: FakeElevenLabs) -> None:
    async with httpx.AsyncClient() as http:
        client = AsyncElevenLabs(api_key=API_KEY, base_url=fake.base_url, httpx_client=http)
        answer = await client.voices.get_all()
        with pytest.raises(ApiError) as refused:
            await AsyncElevenLabs(
                api_key="wrong", base_url=fake.base_url, httpx_client=http
            ).voices.get_all()
    assert refused.value.status_code == 401
    assert {v.voice_id: v.name for v in answer.voices} == VOICES
