"""Benchmark: render a 25 s short from a synthetic voiceover; print wall time, peak RSS, size.

Run with `.venv/bin/python bench/bench_render.py [--keep DIR]`.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

from services.content import Scene, Script, Voiceover, WordTiming
from services.video import probe_media, render_short

DURATION_S = 25.0
WORDS = 65
RATE = 24_000


def synthetic_voiceover(folder: Path) -> Voiceover:
    """A 25 s voice-like WAV (modulated tone with noise) and 65 evenly spread word timings."""
    rng = np.random.default_rng(1)
    t = np.arange(int(DURATION_S * RATE)) / RATE
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3.0 * t)
    signal = envelope * (0.3 * np.sin(2 * np.pi * 180 * t) + 0.05 * rng.standard_normal(t.size))
    with wave.open(str(folder / "voice.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((signal * 32767 * 0.8).astype("<i2").tobytes())
    vocabulary = (
        "here",
        "is",
        "something",
        "you",
        "probably",
        "didn't",
        "know",
        "about",
        "octopuses",
        "they",
        "have",
        "three",
        "hearts",
        "and",
        "blue",
        "blood.",
    )
    slot = (DURATION_S - 0.5) / WORDS
    words = tuple(
        WordTiming(vocabulary[i % len(vocabulary)], 0.25 + i * slot, 0.25 + i * slot + slot * 0.8)
        for i in range(WORDS)
    )
    return Voiceover(folder / "voice.wav", DURATION_S, words)


def synthetic_script() -> Script:
    """A four-scene script (its text only drives the top-of-screen labels)."""
    return Script(
        title="Octopus facts",
        hook="Here is something you probably didn't know.",
        scenes=tuple(
            Scene(
                narration=f"Fact number {i} about octopuses and their hearts.",
                on_screen=f"Fact #{i}",
            )
            for i in range(1, 5)
        ),
        call_to_action="Follow for more.",
    )


async def bench(out_dir: Path) -> None:
    """Render once and print the figures."""
    voice = synthetic_voiceover(out_dir)
    started = time.perf_counter()
    result = await render_short(
        voiceover=voice, script=synthetic_script(), out_dir=out_dir / "out", seed=1234
    )
    wall = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    info = await probe_media(result.video_path)
    size = result.video_path.stat().st_size
    print(f"rendered   {result.video_path}")
    print(
        f"video      {info.width}x{info.height} {info.fps:g} fps {info.video_codec}"
        f" + {info.audio_streams}x {info.audio_codec}, {info.duration_s:.2f} s"
    )
    print(f"wall time  {wall:.2f} s ({DURATION_S / wall:.2f}x realtime)")
    print(f"peak RSS   {peak_kib / 1024:.1f} MiB (largest ffmpeg child)")
    print(f"file size  {size / 1e6:.2f} MB ({size * 8 / info.duration_s / 1000:.0f} kb/s)")
    print(f"thumbnail  {result.thumbnail_path.stat().st_size / 1e3:.0f} kB")


def main() -> None:
    """Parse arguments and run the benchmark in a temporary (or kept) directory."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", type=Path, help="render into this directory and keep it")
    args = parser.parse_args()
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        asyncio.run(bench(args.keep))
        return
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
        asyncio.run(bench(Path(tmp)))


if __name__ == "__main__":
    main()
