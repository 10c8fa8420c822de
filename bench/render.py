"""Benchmark: a 30 s 1080x1920 short from six 1920x1080 clips, voice and word captions.

Three renders of the same timeline from the same inputs, side by side in one run:

  socialbot  render_short: probe the clips, OpenCV crop analysis, one ffmpeg pass, thumbnail
  ffmpeg     one hand-written ffmpeg command: six inputs, the same crops, the same ASS file,
             the same x264 preset and parameters (the crops and ASS are made before timing)
  moviepy    MoviePy 2.2: clips cut, cropped and resized, captions as TextClips, voice audio

Each render runs in a child process. Wall time is the child's; "peak RSS" is os.wait4's
ru_maxrss, the largest single process in the child's tree (Linux folds waited-for children
in); "tree RSS" is the largest sum over the tree, sampled from /proc every 20 ms.
Inputs are generated with ffmpeg lavfi sources into a temporary folder (not timed).

Run: .venv/bin/python bench/render.py [--repeat N] [--skip-moviepy] [--no-ssim] [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services.captions import build_ass, group_words, scene_cues  # noqa: E402
from services.content import Scene, Script, Voiceover, WordTiming  # noqa: E402
from services.footage import Focus, crop_window, inspect_footage  # noqa: E402
from services.video import Aspect, probe_media, render_short  # noqa: E402
from services.video_aspect import LAYOUTS  # noqa: E402
from services.video_ffmpeg import escape_filter_value, ffmpeg_exe, fonts_dir  # noqa: E402
from services.video_graph import X264, X264_PARAMS, Slot, crop_xy  # noqa: E402
from services.vision import find_focus_all  # noqa: E402

DURATION_S, CLIP_S, FPS, RATE, WORDS = 30.0, 5.0, 30, 24_000, 78
W, H = Aspect.VERTICAL.size
SOURCES = (
    "testsrc2=s=1920x1080:r=30",
    "mandelbrot=s=960x540:r=30,scale=1920:1080",
    "life=s=480x270:r=30:mold=10:ratio=0.3:death_color=#302010:life_color=#c0ff80,"
    "scale=1920:1080:flags=neighbor",
    "cellauto=s=1920x1080:r=30:rule=110",
    "gradients=s=1920x1080:r=30:speed=0.02,drawbox=x='mod(t*400,1700)':y=400:w=200:h=200"
    ":c=yellow:t=fill",
    None,  # the Grace Hopper photo sliding over a moving gradient: a face to find
)


def clip_paths(work: Path) -> list[Path]:
    """The six input clips."""
    return [work / "clips" / f"clip{i}.mp4" for i in range(len(SOURCES))]


def make_inputs(work: Path) -> None:
    """Six 5 s 1920x1080 H.264 clips, a 30 s voice-like WAV."""
    (work / "clips").mkdir(parents=True, exist_ok=True)
    encode = ["-t", str(CLIP_S), "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
    jobs = []
    for src, path in zip(SOURCES, clip_paths(work), strict=True):
        if src is None:
            graph = (
                "gradients=s=1920x1080:r=30:speed=0.01[bg];[1:v]scale=640:-2[p];"
                "[bg][p]overlay=x='200+t*120':y=180,scale=out_range=tv,format=yuv420p"
            )
            import matplotlib.cbook

            hopper = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
            args = ["-f", "lavfi", "-i", "nullsrc", "-loop", "1", "-i", str(hopper)]
            args += ["-filter_complex", graph]
        else:
            args = ["-f", "lavfi", "-i", src]
        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args, *encode, str(path)]
        jobs.append(subprocess.Popen(cmd))
        if len(jobs) == 2:
            for j in jobs:
                j.wait()
            jobs = []
    for j in jobs:
        j.wait()
    import numpy as np

    rng = np.random.default_rng(1)
    t = np.arange(int(DURATION_S * RATE)) / RATE
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3.0 * t)
    signal = envelope * (0.3 * np.sin(2 * np.pi * 180 * t) + 0.05 * rng.standard_normal(t.size))
    with wave.open(str(work / "voice.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((signal * 32767 * 0.8).astype("<i2").tobytes())


def voiceover(work: Path) -> Voiceover:
    """The voice WAV with 78 evenly spread word timings."""
    vocabulary = "here is something you probably didn't know about octopuses they have three "
    vocabulary += "hearts and blue blood."
    words = vocabulary.split()
    slot = (DURATION_S - 0.5) / WORDS
    timings = tuple(
        WordTiming(words[i % len(words)], 0.25 + i * slot, 0.25 + i * slot + slot * 0.8)
        for i in range(WORDS)
    )
    return Voiceover(work / "voice.wav", DURATION_S, timings)


def script() -> Script:
    """A four-scene script (its text drives the top-of-screen labels)."""
    return Script(
        title="Octopus facts",
        hook="Here is something you probably didn't know.",
        scenes=tuple(
            Scene(narration=f"Fact number {i} about octopuses and hearts.", on_screen=f"Fact #{i}")
            for i in range(1, 5)
        ),
        call_to_action="Follow for more.",
    )


# --- the three renders (each runs in a child process) ------------------------------------------


async def run_ours(work: Path, out: Path) -> dict[str, float]:
    """render_short end to end, from probing the clips to the thumbnail."""
    footage = [await inspect_footage(p) for p in clip_paths(work)]
    result = await render_short(
        voiceover=voiceover(work), script=script(), out_dir=out.parent / "ours", footage=footage
    )
    os.replace(result.video_path, out)
    return {
        "ffmpeg_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        # VmHWM, not ru_maxrss: ru_maxrss survives exec, so it would report the bench's own
        # size at the fork that started this child
        "python_peak_mb": _vm_hwm_kib() / 1024,
    }


def _vm_hwm_kib() -> int:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]


def handwritten_command(work: Path, out: Path) -> list[str]:
    """The hand-written baseline: six inputs, crop/scale/concat, ASS, voice; same encoder."""
    crops = json.loads((work / "crops.json").read_text())
    inputs: list[str] = []
    chains = []
    for i, (path, c) in enumerate(zip(clip_paths(work), crops, strict=True)):
        inputs += ["-i", str(path)]
        chains.append(
            f"[{i}:v]trim=duration={CLIP_S},setpts=PTS-STARTPTS,fps={FPS},"
            f"crop={c[2]}:{c[3]}:{c[0]}:{c[1]},scale={W}:{H},setsar=1[v{i}]"  # c[0]: an expr
        )
    ass = escape_filter_value(str(work / "captions.ass"))
    fonts = escape_filter_value(str(fonts_dir()))
    joined = "".join(f"[v{i}]" for i in range(len(crops)))
    graph = ";".join(
        [*chains, f"{joined}concat=n={len(crops)}:v=1:a=0,ass={ass}:fontsdir={fonts}[v]"]
    )
    return [
        ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *inputs,
        "-i", str(work / "voice.wav"), "-filter_complex", graph, "-map", "[v]",
        "-map", f"{len(crops)}:a", *X264, "-g", str(FPS * 2), "-x264-params", X264_PARAMS,
        "-pix_fmt", "yuv420p", "-r", str(FPS), "-c:a", "aac", "-b:a", "128k", "-ar", "48000",
        "-ac", "2", "-t", str(DURATION_S), "-movflags", "+faststart", str(out),
    ]  # fmt: skip


def run_moviepy(work: Path, out: Path) -> dict[str, float]:
    """The same timeline through MoviePy (frames composited in Python)."""
    import numpy as np
    from moviepy import (  # type: ignore[import-untyped]
        AudioFileClip,
        CompositeVideoClip,
        TextClip,
        VideoFileClip,
        concatenate_videoclips,
    )

    crops = json.loads((work / "crops.json").read_text())

    def crop(clip: Any, c: list[Any]) -> Any:
        times, xs = [p[0] for p in c[4]], [p[1] for p in c[4]]

        def frame(get_frame: Any, t: float) -> Any:
            x = int(np.interp(t, times, xs)) // 2 * 2  # the same pan as the crop expression
            return get_frame(t)[: c[3], x : x + c[2]]

        return clip.transform(frame)

    clips = [
        crop(VideoFileClip(str(p), audio=False).subclipped(0, CLIP_S), c).resized(new_size=(W, H))
        for p, c in zip(clip_paths(work), crops, strict=True)
    ]
    layout = LAYOUTS[Aspect.VERTICAL]
    font = str(fonts_dir() / "DejaVuSans-Bold.ttf")
    size, top = round(H * layout.caption_size), round(H * layout.top_size)
    texts = []
    voice = voiceover(work)
    groups = group_words(voice.words)
    for gi, group in enumerate(groups):  # one TextClip per spoken word, showing its group
        label = " ".join(w.word for w in group)
        nxt = groups[gi + 1][0].start if gi + 1 < len(groups) else DURATION_S
        for i, w in enumerate(group):
            end = group[i + 1].start if i + 1 < len(group) else min(nxt, w.end + 0.3)
            clip = TextClip(
                font=font, text=label, font_size=size, color="white", stroke_color="black",
                stroke_width=6, margin=(10, 10),
            )  # fmt: skip
            y = round(H * layout.caption_y - clip.h / 2)
            texts.append(clip.with_start(w.start).with_end(end).with_position(("center", y)))
    for start, end, text in scene_cues(script(), voice.words, DURATION_S):
        clip = TextClip(
            font=font, text=text, font_size=top, color="white", stroke_color="black",
            stroke_width=4, margin=(10, 10),
        )  # fmt: skip
        y = round(H * (layout.unsafe_top + 0.01))
        texts.append(clip.with_start(start).with_end(end).with_position(("center", y)))
    video = CompositeVideoClip([concatenate_videoclips(clips), *texts], size=(W, H))
    video = video.with_duration(DURATION_S).with_audio(AudioFileClip(str(work / "voice.wav")))
    video.write_videofile(
        str(out), fps=FPS, codec="libx264", preset="veryfast", audio_codec="aac",
        audio_bitrate="128k", threads=2, logger=None,
        ffmpeg_params=["-crf", "23", "-g", str(FPS * 2), "-x264-params", X264_PARAMS,
                       "-pix_fmt", "yuv420p"],
    )  # fmt: skip
    return {}


def child(tool: str, work: Path, out: Path) -> None:
    """Entry point of a measured child process: render, then print its own figures as JSON."""
    figures = asyncio.run(run_ours(work, out)) if tool == "socialbot" else run_moviepy(work, out)
    print(json.dumps(figures))


# --- measuring --------------------------------------------------------------------------------


def _tree_rss_kib(pid: int) -> int:
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+)", status)[1])  # type: ignore[index]
            for task in Path(f"/proc/{p}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, TypeError, ValueError):
            continue
    return total


@dataclass
class Measurement:
    """One measured render."""

    tool: str
    wall_s: float
    peak_mb: float
    tree_mb: float
    output: Path
    extra: dict[str, float]
    duration_s: float = 0.0
    ssim: float | None = None


def measure(tool: str, cmd: list[str], output: Path) -> Measurement:
    """Run cmd as a child; wall time, wait4 peak RSS, sampled tree RSS, its JSON figures."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    peak_tree = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_tree
        while not done.is_set():
            peak_tree = max(peak_tree, _tree_rss_kib(proc.pid))
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{tool} failed with exit code {proc.returncode}")
    lines = stdout.decode().strip().splitlines()
    extra = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    return Measurement(tool, wall, usage.ru_maxrss / 1024, peak_tree / 1024, output, extra)


