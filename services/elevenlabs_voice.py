"""ElevenLabs narration: text-to-speech with character timestamps, long scripts split and joined."""

from __future__ import annotations

import asyncio
import base64
import binascii
import bisect
import contextlib
import difflib
import email.utils
import math
import re
import time
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from elevenlabs.client import AsyncElevenLabs
from elevenlabs.core.api_error import ApiError
from elevenlabs.core.parse_error import ParsingError
from elevenlabs.text_to_speech.client import AsyncTextToSpeechClient

from services.content import Voiceover, WordTiming
from services.usage import Usage, UsageLog
from services.voice import write_wav

OUTPUT_FORMAT = "pcm_24000"  # raw 16-bit little-endian mono: no decoding; allowed on every tier
SAMPLE_RATE = 24_000
_CONCURRENCY = 2  # pieces of one long text synthesised at once (the free tier allows 2)
_ATTEMPTS = 3  # per request, for 429 and 5xx answers
_BACKOFF_S = (1.0, 2.0)  # waits before the 2nd and 3rd attempt when there is no retry-after
_MAX_WAIT_S = 30.0  # a longer retry-after fails at once rather than holding the job
_KEEP_SILENCE_S = 0.06  # silence kept on each side of a joint between pieces
_CROSSFADE_S = 0.01
_SILENCE = 256  # |sample| at or below this is silence
_SPOKEN_PUNCTUATION = "%‰#@&"  # kept at a word's edges, as EspeakVoice does
# Closing quotes and brackets (incl. U+201D, U+2019) stay with their sentence; dashes end clauses.
_SENTENCE_END = re.compile("[.!?\u2026]+[\"'\u201d\u2019\u00bb)\\]]*(?=\\s)|\n")
_CLAUSE_END = re.compile("[,;:\u2014\u2013](?=\\s)")
_SPACE = re.compile(r"\s")

_sleep = asyncio.sleep  # waits between attempts; tests may replace it


class VoiceError(Exception):
    """ElevenLabs could not voice the text; the message says what to do about it."""


@dataclass(frozen=True)
class _Piece:
    samples: np.ndarray[Any, np.dtype[np.int16]]
    words: list[WordTiming]  # seconds from the start of this piece


@dataclass(frozen=True)
class _Alignment:
    chars: list[str]
    starts: list[float]
    ends: list[float]


