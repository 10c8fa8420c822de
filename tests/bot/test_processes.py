"""The commands as people run them: demo, shell, and a worker in a process of its own."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

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
