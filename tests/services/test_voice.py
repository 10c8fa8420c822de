"""Tests for the offline eSpeak NG voice: WAV output, word timings, async use, bad input."""

from __future__ import annotations

import asyncio
import string
import wave
from pathlib import Path

import numpy as np
import pytest

from services.content import Voiceover
from services.voice import EspeakVoice, Voice

TEXT = (
    "Every morning the small bakery on the corner opens its doors at six, "
    "and the smell of fresh bread drifts down the street before sunrise."
)  # 25 words


def text_words(text: str) -> list[str]:
    """The words of `text` as the voice should report them: edge punctuation stripped."""
    return [w.strip(string.punctuation) for w in text.split() if w.strip(string.punctuation)]


def read_wav(path: Path) -> tuple[wave._wave_params, np.ndarray]:
    """The WAV header and its samples."""
    with wave.open(str(path), "rb") as wav:
        params = wav.getparams()
        samples = np.frombuffer(wav.readframes(params.nframes), dtype="<i2")
    return params, samples


def check_voiceover(result: Voiceover, words: list[str], path: Path) -> None:
    """Assert the WAV is valid, the duration exact and the timings sane for these words."""
    assert result.audio_path == path
    params, samples = read_wav(path)
    assert params.nchannels == 1
    assert params.sampwidth == 2
    assert params.framerate > 0
    assert params.nframes == samples.size > 0
    assert result.duration_s == params.nframes / params.framerate
    rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))
    assert rms > 500, f"audio looks silent (RMS {rms:.0f})"

    assert [w.word for w in result.words] == words
    previous_end = 0.0
    for w in result.words:
        assert 0.0 <= w.start < w.end <= result.duration_s, w
        assert w.start >= previous_end - 1e-9, w  # in order, no overlap
        previous_end = w.end
    assert result.words[0].start == 0.0
    # The last word ends where speech ends: within the audio, after most of it.
    assert result.words[-1].end > 0.8 * result.duration_s


def test_synthesize_writes_a_wav_with_word_timings(tmp_path: Path) -> None:
    out = tmp_path / "voice.wav"
    result = EspeakVoice().synthesize(TEXT, out)

    check_voiceover(result, text_words(TEXT), out)
    assert len(result.words) == len(TEXT.split()) == 25
    assert 6.0 <= result.duration_s <= 14.0  # 25 words at 165 wpm is about 9 s
    assert [p.name for p in tmp_path.iterdir()] == ["voice.wav"]  # no temp file left


async def test_speak_runs_in_an_executor_and_repeats(tmp_path: Path) -> None:
    voice: Voice = EspeakVoice()
    first = await voice.speak(TEXT, tmp_path / "a.wav")
    second = await voice.speak(TEXT, tmp_path / "b.wav")

    check_voiceover(first, text_words(TEXT), tmp_path / "a.wav")
    check_voiceover(second, text_words(TEXT), tmp_path / "b.wav")
    # eSpeak NG jitters by a few samples between runs; the speech is the same.
    assert second.duration_s == pytest.approx(first.duration_s, abs=0.05)


async def test_concurrent_speak_calls_are_serialised(tmp_path: Path) -> None:
    voices = [EspeakVoice(words_per_minute=wpm) for wpm in (120, 240, 120, 240)]
    paths = [tmp_path / f"{i}.wav" for i in range(len(voices))]
    results = await asyncio.gather(*(v.speak(TEXT, p) for v, p in zip(voices, paths, strict=True)))

    for result, path in zip(results, paths, strict=True):
        check_voiceover(result, text_words(TEXT), path)
    slow, fast = results[0].duration_s, results[1].duration_s
    assert fast < 0.75 * slow  # each call got its own rate despite the shared C state
    assert results[2].duration_s == pytest.approx(slow, abs=0.05)


def test_awkward_text_still_yields_one_timing_per_word(tmp_path: Path) -> None:
    # Numbers, contractions, symbols, an emoji, dashes and ellipses: eSpeak emits several word
    # events for some of these, none for others, and sometimes points at the preceding space.
    text = (
        'In 1999 salt & pepper cost $5.50 (50%) - wow... Don\'t stop. word0 then "naïve" café, '
        "e.g. 3x faster 😀 OK?"
    )
    words = "In 1999 salt & pepper cost $5.50 50% wow Don't stop word0 then naïve café"
    words += " e.g 3x faster 😀 OK"
    out = tmp_path / "awkward.wav"
    result = EspeakVoice().synthesize(text, out)

    check_voiceover(result, words.split(), out)


@pytest.mark.parametrize("text", ["", "   ", "\n\t  \n", "... — !"])
def test_text_without_words_raises_and_writes_nothing(tmp_path: Path, text: str) -> None:
    with pytest.raises(ValueError, match="text"):
        EspeakVoice().synthesize(text, tmp_path / "voice.wav")
    assert list(tmp_path.iterdir()) == []


def test_bad_settings_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="words_per_minute"):
        EspeakVoice(words_per_minute=10)
    with pytest.raises(ValueError, match="no voice named"):
        EspeakVoice(voice="xx-nonexistent").synthesize(TEXT, tmp_path / "voice.wav")
    assert list(tmp_path.iterdir()) == []
