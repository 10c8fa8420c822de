"""Offline narration: eSpeak NG (espeakng-loader wheel) through ctypes, with word timings."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import ctypes
import itertools
import os
import re
import tempfile
import threading
import unicodedata
import wave
from ctypes import POINTER, c_char_p, c_int, c_short, c_size_t, c_uint, c_void_p
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import espeakng_loader  # type: ignore[import-untyped]
import numpy as np

from services.content import Voiceover, WordTiming
from services.usage import Usage, UsageLog

MIN_WORDS_PER_MINUTE = 80  # espeakRATE_MINIMUM
MAX_WORDS_PER_MINUTE = 450  # espeakRATE_MAXIMUM

# From espeak-ng/speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_PARAM_RATE = 1
_EE_OK = 0

_BUFFER_MS = 200  # audio per callback
_SPOKEN_PUNCTUATION = "%‰#@&"  # kept at a word's edges: eSpeak reads them ("50%", "&")
_SILENCE = 256  # |sample| at or below this is silence when finding where speech ends


class _Event(ctypes.Structure):
    _fields_ = (
        ("type", c_int),
        ("unique_identifier", c_uint),
        ("text_position", c_int),  # 1-based, in characters (code points) of the text
        ("length", c_int),
        ("audio_position", c_int),  # ms
        ("sample", c_int),  # exact sample index in synchronous mode
        ("user_data", c_void_p),
        ("id", c_void_p),  # union {int; const char *; char[8]}: pointer-sized
    )


_SynthCallback = ctypes.CFUNCTYPE(c_int, POINTER(c_short), c_int, POINTER(_Event))
_SIGNATURES: dict[str, tuple[Any, tuple[Any, ...]]] = {
    "espeak_Initialize": (c_int, (c_int, c_int, c_char_p, c_int)),
    "espeak_SetSynthCallback": (None, (_SynthCallback,)),
    "espeak_SetVoiceByName": (c_int, (c_char_p,)),
    "espeak_SetParameter": (c_int, (c_int, c_int, c_int)),
    "espeak_Synth": (
        c_int,
        (c_void_p, c_size_t, c_uint, c_int, c_uint, c_uint, POINTER(c_uint), c_void_p),
    ),
}


class Voice(Protocol):
    """Something that reads text aloud into a WAV file, with per-word timings."""

    async def speak(
        self,
        text: str,
        out_path: Path,
        *,
        voice_id: str | None = None,
        usage: UsageLog | None = None,
    ) -> Voiceover:
        """Synthesise `text` to a WAV file at `out_path`, in `voice_id` or the default voice."""


@dataclass(frozen=True)
class _Capture:
    pcm: bytearray = field(default_factory=bytearray)
    words: list[tuple[int, int, int]] = field(default_factory=list)  # (char index, length, sample)
    errors: list[BaseException] = field(default_factory=list)


@dataclass(frozen=True)
class _Engine:
    lib: ctypes.CDLL
    sample_rate: int
    callback: object  # the C callback must stay alive as long as the library may call it


@dataclass(frozen=True)
class _Chunk:
    start: int  # a whitespace-delimited chunk of the text: [start, end) in characters
    end: int
    word_index: int | None  # index among the words; None for a punctuation-only chunk


# eSpeak NG keeps process-global C state and is not thread-safe: initialisation, voice and rate
# settings, synthesis and the capture the callback fills all happen under _lock.
_lock = threading.Lock()
_engine: _Engine | None = None
_capture: _Capture | None = None


def _on_synth(wav: ctypes._Pointer[c_short], n: int, events: ctypes._Pointer[_Event]) -> int:
    capture = _capture
    if capture is None:
        return 1  # abort: nobody is listening
    try:  # ctypes would print and swallow an exception: keep it and abort instead
        if n > 0 and wav:
            capture.pcm.extend(ctypes.string_at(wav, n * ctypes.sizeof(c_short)))
        i = 0
        while (event := events[i]).type != _EVENT_LIST_TERMINATED:
            if event.type == _EVENT_WORD:
                capture.words.append((event.text_position - 1, event.length, event.sample))
            i += 1
    except BaseException as exc:
        capture.errors.append(exc)
        return 1
    return 0


def _engine_locked() -> _Engine:
    global _engine
    if _engine is None:
        lib = ctypes.CDLL(str(espeakng_loader.get_library_path()))
        for name, (restype, argtypes) in _SIGNATURES.items():
            getattr(lib, name).restype = restype
            getattr(lib, name).argtypes = argtypes
        data = os.fsencode(str(espeakng_loader.get_data_path()))
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, _BUFFER_MS, data, _INITIALIZE_DONT_EXIT
        )
        if rate <= 0:
            raise RuntimeError(f"eSpeak NG failed to initialise (code {rate})")
        callback = _SynthCallback(_on_synth)
        lib.espeak_SetSynthCallback(callback)
        _engine = _Engine(lib=lib, sample_rate=int(rate), callback=callback)
    return _engine


def _is_silent_punctuation(char: str) -> bool:
    return unicodedata.category(char).startswith("P") and char not in _SPOKEN_PUNCTUATION


def _chunks(text: str) -> tuple[list[_Chunk], list[str]]:
    chunks: list[_Chunk] = []
    words: list[str] = []
    for match in re.finditer(r"\S+", text):
        chars = match.group()
        lo, hi = 0, len(chars)
        while lo < hi and _is_silent_punctuation(chars[lo]):
            lo += 1
        while hi > lo and _is_silent_punctuation(chars[hi - 1]):
            hi -= 1
        if lo < hi:
            words.append(chars[lo:hi])
        index = len(words) - 1 if lo < hi else None
        chunks.append(_Chunk(start=match.start(), end=match.end(), word_index=index))
    return chunks, words


def _timings(
    chunks: list[_Chunk], words: list[str], capture: _Capture, speech_end: int, rate: int
) -> tuple[WordTiming, ...]:
    """Per-word timings from eSpeak's word events; words it gave no event are interpolated."""
    ends = [c.end for c in chunks]
    first: dict[int, int] = {}
    for position, length, sample in capture.words:
        # An event belongs to the first chunk its span overlaps. eSpeak may start the span on the
        # space before a word ("word0" after a full stop); a span of whitespace only is the second
        # word of one chunk read as two ("😀" is "grinning face") and starts nothing.
        k = bisect.bisect_right(ends, position)
        if k < len(chunks) and chunks[k].start < position + max(length, 1):
            index = chunks[k].word_index
            if index is not None and index not in first:
                first[index] = sample
    first.setdefault(0, 0)
    anchors: list[tuple[int, float]] = []  # (word index, start sample), strictly increasing
    for index, sample in sorted(first.items()):
        if sample < speech_end and (not anchors or sample > anchors[-1][1]):
            anchors.append((index, float(sample)))
    anchors.append((len(words), float(speech_end)))
    starts = [0.0] * (len(words) + 1)
    for (i0, s0), (i1, s1) in itertools.pairwise(anchors):
        for k in range(i0, i1 + 1):
            starts[k] = s0 + (s1 - s0) * (k - i0) / (i1 - i0)
    return tuple(
        WordTiming(word=w, start=starts[i] / rate, end=starts[i + 1] / rate)
        for i, w in enumerate(words)
    )


