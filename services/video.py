"""Render a vertical short in one ffmpeg pass: moving background, word captions, voiceover."""

from __future__ import annotations

import asyncio
import colorsys
import contextlib
import hashlib
import importlib.util
import os
import random
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from services.content import Script, Voiceover, WordTiming

VIDEO_NAME = "video.mp4"  # fixed names inside out_dir: the chat preview relies on them
THUMBNAIL_NAME = "thumbnail.png"
CAPTION_FONT = "DejaVu Sans"
CAPTION_SIZE = 0.058  # caption font size as a fraction of the frame height
CHAR_WIDTH_EM = 0.58  # rough mean advance of DejaVu Sans Bold, to shrink over-long words
MAX_GROUP_WORDS = 3  # words shown together, the spoken one highlighted
MAX_GROUP_CHARS = 14  # longer groups are split so a line fits at full size
GROUP_GAP_S = 0.3  # a pause longer than this starts a new group (and blanks the caption)
INACTIVE_ALPHA = "&H78&"  # not-yet/already-spoken words of a group: dimmed white
STDERR_TAIL_LINES = 15
_SENTENCE_END = (".", "!", "?", ";", ":")


class RenderError(Exception):
    """ffmpeg failed (or produced something unusable) while rendering or probing."""


@dataclass(frozen=True)
class RenderResult:
    """Where the rendered short and its thumbnail are, and what was rendered."""

    video_path: Path
    thumbnail_path: Path
    duration_s: float
    width: int
    height: int


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


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary bundled with imageio-ffmpeg (or IMAGEIO_FFMPEG_EXE)."""
    import imageio_ffmpeg  # type: ignore[import-untyped]

    return str(imageio_ffmpeg.get_ffmpeg_exe())


@lru_cache(maxsize=1)
def fonts_dir() -> Path:
    """Directory of the DejaVu TTFs shipped with matplotlib (found without importing it)."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or spec.origin is None:
        raise RenderError("matplotlib is not installed: caption fonts are unavailable")
    return Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf"


def seed_for(*parts: str) -> int:
    """A stable 32-bit seed from text such as topic and tone, for render_short(seed=...)."""
    digest = hashlib.sha256("\x1f".join(p.strip().lower() for p in parts).encode()).digest()
    return int.from_bytes(digest[:4], "big")


def palette(seed: int) -> tuple[str, str, str]:
    """Three dark, saturated colours (0xRRGGBB) for the background, derived from seed."""
    rng = random.Random(seed)
    base = rng.random()
    offsets = (0.0, rng.uniform(0.08, 0.2), rng.uniform(0.35, 0.55))
    colours = []
    for off in offsets:
        r, g, b = colorsys.hsv_to_rgb(
            (base + off) % 1.0, rng.uniform(0.55, 0.85), rng.uniform(0.3, 0.55)
        )
        colours.append(f"0x{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}")
    return colours[0], colours[1], colours[2]


def escape_ass_text(text: str) -> str:
    """Make user text literal inside an ASS Dialogue: no override tags, no line breaks."""
    text = " ".join(text.split())  # newlines, tabs and runs of spaces -> one space
    text = text.replace("\\", "\\\u2060")  # a word joiner stops \N, \n, \h, \{ from forming
    return text.replace("{", "\\{").replace("}", "\\}")


def escape_filter_value(value: str) -> str:
    """Escape a filter option value for an ffmpeg filtergraph (option and graph levels)."""
    value = re.sub(r"([\\':])", r"\\\1", value)
    return re.sub(r"([\\'\[\],;])", r"\\\1", value)


def _ass_time(t: float) -> str:
    cs = max(0, round(t * 100))
    h, rem = divmod(cs, 360_000)
    m, rem = divmod(rem, 6_000)
    s, cs = divmod(rem, 100)
    return f"{h}:{m:02d}:{s:02d}.{cs:02d}"


def group_words(words: Sequence[WordTiming]) -> list[list[WordTiming]]:
    """Split timed words into short caption groups at pauses, sentence ends and size limits."""
    groups: list[list[WordTiming]] = []
    current: list[WordTiming] = []
    for w in sorted((w for w in words if w.word.strip()), key=lambda w: w.start):
        if current:
            prev = current[-1]
            chars = sum(len(x.word) + 1 for x in current) + len(w.word.strip())
            if (
                len(current) >= MAX_GROUP_WORDS
                or chars > MAX_GROUP_CHARS
                or w.start - prev.end > GROUP_GAP_S
                or prev.word.rstrip("\"')]\u00bb\u201d\u2019").endswith(_SENTENCE_END)
            ):
                groups.append(current)
                current = []
        current.append(w)
    if current:
        groups.append(current)
    return groups


