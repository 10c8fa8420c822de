"""A publication's lease: a killed worker's post is taken up soon, a live one's never is.

In the process test the fake YouTube runs in the test process on loopback; the workers are
processes of their own (as in production) on the same PostgreSQL database and Redis server.
The first worker sends the last bytes of the video, YouTube makes the video and holds the
answer, and the worker's whole process group gets SIGKILL. A second worker takes the job up
once the lease of the killed one runs out, asks YouTube about the upload session it left,
finds the video and does not upload again; the chat hears the link once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import os
import re
import signal
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO

import httpx
import pytest
from arq import Retry
from sqlalchemy import select, update

from bot.console import ConsoleChat
from bot.runtime import Runtime, chat_worker, open_runtime
from bot.web import create_web_app
from handlers.app import App
from handlers.buttons import Verb, encode
from handlers.port import Incoming, Reply
from handlers.publish import publish_draft
from handlers.router import handle
from services.models import Draft, Publication, PublicationState, Workspace
from tests.bot.test_processes import SOCIALBOT, clean_env
from tests.conftest import make_settings, run_jobs
from tests.fakes.youtube_server import FakeYouTube, Fault, Route

pytestmark = pytest.mark.slow
PUBLIC_URL = "http://socialbot.test"
CHAT = "console:team"
LEASE_S = 3  # JOB_LEASE_S: arq's in-progress mark; a publication's lease is twice that


async def _say(app: App, text: str) -> Reply:
    return (await handle(app, Incoming(CHAT, "console:olga", "olga", text=text)))[0]


async def _press(app: App, verb: Verb, draft_id: int) -> Reply:
    incoming = Incoming(CHAT, "console:olga", "olga", button=encode(verb, draft_id))
    return (await handle(app, incoming))[0]


async def _connect_youtube(app: App) -> None:
    """/connect youtube, then what the person's browser does on the consent page."""
    link = re.search(r"open (\S+)", (await _say(app, "/connect youtube")).text)
    assert link
    assert app.links is not None
    transport = httpx.ASGITransport(app=create_web_app(links=app.links, app=app))
    async with (
        httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as web,
        httpx.AsyncClient() as browser,
    ):
        start = await web.get(link.group(1).removeprefix(PUBLIC_URL))
        consent = await browser.get(start.headers["location"])
        page = await web.get(consent.headers["location"].removeprefix(PUBLIC_URL))
    assert page.status_code == 200 and "YouTube connected" in page.text, page.text


def _youtube_settings(youtube: FakeYouTube) -> dict[str, str]:
    """Connected accounts on, and YouTube pointed at the fake."""
    return {
        "SECRET_KEY": "k" * 32,
        "PUBLIC_URL": PUBLIC_URL,
        "YOUTUBE_CLIENT_ID": youtube.client_id,
        "YOUTUBE_CLIENT_SECRET": youtube.client_secret,
        "YOUTUBE_AUTH_URL": youtube.auth_url,
        "YOUTUBE_TOKEN_URL": youtube.token_url,
        "YOUTUBE_API_BASE_URL": youtube.api_base_url,
    }


async def _approve_a_youtube_draft(runtime: Runtime) -> None:
    """Draft #1 for the connected YouTube channel, rendered and approved (its publish queued)."""
    app = runtime.app
    await _say(app, "/start")
    async with app.sessions.begin() as session:
        await session.execute(update(Workspace).values(allow_self_approval=True))
    await _connect_youtube(app)
    await _say(app, "/draft a 6 second clip about cold brew for youtube")
    await run_jobs(runtime, ConsoleChat(out=io.StringIO(), chat_ref=CHAT))  # renders
    approved = await _press(app, Verb.APPROVE, 1)
    assert "pproved" in approved.text, approved.text


async def _wait_for(check: Callable[[], Awaitable[bool]], seconds: float) -> bool:
    for _ in range(int(seconds * 10)):
        if await check():
            return True
        await asyncio.sleep(0.1)
    return False


