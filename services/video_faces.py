"""Find faces in a frame: OpenCV's frontal-face Haar cascade, or a skin-tone fallback.

OpenCV 4.x wheels ship `CascadeClassifier` and `cv2.data.haarcascades/*.xml`; the 5.0 wheels
have neither. Where the cascade is missing, faces are found as skin-toned blobs of face shape
with the darker holes of eyes, brows and mouth inside them: good enough to aim a crop and to
prefer a thumbnail showing a person, weaker than the cascade at telling faces from hands.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt

CASCADE_FILE = "haarcascade_frontalface_default.xml"
MIN_FACE_FRAC = 0.06  # smallest face side, as a fraction of the frame's shorter side

Box = tuple[int, int, int, int]  # x, y, w, h in pixels
Image = npt.NDArray[np.uint8]

_local = threading.local()


@lru_cache(maxsize=1)
def cascade_path() -> Path | None:
    """The frontal-face cascade file, if this OpenCV build can use one."""
    if getattr(cv2, "CascadeClassifier", None) is None:
        return None
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    path = Path(folder) / CASCADE_FILE if folder else None
    return path if path is not None and path.is_file() else None


def face_backend() -> Literal["cascade", "skin"]:
    """Which detector detect_faces uses in this environment."""
    return "cascade" if cascade_path() is not None else "skin"


def _classifier() -> Any:
    # detectMultiScale is not safe to share between threads: one classifier per thread.
    classifier = getattr(_local, "classifier", None)
    if classifier is None:
        classifier = cv2.CascadeClassifier(str(cascade_path()))  # type: ignore[attr-defined]
        _local.classifier = classifier
    return classifier


def detect_faces(bgr: Image, *, min_frac: float = MIN_FACE_FRAC) -> list[Box]:
    """Boxes of the faces in a BGR frame, largest first."""
    h, w = bgr.shape[:2]
    min_side = max(12, round(min(h, w) * min_frac))
    if cascade_path() is not None:
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        found = _classifier().detectMultiScale(
            gray, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side)
        )
        boxes = [(int(x), int(y), int(bw), int(bh)) for x, y, bw, bh in found]
    else:
        boxes = _skin_faces(bgr, min_side)
    return sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)


def _skin_mask(bgr: Image) -> Image:
    ycc = cv2.cvtColor(bgr, cv2.COLOR_BGR2YCrCb)
    luma, cr, cb = ycc[..., 0], ycc[..., 1], ycc[..., 2]
    mask = (
        (cr >= 135) & (cr <= 175) & (cb >= 80) & (cb <= 130) & (luma >= 60) & (luma <= 245)
    ).astype(np.uint8) * 255
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    mask = np.asarray(cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel), dtype=np.uint8)
    return np.asarray(cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel), dtype=np.uint8)


def _skin_faces(bgr: Image, min_side: int) -> list[Box]:
    h, w = bgr.shape[:2]
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(_skin_mask(bgr))
    boxes: list[Box] = []
    for i in range(1, count):
        x, y, bw, bh, area = (int(v) for v in stats[i])
        if bw < min_side or bh < min_side or bw * bh > 0.8 * w * h:
            continue
        if not 0.7 <= bh / bw <= 2.2 or area < 0.4 * bw * bh:
            continue
        blob = (labels[y : y + bh, x : x + bw] == i).astype(np.uint8)
        contours, _ = cv2.findContours(blob, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        hull = np.zeros_like(blob)
        cv2.drawContours(hull, [cv2.convexHull(np.vstack(contours))], -1, 1, -1)
        hull_area = int(hull.sum())
        holes = (hull_area - int(blob.sum())) / max(1, hull_area)  # eyes, brows, mouth
        texture = float(gray[y : y + bh, x : x + bw][blob > 0].std())
        if 0.03 <= holes <= 0.5 and texture >= 12:
            boxes.append((x, y, bw, min(bh, round(bw * 1.3))))  # the head, not the neck
    return boxes
