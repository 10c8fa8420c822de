"""`/campaign new` alone: the questions, on a real database and a real Redis.

Campaigns are made under time-machine (their first slot depends on when), as in
tests/handlers/test_campaigns.py, whose helpers these tests share.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from sqlalchemy import delete, select, update

from bot.runtime import Runtime, open_runtime
from handlers import campaign_dialog
from handlers.app import App
from services.models import Campaign, Member, Template, Workspace
from services.templates import make_spec
from tests.conftest import make_settings
from tests.handlers.test_campaigns import say, team, utc

AS_USUAL = "Send /help to see what I can do, or /draft <request> to start."
FRIDAY_NOON = utc(2026, 3, 6, 12)


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    async with open_runtime(make_settings(tmp_path / "media")) as rt:
        yield rt


async def campaign_rows(app: App) -> list[dict[str, Any]]:
    """Every campaign's columns but its id and creation time."""
    async with app.sessions() as session:
        rows = (await session.scalars(select(Campaign).order_by(Campaign.id))).all()
    skip = {"id", "created_at"}
    return [
        {c.key: getattr(row, c.key) for c in Campaign.__table__.columns if c.key not in skip}
        for row in rows
    ]


async def open_dialogs(app: App) -> list[bytes]:
    return list(await app.queue.keys("socialbot:dialog:*"))


async def add_template(app: App, name: str) -> None:
    async with app.sessions.begin() as session:
        workspace_id = await session.scalar(select(Workspace.id))
        spec = make_spec(
            platforms=["youtube"],
            duration_s=5,
            tone="calm",
            structure=["hook", "tip", "tip", "tip"],
        )
        session.add(
            Template(workspace_id=workspace_id, name=name, spec=spec.model_dump(mode="json"))
        )


async def test_the_dialog_makes_the_campaign_the_one_line_form_makes(runtime: Runtime) -> None:
    app, _ = await team(runtime)
    await add_template(app, "weekly-tips")
    with time_machine.travel(FRIDAY_NOON, tick=False):
        opened = await say(app, "/campaign new")
        assert opened.startswith("📅 A new campaign in six questions; answer each in a message")
        assert "(1/6) What is the campaign called?" in opened
        assert opened.endswith("/cancel stops.")
        asked = await say(app, "Monday tips")
        assert asked.startswith("✓ “Monday tips”\n(2/6) When should “Monday tips” make a draft?")
        assert "in this workspace's time zone, America/New_York." in asked
        asked = await say(app, "every mon,thu 9:00")
        assert asked.startswith("✓ every mon,thu 09:00 (America/New_York)\n(3/6)")
        assert "(here: weekly-tips; /templates shows them), or none." in asked
        asked = await say(app, "weekly-tips")
        assert asked.startswith("✓ template weekly-tips\n(4/6) Where should they be published?")
        asked = await say(app, "tiktok, youtube")
        assert asked.startswith("✓ tiktok, youtube\n(5/6) Where do the topics come from?")
        asked = await say(app, "grinder care; milk foam; latte art")
        assert asked.startswith("✓ 3 topics\n(6/6) Publish without an approval?")
        by_dialog = await say(app, "2h")
    assert by_dialog.startswith("📅 Campaign “Monday tips” made: every mon,thu 09:00")
    assert await open_dialogs(app) == []
    made_by_dialog = await campaign_rows(app)
    assert len(made_by_dialog) == 1

    async with app.sessions.begin() as session:
        await session.execute(delete(Campaign))
    line = (
        '/campaign new "Monday tips" every mon,thu 9:00 template:weekly-tips '
        "platforms: tiktok, youtube topics: grinder care; milk foam; latte art auto 2h"
    )
    with time_machine.travel(FRIDAY_NOON, tick=False):
        by_line = await say(app, line)
    assert by_dialog == by_line
    assert await campaign_rows(app) == made_by_dialog
    # The dialog is over: a plain message is what it always was.
    assert await say(app, "hello") == AS_USUAL


async def test_a_bad_answer_is_asked_again_with_the_reason_keeping_the_others(
    runtime: Runtime,
) -> None:
    app, _ = await team(runtime)
    await say(app, "/campaign new")
    await say(app, "“Tips”")
    again = await say(app, "every sometimes 9:00")
    assert again.startswith("⚠️ “sometimes” is not a day: use mon, tue,")
    assert "\n(2/6) When should “Tips” make a draft?" in again
    assert (await say(app, "every day 9")).startswith("⚠️ “9” is not a time of day")
    assert "(3/6)" in await say(app, "day 18:30")  # "every" may be left out
    again = await say(app, "nope")
    assert again.startswith("⚠️ There is no template “nope”.\n(3/6)")
    assert "there are none yet: /template save makes one" in again
    assert "(4/6)" in await say(app, "none")
    assert (await say(app, "myspace")).startswith("⚠️ Name the platforms")
    assert "(5/6)" in await say(app, "default")
    again = await say(app, "a; b auto 2h")
    assert again.startswith("⚠️ Answer just this question; the other settings come next.\n(5/6)")
    assert "(6/6)" in await say(app, "ideas")
    assert (await say(app, "soon")).startswith("⚠️ “auto soon”: give how long people have")
    with time_machine.travel(FRIDAY_NOON, tick=False):
        made = await say(app, "no")
    assert made.startswith("📅 Campaign “Tips” made: every day 18:30 (America/New_York), ")
    assert "no template, ideas from the writer." in made
    assert made.endswith("Nothing is published without approval.")
    [row] = await campaign_rows(app)
    assert (row["name"], row["times"], row["template"], row["platforms"]) == (
        "Tips",
        ["18:30"],
        None,
        None,
    )
    assert (row["source"], row["auto_publish_after_s"]) == ("ideas", None)


