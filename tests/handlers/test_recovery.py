"""Work lost with the queue (Redis flushed) is queued again from the database."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.console import ConsoleChat
from bot.runtime import Runtime, open_runtime
from handlers.port import Incoming, Reply
from handlers.router import handle
from handlers.schedule import reconcile_schedules
from services.models import Draft, DraftVersion, utcnow
from tests.conftest import make_settings, run_jobs

pytestmark = pytest.mark.slow
CHAT = "console:team"


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    async with open_runtime(make_settings(tmp_path / "media")) as rt:
        yield rt


async def say(runtime: Runtime, text: str) -> Reply:
    return (await handle(runtime.app, Incoming(CHAT, "console:olga", "olga", text=text)))[0]


async def lose_the_queue(runtime: Runtime) -> None:
    """Redis flushed, and long enough ago that the draft counts as stalled."""
    await runtime.app.queue.flushdb()
    async with runtime.app.sessions.begin() as session:
        await session.execute(update(Draft).values(updated_at=utcnow() - timedelta(hours=1)))


async def test_lost_generation_and_edit_jobs_are_queued_again(runtime: Runtime) -> None:
    console = ConsoleChat(out=io.StringIO(), chat_ref=CHAT)
    ctx = {"app": runtime.app}
    await say(runtime, "/start")
    await say(runtime, "/draft a 6 second clip about cold brew for tiktok")
    await lose_the_queue(runtime)

    assert await reconcile_schedules(ctx) == "1 re-queued"
    assert await reconcile_schedules(ctx) == "0 re-queued"  # the job is queued: not doubled
    await run_jobs(runtime, console)
    assert sum(bool(r.buttons and r.media) for r in console.replies) == 1

    await say(runtime, "/edit 1 new hook: Cold brew season is here!")
    await lose_the_queue(runtime)
    assert await reconcile_schedules(ctx) == "1 re-queued"
    await run_jobs(runtime, console)

    async with runtime.app.sessions() as session:
        draft = (await session.scalars(select(Draft))).one()
        latest = await session.scalar(select(DraftVersion).where(DraftVersion.number == 2))
    assert draft.state == "ready" and draft.current_version == 2
    assert draft.pending_instruction is None
    assert latest is not None and latest.script["hook"] == "Cold brew season is here!"
