"""The ffmpeg command for one output: footage timeline, captions, voice and ducked music.

Video: consecutive clips of one kind (codec, size, pixel format, no rotation) are read through
one concat-demuxer input, so one decoder serves them all. Each list entry is given a second of
spare timeline after its out-point; the B-frames a decoder still emits past an out-point land
in that gap, where `select` drops them, and `setpts` closes the gaps again. Per-clip crops are
`crop` x/y expressions of time (a pan where a tracked face moves). Images (Ken Burns zoom
towards the focus) and rotated clips are inputs of their own; segments are joined with the
concat filter. Then captions (libass).

No side outputs: a sparse second output (say, a few thumbnail frames) makes ffmpeg's
scheduler keep feeding the lagging output while frames pile up for the encoder (650 MB
instead of 270 MB, measured), so the thumbnail is taken from the finished file's keyframes.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate, pairwise
from pathlib import Path

from services.content import WordTiming
from services.footage import CropWindow, Focus, Footage, crop_window
from services.video_ffmpeg import escape_filter_value, fonts_dir

MIN_SLOT_S = 1.5  # fewer, longer slots when there are more clips than this allows
ENTRY_GAP_S = 1.0  # spare timeline after each concat entry (see the module docstring)
KEN_BURNS_ZOOM = 0.12  # images zoom in by this much over their slot
MUSIC_LEVEL = 0.35  # music gain against the voice, before ducking
DUCK_LEVEL = 0.25  # music gain factor while someone speaks
DUCK_ATTACK_S, DUCK_RELEASE_S = 0.15, 0.35
MUSIC_FADE_IN_S, MUSIC_FADE_OUT_S = 0.3, 2.0
X264 = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23"]
X264_PARAMS = "sliced-threads=1:rc-lookahead=5"  # low memory, same speed (DESIGN.md)
DECODER = ["-threads", "2"]  # each decoding thread holds frames: 2 keep up with the encoder


@dataclass(frozen=True)
class Slot:
    """One piece of footage on the timeline, with the focus its crops are centred on."""

    footage: Footage
    start: float
    duration: float
    focus: Focus


@dataclass(frozen=True)
class OutputSpec:
    """One output file of the render and what goes into it."""

    path: Path
    width: int
    height: int
    ass_path: Path


def plan_slots(footage: Sequence[Footage], duration: float) -> list[tuple[Footage, float, float]]:
    """(footage, start, length): equal slots over the duration, at least MIN_SLOT_S each."""
    if not footage or duration <= 0:
        return []
    count = max(1, min(len(footage), int(duration // MIN_SLOT_S)))
    slot = duration / count
    return [(footage[i], i * slot, slot) for i in range(count)]


def _in_run(f: Footage) -> bool:
    return f.kind == "video" and f.rotation == 0 and bool(f.duration_s)


def group_runs(slots: Sequence[Slot]) -> list[list[Slot]]:
    """Consecutive slots that one concat-demuxer input can read; others stand alone."""
    runs: list[list[Slot]] = []
    for s in slots:
        f = s.footage
        prev = runs[-1][-1].footage if runs else None
        key = (f.codec, f.width, f.height, f.pix_fmt)
        if (
            prev is not None
            and _in_run(f)
            and _in_run(prev)
            and key == (prev.codec, prev.width, prev.height, prev.pix_fmt)
        ):
            runs[-1].append(s)
        else:
            runs.append([s])
    return runs


def _quote_concat(path: Path) -> str:
    return "'" + str(path.resolve()).replace("'", "'\\''") + "'"


def concat_list(run: Sequence[Slot]) -> tuple[str, list[tuple[float, float]]]:
    """The ffconcat text for a run (clips looped or cut to their slots) and each entry's
    (start on the concat timeline, length)."""
    lines, entries, at = ["ffconcat version 1.0"], [], 0.0
    for s in run:
        clip = float(s.footage.duration_s or s.duration)
        left = s.duration
        while left > 1e-3:
            take = min(clip, left)
            lines += [f"file {_quote_concat(s.footage.path)}", f"outpoint {take:.6f}"]
            lines.append(f"duration {take + ENTRY_GAP_S:.6f}")
            entries.append((at, take))
            at += take + ENTRY_GAP_S
            left -= take
    return "\n".join(lines) + "\n", entries


def _piecewise(bounds: Sequence[float], values: Sequence[str]) -> str:
    expr = values[-1]
    for b, v in zip(reversed(bounds), reversed(values[:-1]), strict=True):
        expr = f"if(lt(t\\,{b:.4f})\\,{v}\\,{expr})"
    return expr


def _ramp(points: Sequence[tuple[float, int]]) -> str:
    """An expression of t: linear between (time, value) points, held before and after."""
    expr = str(points[-1][1])
    for (t0, v0), (t1, v1) in reversed(list(pairwise(points))):
        step = f"{v0}+({v1 - v0})*(t-({t0:.4f}))/{max(1e-3, t1 - t0):.4f}"
        expr = f"if(lt(t\\,{t1:.4f})\\,{step}\\,{expr})"
    return f"if(lt(t\\,{points[0][0]:.4f})\\,{points[0][1]}\\,{expr})"


def crop_xy(s: Slot, width: int, height: int, offset: float) -> tuple[str, str, CropWindow]:
    """Crop x and y for a slot into width x height (expressions of t, `offset` the slot's start,
    that pan with a tracked face) and the crop window's size."""
    f = s.footage
    c = crop_window(f.width, f.height, width, height, s.focus)
    looped = (f.duration_s or 0.0) < s.duration - 1e-3
    if not s.focus.track or looped:
        return str(c.x), str(c.y), c
    wins = [
        (offset + t, crop_window(f.width, f.height, width, height, Focus(x, y, "face")))
        for t, x, y in s.focus.track
        if t <= s.duration
    ]
    if len(wins) < 2:
        return str(c.x), str(c.y), c
    return _ramp([(t, w.x) for t, w in wins]), _ramp([(t, w.y) for t, w in wins]), c


