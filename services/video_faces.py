"""Find faces in a frame with OpenCV's bundled frontal-face Haar cascade."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

CASCADE = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
MIN_FACE_FRAC = 0.06  # smallest face side, as a fraction of the frame's shorter side

Box = tuple[int, int, int, int]  # x, y, w, h in pixels
Image = npt.NDArray[np.uint8]

_local = threading.local()


def _classifier() -> Any:
    # detectMultiScale is not safe to share between threads: one classifier per thread.
    classifier = getattr(_local, "classifier", None)
    if classifier is None:
        classifier = cv2.CascadeClassifier(str(CASCADE))
        _local.classifier = classifier
    return classifier


def detect_faces(bgr: Image, *, min_frac: float = MIN_FACE_FRAC) -> list[Box]:
    """Boxes of the faces in a BGR frame, largest first."""
    h, w = bgr.shape[:2]
    min_side = max(12, round(min(h, w) * min_frac))
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    found = _classifier().detectMultiScale(
        gray, scaleFactor=1.15, minNeighbors=5, minSize=(min_side, min_side)
    )
    boxes = [(int(x), int(y), int(bw), int(bh)) for x, y, bw, bh in found]
    return sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)