def ssim(a: Path, b: Path) -> float:
    """Mean SSIM of two videos (luma and chroma, as ffmpeg's ssim filter reports 'All')."""
    err = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostats", "-i", str(a), "-i", str(b), "-lavfi",
         "[0:v][1:v]ssim", "-f", "null", "-"],
        capture_output=True, check=True,
    ).stderr.decode()  # fmt: skip
    return float(re.findall(r"All:([\d.]+)", err)[-1])


async def prepare(work: Path) -> None:
    """Inputs, the crops our analysis picks, and the ASS file, for the baselines (not timed)."""
    make_inputs(work)
    crops = []
    for path in clip_paths(work):
        footage = await inspect_footage(path)
        [focus] = await find_focus_all([(footage, CLIP_S)])
        slot = Slot(footage, 0.0, CLIP_S, focus)
        x, y, c = crop_xy(slot, W, H, 0.0)  # a pan where a face moves, as render_short does
        track = [(t, Focus(fx, fy, "face")) for t, fx, fy in slot.focus.track] or [(0, slot.focus)]
        pan = [[t, crop_window(1920, 1080, W, H, f).x] for t, f in track]
        crops.append([x, y, c.w, c.h, pan])
    (work / "crops.json").write_text(json.dumps(crops))
    (work / "captions.ass").write_text(build_ass(voiceover(work), script(), W, H))


