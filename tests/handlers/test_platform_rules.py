"""A version that breaks a platform's rules shows what does not fit and can't be approved."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.console import ConsoleChat
from bot.runtime import Runtime, open_runtime
from handlers.buttons import Verb, encode
from handlers.port import Incoming, Reply
from handlers.router import handle
from services.models import Draft, DraftVersion, Publication, Workspace
from tests.conftest import make_settings, run_jobs

pytestmark = pytest.mark.slow
CHAT = "console:team"


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    async with open_runtime(make_settings(tmp_path / "media")) as rt:
        yield rt


async def say(runtime: Runtime, text: str = "", button: str | None = None) -> Reply:
    incoming = Incoming(CHAT, "console:olga", "olga", text=text, button=button)
    return (await handle(runtime.app, incoming))[0]


async def test_too_many_hashtags_block_approval_until_fixed(runtime: Runtime) -> None:
    console = ConsoleChat(out=io.StringIO(), chat_ref=CHAT)
    await say(runtime, "/start")
    async with runtime.app.sessions.begin() as session:
        await session.execute(update(Workspace).values(allow_self_approval=True))
    await say(runtime, "/draft a 6 second clip about cold brew for tiktok")
    await run_jobs(runtime, console)
    async with runtime.app.sessions.begin() as session:
        version = (await session.scalars(select(DraftVersion))).one()
        meta = dict(version.metadata_json[0])
        good = list(meta["hashtags"])
        meta["hashtags"] = [f"#tag{i}" for i in range(12)]
        version.metadata_json = [meta]

    shown = await say(runtime, "/show 1")
    assert "Does not fit yet" in shown.text and "at most 10 hashtags" in shown.text
    refused = await say(runtime, button=encode(Verb.APPROVE, 1))
    assert refused.alert and "can't be approved yet" in refused.text
    assert "/edit 1" in refused.text
    async with runtime.app.sessions() as session:
        draft = (await session.scalars(select(Draft))).one()
        posts = (await session.scalars(select(Publication))).all()
    assert draft.state == "ready" and not posts

    async with runtime.app.sessions.begin() as session:
        version = (await session.scalars(select(DraftVersion))).one()
        version.metadata_json = [{**version.metadata_json[0], "hashtags": good}]
    approved = await say(runtime, button=encode(Verb.APPROVE, 1))
    assert "approved" in approved.text
