"""Benchmark: `socialbot demo` end to end (draft → preview → approve → publish → digest).

Runs the demo in a fresh MEDIA_DIR each time, as a newcomer would, and prints wall time, the
peak RSS of the largest single process in its tree (Python or ffmpeg) and the video length.
Run with `.venv/bin/python bench/bench_demo.py [--runs N]`. Target: under 60 s for a 20-30 s
video on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def run_once(media_dir: Path) -> tuple[float, float, str]:
    """One demo run: (seconds, peak RSS in MiB, the line with the video's length)."""
    env = os.environ | {"MEDIA_DIR": str(media_dir)}
    for name in ("DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [str(BIN / "socialbot"), "demo"], env=env, stdout=subprocess.PIPE, text=True
    )
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"demo failed:\n{out}")
    length = re.search(r"· ([0-9.]+) s ·", out)
    return seconds, usage.ru_maxrss / 1024, length.group(1) if length else "?"


def main() -> None:
    """Run the demo a few times and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as media:
            seconds, rss, length = run_once(Path(media))
        print(f"run {i + 1}: {seconds:.1f} s wall, video {length} s, peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