def write_wav(path: Path, samples: np.ndarray[Any, np.dtype[Any]], rate: int) -> None:
    """Write 16-bit mono samples as a WAV at `path`, atomically (temp file, then rename)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh, wave.open(fh, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(rate)
            out.writeframes(samples.astype("<i2").tobytes())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@dataclass(frozen=True, kw_only=True)
class EspeakVoice:
    """Offline voice: eSpeak NG from the espeakng-loader wheel, with word timings."""

    voice: str = "en-us"
    words_per_minute: int = 165

    def __post_init__(self) -> None:
        """Reject settings eSpeak NG cannot honour."""
        lo, hi, wpm = MIN_WORDS_PER_MINUTE, MAX_WORDS_PER_MINUTE, self.words_per_minute
        if not lo <= wpm <= hi:
            raise ValueError(f"words_per_minute must be within {lo}-{hi}, got {wpm}")

    async def speak(
        self,
        text: str,
        out_path: Path,
        *,
        voice_id: str | None = None,
        usage: UsageLog | None = None,
    ) -> Voiceover:
        """Synthesise `text` in the default executor (eSpeak calls block); `voice_id` is unused."""
        loop = asyncio.get_running_loop()
        voiceover = await loop.run_in_executor(None, self.synthesize, text, out_path)
        if usage is not None:
            usage.add(Usage("voice_chars", "espeak-ng", len(text), 0.0))
        return voiceover

    def synthesize(self, text: str, out_path: Path) -> Voiceover:
        """Synthesise `text` to a 16-bit mono WAV at `out_path` (atomically); blocking."""
        global _capture
        if not text.strip():
            raise ValueError("cannot synthesise speech from empty or whitespace-only text")
        text = text.replace("\0", " ")  # NUL would end the C string; a space keeps positions
        chunks, words = _chunks(text)
        if not words:
            raise ValueError(f"text has no words to speak: {text!r}")
        encoded = text.encode("utf-8") + b"\0"
        capture = _Capture()
        with _lock:
            engine = _engine_locked()
            if engine.lib.espeak_SetVoiceByName(self.voice.encode("utf-8")) != _EE_OK:
                raise ValueError(f"eSpeak NG has no voice named {self.voice!r}")
            engine.lib.espeak_SetParameter(_PARAM_RATE, self.words_per_minute, 0)
            _capture = capture
            try:
                code = engine.lib.espeak_Synth(
                    encoded, len(encoded), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
                )
            finally:
                _capture = None
        if capture.errors:
            raise capture.errors[0]
        if code != _EE_OK:
            raise RuntimeError(f"eSpeak NG synthesis failed (code {code})")
        samples = np.frombuffer(capture.pcm, dtype=np.int16)
        if samples.size == 0:
            raise RuntimeError(f"eSpeak NG produced no audio for {text!r}")
        loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > _SILENCE)
        speech_end = int(loud[-1]) + 1 if loud.size else samples.size
        timings = _timings(chunks, words, capture, speech_end, engine.sample_rate)
        write_wav(out_path, samples, engine.sample_rate)
        duration_s = samples.size / engine.sample_rate
        return Voiceover(audio_path=out_path, duration_s=duration_s, words=timings)
