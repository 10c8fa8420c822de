"""The ffmpeg runner: find the binary, run it cancellably, probe media, decode frames."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


STDERR_TAIL_LINES = 15


class RenderError(Exception):
    """ffmpeg failed (or produced something unusable) while rendering or probing."""


@dataclass(frozen=True)
class MediaInfo:
    """What ffmpeg reports about a media file (0 / None where a stream is absent)."""

    duration_s: float
    width: int
    height: int
    fps: float
    video_codec: str | None
    audio_streams: int
    audio_codec: str | None
    format_name: str = ""
    pix_fmt: str | None = None
    rotation: int = 0  # clockwise degrees the stored picture is turned when displayed
    attached_pic: bool = False  # the video stream is cover art (an audio file's picture)


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary bundled with imageio-ffmpeg (or IMAGEIO_FFMPEG_EXE)."""
    import imageio_ffmpeg  # type: ignore[import-untyped]

    return str(imageio_ffmpeg.get_ffmpeg_exe())


CAPTION_FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf")


@lru_cache(maxsize=1)
def fonts_dir() -> Path:
    """A directory of links to the DejaVu fonts the captions use (matplotlib ships them).

    libass reads every file in its fontsdir into memory: matplotlib's 42 fonts cost a render
    about 5 MB and some start-up time, so the captions get a directory of their own two.
    """
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or spec.origin is None:
        raise RenderError("matplotlib is not installed: caption fonts are unavailable")
    source = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf"
    target = Path(tempfile.gettempdir()) / f"socialbot-fonts-{os.getuid()}"
    if all((target / name).is_file() for name in CAPTION_FONTS):
        return target
    staging = Path(tempfile.mkdtemp(prefix=".socialbot-fonts-", dir=target.parent))
    for name in CAPTION_FONTS:
        (staging / name).symlink_to(source / name)
    shutil.rmtree(target, ignore_errors=True)  # links into a virtualenv that has moved
    try:
        staging.rename(target)
    except OSError:  # another process made it first
        shutil.rmtree(staging, ignore_errors=True)
    return target


def escape_filter_value(value: str) -> str:
    """Escape a filter option value for an ffmpeg filtergraph (option and graph levels)."""
    value = re.sub(r"([\\':])", r"\\\1", value)
    return re.sub(r"([\\'\[\],;])", r"\\\1", value)


def tail(stderr: bytes) -> str:
    """The last lines of a process's stderr, for error messages."""
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    return "\n".join(lines[-STDERR_TAIL_LINES:])


async def run_process(
    args: Sequence[str], *, want_stdout: bool = False
) -> tuple[int, bytes, bytes]:
    """Run a process without blocking the loop; kill it if we are cancelled."""
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE if want_stdout else asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await proc.communicate()
    except BaseException:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(Exception):
                await proc.wait()
        raise
    return proc.returncode if proc.returncode is not None else -1, out or b"", err


async def run_ffmpeg(args: Sequence[str], what: str, *, want_stdout: bool = False) -> bytes:
    """Run ffmpeg quietly with `args`; raise RenderError naming `what` if it fails."""
    rc, out, err = await run_process(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y", *args],
        want_stdout=want_stdout,
    )
    if rc != 0:
        raise RenderError(f"ffmpeg {what} failed (exit {rc}):\n{tail(err)}")
    return out


_DURATION_RE = re.compile(r"Duration:\s*(\d+):(\d{2}):(\d{2}(?:\.\d+)?)")
_INPUT_RE = re.compile(r"^Input #0, ([\w,]+), from", re.M)
_STREAM_RE = re.compile(r"^\s*Stream #0:\d+\S*:\s*(Video|Audio):\s*(\w+)(.*)$", re.M)
_SIZE_RE = re.compile(r"[\s,](\d{1,5})x(\d{1,5})(?=[\s,\[]|$)")
_FPS_RE = re.compile(r"([\d.]+)\s*(?:fps|tbr)\b")
_PIX_RE = re.compile(r"^[^,]*,\s*([a-z][a-z0-9_]*)")
_ROTATION_RE = re.compile(r"display ?matrix: rotation of (-?[\d.]+) degrees", re.I)


async def probe_media(path: Path) -> MediaInfo:
    """Duration, size, fps and codecs of a media file, parsed from `ffmpeg -i` output."""
    _, _, err = await run_process([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)])
    text = err.decode("utf-8", "replace")
    header = _INPUT_RE.search(text)
    if not Path(path).is_file() or header is None:
        raise RenderError(f"cannot probe {path}:\n{tail(err)}")
    duration = 0.0
    if m := _DURATION_RE.search(text):
        duration = int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3])
    width = height = rotation = audio_streams = 0
    fps = 0.0
    video_codec: str | None = None
    audio_codec: str | None = None
    pix_fmt: str | None = None
    attached = False
    for m in _STREAM_RE.finditer(text):
        kind, codec, rest = m[1], m[2], m[3]
        if kind == "Video" and video_codec is None:
            video_codec, attached = codec, "(attached pic)" in rest
            if size := _SIZE_RE.search(rest):
                width, height = int(size[1]), int(size[2])
            if rate := _FPS_RE.search(rest):
                fps = float(rate[1])
            if pix := _PIX_RE.search(rest):
                pix_fmt = pix[1]
            # side data (the display matrix) follows on the next lines, before the next stream
            following = text[m.end() : m.end() + 600].split("Stream #", 1)[0]
            if rot := _ROTATION_RE.search(following):
                rotation = round(-float(rot[1])) % 360  # ffmpeg prints it counter-clockwise
        elif kind == "Audio":
            audio_streams += 1
            audio_codec = audio_codec or codec
    return MediaInfo(
        duration_s=duration,
        width=width,
        height=height,
        fps=fps,
        video_codec=video_codec,
        audio_streams=audio_streams,
        audio_codec=audio_codec,
        format_name=header[1],
        pix_fmt=pix_fmt,
        rotation=rotation,
        attached_pic=attached,
    )


async def frame_at(
    path: Path, t: float, *, width: int = 270, height: int = 480
) -> npt.NDArray[np.uint8]:
    """The RGB frame shown at time t, scaled to width x height, as a (h, w, 3) uint8 array."""
    out = await run_ffmpeg(
        [
            "-ss",
            f"{max(0.0, t):.3f}",
            "-i",
            str(path),
            "-frames:v",
            "1",
            "-vf",
            f"scale={width}:{height}",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
        "frame decode",
        want_stdout=True,
    )
    if len(out) != width * height * 3:
        raise RenderError(f"no frame at t={t:.3f}s in {path} (got {len(out)} bytes)")
    import numpy as np  # only here: the render path does not load NumPy

    return np.frombuffer(out, dtype=np.uint8).reshape(height, width, 3).copy()