def _caption_events(
    words: Sequence[WordTiming], duration: float, width: int, height: int
) -> list[str]:
    size = round(height * CAPTION_SIZE)
    avail = width * 0.88
    x, y = width // 2, round(height * 0.68)
    events: list[str] = []
    groups = group_words(words)
    for gi, group in enumerate(groups):
        next_start = groups[gi + 1][0].start if gi + 1 < len(groups) else duration
        texts = [escape_ass_text(w.word) for w in group]
        est = CHAR_WIDTH_EM * size * (sum(len(w.word.strip()) for w in group) + len(group) - 1)
        fs = f"\\fs{int(size * avail / est)}" if est > avail else ""
        for i, w in enumerate(group):
            if i + 1 < len(group):
                end = group[i + 1].start  # bridge the short pause to the next word
            else:  # bridge to the next group too, unless that is a real pause
                end = next_start if next_start - w.end <= GROUP_GAP_S else w.end
            start, end = max(0.0, w.start), min(end, duration)
            if round(end * 100) <= round(start * 100):
                continue
            parts = [
                t if j == i else f"{{\\alpha{INACTIVE_ALPHA}}}{t}{{\\alpha&H00&}}"
                for j, t in enumerate(texts)
            ]
            events.append(
                f"Dialogue: 1,{_ass_time(start)},{_ass_time(end)},Caption,,0,0,0,,"
                f"{{\\an5\\pos({x},{y}){fs}}}{' '.join(parts)}"
            )
    return events


def scene_cues(
    script: Script, words: Sequence[WordTiming], duration: float
) -> list[tuple[float, float, str]]:
    """(start, end, text) for the top text: the title over the hook, then each scene's text."""
    parts = [
        (script.hook, script.title),
        *((s.narration, s.on_screen) for s in script.scenes),
        (script.call_to_action, ""),
    ]
    counts = [len(narration.split()) for narration, _ in parts]
    total = sum(counts)
    timed = sorted(words, key=lambda w: w.start)
    if not timed or total == 0:
        return []
    starts: list[float] = []
    cum = 0
    for count in counts:
        idx = round(cum * len(timed) / total)
        starts.append(0.0 if not starts else timed[idx].start if idx < len(timed) else duration)
        cum += count
    starts.append(duration)
    return [
        (starts[k], starts[k + 1], text)
        for k, (_, text) in enumerate(parts)
        if text.strip() and starts[k + 1] > starts[k]
    ]


def build_ass(voiceover: Voiceover, script: Script, width: int, height: int) -> str:
    """The ASS subtitle document: top scene text plus word-by-word captions."""
    cap, top = round(height * CAPTION_SIZE), round(height * 0.036)
    outline, shadow = max(2, round(height / 320)), max(1, round(height / 960))
    style = (
        "Style: {name},{font},{size},&H00FFFFFF,&H00FFFFFF,&H00000000,&H96000000,-1,0,0,0,"
        "100,100,0,0,1,{outline},{shadow},{align},{m},{m},{mv},1"
    )
    lines = [
        "[Script Info]",
        "ScriptType: v4.00+",
        f"PlayResX: {width}",
        f"PlayResY: {height}",
        "WrapStyle: 0",
        "ScaledBorderAndShadow: yes",
        "YCbCr Matrix: None",
        "",
        "[V4+ Styles]",
        "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, "
        "BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, "
        "BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding",
        style.format(
            name="Caption",
            font=CAPTION_FONT,
            size=cap,
            outline=outline,
            shadow=shadow,
            align=5,
            m=round(width * 0.06),
            mv=0,
        ),
        style.format(
            name="Top",
            font=CAPTION_FONT,
            size=top,
            outline=max(2, outline - 2),
            shadow=shadow,
            align=8,
            m=round(width * 0.08),
            mv=round(height * 0.11),
        ),
        "",
        "[Events]",
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
    ]
    duration = voiceover.duration_s
    for start, end, text in scene_cues(script, voiceover.words, duration):
        lines.append(
            f"Dialogue: 0,{_ass_time(start)},{_ass_time(end)},Top,,0,0,0,,"
            f"{{\\fad(150,150)}}{escape_ass_text(text)}"
        )
    lines += _caption_events(voiceover.words, duration, width, height)
    return "\n".join(lines) + "\n"


def _tail(stderr: bytes) -> str:
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    return "\n".join(lines[-STDERR_TAIL_LINES:])


async def _run(args: Sequence[str], *, want_stdout: bool = False) -> tuple[int, bytes, bytes]:
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


async def _ffmpeg(args: Sequence[str], what: str, *, want_stdout: bool = False) -> bytes:
    rc, out, err = await _run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y", *args],
        want_stdout=want_stdout,
    )
    if rc != 0:
        raise RenderError(f"ffmpeg {what} failed (exit {rc}):\n{_tail(err)}")
    return out


