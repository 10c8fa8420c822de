"""A fake ElevenLabs API on loopback (aiohttp): text-to-speech with timestamps, voices, failures."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import numpy as np
from aiohttp import web

from tests.fakes.loopback import start_app

API_KEY = "test-elevenlabs-key"
VOICES: dict[str, str] = {  # voice_id -> name, as in ElevenLabs' premade voices
    "21m00Tcm4TlvDq8ikWAM": "Rachel",
    "pNInz6obpgDQGcFmaJgB": "Adam",
}
CHAR_S = 0.06  # every character lasts this long; whitespace is silence, the rest a tone
RAMP_S = 0.005  # raised-cosine ramps at each tone's edges, so the fake's own audio has no clicks
AMPLITUDE = 8000


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    at: float  # time.monotonic() on arrival


@dataclass
class _Scripted:
    """What to do with the next TTS request(s) instead of answering normally."""

    times: int | None  # None: forever
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None  # None: answer normally (after the delay)
    delay_s: float = 0.0


def error_body(status: str, message: str) -> dict[str, Any]:
    """ElevenLabs' error JSON shape."""
    return {"detail": {"status": status, "message": message}}


def synthesize(
    text: str,
    rate: int,
    *,
    lead_silence_s: float = 0.0,
    tail_silence_s: float = 0.25,
    abrupt_edges: bool = False,
) -> tuple[np.ndarray[Any, np.dtype[np.int16]], dict[str, list[Any]]]:
    """The fake's audio for `text` (int16 samples) and its exact character alignment."""
    per_char = round(CHAR_S * rate)
    lead, tail = round(lead_silence_s * rate), round(tail_silence_s * rate)
    ramp_n = round(RAMP_S * rate)
    envelope = np.ones(per_char)
    envelope[:ramp_n] = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp_n) / ramp_n)
    envelope[per_char - ramp_n :] = envelope[:ramp_n][::-1]
    # One row per character: a cosine at the character's pitch, silence for whitespace.
    codes = np.array([ord(c) for c in text])
    pitches = 150 + 10 * (codes % 32)
    t = np.arange(per_char) / rate
    voiced = np.array([not c.isspace() for c in text])[:, None]
    raw = AMPLITUDE * np.cos(2 * np.pi * pitches[:, None] * t[None, :]) * voiced
    rows = raw * envelope
    if abrupt_edges:  # the audio starts at a tone's peak and stops mid-tone, as if cut off
        rows[0, :ramp_n] = raw[0, :ramp_n]
        rows[-1, per_char - ramp_n :] = raw[-1, per_char - ramp_n :]
    signal = np.concatenate([np.zeros(lead), rows.ravel(), np.zeros(tail)])
    begins = lead + per_char * np.arange(len(text) + 1)
    starts = [round(b / rate, 6) for b in begins[:-1].tolist()]
    ends = [round(b / rate, 6) for b in begins[1:].tolist()]
    alignment = {
        "characters": list(text),
        "character_start_times_seconds": starts,
        "character_end_times_seconds": ends,
    }
    return np.round(signal).astype(np.int16), alignment


