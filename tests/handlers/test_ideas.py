"""/ideas through the router: ideas from the figures, "Draft this" buttons, refusals."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.runtime import Runtime, open_runtime
from handlers.app import App
from handlers.buttons import Verb, decode, encode
from handlers.port import Incoming, Reply
from handlers.router import HELP, handle
from services.models import Draft, Workspace, utcnow
from tests.conftest import make_settings
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.openai_server import Reply as ModelReply
from tests.services.analytics_data import NOW
from tests.services.ideas_data import seed_history

CHAT = "console:team"


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    async with open_runtime(make_settings(tmp_path / "media")) as rt:
        yield rt


async def ask(app: App, text: str, *, user: str = "olga", chat: str = CHAT) -> Reply:
    replies = await handle(app, Incoming(chat, f"console:{user}", user, text=text))
    assert len(replies) == 1
    return replies[0]


async def press(app: App, button: str, *, user: str = "olga", chat: str = CHAT) -> Reply:
    replies = await handle(app, Incoming(chat, f"console:{user}", user, button=button))
    assert len(replies) == 1
    return replies[0]


async def with_history(app: App, chat: str = CHAT) -> int:
    """A workspace made with /start in `chat`, holding the posts of tests/services/ideas_data
    moved to the present (a minute ahead of the clock, so nothing sits on an edge)."""
    await ask(app, "/start", chat=chat)
    async with app.sessions() as session:
        workspace_id = (await session.execute(select(func.max(Workspace.id)))).scalar_one()
    shift = utcnow() - NOW + timedelta(minutes=1)
    await seed_history(app.sessions, workspace_id=workspace_id, shift=shift)
    return workspace_id


async def drafts(app: App) -> list[tuple[str, str, int, str, list[str]]]:
    async with app.sessions() as session:
        rows = (
            await session.execute(
                select(Draft.topic, Draft.chat_ref, Draft.duration_s, Draft.tone, Draft.platforms)
                .where(Draft.chat_ref == CHAT)
                .order_by(Draft.id)
            )
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_ideas_from_the_figures_and_draft_this(runtime: Runtime) -> None:
    app = runtime.app
    await with_history(app)
    reply = await ask(app, "/ideas")
    lines = reply.text.splitlines()
    assert lines[0] == (
        "💡 5 ideas from your best posts (12 of the last 90 days that have been out a week, by "
        "their views then):"
    )
    assert lines[1:3] == [
        "1. a follow-up to pumpkin spice latte",
        "   “pumpkin spice latte” got 12,400 views at one week old on TikTok, "
        "4.4\u00d7 your median of 2,800, engagement 12.0%.",
    ]
    assert lines[3] == "2. a follow-up to autumn menu"
    assert lines[-1].startswith("Press “Draft this (n)” to make idea n a draft")
    assert [b.label for b in reply.buttons] == [f"Draft this ({n})" for n in range(1, 6)]
    presses = [decode(b.id) for b in reply.buttons]
    assert {p.verb for p in presses} == {Verb.DRAFT_IDEA}
    assert all(len(b.id.encode()) <= 64 and "pumpkin" not in b.id for b in reply.buttons)

    made = await press(app, reply.buttons[0].id)
    assert made.text.startswith("Draft #")
    assert "queued: “a follow-up to pumpkin spice latte”, 25 s, upbeat, for tiktok" in made.text
    assert await drafts(app) == [
        ("a follow-up to pumpkin spice latte", CHAT, 25, "upbeat", ["tiktok"])
    ]
    again = await press(app, reply.buttons[0].id)
    assert again.alert and "has already been drafted" in again.text
    assert len(await drafts(app)) == 1

    # The drafted topic is now a recent one: the next ideas don't suggest it again.
    fresh = await ask(app, "/ideas 2")
    assert fresh.text.splitlines()[1] == "1. a follow-up to autumn menu"
    assert len(fresh.buttons) == 2


async def test_without_figures_the_ideas_say_so(runtime: Runtime) -> None:
    app = runtime.app
    await ask(app, "/start")
    await ask(app, "/brand audience: night-shift nurses; tone: calm")
    reply = await ask(app, "/ideas 3")
    lines = reply.text.splitlines()
    assert lines[0] == (
        "💡 3 ideas from your brand voice, not based on figures yet: no post has been out a week "
        "with figures. Once some have, /ideas builds on the best of them."
    )
    assert lines[1] == "1. the 3 questions night-shift nurses ask us most"
    assert "not based on figures yet" in lines[2] and "night-shift nurses" in lines[2]
    assert len(reply.buttons) == 3
    made = await press(app, reply.buttons[1].id)
    assert "“a day behind the scenes with our team”, 30 s, upbeat" in made.text


@pytest.mark.parametrize("args", ["0", "11", "many", "3 4", "-2"])
async def test_a_bad_count_is_refused_with_the_usage(runtime: Runtime, args: str) -> None:
    app = runtime.app
    await ask(app, "/start")
    reply = await ask(app, f"/ideas {args}")
    assert reply.alert and reply.text == "⚠️ Use /ideas or /ideas <1 to 10>, e.g. /ideas 3."


async def test_expired_forged_and_other_workspaces_buttons_are_refused(runtime: Runtime) -> None:
    app = runtime.app
    ours = await with_history(app)
    reply = await ask(app, "/ideas 2")
    gone = "⚠️ That idea is gone: ideas keep for 24 hours"

    forged = await press(app, encode(Verb.DRAFT_IDEA, 123456789012))
    assert forged.alert and forged.text.startswith(gone)
    altered = await press(app, "d:idea:pumpkin")
    assert altered.alert and "isn't one of mine" in altered.text

    # Another workspace's idea id, pressed here, finds nothing here.
    await ask(app, "/start", chat="console:other")
    other = await ask(app, "/ideas 1", chat="console:other")
    assert (await press(app, other.buttons[0].id)).text.startswith(gone)

    # An idea that has expired.
    idea_id = decode(reply.buttons[1].id).draft_id
    await app.queue.pexpire(f"socialbot:idea:{ours}:{idea_id}", 1)
    await asyncio.sleep(0.05)
    expired = await press(app, reply.buttons[1].id)
    assert expired.alert and expired.text.startswith(gone) and "Send /ideas" in expired.text
    assert await drafts(app) == []


async def test_viewers_may_neither_ask_nor_draft(runtime: Runtime) -> None:
    app = runtime.app
    await with_history(app)
    await ask(app, "hi", user="vic")
    await ask(app, "/role @vic viewer")
    refused = await ask(app, "/ideas", user="vic")
    assert refused.alert and refused.text.startswith("⚠️ Viewers can't ask for ideas")
    reply = await ask(app, "/ideas 1")
    pressed = await press(app, reply.buttons[0].id, user="vic")
    assert pressed.alert and pressed.text.startswith("⚠️ Viewers can't request drafts")
    assert await drafts(app) == []
    # The idea is still there for someone who may draft it.
    made = await press(app, reply.buttons[0].id)
    assert "queued: “a follow-up to pumpkin spice latte”" in made.text


async def test_a_refused_draft_leaves_the_idea_to_draft_later(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "media", GENERATIONS_PER_HOUR=1)
    async with open_runtime(settings) as rt:
        app = rt.app
        workspace_id = await with_history(app)
        reply = await ask(app, "/ideas 1")
        await ask(app, "/draft a 10 second clip about cold brew")  # the hour's one generation
        refused = await press(app, reply.buttons[0].id)
        assert refused.alert and "the limit is 1 per hour per member" in refused.text
        idea_id = decode(reply.buttons[0].id).draft_id
        assert await app.queue.get(f"socialbot:idea:{workspace_id}:{idea_id}") is not None
        assert not await app.queue.exists(f"socialbot:idea:{workspace_id}:{idea_id}:drafted")
        [(topic, *_)] = await drafts(app)
        assert topic == "cold brew"


async def test_with_a_model_the_prompt_has_the_top_posts_and_the_answer_is_used(
    tmp_path: Path,
) -> None:
    async with FakeOpenAI() as openai:
        settings = make_settings(
            tmp_path / "media",
            OPENAI_API_KEY=openai.api_key,
            OPENAI_BASE_URL=openai.base_url,
            OPENAI_MODEL="gpt-test",
        )
        async with open_runtime(settings) as rt:
            app = rt.app
            await with_history(app)
            await ask(app, "/brand audience: night-shift nurses")
            openai.queue(
                ModelReply.json(
                    {
                        "ideas": [
                            {"topic": "Iced pumpkin spice", "why": "Builds on 12,400 views."},
                            {"topic": "Latte art for nurses", "why": "4,000 views, calm."},
                        ]
                    }
                )
            )
            reply = await ask(app, "/ideas 2")
            assert reply.text.splitlines()[0].endswith("by their views then) and your brand voice:")
            assert reply.text.splitlines()[1:5] == [
                "1. Iced pumpkin spice",
                "   Builds on 12,400 views.",
                "2. Latte art for nurses",
                "   4,000 views, calm.",
            ]
            prompt = openai.requests[-1].prompt()
            assert "“pumpkin spice latte” on TikTok, upbeat, 25 s: 12,400 views" in prompt
            assert "Audience: night-shift nurses" in prompt and "Ideas wanted: 2" in prompt
            made = await press(app, reply.buttons[0].id)
            assert "queued: “Iced pumpkin spice”" in made.text

            # A failing model leaves the ideas to the figures, and says so.
            openai.queue(ModelReply.error(500), ModelReply.error(500), ModelReply.error(500))
            fallback = await ask(app, "/ideas 1")
            assert fallback.text.splitlines()[1] == "1. a follow-up to pumpkin spice latte"
            assert "(Written without the model, which failed: The model service failed" in (
                fallback.text
            )


def test_ideas_is_in_help() -> None:
    assert "/ideas [n]" in HELP