def _finish(width: int, height: int) -> str:
    return f"scale={width}:{height}:flags=bicubic:out_range=tv,setsar=1,format=yuv420p"


def _run_chain(
    run: Sequence[Slot], entries: Sequence[tuple[float, float]], out: OutputSpec, fps: int
) -> str:
    keep = "+".join(f"gte(t\\,{a:.4f})*lt(t\\,{a + n:.4f})" for a, n in entries)
    shift = "+".join(f"gte(T\\,{a:.4f})" for a, _ in entries[1:]) or "0"
    xs, ys, at = [], [], 0.0
    for s in run:
        x, y, crop = crop_xy(s, out.width, out.height, at)
        xs.append(x)
        ys.append(y)
        at += s.duration
    bounds = list(accumulate(s.duration for s in run[:-1]))
    bounds = [b - 0.5 / fps for b in bounds]
    x, y = _piecewise(bounds, xs), _piecewise(bounds, ys)
    return (
        f"select={keep},setpts=PTS-({shift})*{ENTRY_GAP_S}/TB,fps={fps},"
        f"crop={crop.w}:{crop.h}:{x}:{y},{_finish(out.width, out.height)}"
    )


def _image_chain(s: Slot, out: OutputSpec, fps: int) -> str:
    f = s.footage
    c = crop_window(f.width, f.height, out.width, out.height, s.focus)
    fx = min(1.0, max(0.0, (s.focus.x * f.width - c.x) / c.w))
    fy = min(1.0, max(0.0, (s.focus.y * f.height - c.y) / c.h))
    frames = max(1, round(s.duration * fps))
    zoom = f"1+{KEN_BURNS_ZOOM}*on/{max(1, frames - 1)}"
    return (
        f"crop={c.w}:{c.h}:{c.x}:{c.y},"
        f"scale={out.width * 2}:{out.height * 2}:flags=bicubic,"
        f"zoompan=z={zoom}:x=(iw-iw/zoom)*{fx:.4f}:y=(ih-ih/zoom)*{fy:.4f}"
        f":d={frames}:s={out.width}x{out.height}:fps={fps},scale=out_range=tv,setsar=1,format=yuv420p"
    )


def _clip_chain(s: Slot, out: OutputSpec, fps: int) -> str:
    x, y, c = crop_xy(s, out.width, out.height, 0.0)
    return f"fps={fps},crop={c.w}:{c.h}:{x}:{y},{_finish(out.width, out.height)}"


def palette(seed: int) -> tuple[str, str, str]:
    """Three dark, saturated colours (0xRRGGBB) for the background, derived from seed."""
    import colorsys

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


def speech_intervals(words: Sequence[WordTiming]) -> list[tuple[float, float]]:
    """Spans of speech: word timings merged where the pause is too short to let music up."""
    spans: list[tuple[float, float]] = []
    for w in sorted((w for w in words if w.end > w.start), key=lambda w: w.start):
        if spans and w.start - spans[-1][1] < DUCK_ATTACK_S + DUCK_RELEASE_S + 0.3:
            spans[-1] = (spans[-1][0], max(spans[-1][1], w.end))
        else:
            spans.append((w.start, w.end))
    return spans


