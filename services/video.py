"""Render a short: footage or a generated background, word captions, voice, ducked music.

One ffmpeg pass per aspect ratio (no intermediate encodes); OpenCV then picks the thumbnail
among the first output's keyframes. The pieces live in services.captions (ASS),
services.footage (probe, crop), services.footage_focus and services.thumbnails (OpenCV, run in
a child process by services.vision), services.video_graph (the ffmpeg command) and
services.video_ffmpeg (running ffmpeg). This process never loads OpenCV or NumPy.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from services.captions import build_ass, escape_ass_text, group_words, scene_cues
from services.content import Script, Voiceover
from services.footage import Footage, FootageError, inspect_footage
from services.video_aspect import LAYOUTS, Aspect
from services.video_ffmpeg import (
    MediaInfo,
    RenderError,
    escape_filter_value,
    ffmpeg_exe,
    fonts_dir,
    frame_at,
    probe_media,
    run_ffmpeg,
)
from services.video_graph import OutputSpec, Slot, palette, plan_slots, render_args
from services.vision import find_focus_all, pick_thumbnail

__all__ = [
    "THUMBNAIL_NAME",
    "VIDEO_NAME",
    "Aspect",
    "Footage",
    "FootageError",
    "MediaInfo",
    "RenderError",
    "RenderResult",
    "build_ass",
    "escape_ass_text",
    "escape_filter_value",
    "ffmpeg_exe",
    "fonts_dir",
    "frame_at",
    "group_words",
    "inspect_footage",
    "palette",
    "probe_media",
    "render_short",
    "scene_cues",
    "seed_for",
]

VIDEO_NAME = (
    Aspect.VERTICAL.file_name
)  # fixed names inside out_dir: the chat preview relies on them
THUMBNAIL_NAME = "thumbnail.png"
THUMB_MAX_SIDE = 1280
THUMB_FROM = 0.1  # thumbnail candidates: the keyframes between 10% and 90% of the duration


@dataclass(frozen=True)
class RenderResult:
    """Where the rendered short(s) and the thumbnail are, and what the first output is."""

    video_path: Path
    thumbnail_path: Path
    duration_s: float
    width: int
    height: int
    outputs: Mapping[Aspect, Path] = field(default_factory=dict)


def seed_for(*parts: str) -> int:
    """A stable 32-bit seed from text such as topic and tone, for render_short(seed=...)."""
    digest = hashlib.sha256("\x1f".join(p.strip().lower() for p in parts).encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _thumb_size(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, THUMB_MAX_SIDE / max(width, height))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


async def _slots(footage: Sequence[Footage], duration: float) -> list[Slot]:
    planned = plan_slots(footage, duration)
    found = await find_focus_all([(f, length) for f, _, length in planned])
    return [
        Slot(f, start, length, fc) for (f, start, length), fc in zip(planned, found, strict=True)
    ]


async def _probed(footage: Sequence[Footage]) -> list[Footage]:
    """Footage built by hand (no codec: say, from database rows) probed again for the codec,
    pixel format and rotation that decide how it is read."""
    gate = asyncio.Semaphore(4)

    async def one(f: Footage) -> Footage:
        if f.codec:
            return f
        async with gate:
            return await inspect_footage(f.path)

    return list(await asyncio.gather(*(one(f) for f in footage)))


def _check_args(
    voiceover: Voiceover,
    footage: Sequence[Footage],
    aspects: Sequence[Aspect],
    fps: int,
    scale: float,
) -> None:
    if not aspects or len(set(aspects)) != len(aspects):
        raise ValueError(f"aspects must be distinct and at least one, got {list(aspects)}")
    if fps <= 0 or voiceover.duration_s <= 0 or not 0 < scale <= 4:
        raise ValueError("fps, scale and the voiceover's duration must be positive")
    if not voiceover.audio_path.is_file():
        raise RenderError(f"voiceover audio not found: {voiceover.audio_path}")
    for f in footage:
        if not f.path.is_file():
            raise FootageError(f"footage not found: {f.path}")


async def render_short(
    *,
    voiceover: Voiceover,
    script: Script,
    out_dir: Path,
    seed: int = 0,
    footage: Sequence[Footage] = (),
    aspects: Sequence[Aspect] = (Aspect.VERTICAL,),
    music: Path | None = None,
    fps: int = 30,
    scale: float = 1.0,
) -> RenderResult:
    """Render one H.264/AAC MP4 per aspect and a PNG thumbnail into out_dir, atomically.

    `scale` shrinks every output below its full size (1080x1920 etc.), for previews and tests.
    """
    aspects = tuple(Aspect(a) for a in aspects)
    _check_args(voiceover, footage, aspects, fps, scale)
    footage = await _probed(footage)
    if music is not None and not music.is_file():
        raise RenderError(f"music not found: {music}")
    out_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(6)
    work = out_dir / f".render-{token}"
    temps = {a: out_dir / f".{Path(a.file_name).stem}.{token}.part.mp4" for a in aspects}
    tmp_thumb = out_dir / f".thumbnail.{token}.part.png"
    finals = {a: out_dir / a.file_name for a in aspects}
    thumb_path = out_dir / THUMBNAIL_NAME
    duration = voiceover.duration_s
    infos: dict[Aspect, MediaInfo] = {}
    replaced: list[Path] = []
    try:
        work.mkdir()
        slots = await _slots(footage, duration)
        for i, aspect in enumerate(aspects):
            width, height = aspect.scaled(scale)
            ass_path = work / f"captions-{i}.ass"
            ass_path.write_text(
                build_ass(voiceover, script, width, height, LAYOUTS[aspect]), encoding="utf-8"
            )
            spec = OutputSpec(path=temps[aspect], width=width, height=height, ass_path=ass_path)
            args, files = render_args(
                slots=slots,
                voice=voiceover.audio_path,
                words=voiceover.words,
                duration=duration,
                music=music,
                out=spec,
                fps=fps,
                seed=seed,
                list_path=work / f"clips-{i}.ffconcat",
            )
            for path, text in files.items():
                path.write_text(text, encoding="utf-8")
            await run_ffmpeg(args, "render")
            info = await probe_media(temps[aspect])
            if info.video_codec != "h264" or (info.width, info.height) != (width, height):
                raise RenderError(f"unexpected render output for {aspect}: {info}")
            infos[aspect] = info
        first = infos[aspects[0]]
        await pick_thumbnail(
            temps[aspects[0]],
            tmp_thumb,
            size=_thumb_size(first.width, first.height),
            start=duration * THUMB_FROM,
            end=duration * (1 - THUMB_FROM),
        )
        for src, dst in [*((temps[a], finals[a]) for a in aspects), (tmp_thumb, thumb_path)]:
            os.replace(src, dst)
            replaced.append(dst)
    except BaseException:
        for path in (*temps.values(), tmp_thumb, *replaced):
            path.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return RenderResult(
        video_path=finals[aspects[0]],
        thumbnail_path=thumb_path,
        duration_s=first.duration_s,
        width=first.width,
        height=first.height,
        outputs=dict(finals),
    )
