"""Pick a thumbnail among candidate frames: sharp, well exposed, and showing a face if any do."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from services.video_faces import detect_faces
from services.video_ffmpeg import RenderError, ffmpeg_exe, tail

SCORE_WIDTH = 360  # frames are scored at this width, so sharpness compares across sizes
SHARPNESS_KNEE = 150.0  # Laplacian variance that scores 0.5
WEIGHTS = (0.4, 0.3, 0.3)  # sharpness, exposure, face

Image = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class FrameScore:
    """How good a frame is as a thumbnail; every part in [0, 1]."""

    sharpness: float
    exposure: float
    face: float
    total: float


def score_frame(bgr: Image) -> FrameScore:
    """Score a BGR frame: Laplacian variance, mid-grey closeness less clipping, faces."""
    h, w = bgr.shape[:2]
    if w != SCORE_WIDTH:
        size = (SCORE_WIDTH, max(2, round(h * SCORE_WIDTH / w)))
        bgr = np.asarray(cv2.resize(bgr, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    variance = float(cv2.Laplacian(gray, cv2.CV_64F).var())
    sharpness = variance / (variance + SHARPNESS_KNEE)
    mean = float(gray.mean())
    clipped = float(((gray <= 8) | (gray >= 247)).mean())
    exposure = max(0.0, 1 - abs(mean - 127.5) / 127.5) * max(0.0, 1 - 2 * clipped)
    face = 1.0 if detect_faces(bgr) else 0.0
    ws, we, wf = WEIGHTS
    return FrameScore(sharpness, exposure, face, ws * sharpness + we * exposure + wf * face)


def best_frame(frames: Sequence[Image]) -> int:
    """Index of the best-scoring frame (the earliest among equals)."""
    if not frames:
        raise ValueError("no candidate frames")
    totals = [score_frame(f).total for f in frames]
    return max(range(len(totals)), key=lambda i: (totals[i], -i))


async def thumbnail_from_video(
    video: Path, dest: Path, *, size: tuple[int, int], start: float, end: float
) -> Path:
    """Write the best keyframe between start and end (seconds) of a video to dest as PNG.

    Only keyframes are decoded, streamed one at a time: memory stays at one frame per side.
    """
    width, height = size
    frame_bytes = width * height * 3
    loop = asyncio.get_running_loop()
    best: Image | None = None
    best_total = -1.0
    for lo, hi in ((start, end), (0.0, float("inf"))):  # a short video may have one keyframe
        window = f"select=between(t\\,{lo:.3f}\\,{hi:.3f})," if hi != float("inf") else ""
        proc = await asyncio.create_subprocess_exec(
            *[ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error"],
            *["-skip_frame", "nokey", "-i", str(video), "-an", "-fps_mode", "passthrough"],
            *["-vf", f"{window}scale={width}:{height}:flags=area"],
            *["-f", "rawvideo", "-pix_fmt", "bgr24", "-"],
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None and proc.stderr is not None
        try:
            while True:
                try:
                    chunk = await proc.stdout.readexactly(frame_bytes)
                except asyncio.IncompleteReadError:
                    break
                frame = np.frombuffer(chunk, dtype=np.uint8).reshape(height, width, 3)
                total = (await loop.run_in_executor(None, score_frame, frame)).total
                if total > best_total:
                    best, best_total = frame, total
            err = await proc.stderr.read()
            if await proc.wait() != 0:
                raise RenderError(f"ffmpeg thumbnail decode failed:\n{tail(err)}")
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if best is not None:
            break
    if best is None:
        raise RenderError(f"no keyframe could be decoded from {video}")
    chosen = best
    if not await loop.run_in_executor(None, cv2.imwrite, str(dest), chosen):
        raise RenderError(f"could not write the thumbnail {dest}")
    return dest
