"""Per-member generation limit: refused with the figures, nothing stored or queued."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.runtime import Runtime, open_runtime
from handlers.actor import Actor, Refusal
from handlers.limits import check_generation_rate
from handlers.port import Incoming, Reply
from handlers.router import handle
from services.models import Draft, Member, Workspace
from services.queue import JOBS_QUEUE
from tests.conftest import make_settings

CHAT = "console:team"


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    settings = make_settings(tmp_path / "media", GENERATIONS_PER_HOUR=2)
    async with open_runtime(settings) as rt:
        yield rt


async def say(runtime: Runtime, text: str, user: str = "olga") -> Reply:
    return (await handle(runtime.app, Incoming(CHAT, f"console:{user}", user, text=text)))[0]


async def test_third_request_in_an_hour_is_refused_and_nothing_is_kept(runtime: Runtime) -> None:
    await say(runtime, "/start")
    for n in (1, 2):
        assert f"Draft #{n} queued" in (await say(runtime, "/draft a clip about tea")).text
    queued = await runtime.app.queue.zcard(JOBS_QUEUE)

    refused = await say(runtime, "/draft a clip about coffee")

    assert refused.alert and "limit is 2 per hour per member" in refused.text
    assert "Try again in" in refused.text
    async with runtime.app.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Draft)) == 2
    assert await runtime.app.queue.zcard(JOBS_QUEUE) == queued
    await say(runtime, "/start", user="bob")  # someone else still can
    assert "queued" in (await say(runtime, "/draft a clip about cocoa", user="bob")).text


async def test_the_window_slides(runtime: Runtime) -> None:
    await say(runtime, "/start")
    async with runtime.app.sessions() as session:
        workspace = (await session.scalars(select(Workspace))).one()
        member = (await session.scalars(select(Member))).one()
    actor = Actor(workspace, member)
    start = time.time()
    await check_generation_rate(runtime.app, actor, now=start)
    await check_generation_rate(runtime.app, actor, now=start + 10)
    with pytest.raises(Refusal, match="Try again in 60 min"):
        await check_generation_rate(runtime.app, actor, now=start + 20)
    await check_generation_rate(runtime.app, actor, now=start + 3601)  # the first has left
