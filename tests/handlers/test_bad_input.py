"""Bad input gets a clear reply and changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from bot.runtime import Runtime, open_runtime
from handlers.app import App
from handlers.buttons import Verb, encode
from handlers.port import Incoming
from handlers.router import handle
from services.models import Approval, AuditEntry, Draft, DraftState, Member, Workspace
from services.queue import JOBS_QUEUE
from tests.conftest import make_settings

CHAT = "console:team"


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    """SQLite and an embedded Redis; no workers run, so nothing queued is executed."""
    async with open_runtime(make_settings(tmp_path / "media")) as rt:
        yield rt


async def say(app: App, text: str, *, user: str = "olga", chat: str = CHAT) -> str:
    replies = await handle(app, Incoming(chat, f"console:{user}", user, text=text))
    assert len(replies) == 1
    return replies[0].text


async def press(app: App, button: str, *, user: str = "olga") -> str:
    replies = await handle(app, Incoming(CHAT, f"console:{user}", user, button=button))
    assert len(replies) == 1
    return replies[0].text


async def snapshot(app: App) -> dict[str, Any]:
    """Everything a refused request must leave as it was."""
    async with app.sessions() as session:
        drafts = (await session.execute(select(Draft.id, Draft.state))).all()
        approvals = (await session.execute(select(func.count()).select_from(Approval))).scalar()
    jobs = await app.queue.queued_jobs(queue_name=JOBS_QUEUE)
    return {"drafts": sorted(drafts), "approvals": approvals, "jobs": len(jobs)}


async def add_draft(app: App, state: DraftState, *, requested_by: str = "olga") -> int:
    async with app.sessions.begin() as session:
        workspace = (await session.execute(select(Workspace))).scalars().first()
        assert workspace is not None
        member = (
            await session.execute(select(Member).where(Member.display_name == requested_by))
        ).scalar_one()
        draft = Draft(
            workspace_id=workspace.id,
            chat_ref=CHAT,
            requested_by=member.id,
            request_text="x",
            topic="cold brew",
            platforms=["tiktok"],
            duration_s=20,
            tone="calm",
            state=state,
            current_version=1,
        )
        session.add(draft)
    return draft.id


@pytest.mark.parametrize(
    ("request_text", "expected"),
    [
        ("", "what the video is about"),
        ("   ", "what the video is about"),
        ("a short about " + "coffee " * 1500, "300"),
        ("a 30 second short about cold brew for myspace", "youtube, tiktok, instagram, facebook"),
        ("a 600 second short about cold brew", "between 5 and 180"),
        ("a 2 second short about cold brew", "between 5 and 180"),
    ],
)
async def test_bad_draft_requests_change_nothing(
    runtime: Runtime, request_text: str, expected: str
) -> None:
    app = runtime.app
    await say(app, "/start")
    before = await snapshot(app)
    reply = await say(app, f"/draft {request_text}")
    assert reply.startswith("⚠️") and expected in reply, reply
    assert await snapshot(app) == before


@pytest.mark.parametrize(
    "button",
    [
        "d:approve:abc",
        "d:approve:",
        "d:publish:1",
        "d:approve:1;DROP TABLE drafts",
        "d:approve:01",
        "x" * 200,
        "",
        "d:approve:99999999",
    ],
)
async def test_tampered_buttons_are_refused(runtime: Runtime, button: str) -> None:
    app = runtime.app
    await say(app, "/start")
    await add_draft(app, DraftState.READY)
    before = await snapshot(app)
    reply = await press(app, button)
    assert reply.startswith("⚠️") and ("isn't one of mine" in reply or "can't find" in reply)
    assert await snapshot(app) == before


async def test_button_for_another_workspaces_draft_is_not_found(runtime: Runtime) -> None:
    app = runtime.app
    await say(app, "/start", user="zed", chat="console:other")
    async with app.sessions.begin() as session:
        zed = (await session.execute(select(Member))).scalar_one()
        session.add(
            Draft(
                workspace_id=zed.workspace_id,
                chat_ref="console:other",
                requested_by=zed.id,
                request_text="x",
                topic="secret",
                platforms=["tiktok"],
                duration_s=20,
                tone="calm",
                state=DraftState.READY,
                current_version=1,
            )
        )
    await say(app, "/start")
    before = await snapshot(app)
    reply = await press(app, encode(Verb.APPROVE, 1))
    assert "can't find draft #1" in reply
    assert await snapshot(app) == before


@pytest.mark.parametrize(
    ("state", "expected"),
    [(DraftState.REJECTED, "was rejected"), (DraftState.PUBLISHED, "already published")],
)
@pytest.mark.parametrize("verb", [Verb.APPROVE, Verb.REJECT, Verb.REGENERATE])
async def test_presses_on_finished_drafts_change_nothing(
    runtime: Runtime, state: DraftState, expected: str, verb: Verb
) -> None:
    app = runtime.app
    await say(app, "/start")
    draft_id = await add_draft(app, state)
    before = await snapshot(app)
    reply = await press(app, encode(verb, draft_id))
    assert reply.startswith("⚠️") and expected in reply, reply
    assert await snapshot(app) == before


async def test_roles_are_checked_on_every_press(runtime: Runtime) -> None:
    app = runtime.app
    await say(app, "/start")
    await say(app, "hi", user="vic")
    await say(app, "/role @vic viewer")
    await say(app, "hi", user="cris")  # joins as creator
    draft_id = await add_draft(app, DraftState.READY, requested_by="cris")
    before = await snapshot(app)

    assert "can't approve" in await press(app, encode(Verb.APPROVE, draft_id), user="vic")
    assert "can't reject" in await press(app, encode(Verb.REJECT, draft_id), user="vic")
    assert "Viewers can't request" in await say(app, "/draft a reel about tea", user="vic")
    # A creator may not approve even their own draft unless the workspace allows it.
    assert "can't approve" in await press(app, encode(Verb.APPROVE, draft_id), user="cris")
    assert "Only an owner" in await say(app, "/role @vic owner", user="cris")
    assert await snapshot(app) == before

    async with app.sessions.begin() as session:
        await session.execute(update(Workspace).values(allow_self_approval=True))
    assert "approved" in await press(app, encode(Verb.APPROVE, draft_id), user="cris")
    after = await snapshot(app)
    assert after["drafts"] == [(draft_id, "approved")] and after["jobs"] == 1


async def test_role_command_errors(runtime: Runtime) -> None:
    app = runtime.app
    await say(app, "/start")
    assert "Use /role" in await say(app, "/role")
    assert "not a role" in await say(app, "/role @olga king")
    assert "don't know @nobody" in await say(app, "/role @nobody approver")
    assert "last owner" in await say(app, "/role @olga viewer")
    async with app.sessions() as session:
        roles = (await session.execute(select(Member.role))).scalars().all()
        audits = (await session.execute(select(AuditEntry.action))).scalars().all()
    assert roles == ["owner"] and "member.role" not in audits


async def test_unset_chat_and_unknown_commands(runtime: Runtime) -> None:
    app = runtime.app
    assert "send /start" in await say(app, "/draft a reel about tea")
    assert "send /start" in await press(app, encode(Verb.APPROVE, 1))
    await say(app, "/start")
    assert "already a workspace" in await say(app, "/start")
    assert "I don't know /frobnicate" in await say(app, "/frobnicate")
    assert "Use /status" in await say(app, "/status abc")
    assert "can't find draft #42" in await say(app, "/status 42")
    assert "1 to 365" in await say(app, "/digest 0")
    assert (await snapshot(app))["drafts"] == []


async def test_chat_groups_map_to_roles(runtime: Runtime) -> None:
    app = runtime.app
    await say(app, "/start")
    await say(app, "hi", user="eddie")  # joins as creator
    draft_id = await add_draft(app, DraftState.READY)

    async def press_as_editor() -> str:
        incoming = Incoming(
            CHAT,
            "console:eddie",
            "eddie",
            button=encode(Verb.APPROVE, draft_id),
            groups=("Editors", "everyone"),
        )
        return (await handle(app, incoming))[0].text

    assert "can't approve" in await press_as_editor()
    assert "Only an owner" in await say(app, "/role group Editors approver", user="eddie")
    assert "not a role" in await say(app, "/role group Editors boss")
    assert "at least approver" in await say(app, "/role group Editors approver")
    assert "approved by eddie" in await press_as_editor()
    assert "no longer" in await say(app, "/role group editors none")
    async with app.sessions() as session:
        assert (await session.execute(select(Workspace.role_map))).scalar_one() == {}