class FakeElevenLabs:
    """ElevenLabs' wire protocol on 127.0.0.1: `async with FakeElevenLabs() as fake: ...`."""

    def __init__(
        self,
        *,
        api_key: str = API_KEY,
        lead_silence_s: float = 0.0,
        tail_silence_s: float = 0.25,
        abrupt_edges: bool = False,
        max_text_chars: int | None = None,
    ) -> None:
        """Configure the audio the fake makes and the longest text it accepts."""
        self.api_key = api_key
        self.lead_silence_s = lead_silence_s
        self.tail_silence_s = tail_silence_s
        self.abrupt_edges = abrupt_edges
        self.max_text_chars = max_text_chars
        self.requests: list[RecordedRequest] = []
        self.max_in_flight = 0
        # Tests may rewrite every successful answer (e.g. garble or drop its alignment).
        self.answer_transform: Callable[[dict[str, Any]], Any] | None = None
        self._in_flight = 0
        self._script: list[_Scripted] = []
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def __aenter__(self) -> FakeElevenLabs:
        """Start serving on a free loopback port."""
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/v1/text-to-speech/{voice_id}/with-timestamps", self._tts)
        app.router.add_get("/v1/voices", self._voices)
        self._runner, origin = await start_app(app, shutdown_timeout=1.0)
        self.base_url = origin
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop serving; delayed answers still pending are given up."""
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    # Scripting -------------------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        body: Mapping[str, Any] | bytes | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        times: int | None = 1,
    ) -> None:
        """Answer the next `times` TTS requests (None: all) with this HTTP error."""
        if not isinstance(body, bytes):
            body = json.dumps(body or error_body("error", "")).encode()
        self._script.append(_Scripted(times, status, dict(headers or {}), body))

    def delay_next(self, seconds: float, *, times: int | None = 1) -> None:
        """Answer the next `times` TTS requests only after `seconds`."""
        self._script.append(_Scripted(times, delay_s=seconds))

    def malformed_next(self, body: bytes = b'{"audio_base64": "AA', *, times: int = 1) -> None:
        """Answer the next `times` TTS requests 200 with this broken body."""
        self._script.append(_Scripted(times, body=body))

    def tts_requests(self) -> list[RecordedRequest]:
        """The text-to-speech requests received, in order."""
        return [r for r in self.requests if r.path.startswith("/v1/text-to-speech/")]

    # Handlers --------------------------------------------------------------------------------

    def _record(self, request: web.Request, body: Any) -> web.Response | None:
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers=dict(request.headers),
                json=body,
                at=time.monotonic(),
            )
        )
        if request.headers.get("xi-api-key") != self.api_key:
            detail = error_body("invalid_api_key", "Invalid API key")
            return web.json_response(detail, status=401)
        return None

    def _next_script(self) -> _Scripted | None:
        if not self._script:
            return None
        step = self._script[0]
        if step.times is not None:
            step.times -= 1
            if step.times <= 0:
                self._script.pop(0)
        return step

    async def _voices(self, request: web.Request) -> web.Response:
        refused = self._record(request, None)
        if refused is not None:
            return refused
        voices = [
            {"voice_id": vid, "name": name, "category": "premade", "labels": {"accent": "american"}}
            for vid, name in VOICES.items()
        ]
        return web.json_response({"voices": voices, "has_more": False})

    async def _tts(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            body = None
        refused = self._record(request, body)
        if refused is not None:
            return refused
        self._in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            return await self._answer(request, body)
        finally:
            self._in_flight -= 1

    async def _answer(self, request: web.Request, body: Any) -> web.Response:
        step = self._next_script()
        if step is not None and step.delay_s:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), step.delay_s)
        if step is not None and step.body is not None:
            return web.Response(
                status=step.status,
                body=step.body,
                headers=step.headers,
                content_type="application/json",
            )
        voice_id = request.match_info["voice_id"]
        if voice_id not in VOICES:
            message = f"A voice with voice_id '{voice_id}' was not found."
            return web.json_response(error_body("voice_not_found", message), status=404)
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text:
            return web.json_response(error_body("invalid_text", "text is required"), status=400)
        if self.max_text_chars is not None and len(text) > self.max_text_chars:
            message = f"text is {len(text)} characters, the limit is {self.max_text_chars}"
            return web.json_response(error_body("text_too_long", message), status=400)
        output_format = request.query.get("output_format", "mp3_44100_128")
        codec, _, rate = output_format.partition("_")
        if codec != "pcm" or not rate.isdigit():
            message = f"the fake only speaks pcm_*, not {output_format}"
            return web.json_response(error_body("invalid_output_format", message), status=400)
        samples, alignment = synthesize(
            text,
            int(rate),
            lead_silence_s=self.lead_silence_s,
            tail_silence_s=self.tail_silence_s,
            abrupt_edges=self.abrupt_edges,
        )
        answer: dict[str, Any] = {
            "audio_base64": base64.b64encode(samples.astype("<i2").tobytes()).decode("ascii"),
            "alignment": alignment,
            "normalized_alignment": alignment,
        }
        if self.answer_transform is not None:
            answer = self.answer_transform(answer)
        return web.json_response(answer, headers={"request-id": f"req-{len(self.requests)}"})
