"""Tests for services.thumbnails: frames scored by sharpness, exposure and faces."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from services.thumbnails import best_frame, score_frame, thumbnail_from_video
from services.video_ffmpeg import RenderError, run_ffmpeg
from tests.services.test_footage import hopper

Image = npt.NDArray[np.uint8]


def textured(seed: int = 0) -> Image:
    """A sharp, mid-grey-ish 360x640 BGR frame of random blocks and grain, no face."""
    rng = np.random.default_rng(seed)
    frame = np.full((640, 360, 3), 120, dtype=np.uint8)
    for _ in range(60):
        x, y = int(rng.integers(0, 330)), int(rng.integers(0, 610))
        colour = tuple(int(c) for c in rng.integers(40, 210, 3))
        cv2.rectangle(frame, (x, y), (x + int(rng.integers(8, 60)), y + 20), colour, -1)
    grain = rng.integers(-30, 31, frame.shape)  # fine detail everywhere: a high Laplacian variance
    return np.clip(frame.astype(np.int32) + grain, 0, 255).astype(np.uint8)


def face_frame() -> Image:
    """The photo letterboxed into a 360x640 frame."""
    photo = cv2.imread(str(hopper()))
    frame = np.full((640, 360, 3), 110, dtype=np.uint8)
    frame[110:530] = cv2.resize(photo, (360, 420), interpolation=cv2.INTER_AREA)
    return frame


def test_sharp_well_exposed_frame_beats_blurred_and_dark_ones() -> None:
    sharp = textured()
    blurred = cv2.GaussianBlur(sharp, (0, 0), 6)
    dark = (sharp.astype(np.float32) * 0.12).astype(np.uint8)
    blown = np.clip(sharp.astype(np.int32) + 150, 0, 255).astype(np.uint8)
    scores = [score_frame(f) for f in (sharp, blurred, dark, blown)]
    assert scores[0].sharpness > 2 * scores[1].sharpness
    assert scores[0].exposure > 2 * scores[2].exposure
    assert scores[0].exposure > 2 * scores[3].exposure
    assert best_frame([blurred, dark, sharp, blown]) == 2


def test_a_face_wins_over_a_sharper_frame_without_one() -> None:
    face, busy = face_frame(), textured(3)
    with_face, without = score_frame(face), score_frame(busy)
    assert with_face.face == 1.0 and without.face == 0.0
    assert without.sharpness > with_face.sharpness  # the face frame wins on the face alone
    assert best_frame([busy, face]) == 1


def test_scores_do_not_depend_on_frame_size() -> None:
    small = textured(5)
    big = cv2.resize(small, (720, 1280), interpolation=cv2.INTER_NEAREST)
    assert score_frame(big).exposure == pytest.approx(score_frame(small).exposure, abs=0.02)


def test_no_candidates_is_an_error() -> None:
    with pytest.raises(ValueError):
        best_frame([])


async def test_thumbnail_is_the_best_keyframe_of_a_video(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    graph = (
        "color=c=0x050505:s=360x640:r=25:d=2[dark];testsrc2=s=360x640:r=25:d=2[sharp];"
        "[dark][sharp]concat=n=2:v=1:a=0,format=yuv420p"
    )
    encode = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "10", str(clip)]
    await run_ffmpeg(["-filter_complex", graph, *encode], "clip")
    dest = tmp_path / "thumb.png"
    assert await thumbnail_from_video(clip, dest, size=(180, 320), start=0.2, end=3.8) == dest
    thumb = cv2.imread(str(dest))
    assert thumb.shape == (320, 180, 3)
    assert score_frame(thumb).exposure > 0.4  # a frame of the test pattern, not the dark half
    with pytest.raises(RenderError):
        await thumbnail_from_video(tmp_path / "missing.mp4", dest, size=(18, 32), start=0, end=1)