class ElevenLabsVoice:
    """The `Voice` of ElevenLabs' text-to-speech API, with real per-word timings."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None,
        default_voice_id: str,
        model_id: str = "eleven_multilingual_v2",
        price_per_1k_chars: float,
        max_chars_per_request: int = 2500,
        timeout_s: float = 60.0,
    ) -> None:
        """Make a client for `base_url` (None: ElevenLabs' production API); call `aclose()`."""
        if max_chars_per_request < 1:
            raise ValueError(f"max_chars_per_request must be positive, got {max_chars_per_request}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self.default_voice_id = default_voice_id
        self.model_id = model_id
        self.price_per_1k_chars = price_per_1k_chars
        self.max_chars_per_request = max_chars_per_request
        self.timeout_s = timeout_s
        self._base_url = base_url or "https://api.elevenlabs.io"
        self._http = httpx.AsyncClient(timeout=timeout_s, follow_redirects=True)
        client = AsyncElevenLabs(
            api_key=api_key, base_url=base_url, timeout=timeout_s, httpx_client=self._http
        )
        self._tts: AsyncTextToSpeechClient = client.text_to_speech

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()

    async def speak(
        self,
        text: str,
        out_path: Path,
        *,
        voice_id: str | None = None,
        usage: UsageLog | None = None,
    ) -> Voiceover:
        """Synthesise `text` to a 16-bit mono WAV at `out_path` (atomically), with word timings."""
        if not text.strip():
            raise ValueError("cannot synthesise speech from empty or whitespace-only text")
        texts = [text[a:b] for a, b in split_text(text, self.max_chars_per_request)]
        if not any(_words(t) for t in texts):
            raise ValueError(f"text has no words to speak: {text!r}")
        voice = voice_id or self.default_voice_id
        gate = asyncio.Semaphore(_CONCURRENCY)

        async def piece(i: int) -> _Piece:
            async with gate:
                return await self._piece(voice, texts, i)

        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(piece(i)) for i in range(len(texts))]
        except ExceptionGroup as errors:  # the first failure cancelled the other pieces
            raise errors.exceptions[0] from None
        voiceover = await asyncio.to_thread(_write, [t.result() for t in tasks], out_path)
        if usage is not None:
            cost = len(text) / 1000 * self.price_per_1k_chars
            usage.add(Usage("voice_chars", f"elevenlabs:{self.model_id}", len(text), cost))
        return voiceover

    async def _piece(self, voice: str, texts: Sequence[str], i: int) -> _Piece:
        options: dict[str, Any] = {
            "text": texts[i],
            "model_id": self.model_id,
            "output_format": OUTPUT_FORMAT,
            "request_options": {"max_retries": 0},  # retries are ours: see _request
        }
        if i > 0:  # request stitching: the neighbours keep the prosody continuous
            options["previous_text"] = texts[i - 1]
        if i + 1 < len(texts):
            options["next_text"] = texts[i + 1]
        response = await self._request(voice, options)
        audio = getattr(response, "audio_base_64", None)
        if not isinstance(audio, str) or not audio:
            raise VoiceError("ElevenLabs sent a malformed answer (no audio_base64); try again")
        try:
            pcm = base64.b64decode(audio, validate=True)
        except binascii.Error as exc:
            raise VoiceError("ElevenLabs sent a malformed answer (bad base64 audio)") from exc
        if not pcm or len(pcm) % 2:
            message = f"ElevenLabs sent a malformed answer ({len(pcm)} bytes of 16-bit audio)"
            raise VoiceError(message)
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.int16)
        found = (getattr(response, name, None) for name in ("alignment", "normalized_alignment"))
        alignments = [a for a in map(_alignment, found) if a is not None]
        if not alignments:
            raise VoiceError("ElevenLabs sent a malformed answer (no character alignment)")
        return _Piece(samples, _word_timings(texts[i], alignments, samples.size / SAMPLE_RATE))

    async def _request(self, voice: str, options: dict[str, Any]) -> Any:
        """One text-to-speech call, retried on 429 and 5xx honouring retry-after."""
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                async with asyncio.timeout(self.timeout_s):
                    return await self._tts.convert_with_timestamps(voice, **options)
            except (TimeoutError, httpx.TimeoutException) as exc:
                message = f"ElevenLabs did not answer within {self.timeout_s:g} s; try again later"
                raise VoiceError(message) from exc
            except httpx.HTTPError as exc:
                where = f"ElevenLabs at {self._base_url} ({exc!r})"
                raise VoiceError(f"could not reach {where}; check ELEVENLABS_BASE_URL") from exc
            except ParsingError as exc:
                raise VoiceError("ElevenLabs sent a malformed answer; try again") from exc
            except ApiError as exc:
                status = exc.status_code or 0
                wait = _retry_after(exc.headers)
                retryable = status == 429 or status >= 500
                if retryable and attempt < _ATTEMPTS and (wait or 0.0) <= _MAX_WAIT_S:
                    await _sleep(_BACKOFF_S[attempt - 1] if wait is None else wait)
                    continue
                raise _api_error(exc, voice, attempt, wait) from exc
        raise AssertionError("unreachable")  # pragma: no cover


