"""The render's OpenCV work runs in a child process; the process driving ffmpeg never loads it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from services.footage import inspect_footage
from services.video_ffmpeg import RenderError
from services.vision import find_focus_all, pick_thumbnail
from tests.services.test_video import make_clip

ROOT = Path(__file__).resolve().parents[2]


def _loaded(imports: str) -> str:
    code = f"import sys, {imports}\nprint(sorted(m for m in ('cv2', 'numpy') if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_the_render_path_does_not_import_opencv() -> None:
    assert _loaded("services.video") == "[]"  # the render driver: neither
    assert "cv2" not in _loaded("bot.runtime")  # the worker: no OpenCV


async def test_focus_and_thumbnail_come_back_from_the_child(tmp_path: Path) -> None:
    clip = await make_clip(tmp_path / "clip.mp4", "testsrc2=s=320x180:r=25", seconds=2.0)
    footage = await inspect_footage(clip)

    [focus] = await find_focus_all([(footage, 2.0)])

    assert focus.method in {"face", "motion", "saliency", "centre"}
    assert 0.0 <= focus.x <= 1.0 and 0.0 <= focus.y <= 1.0
    thumb = await pick_thumbnail(clip, tmp_path / "t.png", size=(160, 90), start=0.2, end=1.8)
    assert thumb.read_bytes().startswith(b"\x89PNG")


async def test_a_child_failure_is_a_render_error_naming_the_step(tmp_path: Path) -> None:
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("plain text")

    with pytest.raises(RenderError, match="thumbnail"):
        await pick_thumbnail(not_video, tmp_path / "t.png", size=(160, 90), start=0.0, end=1.0)
    assert not (tmp_path / "t.png").exists()
