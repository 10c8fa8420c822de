"""Pick a thumbnail among candidate frames: sharp, well exposed, and showing a face if any do."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from services.video_faces import detect_faces

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


def _read(path: Path) -> Image:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"cannot read candidate frame {path}")
    return np.asarray(image, dtype=np.uint8)


async def pick_thumbnail(candidates: Sequence[Path]) -> Path:
    """The best of some candidate image files (read and scored in a worker thread)."""
    paths = list(candidates)

    def choose() -> Path:
        return paths[best_frame([_read(p) for p in paths])]

    return await asyncio.get_running_loop().run_in_executor(None, choose)