async def test_a_worker_killed_while_youtube_answers_posts_once(
    tmp_path: Path, postgres_url: str, redis_server_url: str
) -> None:
    async with FakeYouTube() as youtube:
        values = {
            "DATABASE_URL": postgres_url,
            "REDIS_URL": redis_server_url,
            "JOB_LEASE_S": str(LEASE_S),
            **_youtube_settings(youtube),
        }
        media = tmp_path / "media"
        env = clean_env(MEDIA_DIR=str(media), **values)
        logs: list[IO[str]] = []

        def start_worker(name: str) -> subprocess.Popen[str]:
            log = (tmp_path / f"{name}.log").open("w")
            logs.append(log)
            return subprocess.Popen(
                [str(SOCIALBOT), "worker"],
                cwd=tmp_path,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,  # its own process group, killed as one
            )

        def log_of(name: str) -> str:
            return (tmp_path / f"{name}.log").read_text()[-3000:]

        settings = make_settings(media, **values)
        async with open_runtime(settings, apply_migrations=True) as runtime:
            app = runtime.app
            await _approve_a_youtube_draft(runtime)
            # The video is made when its last bytes arrive; the answer to them never comes.
            youtube.fail(Route.UPLOAD_FINAL, Fault.hang(300))
            first = start_worker("first")
            try:

                async def answer_held() -> bool:
                    return bool(youtube.videos)

                uploaded = await _wait_for(answer_held, 60)
            finally:
                os.killpg(first.pid, signal.SIGKILL)
                await asyncio.to_thread(first.wait, 30)
            assert uploaded, f"the first worker did not finish its upload: {log_of('first')}"
            async with app.sessions() as session:
                left = (await session.scalars(select(Publication))).one()
            assert left.state == PublicationState.UPLOADING and left.remote_ref
            assert left.lease_until is not None  # the killed run's hold, left to run out

            second = start_worker("second")
            try:

                async def published() -> bool:
                    async with app.sessions() as session:
                        state = (await session.execute(select(Draft.state))).scalar_one()
                    return state == "published" and bool(
                        await app.queue.exists("arq:result:publish:1")
                    )

                done = await _wait_for(published, 60)
            finally:
                second.send_signal(signal.SIGTERM)
                await asyncio.to_thread(second.wait, 60)
                for log in logs:
                    log.close()
            assert done, f"the second worker did not publish: {log_of('second')}"
            assert second.returncode == 0, log_of("second")

            console = ConsoleChat(out=io.StringIO(), chat_ref=CHAT)
            chat = chat_worker(runtime, {"console": console}, burst=True, poll_delay=0)
            try:
                await chat.run_check()
            finally:
                await chat.close()
            async with app.sessions() as session:
                publication = (await session.scalars(select(Publication))).one()

    (video,) = youtube.videos.values()
    assert len(youtube.routed(Route.UPLOAD_START)) == 1  # one upload session, never a second
    assert len(youtube.routed(Route.UPLOAD_FINAL)) == 1
    assert youtube.routed(Route.UPLOAD_STATUS), "the second worker did not ask YouTube first"
    url = f"https://youtube.com/shorts/{video.id}"
    assert publication.state == PublicationState.PUBLISHED
    assert (publication.external_id, publication.url) == (video.id, url)
    assert publication.lease_until is None
    results = [r.text for r in console.replies if "📣" in r.text]
    assert len(results) == 1, console.replies
    assert "Draft #1 v1: published." in results[0] and url in results[0]


async def test_a_publish_longer_than_its_lease_keeps_it(tmp_path: Path) -> None:
    """The lease is renewed while the upload runs: a second run meanwhile neither posts nor
    backs off for minutes; it waits for what is left of the lease."""
    async with FakeYouTube() as youtube:
        settings = make_settings(tmp_path / "media", **_youtube_settings(youtube))
        async with open_runtime(settings) as runtime:
            await _approve_a_youtube_draft(runtime)
            app = dataclasses.replace(runtime.app, job_lease_s=0.5)  # a 1 s lease, renewed 4x
            youtube.fail(Route.UPLOAD_FINAL, Fault.hang(2.5))
            first = asyncio.create_task(publish_draft({"app": app, "job_try": 1}, 1))
            await asyncio.sleep(1.5)  # an unrenewed lease would have run out by now

            with pytest.raises(Retry) as held:
                await publish_draft({"app": app, "job_try": 2}, 1)
            assert await first == "published"

    assert held.value.defer_score is not None and held.value.defer_score <= 2000
    assert len(youtube.videos) == 1
    assert len(youtube.routed(Route.UPLOAD_START)) == 1