def _api_error(exc: ApiError, voice: str, attempts: int, wait: float | None) -> VoiceError:
    """A message a person can act on, from ElevenLabs' `{"detail": {status, message}}`."""
    status = exc.status_code or 0
    detail = exc.body.get("detail") if isinstance(exc.body, dict) else None
    code = str(detail.get("status", "")) if isinstance(detail, dict) else ""
    said = str(detail.get("message", code)) if isinstance(detail, dict) else str(exc.body or "")
    said = " ".join(said.split())[:300] or "no details"
    tries = f"{attempts} attempt{'s' * (attempts > 1)}"
    if status == 200:
        return VoiceError("ElevenLabs sent a malformed answer (not JSON); try again")
    if status in (401, 403) and code == "quota_exceeded":
        return VoiceError(f"the ElevenLabs quota is used up ({said}); upgrade or wait for reset")
    if status in (401, 403):
        return VoiceError(f"ELEVENLABS_API_KEY was refused by ElevenLabs ({said}); set a valid key")
    if status == 404 and (code == "voice_not_found" or "voice" in said.lower()):
        return VoiceError(f"voice {voice} does not exist; choose one with /voice")
    if status == 429:
        later = f"in {math.ceil(wait)} s" if wait else "in a minute"
        return VoiceError(f"ElevenLabs is rate-limiting us ({said}) after {tries}; retry {later}")
    if status >= 500:
        return VoiceError(f"ElevenLabs failed (HTTP {status}: {said}) after {tries}; retry later")
    return VoiceError(f"ElevenLabs refused the request (HTTP {status}: {said})")


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from a `retry-after` header (seconds or an HTTP date), if any."""
    value = {k.lower(): v for k, v in (headers or {}).items()}.get("retry-after")
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def split_text(text: str, limit: int) -> list[tuple[int, int]]:
    """Spans of `text` of at most `limit` characters, cut at sentence ends where possible."""
    cuts = [
        sorted({m.end() if m.group() != "\n" else m.start() for m in _SENTENCE_END.finditer(text)}),
        [m.end() for m in _CLAUSE_END.finditer(text)],
        [m.start() for m in _SPACE.finditer(text)],
    ]
    spans: list[tuple[int, int]] = []
    end = len(text.rstrip())
    start = len(text) - len(text.lstrip())
    while start < end:
        cut = end
        if end - start > limit:
            cut = start + limit  # no boundary at all: a hard cut
            for positions in cuts:
                k = bisect.bisect_right(positions, start + limit) - 1
                if k >= 0 and positions[k] > start:
                    cut = positions[k]
                    break
        spans.append((start, start + len(text[start:cut].rstrip())))
        start = cut + len(text[cut:]) - len(text[cut:].lstrip())
    return spans


def _is_silent_punctuation(char: str) -> bool:
    return unicodedata.category(char).startswith("P") and char not in _SPOKEN_PUNCTUATION


def _words(text: str) -> list[tuple[str, int, int]]:
    """(word, first char, end char) of each whitespace-separated token, edge punctuation off."""
    words = []
    for match in re.finditer(r"\S+", text):
        lo, hi = match.start(), match.end()
        while lo < hi and _is_silent_punctuation(text[lo]):
            lo += 1
        while hi > lo and _is_silent_punctuation(text[hi - 1]):
            hi -= 1
        if lo < hi:
            words.append((text[lo:hi], lo, hi))
    return words


def _alignment(value: Any) -> _Alignment | None:
    """The alignment, if it is well formed (the SDK does not validate answers)."""
    chars = getattr(value, "characters", None)
    starts = getattr(value, "character_start_times_seconds", None)
    ends = getattr(value, "character_end_times_seconds", None)
    if not (isinstance(chars, list) and isinstance(starts, list) and isinstance(ends, list)):
        return None
    if not chars or not len(chars) == len(starts) == len(ends):
        return None
    if not all(isinstance(c, str) for c in chars):
        return None
    if not all(isinstance(t, int | float) and math.isfinite(t) for t in (*starts, *ends)):
        return None
    return _Alignment(chars, [float(t) for t in starts], [float(t) for t in ends])


def _char_times(text: str, alignment: _Alignment) -> dict[int, tuple[float, float]]:
    """Times of the characters of `text`, matched to the alignment's characters."""
    if alignment.chars == list(text):
        return {
            i: (s, e) for i, (s, e) in enumerate(zip(alignment.starts, alignment.ends, strict=True))
        }
    spoken: list[str] = []
    times: list[tuple[float, float]] = []
    for chars, s, e in zip(alignment.chars, alignment.starts, alignment.ends, strict=True):
        spoken.extend(chars)
        times.extend([(s, e)] * len(chars))
    matcher = difflib.SequenceMatcher(None, text, "".join(spoken), autojunk=False)
    return {
        block.a + k: times[block.b + k]
        for block in matcher.get_matching_blocks()
        for k in range(block.size)
    }


