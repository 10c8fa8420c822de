"""Benchmark: a 1 GB video uploaded by each publisher that sends the file itself.

YouTube (resumable upload in 8 MiB chunks, google-api-python-client), TikTok (10 MB chunks,
httpx) and Facebook Reels (one streamed upload, httpx) post a 1 GiB file to their loopback
fakes (tests/fakes/), which hash what they receive without keeping it. Instagram has no upload
of ours: Meta fetches the file from the web app's signed link.

The fakes run in one child process, each upload in another; the figures are the uploading
process's wall time and peak RSS (VmHWM from /proc, read by the process itself at the end).
Target: peak memory under 150 MB.

Run: .venv/bin/python bench/upload.py [--size-mb N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PLATFORMS = ("youtube", "tiktok", "facebook")


def _vm_hwm_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]


async def serve() -> None:
    """Child: start the three fakes, print their addresses and tokens, serve until stdin ends."""
    from tests.fakes.meta_server import FakeMeta
    from tests.fakes.tiktok_server import FakeTikTok
    from tests.fakes.youtube_server import FakeYouTube

    async with FakeYouTube() as youtube, FakeTikTok() as tiktok, FakeMeta() as meta:
        yt_access, _ = youtube.issue_tokens()
        tt_access, _ = tiktok.issue_tokens()
        page = meta.pages[0]
        info = {
            "youtube": {"url": youtube.api_base_url, "token": yt_access},
            "tiktok": {"url": tiktok.base_url, "token": tt_access},
            "facebook": {"url": meta.graph_url, "token": page.token, "account": page.id},
        }
        print(json.dumps(info), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


class _Fixed:
    """Tokens that never change (the bench measures uploads, not refreshes)."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def access_token(self) -> str:
        return self._token

    async def refresh(self) -> str:
        return self._token


async def upload(platform: str, info: dict[str, Any], video: Path) -> dict[str, float]:
    """Child: publish `video` once to `platform`'s fake; wall time and peak memory."""
    from services.content import Platform, PlatformMeta
    from services.publishing import PublishRequest

    tokens = _Fixed(info["token"])
    meta = PlatformMeta(
        platform=Platform(platform), title="Bench upload", caption="1 GB", hashtags=("#bench",)
    )
    request = PublishRequest(
        publication_id=1,
        idempotency_key="bench",
        draft_id=1,
        version=1,
        video_path=video,
        thumbnail_path=video.with_suffix(".png"),
        meta=meta,
        duration_s=30.0,
        account_id=info.get("account", "bench"),
        options={"privacy_level": "SELF_ONLY"},
    )
    started = time.perf_counter()
    if platform == "youtube":
        from services.publishers.youtube import YouTubePublisher

        await YouTubePublisher(api_base_url=info["url"], tokens=tokens).publish(request)
    elif platform == "tiktok":
        from services.publishers.tiktok import TikTokPublisher

        tiktok = TikTokPublisher(api_base_url=info["url"], tokens=tokens, poll_interval_s=0.05)
        try:
            await tiktok.publish(request)
        finally:
            await tiktok.aclose()
    else:
        from services.publishers.facebook import FacebookPublisher

        facebook = FacebookPublisher(graph_url=info["url"], tokens=tokens, poll_interval_s=0.05)
        await facebook.publish(request)
    return {"wall_s": time.perf_counter() - started, "peak_mb": _vm_hwm_mb()}


def bench(size_mb: int) -> None:
    """Start the fakes, upload once per platform in a fresh process each, print the table."""
    with tempfile.TemporaryDirectory(prefix="bench-upload-") as tmp:
        video = Path(tmp) / "video.mp4"
        with video.open("wb") as f:  # random-looking bytes, written once (not timed)
            block = os.urandom(8 * 2**20)
            for _ in range(size_mb // 8):
                f.write(block)
        video.with_suffix(".png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(1000))
        me = [sys.executable, str(Path(__file__).resolve())]
        server = subprocess.Popen([*me, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            assert server.stdout is not None
            info = json.loads(server.stdout.readline())
            print(f"\n{size_mb} MiB upload to loopback fakes, {os.cpu_count()} cores")
            print(f"{'platform':<10}{'wall s':>8}{'MB/s':>8}{'peak RSS MB':>13}")
            for platform in PLATFORMS:
                out = subprocess.run(
                    [*me, "--upload", platform, json.dumps(info[platform]), str(video)],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                figures = json.loads(out.strip().splitlines()[-1])
                rate = size_mb / figures["wall_s"]
                print(
                    f"{platform:<10}{figures['wall_s']:>8.1f}{rate:>8.0f}{figures['peak_mb']:>13.0f}"
                )
        finally:
            server.communicate(input=b"")


def main() -> None:
    """Parse arguments; run as the benchmark or as one of its children."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--upload", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve())
    elif args.upload:
        platform, info, video = args.upload
        print(json.dumps(asyncio.run(upload(platform, json.loads(info), Path(video)))))
    else:
        bench(args.size_mb)


if __name__ == "__main__":
    main()