async def test_cancel_makes_nothing(runtime: Runtime) -> None:
    app, _ = await team(runtime)
    await say(app, "/campaign new")
    await say(app, "Tips")
    await say(app, "every day 9:00")
    assert await say(app, "/cancel") == "Stopped; nothing was made."
    assert await open_dialogs(app) == []
    assert await say(app, "none") == AS_USUAL
    assert await say(app, "/cancel") == (
        "There is nothing to stop: no questions of mine are waiting for you here."
    )
    assert await campaign_rows(app) == []


async def test_another_members_message_is_not_an_answer(runtime: Runtime) -> None:
    app, _ = await team(runtime)
    await say(app, "/start", user="cai")  # a creator
    await say(app, "/start", user="ann")
    await say(app, "/role @ann approver")
    await say(app, "/campaign new")
    assert await say(app, "Not mine", user="cai") == AS_USUAL
    assert (await say(app, "/cancel", user="ann")).startswith("There is nothing to stop")
    assert "(2/6) When should “Tips” make a draft?" in await say(app, "Tips")
    # Ann's own dialog in the same chat is a separate one.
    assert "(1/6)" in await say(app, "/campaign new", user="ann")
    assert "(2/6) When should “Ann's” make a draft?" in await say(app, "Ann's", user="ann")
    assert "(3/6)" in await say(app, "every day 9:00")
    assert "(3/6)" in await say(app, "every day 10:00", user="ann")


async def test_only_approvers_and_owners_at_the_start_and_at_the_end(runtime: Runtime) -> None:
    app, _ = await team(runtime)
    await say(app, "/start", user="cai")  # a creator
    assert await say(app, "/campaign new", user="cai") == (
        "⚠️ Only owners and approvers can manage campaigns; /campaigns lists them."
    )
    assert await open_dialogs(app) == []
    assert await say(app, "Tips", user="cai") == AS_USUAL

    await say(app, "/role @cai approver")
    for answer in ("/campaign new", "Tips", "every day 9:00", "none", "default", "ideas"):
        await say(app, answer, user="cai")
    async with app.sessions.begin() as session:
        await session.execute(
            update(Member).where(Member.display_name == "cai").values(role="creator")
        )
    assert await say(app, "no", user="cai") == (
        "⚠️ Only owners and approvers can manage campaigns; /campaigns lists them."
    )
    assert await campaign_rows(app) == []
    assert await open_dialogs(app) == []


async def test_a_refusal_at_the_end_gives_the_line_to_send_again(runtime: Runtime) -> None:
    app, _ = await team(runtime)
    for answer in ("/campaign new", "Tips", "every day 9:00", "none", "tiktok", "a; b"):
        await say(app, answer)
    await say(app, '/campaign new "Tips" every day 9:00 ideas')  # meanwhile, in one line
    assert await say(app, "90m") == (
        "⚠️ There is already a campaign called “Tips”; change it with /campaign edit “Tips” …, "
        "or pick another name.\nNothing was made. To try again, change and send: "
        '/campaign new "Tips" every day 09:00 platforms: tiktok topics: a; b auto 90m'
    )
    assert len(await campaign_rows(app)) == 1
    assert await open_dialogs(app) == []


async def test_the_dialog_expires(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(campaign_dialog, "TTL", timedelta(milliseconds=300))
    app, _ = await team(runtime)
    await say(app, "/campaign new")
    assert "(2/6)" in await say(app, "Tips")
    await asyncio.sleep(0.6)
    assert await open_dialogs(app) == []
    assert await say(app, "every day 9:00") == AS_USUAL
    assert await campaign_rows(app) == []


async def test_a_command_in_the_middle_works_and_the_dialog_goes_on(runtime: Runtime) -> None:
    app, _ = await team(runtime)
    await say(app, "/campaign new")
    await say(app, "Tips")
    assert (await say(app, "/campaigns")).startswith("No campaigns yet.")
    assert "/campaign new — the same, asked one question at a time" in await say(app, "/help")
    assert (await say(app, "/campaign pause Nope")).startswith("⚠️ I can't find a campaign")
    assert "(3/6)" in await say(app, "every weekday 8:00")
    for answer in ("none", "default", "feed: not-a-url"):
        await say(app, answer)
    made = await say(app, "off")
    assert made.startswith("⚠️ ")
    assert made.endswith('/campaign new "Tips" every weekday 08:00 feed: not-a-url')
    assert await campaign_rows(app) == []