def _render_args(
    voiceover: Voiceover, ass_path: Path, out: Path, *, seed: int, width: int, height: int, fps: int
) -> list[str]:
    c0, c1, c2 = palette(seed)
    dur = f"{voiceover.duration_s:.3f}"
    bg_w, bg_h = max(2, width // 4 // 2 * 2), max(2, height // 4 // 2 * 2)
    background = (
        f"gradients=s={bg_w}x{bg_h}:r={fps}:d={dur}:n=3:c0={c0}:c1={c1}:c2={c2}"
        f":speed=0.005:type=linear:seed={seed % 2**32}"
    )
    vf = (
        f"format=yuv420p,scale={width}:{height},"
        f"ass=filename={escape_filter_value(str(ass_path))}"
        f":fontsdir={escape_filter_value(str(fonts_dir()))},format=yuv420p"
    )
    return [
        "-f",
        "lavfi",
        "-i",
        background,
        "-i",
        str(voiceover.audio_path),
        "-map",
        "0:v:0",
        "-map",
        "1:a:0",
        "-vf",
        vf,
        "-t",
        dur,
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "23",
        "-g",
        str(fps * 2),
        "-x264-params",
        "sliced-threads=1:rc-lookahead=5",
        "-pix_fmt",
        "yuv420p",
        "-r",
        str(fps),
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        str(out),
    ]


async def render_short(
    *,
    voiceover: Voiceover,
    script: Script,
    out_dir: Path,
    seed: int = 0,
    width: int = 1080,
    height: int = 1920,
    fps: int = 30,
) -> RenderResult:
    """Render the short (H.264/AAC MP4) and a PNG thumbnail into out_dir, atomically."""
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise ValueError(f"width and height must be positive and even, got {width}x{height}")
    if fps <= 0 or voiceover.duration_s <= 0:
        raise ValueError("fps and the voiceover's duration must be positive")
    if not voiceover.audio_path.is_file():
        raise RenderError(f"voiceover audio not found: {voiceover.audio_path}")
    out_dir.mkdir(parents=True, exist_ok=True)
    video_path, thumb_path = out_dir / VIDEO_NAME, out_dir / THUMBNAIL_NAME
    token = secrets.token_hex(6)
    tmp_video = out_dir / f".video.{token}.part.mp4"
    tmp_thumb = out_dir / f".thumbnail.{token}.part.png"
    ass_path = out_dir / f".captions.{token}.ass"
    replaced: list[Path] = []
    try:
        ass_path.write_text(build_ass(voiceover, script, width, height), encoding="utf-8")
        await _ffmpeg(
            _render_args(
                voiceover, ass_path, tmp_video, seed=seed, width=width, height=height, fps=fps
            ),
            "render",
        )
        info = await probe_media(tmp_video)
        if info.video_codec != "h264" or (info.width, info.height) != (width, height):
            raise RenderError(f"unexpected render output: {info}")
        thumb_w, thumb_h = (720, 1280) if (width, height) == (1080, 1920) else (width, height)
        await _ffmpeg(
            [
                "-ss",
                f"{info.duration_s / 3:.3f}",
                "-i",
                str(tmp_video),
                "-frames:v",
                "1",
                "-vf",
                f"scale={thumb_w}:{thumb_h}",
                "-f",
                "image2",
                "-c:v",
                "png",
                "-update",
                "1",
                str(tmp_thumb),
            ],
            "thumbnail",
        )
        if not tmp_thumb.is_file():
            raise RenderError("ffmpeg wrote no thumbnail")
        for src, dst in ((tmp_video, video_path), (tmp_thumb, thumb_path)):
            os.replace(src, dst)
            replaced.append(dst)
    except BaseException:
        for path in (tmp_video, tmp_thumb, *replaced):
            path.unlink(missing_ok=True)
        raise
    finally:
        ass_path.unlink(missing_ok=True)
    return RenderResult(
        video_path=video_path,
        thumbnail_path=thumb_path,
        duration_s=info.duration_s,
        width=info.width,
        height=info.height,
    )


_DURATION_RE = re.compile(r"Duration:\s*(\d+):(\d{2}):(\d{2}(?:\.\d+)?)")
_STREAM_RE = re.compile(r"^\s*Stream #\d+:\d+\S*:\s*(Video|Audio):\s*(\w+)(.*)$", re.M)
_SIZE_RE = re.compile(r"[\s,](\d{1,5})x(\d{1,5})(?=[\s,\[]|$)")
_FPS_RE = re.compile(r"([\d.]+)\s*(?:fps|tbr)\b")


async def probe_media(path: Path) -> MediaInfo:
    """Duration, size, fps and codecs of a media file, parsed from `ffmpeg -i` output."""
    _, _, err = await _run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)])
    text = err.decode("utf-8", "replace")
    if not Path(path).is_file() or "Input #0" not in text:
        raise RenderError(f"cannot probe {path}:\n{_tail(err)}")
    duration = 0.0
    if m := _DURATION_RE.search(text):
        duration = int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3])
    width = height = 0
    fps = 0.0
    video_codec: str | None = None
    audio_codec: str | None = None
    audio_streams = 0
    for kind, codec, rest in _STREAM_RE.findall(text):
        if kind == "Video" and video_codec is None:
            video_codec = codec
            if size := _SIZE_RE.search(rest):
                width, height = int(size[1]), int(size[2])
            if rate := _FPS_RE.search(rest):
                fps = float(rate[1])
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
    )


async def frame_at(
    path: Path, t: float, *, width: int = 270, height: int = 480
) -> npt.NDArray[np.uint8]:
    """The RGB frame shown at time t, scaled to width x height, as a (h, w, 3) uint8 array."""
    out = await _ffmpeg(
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
    return np.frombuffer(out, dtype=np.uint8).reshape(height, width, 3).copy()
