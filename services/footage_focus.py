"""Where the interest is in a piece of footage (OpenCV): faces, else motion and saliency.

This module loads OpenCV and NumPy; a render runs it in a short-lived child process
(services.vision) so the process driving ffmpeg stays small.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from services.footage import CENTRE, Focus, Footage, analysis_size
from services.video_faces import detect_faces
from services.video_ffmpeg import RenderError, run_ffmpeg

SAMPLES = 8  # frames sampled per clip for the crop analysis
Frames = npt.NDArray[np.uint8]  # (n, h, w, 3) BGR
FloatMap = npt.NDArray[np.float32]


def frames_from_bytes(
    raw: bytes, width: int, height: int, channels: int = 3
) -> npt.NDArray[np.uint8]:
    """Whole raw frames in `raw` as an (n, h, w, channels) uint8 array (a trailing part dropped)."""
    size = width * height * channels
    count = len(raw) // size
    return np.frombuffer(raw[: count * size], dtype=np.uint8).reshape(
        count, height, width, channels
    )


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
