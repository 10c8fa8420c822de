"""A team, its jobs and an owner signed in to /admin, for the jobs monitor tests (httpx and
browser): a real runtime on the loopback Redis server, the real web app, real arq workers.

The only stand-in is the script writer (our port): the offline writer, held at its first
script until the test lets it go (so a generation stays running), or failing with a
message (so a generation fails the way a model's refusal does).
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import re
from typing import Any

import httpx
from sqlalchemy import select

from bot.runtime import Runtime, chat_worker, jobs_worker
from handlers.port import Incoming
from handlers.router import handle
from services.content import Brand, Brief, Script
from services.models import AuditEntry, Draft, DraftState
from services.usage import UsageLog
from services.writer import OfflineWriter, WriterError
from tests.handlers.review_data import TeamChat

SECRET = "admin-tests-secret-key-0123456789"
PUBLIC = "http://testserver"
SAME_SITE = {"Sec-Fetch-Site": "same-origin"}
NO_CRON: dict[str, Any] = {"cron_jobs": [], "poll_delay": 0.05}


class HeldWriter:
    """The offline writer, held at each script until `release` is set, or failing."""

    name = "offline"

    def __init__(self, *, fail: str | None = None) -> None:
        self._inner = OfflineWriter()
        self.fail = fail
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def write(
        self,
        brief: Brief,
        *,
        take: int = 1,
        brand: Brand | None = None,
        usage: UsageLog | None = None,
    ) -> Script:
        """Signal the start, then fail or wait for the test."""
        self.started.set()
        if self.fail is not None:
            raise WriterError(self.fail)
        await self.release.wait()
        return await self._inner.write(brief, take=take, brand=brand, usage=usage)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def with_writer(runtime: Runtime, writer: HeldWriter) -> Runtime:
    """The runtime, its app writing with `writer` (for the worker that runs the jobs)."""
    return dataclasses.replace(runtime, app=dataclasses.replace(runtime.app, writer=writer))


async def failed_generation(team: TeamChat, topic: str = "tea") -> int:
    """A draft whose first version failed (the writer refused), its job on the failed list."""
    await team.say(f"/draft a 6 second clip about {topic}")
    failing = with_writer(team.runtime, HeldWriter(fail="the model refused: try another topic"))
    worker = jobs_worker(failing, burst=True, **NO_CRON)
    try:
        await worker.async_run()
    finally:
        await worker.close()
    async with team.app.sessions() as session:
        draft = await session.scalar(select(Draft).order_by(Draft.id.desc()).limit(1))
    assert draft is not None and draft.state == DraftState.FAILED
    return draft.id


async def deliver_chat(team: TeamChat) -> None:
    """Deliver what was sent to the chat (no other jobs run)."""
    worker = chat_worker(team.runtime, {"console": team.console}, burst=True, poll_delay=0)
    try:
        await worker.run_check()
    finally:
        await worker.close()


async def login_token(team: TeamChat, *, user: str = "olga") -> str:
    """The token of a fresh one-time login link, from `/admin status` in a private chat."""
    private = Incoming(f"console:dm-{user}", f"console:{user}", user, "/admin status", private=True)
    (reply,) = await handle(team.app, private)
    found = re.search(r"/admin/login/(\S+)", reply.text)
    assert found, reply.text
    return found.group(1)


async def sign_in(web: httpx.AsyncClient, team: TeamChat, *, user: str = "olga") -> None:
    """Sign `user` in as a browser would: open the link, press Sign in."""
    token = await login_token(team, user=user)
    assert (await web.get(f"/admin/login/{token}")).status_code == 200
    done = await web.post(f"/admin/login/{token}", headers=SAME_SITE)
    assert done.status_code == 303 and done.headers["location"] == "/admin", done.text


def form_token(page: str) -> str:
    """The session's form token, as the page's forms carry it."""
    found = re.search(r'name="form_token" value="([^"]+)"', page)
    assert found, page
    return html.unescape(found.group(1))


async def audit_actions(team: TeamChat) -> list[str]:
    """Every audited action so far, in order."""
    async with team.app.sessions() as session:
        return list((await session.scalars(select(AuditEntry.action))).all())
