"""Several brands in one team: each chat works on one brand and sees only that brand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.runtime import Runtime, open_runtime
from handlers.app import App
from handlers.port import Incoming
from handlers.router import handle
from services.models import AuditEntry, ChatBinding, Member, SocialAccount, Workspace, utcnow
from tests.conftest import make_settings
from tests.services.analytics_data import NOW, seed

NORTH, SOUTH = "console:north", "console:south"


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    async with open_runtime(make_settings(tmp_path / "media")) as rt:
        yield rt


async def say(app: App, chat: str, text: str, *, user: str = "olga") -> str:
    replies = await handle(app, Incoming(chat, f"console:{user}", user, text=text))
    assert len(replies) == 1
    return replies[0].text


async def brand_of_chat(app: App, chat: str) -> Workspace:
    async with app.sessions() as session:
        found = await session.scalar(
            select(Workspace).join(ChatBinding).where(ChatBinding.chat_ref == chat)
        )
    assert found is not None
    return found


async def two_brands(app: App) -> tuple[Workspace, Workspace]:
    """North (made by /start in one chat) and South (made from it, used in another chat)."""
    await say(app, NORTH, "/start")
    await say(app, NORTH, "hello", user="cris")  # a creator, by the default role
    await say(app, NORTH, "/role @cris approver")
    assert "now called “North”" in await say(app, NORTH, "/brand rename North")
    made = await say(app, NORTH, "/brand new South")
    assert "Made the brand “South”" in made and "2 members" in made
    used = await say(app, SOUTH, "/brand use south")  # an unbound chat, by its owner
    assert "This chat now works on “South”" in used
    return await brand_of_chat(app, NORTH), await brand_of_chat(app, SOUTH)


async def test_a_new_brand_keeps_the_team_and_roles_but_nothing_else(runtime: Runtime) -> None:
    app = runtime.app
    await say(app, NORTH, "/start")
    await say(app, NORTH, "/brand tone: warm")
    north, south = await two_brands(app)
    assert south.team == north.team == north.id and south.id != north.id
    assert north.brand == {"tone": "warm"} and south.brand == {}  # the voice is the brand's
    async with app.sessions() as session:
        roles = {
            m.display_name: m.role
            for m in await session.scalars(select(Member).where(Member.workspace_id == south.id))
        }
    assert roles == {"olga": "owner", "cris": "approver"}
    listed = await say(app, SOUTH, "/brands")
    assert "• North" in listed and "• South ← this chat" in listed
    assert "already has a brand called “North”" in await say(app, SOUTH, "/brand new north")
    assert "already has a brand called “North”" in await say(app, SOUTH, "/brand rename North")


async def test_a_chat_sees_only_its_brand(runtime: Runtime) -> None:
    app = runtime.app
    north, _ = await two_brands(app)
    await say(app, NORTH, "/draft a 6 second clip about cold brew for tiktok")
    async with app.sessions.begin() as session:
        session.add(
            SocialAccount(
                workspace_id=north.id,
                platform="youtube",
                kind="oauth",
                external_id="UC-north",
                display_name="North Bakery channel",
            )
        )
    await seed(app.sessions, workspace_id=north.id, shift=utcnow() - NOW + timedelta(minutes=1))

    assert "cold brew" in await say(app, NORTH, "/drafts")
    assert "cold brew" not in await say(app, SOUTH, "/drafts")
    assert "I can't find draft #1" in await say(app, SOUTH, "/status 1")
    assert "North Bakery channel" in await say(app, NORTH, "/accounts")
    assert "North Bakery channel" not in await say(app, SOUTH, "/accounts")
    north_stats = await say(app, NORTH, "/stats 30d")
    south_stats = await say(app, SOUTH, "/stats 30d")
    assert "https://example.com/" in north_stats
    assert "https://example.com/" not in south_stats
    # A press on North's draft from South's chat is refused: nothing in a button is trusted.
    replies = await handle(app, Incoming(SOUTH, "console:olga", "olga", button="d:approve:1"))
    assert "I can't find draft #1 in this workspace" in replies[0].text


async def test_switching_a_chat_is_checked(runtime: Runtime) -> None:
    app = runtime.app
    north, south = await two_brands(app)
    assert "Only approvers and owners" in await say(app, NORTH, "/brand use South", user="zed")
    assert "no brand “West”" in await say(app, NORTH, "/brand use West")
    assert "You own no brand" in await say(app, "console:new", "/brand use South", user="zed")
    assert "Only owners can make a brand" in await say(app, NORTH, "/brand new East", user="cris")

    await say(app, NORTH, "/draft a 6 second clip about cold brew for tiktok")
    busy = await say(app, NORTH, "/brand use South")
    assert "Drafts #1 of “North” are being made" in busy
    assert (await brand_of_chat(app, NORTH)).id == north.id  # nothing changed

    used = await say(app, SOUTH, "/brand use North", user="cris")  # approver in both
    assert "now works on “North”" in used
    assert (await brand_of_chat(app, SOUTH)).id == north.id
    async with app.sessions() as session:
        actions = set(
            (
                await session.scalars(
                    select(AuditEntry.action).where(AuditEntry.action.like("brand.%"))
                )
            ).all()
        )
        bindings = await session.scalar(select(func.count()).select_from(ChatBinding))
    assert {"brand.create", "brand.use", "brand.leave", "brand.rename"} <= actions
    assert bindings == 2
    assert "now works on “South”" in await say(app, SOUTH, "/brand use South")
    assert (await brand_of_chat(app, NORTH)).id == north.id
    assert south.id != north.id