def bench(work: Path, repeat: int, with_moviepy: bool, with_ssim: bool) -> None:
    """Prepare, run every render, print the table."""
    asyncio.run(prepare(work))
    me = [sys.executable, str(Path(__file__).resolve()), "--child"]
    runs: list[Measurement] = []
    for r in range(repeat):  # alternate, so both see the same machine load
        ours = work / f"ours-{r}.mp4"
        runs.append(measure("socialbot", [*me, "socialbot", str(work), str(ours)], ours))
        hand = work / f"ffmpeg-{r}.mp4"
        runs.append(measure("ffmpeg by hand", handwritten_command(work, hand), hand))
    if with_moviepy:
        mp = work / "moviepy.mp4"
        runs.append(measure("moviepy", [*me, "moviepy", str(work), str(mp)], mp))
    reference = runs[0].output
    compared: set[str] = set()
    for m in runs:
        m.duration_s = asyncio.run(probe_media(m.output)).duration_s
        if with_ssim and m.tool != "socialbot" and m.tool not in compared:
            m.ssim = ssim(reference, m.output)
            compared.add(m.tool)
    print(f"\n30 s 1080x1920 from six 1920x1080 clips, {os.cpu_count()} cores, x264 veryfast")
    head = f"{'tool':<16}{'wall s':>8}{'peak RSS MB':>13}{'tree RSS MB':>13}{'output s':>10}"
    print(f"{head}{'SSIM':>8}")
    for m in runs:
        s = f"{m.ssim:.3f}" if m.ssim is not None else "ref" if m.output == reference else "-"
        print(
            f"{m.tool:<16}{m.wall_s:>8.1f}{m.peak_mb:>13.0f}{m.tree_mb:>13.0f}"
            f"{m.duration_s:>10.2f}{s:>8}"
        )
    ours = [m for m in runs if m.tool == "socialbot"]
    hand = [m for m in runs if m.tool == "ffmpeg by hand"]
    best_ours, best_hand = min(m.wall_s for m in ours), min(m.wall_s for m in hand)
    print(f"\nsocialbot / hand-written wall time: {best_ours / best_hand:.2f}x (best of {repeat})")
    print(
        "socialbot ffmpeg peak RSS: "
        + ", ".join(f"{m.extra.get('ffmpeg_peak_mb', 0):.0f} MB" for m in ours)
        + "; its Python process: "
        + ", ".join(f"{m.extra.get('python_peak_mb', 0):.0f} MB" for m in ours)
    )
    mp = [m for m in runs if m.tool == "moviepy"]
    if mp:
        print(f"moviepy / socialbot wall time: {mp[0].wall_s / best_ours:.1f}x")


def main() -> None:
    """Parse arguments; run as the benchmark or as one of its measured children."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", nargs=3, metavar=("TOOL", "WORK", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=2, help="runs of ours and the baseline")
    parser.add_argument("--skip-moviepy", action="store_true", help="leave MoviePy out")
    parser.add_argument("--no-ssim", action="store_true", help="skip the SSIM comparison")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        bench(args.keep, args.repeat, not args.skip_moviepy, not args.no_ssim)
        return
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
        bench(Path(tmp), args.repeat, not args.skip_moviepy, not args.no_ssim)


if __name__ == "__main__":
    main()
