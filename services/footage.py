"""Footage from a workspace's media library: probe it, find what matters in it, crop to aspect."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from services.video_faces import detect_faces
from services.video_ffmpeg import RenderError, frames_from_bytes, probe_media, run_ffmpeg

ANALYSIS_SIDE = 480  # sampled frames are scaled so that their longer side is this
SAMPLES = 8  # frames sampled per clip for the crop analysis
MIN_VIDEO_S = 0.2
_NOT_MEDIA_CODECS = {"ansi", "bintext", "xbin", "idf", "tty"}
_EXIF_ROTATION = {3: 180, 6: 90, 8: 270}

Frames = npt.NDArray[np.uint8]  # (n, h, w, 3) BGR
FloatMap = npt.NDArray[np.float32]


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


async def sample_frames(footage: Footage, used_s: float, count: int = SAMPLES) -> Frames:
    """A few small BGR frames spread over the first `used_s` seconds of the footage."""
    aw, ah = analysis_size(footage.width, footage.height)
    scale = f"scale={aw}:{ah}:flags=area"
    if footage.kind == "image":
        args = ["-i", str(footage.path), "-frames:v", "1"]
        args += ["-vf", scale]  # ffmpeg turns JPEGs upright by their EXIF orientation itself
    else:
        span = max(0.1, min(used_s, footage.duration_s or used_s))
        args = ["-t", f"{span:.3f}", "-i", str(footage.path), "-frames:v", str(count + 1)]
        args += ["-vf", f"fps={count / span:.5f},{scale}"]
    tail = ["-an", "-f", "rawvideo", "-pix_fmt", "bgr24", "-"]
    # decoding only reference frames halves the work; fall back if a codec has none to show
    for skip in (["-skip_frame", "noref"], []) if footage.kind == "video" else ([],):
        raw = await run_ffmpeg([*skip, *args, *tail], "footage sampling", want_stdout=True)
        frames = frames_from_bytes(raw, aw, ah)
        if len(frames):
            return frames
    raise RenderError(f"no frames could be decoded from {footage.path.name}")


def _normalised(values: FloatMap) -> FloatMap:
    lo, hi = float(values.min()), float(values.max())
    return (values - lo) / (hi - lo) if hi - lo > 1e-6 else np.zeros_like(values)


def colour_saliency(bgr: npt.NDArray[np.uint8]) -> FloatMap:
    """Frequency-tuned saliency (Achanta et al. 2009): how far each blurred pixel's Lab colour
    lies from the frame's mean colour."""
    lab = cv2.cvtColor(cv2.GaussianBlur(bgr, (5, 5), 0), cv2.COLOR_BGR2Lab).astype(np.float32)
    distance = np.linalg.norm(lab - lab.reshape(-1, 3).mean(axis=0), axis=2)
    return np.asarray(distance, dtype=np.float32)


def _edge_density(gray: FloatMap) -> FloatMap:
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    k = max(3, gray.shape[1] // 16) | 1
    return np.asarray(cv2.blur(cv2.magnitude(gx, gy), (k, k)), dtype=np.float32)


def _face_focus(frames: Frames, times: Sequence[float]) -> Focus | None:
    h, w = frames.shape[1:3]
    per_frame = [detect_faces(f) for f in frames]
    boxes = [b for found in per_frame for b in found]
    if not boxes:
        return None
    main = max(boxes, key=lambda b: b[2] * b[3])
    # the subject in each frame: its largest face, if about as large as the largest overall
    points = [
        (t, (f[0][0] + f[0][2] / 2) / w, (f[0][1] + f[0][3] / 2) / h)
        for t, f in zip(times, per_frame, strict=False)
        if f and f[0][2] * f[0][3] >= 0.3 * main[2] * main[3]
    ]
    cx = float(np.mean([p[1] for p in points]))
    cy = float(np.mean([p[2] for p in points]))
    spread = max(np.ptp([p[1] for p in points]), np.ptp([p[2] for p in points]))
    track = tuple(points) if len(points) >= 2 and spread > 0.05 else ()
    faces = tuple((b[0] / w, b[1] / h, b[2] / w, b[3] / h) for b in boxes)
    return Focus(cx, cy, "face", faces, track)


def find_focus(frames: Frames, times: Sequence[float] = ()) -> Focus:
    """Where the interest is: faces first (tracked if they move), else motion plus colour and
    edge saliency, else the centre. `times` are the frames' times, for the track."""
    if not len(frames):
        return CENTRE
    h, w = frames.shape[1:3]
    times = list(times) or [float(i) for i in range(len(frames))]
    if (face := _face_focus(frames, times)) is not None:
        return face
    gray = np.stack(
        [cv2.GaussianBlur(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY), (5, 5), 0) for f in frames]
    )
    grayf = gray.astype(np.float32)
    mid = grayf[len(grayf) // 2]
    colour = colour_saliency(frames[len(frames) // 2])
    static = 0.5 * _normalised(colour) + 0.5 * _normalised(_edge_density(mid))
    method: Literal["motion", "saliency"] = "saliency"
    weight = static
    if len(grayf) > 1:
        motion = np.abs(np.diff(grayf, axis=0)).mean(axis=0)
        if float(motion.mean()) > 1.0:
            k = max(3, w // 16) | 1
            weight = 0.6 * _normalised(cv2.blur(motion, (k, k))) + 0.4 * static
            method = "motion"
    if float(weight.max()) <= 1e-6:
        return CENTRE
    weight = np.clip(weight - np.percentile(weight, 85), 0, None)
    total = float(weight.sum())
    if total <= 1e-6:
        return CENTRE
    ys, xs = np.mgrid[0:h, 0:w]
    cx, cy = float((weight * xs).sum() / total), float((weight * ys).sum() / total)
    return Focus((cx + 0.5) / w, (cy + 0.5) / h, method)


async def analyse_footage(footage: Footage, used_s: float) -> Focus:
    """Sample the footage with ffmpeg and find its focus in a worker thread (OpenCV blocks)."""
    frames = await sample_frames(footage, used_s)
    span = max(0.1, min(used_s, footage.duration_s or used_s))
    times = [i * span / SAMPLES for i in range(len(frames))]
    return await asyncio.get_running_loop().run_in_executor(None, find_focus, frames, times)


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
