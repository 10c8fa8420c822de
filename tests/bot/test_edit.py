"""Edits make new versions; old versions stay viewable; the offline writer says what it can't do."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.console import ConsoleChat
from bot.runtime import Runtime, open_runtime
from handlers.port import Incoming, Reply
from handlers.router import handle
from services.models import Draft, DraftVersion
from tests.conftest import make_settings, run_jobs

pytestmark = pytest.mark.slow
CHAT = "console:team"


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    async with open_runtime(make_settings(tmp_path / "media")) as rt:
        yield rt


async def say(runtime: Runtime, text: str) -> Reply:
    replies = await handle(runtime.app, Incoming(CHAT, "console:olga", "olga", text=text))
    return replies[0]


async def test_edit_versions_and_unsupported_edit(runtime: Runtime) -> None:
    console = ConsoleChat(out=io.StringIO(), chat_ref=CHAT)
    await say(runtime, "/start")
    await say(runtime, "/draft a 6 second clip about cold brew for tiktok")
    await run_jobs(runtime, console)

    reply = await say(runtime, "/edit 1 new hook: Cold brew season is here!")
    assert "Revising draft #1 into v2" in reply.text
    await run_jobs(runtime, console)
    async with runtime.app.sessions() as session:
        draft = (await session.execute(select(Draft))).scalar_one()
        versions = (await session.execute(select(DraftVersion))).scalars().all()
    assert (draft.state, draft.current_version) == ("ready", 2)
    assert versions[1].script["hook"] == "Cold brew season is here!"
    assert versions[1].instruction == "new hook: Cold brew season is here!"
    assert versions[0].script["hook"] != versions[1].script["hook"]
    assert all(runtime.app.store.path(v.video_path).is_file() for v in versions)

    old = await say(runtime, "/show 1 1")
    assert "v1" in old.text and old.media and not old.buttons
    assert versions[0].script["hook"] in old.text
    current = await say(runtime, "/show 1")
    assert "Cold brew season is here!" in current.text and current.buttons

    reply = await say(runtime, "/edit 1 make it funnier and add a dog")
    assert "Revising" in reply.text
    await run_jobs(runtime, console)
    async with runtime.app.sessions() as session:
        draft = (await session.execute(select(Draft))).scalar_one()
    assert (draft.state, draft.current_version) == ("ready", 2)
    told = console.replies[-1].text
    assert "v3 was not made" in told and "OPENAI_API_KEY" in told and "unchanged" in told
    assert not (runtime.app.drafts_dir / "1" / "v3").exists()
    assert "Use /edit" in (await say(runtime, "/edit nonsense")).text
    assert "no version 9" in (await say(runtime, "/show 1 9")).text