def duck_expression(words: Sequence[WordTiming]) -> str:
    """A volume-filter expression of t: 1 in pauses, DUCK_LEVEL in speech, linear ramps."""
    ramps = [
        f"clip(min((t-({a - DUCK_ATTACK_S:.3f}))/{DUCK_ATTACK_S}"
        f"\\,({b + DUCK_RELEASE_S:.3f}-t)/{DUCK_RELEASE_S})\\,0\\,1)"
        for a, b in speech_intervals(words)
    ]
    return f"1-{1 - DUCK_LEVEL:.3f}*({'+'.join(ramps) or '0'})"


def _audio_graph(voice_in: int, music_in: int | None, words: Sequence[WordTiming], d: float) -> str:
    fmt = "aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo"
    voice = f"[{voice_in}:a]{fmt},apad,atrim=duration={d:.3f}"
    if music_in is None:
        return f"{voice}[aout]"
    fade = min(MUSIC_FADE_OUT_S, d / 3)
    return (
        f"{voice}[voice];[{music_in}:a]{fmt},atrim=duration={d:.3f},volume={MUSIC_LEVEL},"
        f"asetnsamples=n=480,volume=eval=frame:volume={duck_expression(words)},"
        f"afade=t=in:d={MUSIC_FADE_IN_S},afade=t=out:st={d - fade:.3f}:d={fade:.3f}[music];"
        "[voice][music]amix=inputs=2:duration=first:normalize=0:dropout_transition=0[aout]"
    )


def render_args(
    *,
    slots: Sequence[Slot],
    voice: Path,
    words: Sequence[WordTiming],
    duration: float,
    music: Path | None,
    out: OutputSpec,
    fps: int,
    seed: int,
    list_path: Path,
) -> tuple[list[str], dict[Path, str]]:
    """ffmpeg arguments for one output, and the concat lists to write before running it."""
    inputs: list[str] = []
    files: dict[Path, str] = {}
    chains: list[str] = []
    d = f"{duration:.3f}"
    if not slots:
        c0, c1, c2 = palette(seed)
        bg_w, bg_h = max(2, out.width // 4 // 2 * 2), max(2, out.height // 4 // 2 * 2)
        inputs += ["-f", "lavfi", "-i"]
        inputs.append(
            f"gradients=s={bg_w}x{bg_h}:r={fps}:d={d}:n=3:c0={c0}:c1={c1}:c2={c2}"
            f":speed=0.005:type=linear:seed={seed % 2**32}"
        )
        chains.append(f"[0:v]format=yuv420p,{_finish(out.width, out.height)}[s0]")
    for k, run in enumerate(group_runs(slots)):
        s = run[0]
        if _in_run(s.footage):
            text, entries = concat_list(run)
            path = list_path.with_name(f"{list_path.stem}-{k}.ffconcat")
            files[path] = text
            inputs += [*DECODER, "-f", "concat", "-safe", "0", "-i", str(path)]
            chains.append(f"[{k}:v]{_run_chain(run, entries, out, fps)}[s{k}]")
        elif s.footage.kind == "image":
            inputs += ["-i", str(s.footage.path)]
            chains.append(f"[{k}:v]{_image_chain(s, out, fps)}[s{k}]")
        else:
            inputs += [*DECODER, "-stream_loop", "-1", "-t", f"{s.duration:.3f}"]
            inputs += ["-i", str(s.footage.path)]
            chains.append(f"[{k}:v]{_clip_chain(s, out, fps)}[s{k}]")
    count = len(chains)
    joined = "".join(f"[s{k}]" for k in range(count))
    ass = (
        f"ass=filename={escape_filter_value(str(out.ass_path))}"
        f":fontsdir={escape_filter_value(str(fonts_dir()))}"
    )
    video = (
        f"{joined}{f'concat=n={count}:v=1:a=0,' if count > 1 else 'null,'}"
        f"tpad=stop_mode=clone:stop_duration={d},trim=duration={d},{ass},format=yuv420p"
    )
    graph = [*chains, f"{video}[vout]"]
    voice_in = count
    inputs += ["-i", str(voice)]
    music_in: int | None = None
    if music is not None:
        music_in = count + 1
        inputs += ["-stream_loop", "-1", "-i", str(music)]
    graph.append(_audio_graph(voice_in, music_in, words, duration))
    args = [
        *inputs,
        "-filter_complex",
        ";".join(graph),
        "-map",
        "[vout]",
        "-map",
        "[aout]",
        *X264,
        "-g",
        str(fps * 2),
        "-x264-params",
        X264_PARAMS,
        "-pix_fmt",
        "yuv420p",
        "-r",
        str(fps),
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        "-t",
        d,
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        str(out.path),
    ]
    return args, files
