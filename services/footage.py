"""Footage from a workspace's media library: probe it, find what matters in it, crop to aspect."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from services.video_ffmpeg import RenderError, probe_media

ANALYSIS_SIDE = 480  # sampled frames are scaled so that their longer side is this
MIN_VIDEO_S = 0.2
_NOT_MEDIA_CODECS = {"ansi", "bintext", "xbin", "idf", "tty"}
_EXIF_ROTATION = {3: 180, 6: 90, 8: 270}


class FootageError(ValueError):
    """A library file that cannot be used as footage (not a video or an image, or broken)."""


@dataclass(frozen=True)
class Footage:
    """A probed library file; width and height as displayed (after any rotation)."""

    path: Path
    kind: Literal["video", "image"]
    duration_s: float | None
    width: int
    height: int
    codec: str = ""
    pix_fmt: str = ""
    rotation: int = 0  # clockwise degrees the stored picture is turned when displayed


@dataclass(frozen=True)
class Focus:
    """The point a crop is centred on, as fractions of the frame, and how it was found.

    `track` follows a moving face: (seconds from the clip's start, x, y) at sampled frames.
    """

    x: float
    y: float
    method: Literal["face", "motion", "saliency", "centre"]
    faces: tuple[tuple[float, float, float, float], ...] = ()  # x, y, w, h as fractions
    track: tuple[tuple[float, float, float], ...] = ()


CENTRE = Focus(0.5, 0.5, "centre")


@dataclass(frozen=True)
class CropWindow:
    """A crop rectangle in source pixels."""

    x: int
    y: int
    w: int
    h: int


def _image_rotation(path: Path) -> int | None:
    """EXIF rotation of an image Pillow can read; None if Pillow cannot read it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.verify()
        with Image.open(path) as img:
            return _EXIF_ROTATION.get(int(img.getexif().get(0x0112, 1)), 0)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None


async def inspect_footage(path: Path) -> Footage:
    """Probe a library file by its content; raise FootageError unless it is a video or image."""
    path = Path(path)
    if not path.is_file():
        raise FootageError(f"{path.name}: no such file")
    try:
        info = await probe_media(path)
    except RenderError:
        info = None
    if (
        info is None
        or info.video_codec is None
        or info.attached_pic
        or info.width <= 0
        or info.height <= 0
        or info.video_codec in _NOT_MEDIA_CODECS
        or info.format_name in _NOT_MEDIA_CODECS
    ):
        raise FootageError(f"{path.name} is not a video or an image file (judged by its content)")
    still = info.format_name == "image2" or info.format_name.endswith("_pipe")
    if not still and info.duration_s < MIN_VIDEO_S:
        if info.format_name != "gif":
            raise FootageError(f"{path.name} is too short to use ({info.duration_s:.2f} s)")
        still = True
    if still:
        loop = asyncio.get_running_loop()
        exif = await loop.run_in_executor(None, _image_rotation, path)
        rotation = exif or 0
    else:
        rotation = info.rotation
    w, h = (info.height, info.width) if rotation in (90, 270) else (info.width, info.height)
    return Footage(
        path=path,
        kind="image" if still else "video",
        duration_s=None if still else info.duration_s,
        width=w,
        height=h,
        codec=info.video_codec,
        pix_fmt=info.pix_fmt or "",
        rotation=rotation,
    )


async def library_footage(folder: Path) -> list[Footage]:
    """Every usable video and image in a media-library folder, by name; others are skipped."""
    files = sorted(p for p in Path(folder).iterdir() if p.is_file() and not p.name.startswith("."))
    gate = asyncio.Semaphore(4)

    async def one(p: Path) -> Footage | None:
        async with gate:
            try:
                return await inspect_footage(p)
            except FootageError:
                return None

    found = await asyncio.gather(*(one(p) for p in files))
    return [f for f in found if f is not None]


def analysis_size(width: int, height: int) -> tuple[int, int]:
    """Size of sampled frames: the longer side ANALYSIS_SIDE, both even."""
    scale = ANALYSIS_SIDE / max(width, height)
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def _even(v: float) -> int:
    return max(2, int(v) // 2 * 2)


def crop_window(src_w: int, src_h: int, out_w: int, out_h: int, focus: Focus) -> CropWindow:
    """The largest out_w:out_h window inside the source, centred on the focus where it fits."""
    target = out_w / out_h
    if src_w / src_h > target:
        h = _even(src_h)
        w = min(_even(round(h * target)), _even(src_w))
    else:
        w = _even(src_w)
        h = min(_even(round(w / target)), _even(src_h))
    # faces sit a little above the centre of a crop that cuts the height: room for the body
    cy = focus.y * src_h + (0.05 * h if focus.method == "face" else 0.0)
    x = min(max(0.0, focus.x * src_w - w / 2), src_w - w)
    y = min(max(0.0, cy - h / 2), src_h - h)
    return CropWindow(int(x) // 2 * 2, int(y) // 2 * 2, w, h)


def focus_inside(
    crop: CropWindow, box: tuple[float, float, float, float], src: Sequence[int]
) -> bool:
    """Whether the centre of a fractional box (x, y, w, h) lies inside the crop window."""
    cx, cy = (box[0] + box[2] / 2) * src[0], (box[1] + box[3] / 2) * src[1]
    return crop.x <= cx <= crop.x + crop.w and crop.y <= cy <= crop.y + crop.h
