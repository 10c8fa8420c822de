"""OpenCV work of a render (crop focus, thumbnail choice) in a short-lived child process.

OpenCV, NumPy and the decoded sample frames cost the Python process that holds them about
100 MB, and glibc keeps most of it after the frames are freed. The render's own process only
drives ffmpeg, so it never imports them: `find_focus_all` and `pick_thumbnail` run
`python -m services.vision` with a JSON request on stdin and read a JSON answer from stdout.
The child exits before the ffmpeg pass starts, so the two never hold memory at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from services.footage import Focus, Footage
from services.video_ffmpeg import RenderError, tail

ANALYSIS_JOBS = 2  # clips analysed at once in the child (each is an ffmpeg decode plus OpenCV)
_ROOT = Path(__file__).resolve().parent.parent


def _focus_from(data: dict[str, Any]) -> Focus:
    return Focus(
        x=float(data["x"]),
        y=float(data["y"]),
        method=data["method"],
        faces=tuple(tuple(b) for b in data["faces"]),
        track=tuple(tuple(p) for p in data["track"]),
    )


def _footage_json(f: Footage) -> dict[str, Any]:
    return {**dataclasses.asdict(f), "path": str(f.path)}


async def _run_child(request: dict[str, Any]) -> Any:
    paths = [str(_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.vision",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        out, err = await proc.communicate(json.dumps(request).encode())
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    if proc.returncode != 0:
        raise RenderError(f"the {request['op']} analysis failed:\n{tail(err)}")
    answer = json.loads(out)
    if "error" in answer:
        raise RenderError(answer["error"])
    return answer["result"]


async def find_focus_all(items: Sequence[tuple[Footage, float]]) -> list[Focus]:
    """The crop focus of each (footage, seconds used), found in one child process."""
    if not items:
        return []
    request = {"op": "focus", "items": [[_footage_json(f), used] for f, used in items]}
    return [_focus_from(d) for d in await _run_child(request)]


async def pick_thumbnail(
    video: Path, dest: Path, *, size: tuple[int, int], start: float, end: float
) -> Path:
    """Write the best keyframe of `video` between start and end to dest (PNG), in a child."""
    request = {
        "op": "thumbnail",
        "video": str(video),
        "dest": str(dest),
        "size": list(size),
        "start": start,
        "end": end,
    }
    await _run_child(request)
    return dest


# --- the child ----------------------------------------------------------------------------


async def _child_focus(items: list[list[Any]]) -> list[dict[str, Any]]:
    from services.footage_focus import analyse_footage

    gate = asyncio.Semaphore(ANALYSIS_JOBS)

    async def one(data: dict[str, Any], used: float) -> Focus:
        footage = Footage(**{**data, "path": Path(data["path"])})
        async with gate:
            return await analyse_footage(footage, used)

    found = await asyncio.gather(*(one(data, used) for data, used in items))
    return [dataclasses.asdict(f) for f in found]


async def _child(request: dict[str, Any]) -> Any:
    if request["op"] == "focus":
        return await _child_focus(request["items"])
    if request["op"] == "thumbnail":
        from services.thumbnails import thumbnail_from_video

        size = request["size"]
        await thumbnail_from_video(
            Path(request["video"]),
            Path(request["dest"]),
            size=(int(size[0]), int(size[1])),
            start=float(request["start"]),
            end=float(request["end"]),
        )
        return request["dest"]
    raise ValueError(f"unknown op {request['op']!r}")


def main() -> None:
    """Answer one JSON request from stdin on stdout: {"result": ...} or {"error": "..."}."""
    request = json.loads(sys.stdin.buffer.read())
    try:
        answer: dict[str, Any] = {"result": asyncio.run(_child(request))}
    except RenderError as exc:
        answer = {"error": str(exc)}
    sys.stdout.write(json.dumps(answer))


if __name__ == "__main__":
    main()
