"""The commands as people run them: demo, shell, and a worker in a process of its own."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.console import ConsoleChat
from bot.demo import run_demo
from bot.runtime import chat_worker, open_runtime
from handlers.port import Incoming
from handlers.router import handle
from services.models import Draft
from tests.conftest import make_settings

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SOCIALBOT = Path(sys.executable).parent / "socialbot"


def clean_env(**values: str) -> dict[str, str]:
    """The environment without any socialbot setting the developer may have exported."""
    names = {"DATABASE_URL", "REDIS_URL", "MEDIA_DIR", "LOG_LEVEL", "WORKER_JOBS"}
    return {k: v for k, v in os.environ.items() if k not in names} | values


async def test_demo_runs_every_step(tmp_path: Path) -> None:
    out = io.StringIO()
    code = await run_demo(make_settings(tmp_path / "media"), topic="cold brew", out=out)
    transcript = out.getvalue()
    assert code == 0, transcript
    for expected in (
        "demo> /draft",
        "ready for review",
        "demo pressed: Approve",
        "published.",
        "Digest for the last 1 day",
        "Demo finished",
    ):
        assert expected in transcript
    assert len(list((tmp_path / "media" / "outbox").glob("*/*/manifest.json"))) == 2


def test_shell_reads_commands_until_eof(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(SOCIALBOT), "shell"],
        input="/help\n/as sam\n/drafts\n/draft\n7\n",
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "This chat is now a workspace and you is its owner" in done.stdout
    assert "/draft <request>" in done.stdout
    assert "(you are now sam)" in done.stdout and "No drafts yet" in done.stdout
    assert "Tell me what the video is about" in done.stdout
    assert "(there is no choice 7)" in done.stdout
    assert (tmp_path / "data" / "socialbot.db").is_file()


async def test_worker_in_its_own_process(tmp_path: Path, redis_server_url: str) -> None:
    media = tmp_path / "media"
    settings = make_settings(media, REDIS_URL=redis_server_url)
    env = clean_env(MEDIA_DIR=str(media), REDIS_URL=redis_server_url)
    async with open_runtime(settings) as runtime:
        app = runtime.app
        for text in ("/start", "/draft a 6 second reel about tea for instagram"):
            await handle(app, Incoming("console:t", "console:u", "u", text=text))
        worker = subprocess.Popen(
            [str(SOCIALBOT), "worker"], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True
        )
        try:
            for _ in range(600):
                async with app.sessions() as session:
                    state = (await session.execute(select(Draft.state))).scalar_one()
                if state in ("ready", "failed"):
                    break
                await asyncio.sleep(0.1)
        finally:
            worker.send_signal(signal.SIGTERM)
            _, stderr = worker.communicate(timeout=60)
        assert state == "ready", stderr
        assert worker.returncode == 0, stderr
        console = ConsoleChat(out=io.StringIO(), chat_ref="console:t")
        chat = chat_worker(runtime, {"console": console}, burst=True, poll_delay=0)
        try:
            await chat.run_check()
        finally:
            await chat.close()
        assert any(r.buttons and r.media for r in console.replies)


def test_worker_without_redis_url_says_why(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(SOCIALBOT), "worker"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "needs REDIS_URL" in done.stderr


def test_run_without_a_frontend_says_why(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(SOCIALBOT), "run"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "no chat frontend is configured" in done.stderr and "TELEGRAM_BOT_TOKEN" in done.stderr


async def test_a_worker_killed_mid_render_is_replaced(
    tmp_path: Path, redis_server_url: str
) -> None:
    """SIGKILL to the worker's process group while ffmpeg renders: another worker takes the
    job up after the lease, one preview is posted, and no partial files are left."""
    media = tmp_path / "media"
    settings = make_settings(media, REDIS_URL=redis_server_url, JOB_LEASE_S=4)
    env = clean_env(MEDIA_DIR=str(media), REDIS_URL=redis_server_url, JOB_LEASE_S="4")
    drafts = media / "drafts" / "1"

    def start_worker() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(SOCIALBOT), "worker"],
            cwd=tmp_path,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group: ffmpeg dies with it
        )

    async def wait_for(check: Any, seconds: float) -> bool:
        for _ in range(int(seconds * 10)):
            if await check():
                return True
            await asyncio.sleep(0.1)
        return False

    async with open_runtime(settings) as runtime:
        app = runtime.app
        for text in ("/start", "/draft a 30 second reel about tea for instagram"):
            await handle(app, Incoming("console:t", "console:u", "u", text=text))
        first = start_worker()
        try:

            async def rendering() -> bool:
                return any(drafts.glob(".v1-*/.render-*"))

            assert await wait_for(rendering, 120), "the render never started"
        finally:
            os.killpg(first.pid, signal.SIGKILL)
            first.communicate(timeout=30)
        assert any(drafts.glob(".v1-*")), "the killed run left its staging folder"
        second = start_worker()
        try:

            async def settled() -> bool:
                async with app.sessions() as session:
                    state = (await session.execute(select(Draft.state))).scalar_one()
                return state in ("ready", "failed")

            assert await wait_for(settled, 180), "the job was not taken up again"

            async def finished() -> bool:  # the preview is queued after the state changes
                return bool(await app.queue.exists("arq:result:generate:1:1:1"))

            assert await wait_for(finished, 60)
        finally:
            second.send_signal(signal.SIGTERM)
            _, stderr = second.communicate(timeout=60)
        async with app.sessions() as session:
            assert (await session.execute(select(Draft.state))).scalar_one() == "ready", stderr
        console = ConsoleChat(out=io.StringIO(), chat_ref="console:t")
        chat = chat_worker(runtime, {"console": console}, burst=True, poll_delay=0)
        try:
            await chat.run_check()
        finally:
            await chat.close()
    previews = [r for r in console.replies if r.buttons and r.media]
    assert len(previews) == 1
    assert sorted(p.name for p in drafts.iterdir()) == ["v1"]  # no staging, no partial files
    assert not list((drafts / "v1").glob(".*"))