def _word_timings(text: str, alignments: list[_Alignment], duration: float) -> list[WordTiming]:
    """Word timings from the alignment that covers most words; the rest interpolated."""
    words = _words(text)
    best: list[tuple[float, float] | None] = [None] * len(words)
    for alignment in alignments:
        times = _char_times(text, alignment)
        spans: list[tuple[float, float] | None] = []
        for _, lo, hi in words:
            hits = [times[k] for k in range(lo, hi) if k in times]
            spans.append((hits[0][0], hits[-1][1]) if hits else None)
        if sum(s is not None for s in spans) > sum(s is not None for s in best):
            best = spans
    # Words without times share the stretch between their timed neighbours by characters.
    result: list[WordTiming] = []
    i = 0
    while i < len(words):
        if (span := best[i]) is not None:
            result.append(WordTiming(words[i][0], span[0], span[1]))
            i += 1
            continue
        j = next((k for k in range(i, len(words)) if best[k] is not None), len(words))
        t0, c0 = (result[-1].end, words[i - 1][2]) if result else (0.0, 0)
        after = best[j] if j < len(words) else None
        t1, c1 = (after[0], words[j][1]) if after is not None else (duration, len(text))
        rate = (t1 - t0) / max(c1 - c0, 1)
        for k in range(i, j):
            _, lo, hi = words[k]
            result.append(WordTiming(words[k][0], t0 + (lo - c0) * rate, t0 + (hi - c0) * rate))
        i = j
    return _monotonic(result, duration)


def _monotonic(words: list[WordTiming], duration: float) -> list[WordTiming]:
    """Clamp timings into [0, duration] so that no word starts before the previous one ends."""
    out: list[WordTiming] = []
    end = 0.0
    for w in words:
        start = min(max(w.start, end), duration)
        end = min(max(w.end, start), duration)
        out.append(WordTiming(w.word, start, end))
    return out


def _join(pieces: list[_Piece]) -> tuple[np.ndarray[Any, np.dtype[np.int16]], list[WordTiming]]:
    """One signal: silence at each joint trimmed to ~60 ms, then an equal-power crossfade."""
    keep, fade = round(_KEEP_SILENCE_S * SAMPLE_RATE), round(_CROSSFADE_S * SAMPLE_RATE)
    parts: list[np.ndarray[Any, np.dtype[np.int16]]] = []  # views: one copy at the end
    words: list[WordTiming] = []
    total = 0  # samples in `parts`
    for i, piece in enumerate(pieces):
        x = piece.samples
        loud = np.flatnonzero((x > _SILENCE) | (x < -_SILENCE))
        head, tail = 0, x.size
        if i > 0 and loud.size:
            first_word = math.floor(piece.words[0].start * SAMPLE_RATE) if piece.words else x.size
            head = max(0, min(int(loud[0]) - keep, first_word))
        if i + 1 < len(pieces) and loud.size:
            last_word = math.ceil(piece.words[-1].end * SAMPLE_RATE) if piece.words else 0
            tail = min(x.size, max(int(loud[-1]) + 1 + keep, last_word, head))
        x = x[head:tail]
        n = min(fade, parts[-1].size, x.size) if parts else 0
        if n:
            theta = (np.arange(n) + 0.5) / n * (np.pi / 2)
            mixed = parts[-1][-n:] * np.cos(theta) + x[:n] * np.sin(theta)
            parts[-1] = parts[-1][:-n]
            parts.append(np.clip(np.round(mixed), -32768, 32767).astype(np.int16))
        offset = (total - n - head) / SAMPLE_RATE
        words.extend(WordTiming(w.word, w.start + offset, w.end + offset) for w in piece.words)
        parts.append(x[n:])
        total += x.size - n
    samples = np.concatenate(parts)
    return samples, _monotonic(words, samples.size / SAMPLE_RATE)


def _write(pieces: list[_Piece], path: Path) -> Voiceover:
    """Join the pieces and write them as a WAV at `path`, atomically (temp file + rename)."""
    samples, words = _join(pieces)
    write_wav(path, samples, SAMPLE_RATE)
    return Voiceover(audio_path=path, duration_s=samples.size / SAMPLE_RATE, words=tuple(words))
