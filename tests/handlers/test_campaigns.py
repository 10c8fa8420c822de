"""Campaigns through the chat and the periodic job, on real databases and a real queue.

The clock: campaigns are made under time-machine (their first slot depends on when), and
the periodic job is run with the time given (`fire_campaigns(app, now=…)`), so each test puts
the job at the exact moments it checks.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import func, select, update

from bot.runtime import Runtime, cron_jobs, jobs_worker, open_runtime
from handlers.app import App
from handlers.buttons import Verb, encode
from handlers.campaign_runs import CAMPAIGN_CRON_JOB, auto_publish, fire_campaigns
from handlers.port import Incoming, Reply
from handlers.router import handle
from services.campaigns import DueRun, RunOutcome, claim_run, due_runs
from services.models import (
    Approval,
    AuditEntry,
    Campaign,
    CampaignRun,
    Draft,
    DraftState,
    DraftVersion,
    Member,
    Template,
    Workspace,
)
from services.templates import make_spec
from tests.conftest import make_settings
from tests.fakes.feed_server import feed_server

CHAT = "console:team"
NEW_YORK = "America/New_York"  # 2026: clocks go forward an hour on Sunday 8 March


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


class Sent:
    """A chat sender that keeps what the jobs send."""

    def __init__(self) -> None:
        self.replies: list[tuple[str, Reply]] = []

    async def send(self, chat_ref: str, reply: Reply) -> None:
        self.replies.append((chat_ref, reply))

    def texts(self) -> list[str]:
        return [reply.text for _, reply in self.replies]


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    async with open_runtime(make_settings(tmp_path / "media")) as rt:
        yield rt


async def say(app: App, text: str, *, user: str = "olga") -> str:
    replies = await handle(app, Incoming(CHAT, f"console:{user}", user, text=text))
    assert len(replies) == 1
    return replies[0].text


async def team(runtime: Runtime, timezone: str = NEW_YORK) -> tuple[App, Sent]:
    """A workspace in `timezone` whose job messages are recorded; olga owns it."""
    sent = Sent()
    app = dataclasses.replace(runtime.app, chat=sent)
    await say(app, "/start")
    async with app.sessions.begin() as session:
        await session.execute(update(Workspace).values(timezone=timezone))
    return app, sent


async def drafts(app: App) -> list[Draft]:
    async with app.sessions() as session:
        return list((await session.scalars(select(Draft).order_by(Draft.id))).all())


async def runs(app: App) -> list[CampaignRun]:
    async with app.sessions() as session:
        rows = await session.scalars(select(CampaignRun).order_by(CampaignRun.slot))
        return list(rows.all())


def test_the_job_runs_every_minute_and_at_start() -> None:
    job = next(j for j in cron_jobs() if j.name == CAMPAIGN_CRON_JOB)
    assert job.run_at_startup and job.second == 45 and job.minute is None


async def test_a_campaign_fires_at_its_local_time_across_the_spring_change(
    runtime: Runtime,
) -> None:
    app, sent = await team(runtime)
    with time_machine.travel(utc(2026, 3, 6, 12), tick=False):
        reply = await say(app, '/campaign new "Morning" every day 9:00 topics: a; b; c; d')
        listing = await say(app, "/campaigns")
    assert reply.startswith("📅 Campaign “Morning” made: every day 09:00 (America/New_York)")
    assert "First run: Fri 6 Mar 09:00." in reply  # 14:00 UTC, Eastern Standard Time
    assert "Nothing is published without approval." in reply
    assert "“Morning” — every day 09:00 · no template · topics: 4 of 4 left" in listing
    assert listing.endswith("next Fri 6 Mar 09:00")

    assert await fire_campaigns(app, now=utc(2026, 3, 6, 13, 59)) == "0 campaign runs"
    assert await fire_campaigns(app, now=utc(2026, 3, 6, 14, 0)) == "1 campaign run"
    assert await fire_campaigns(app, now=utc(2026, 3, 6, 14, 1)) == "0 campaign runs"
    assert await fire_campaigns(app, now=utc(2026, 3, 7, 14, 0, 30)) == "1 campaign run"
    # Sunday: daylight saving time began at 02:00, so 09:00 is now 13:00 UTC.
    assert await fire_campaigns(app, now=utc(2026, 3, 8, 12, 59)) == "0 campaign runs"
    assert await fire_campaigns(app, now=utc(2026, 3, 8, 13, 0)) == "1 campaign run"
    assert await fire_campaigns(app, now=utc(2026, 3, 9, 13, 0)) == "1 campaign run"

    made = await runs(app)
    assert [r.slot for r in made] == [
        utc(2026, 3, 6, 14),
        utc(2026, 3, 7, 14),
        utc(2026, 3, 8, 13),
        utc(2026, 3, 9, 13),
    ]
    assert all(r.outcome == RunOutcome.DRAFTED for r in made)
    made_drafts = await drafts(app)
    assert [d.topic for d in made_drafts] == ["a", "b", "c", "d"]
    assert [r.draft_id for r in made] == [d.id for d in made_drafts]
    assert {d.campaign_id for d in made_drafts} == {made[0].campaign_id}
    assert {d.state for d in made_drafts} == {DraftState.REQUESTED}
    texts = sent.texts()
    assert texts[0].startswith("📅 Campaign “Morning” (Fri 6 Mar 09:00): Draft #1 queued: “a”")
    assert texts[2].startswith("📅 Campaign “Morning” (Sun 8 Mar 09:00): Draft #3 queued: “c”")


async def test_two_workers_at_once_make_one_draft(runtime: Runtime) -> None:
    app, sent = await team(runtime)
    with time_machine.travel(utc(2026, 3, 6, 12), tick=False):
        await say(app, '/campaign new "Tips" every day 9:00 topics: a; b')
    slot = utc(2026, 3, 6, 14, 0, 5)
    results = await asyncio.gather(*(fire_campaigns(app, now=slot) for _ in range(4)))
    assert sorted(results) == ["0 campaign runs"] * 3 + ["1 campaign run"]
    assert [d.topic for d in await drafts(app)] == ["a"]
    assert len(sent.replies) == 1


async def _two_runtimes_fire_once(url: str, tmp_path: Path) -> None:
    """Two runtimes (as two worker machines) on the database at `url` fire one slot at once."""
    async with AsyncExitStack() as stack:
        first, second = [
            await stack.enter_async_context(
                open_runtime(
                    make_settings(tmp_path / name, DATABASE_URL=url), apply_migrations=True
                )
            )
            for name in ("one", "two")
        ]
        app, sent = await team(first)
        other = dataclasses.replace(second.app, chat=sent)
        with time_machine.travel(utc(2026, 3, 6, 12), tick=False):
            await say(app, '/campaign new "Tips" every day 9:00 topics: a; b')
        slot = utc(2026, 3, 6, 14, 0, 5)
        results = await asyncio.gather(
            fire_campaigns(app, now=slot),
            fire_campaigns(other, now=slot),
            fire_campaigns(app, now=slot),
            fire_campaigns(other, now=slot),
        )
        assert sorted(results) == ["0 campaign runs"] * 3 + ["1 campaign run"]
        assert [d.topic for d in await drafts(app)] == ["a"]
        assert len(await runs(other)) == 1
        assert len(sent.replies) == 1


async def test_two_runtimes_on_one_sqlite_database_make_one_draft(tmp_path: Path) -> None:
    await _two_runtimes_fire_once(f"sqlite+aiosqlite:///{tmp_path / 'shared.sqlite'}", tmp_path)


async def test_two_runtimes_on_one_postgres_database_make_one_draft(
    postgres_url: str, tmp_path: Path
) -> None:
    await _two_runtimes_fire_once(postgres_url, tmp_path)


async def test_a_restart_during_a_slot_makes_no_second_draft(
    runtime: Runtime, tmp_path: Path
) -> None:
    app, sent = await team(runtime)
    with time_machine.travel(utc(2026, 3, 6, 12), tick=False):
        await say(app, '/campaign new "Tips" every day 9:00 topics: a; b; c')
    assert await fire_campaigns(app, now=utc(2026, 3, 6, 14, 0, 5)) == "1 campaign run"

    # A worker claims Saturday's slot and dies before asking for the draft.
    async with app.sessions() as session:
        [due] = await due_runs(session, utc(2026, 3, 7, 14, 0, 5))
    async with app.sessions.begin() as session:
        assert await claim_run(session, due) is not None

    # The process starts again (a new runtime on the same database) and its job runs.
    database = (tmp_path / "media" / "socialbot.db").resolve()
    settings = make_settings(tmp_path / "again", DATABASE_URL=f"sqlite+aiosqlite:///{database}")
    async with open_runtime(settings) as again:
        restarted = dataclasses.replace(again.app, chat=sent)
        assert await fire_campaigns(restarted, now=utc(2026, 3, 6, 14, 0, 50)) == "0 campaign runs"
        assert await fire_campaigns(restarted, now=utc(2026, 3, 7, 14, 0, 50)) == "0 campaign runs"
        # Even a worker holding a stale copy of the campaign can't run the slot again.
        stale = DueRun(due.campaign, due.timezone, utc(2026, 3, 6, 14), 0)
        async with restarted.sessions.begin() as session:
            assert await claim_run(session, stale) is None
        assert await fire_campaigns(restarted, now=utc(2026, 3, 8, 13, 0, 5)) == "1 campaign run"
    assert [d.topic for d in await drafts(app)] == ["a", "b"]
    assert [r.outcome for r in await runs(app)] == ["drafted", "pending", "drafted"]


async def test_a_run_whose_worker_died_after_the_claim_is_taken_up_once(
    runtime: Runtime,
) -> None:
    app, _ = await team(runtime)
    with time_machine.travel(utc(2026, 3, 6, 12), tick=False):
        await say(app, '/campaign new "Tips" every day 9:00 topics: a; b; c')
    slot_time = utc(2026, 3, 6, 14, 0, 5)
    async with app.sessions() as session:
        [due] = await due_runs(session, slot_time)
    with time_machine.travel(slot_time, tick=False):  # claimed, then the worker died
        async with app.sessions.begin() as session:
            assert await claim_run(session, due) is not None
    # Within ten minutes the worker may still be at it: nothing happens.
    assert await fire_campaigns(app, now=slot_time + timedelta(minutes=5)) == "0 campaign runs"
    assert await drafts(app) == []
    later = slot_time + timedelta(minutes=11)
    assert await fire_campaigns(app, now=later) == "1 campaign run"
    assert await fire_campaigns(app, now=later + timedelta(minutes=11)) == "0 campaign runs"
    assert [d.topic for d in await drafts(app)] == ["a"]
    assert [r.outcome for r in await runs(app)] == ["drafted"]


async def test_a_run_whose_worker_died_after_the_draft_is_linked_not_repeated(
    runtime: Runtime,
) -> None:
    app, _ = await team(runtime)
    with time_machine.travel(utc(2026, 3, 6, 12), tick=False):
        await say(app, '/campaign new "Tips" every day 9:00 topics: a; b; c')
    slot_time = utc(2026, 3, 6, 14, 0, 5)
    async with app.sessions() as session:
        [due] = await due_runs(session, slot_time)
    with time_machine.travel(slot_time, tick=False):
        async with app.sessions.begin() as session:
            assert await claim_run(session, due) is not None
    # The draft was asked for (as the run does) before the worker died.
    await say(app, "/draft topic: a")
    async with app.sessions.begin() as session:
        await session.execute(update(Draft).values(campaign_id=due.campaign.id))
    assert await fire_campaigns(app, now=slot_time + timedelta(minutes=11)) == "0 campaign runs"
    assert len(await drafts(app)) == 1
    [run] = await runs(app)
    assert (run.outcome, run.draft_id) == ("drafted", (await drafts(app))[0].id)


async def test_a_long_outage_makes_one_catch_up_run_and_says_so(runtime: Runtime) -> None:
    app, sent = await team(runtime)
    with time_machine.travel(utc(2026, 3, 6, 12), tick=False):
        await say(app, '/campaign new "Tips" every day 9:00 topics: a; b; c')
    # Down from before Friday's 09:00 until Monday 15:00 (New York): four slots came and went.
    back = utc(2026, 3, 9, 19)
    assert await fire_campaigns(app, now=back) == "1 campaign run"
    assert await fire_campaigns(app, now=back + timedelta(minutes=1)) == "0 campaign runs"
    [run] = await runs(app)
    assert run.slot == utc(2026, 3, 9, 13)  # only the latest slot, Monday 09:00 EDT
    assert [d.topic for d in await drafts(app)] == ["a"]
    [text] = sent.texts()
    assert text.startswith(
        "📅 Campaign “Tips” (Mon 9 Mar 09:00) missed 3 runs while the bot was down; "
        "made one now: Draft #1 queued: “a”"
    )


async def test_list_topics_go_in_order_then_the_chat_is_asked_for_more(runtime: Runtime) -> None:
    app, sent = await team(runtime)
    with time_machine.travel(utc(2026, 3, 6, 12), tick=False):
        await say(app, '/campaign new "Tips" every day 9:00 topics: grinder care; milk foam')
    for day in (6, 7, 8):
        await fire_campaigns(app, now=utc(2026, 3, day, 15))
    assert [d.topic for d in await drafts(app)] == ["grinder care", "milk foam"]
    assert sent.texts()[-1] == (
        "📅 Campaign “Tips” (Sun 8 Mar 09:00): skipped, its topic list has run out. "
        "Add more with /campaign topics “Tips” a; b; c"
    )
    assert (await runs(app))[-1].outcome == RunOutcome.SKIPPED

    added = await say(app, '/campaign topics "Tips" latte art; cold brew')
    assert added == "Added 2 topics to “Tips”: 2 to go, next “latte art”."
    await fire_campaigns(app, now=utc(2026, 3, 9, 15))
    assert [d.topic for d in await drafts(app)][-1] == "latte art"
    with time_machine.travel(utc(2026, 3, 9, 15), tick=False):
        assert "topics: 1 of 4 left" in await say(app, "/campaigns")


async def test_feed_topics_come_from_a_loopback_feed_only_when_allowed(tmp_path: Path) -> None:
    async with (
        feed_server("Grinder care", "Milk foam") as feed,
        open_runtime(make_settings(tmp_path / "open")) as closed,
    ):
        app, _ = await team(closed)
        refused = await say(app, f'/campaign new "News" every day 9:00 feed: {feed.url}')
        assert refused.startswith("⚠️ I won't fetch that feed: 127.0.0.1 is an address inside")
        assert feed.hits == 0

    async with (
        feed_server("Grinder care", "Milk foam") as feed,
        open_runtime(make_settings(tmp_path / "allowed", FETCH_ALLOW="127.0.0.1")) as rt,
    ):
        app, sent = await team(rt)
        with time_machine.travel(utc(2026, 3, 6, 12), tick=False):
            made = await say(app, f'/campaign new "News" every day 9:00 feed: {feed.url}')
        assert f"feed {feed.url} (“Fake news”)." in made
        assert feed.hits == 1  # checked once when the campaign was made
        await fire_campaigns(app, now=utc(2026, 3, 6, 15))
        feed.add("Latte art")
        await fire_campaigns(app, now=utc(2026, 3, 7, 15))
        await fire_campaigns(app, now=utc(2026, 3, 8, 15))  # the older entry not used yet
        await fire_campaigns(app, now=utc(2026, 3, 9, 15))  # nothing new
        assert [d.topic for d in await drafts(app)] == ["Milk foam", "Latte art", "Grinder care"]
        assert sent.texts()[-1] == (
            "📅 Campaign “News” (Mon 9 Mar 09:00): skipped, nothing new in the feed "
            "“Fake news” since the last run"
        )
        # At run time the guard applies too: without the allowance the chat is told.
        feed.add("Cold brew")
        strict = dataclasses.replace(app, fetch_allow=())
        await fire_campaigns(strict, now=utc(2026, 3, 10, 15))
        assert sent.texts()[-1].startswith(
            "⚠️ 📅 Campaign “News” (Tue 10 Mar 09:00): skipped: I won't fetch that feed: "
            "127.0.0.1 is an address inside this network"
        )
        assert (await runs(app))[-1].outcome == RunOutcome.FAILED


async def test_ideas_from_the_writer_do_not_repeat(runtime: Runtime) -> None:
    app, _ = await team(runtime)
    await say(app, "/brand audience: home baristas")
    with time_machine.travel(utc(2026, 3, 6, 12), tick=False):
        await say(app, '/campaign new "Ideas" every day 9:00 ideas platforms: tiktok')
    for day in (6, 7, 8):
        await fire_campaigns(app, now=utc(2026, 3, day, 15))
    made = await drafts(app)
    topics = [d.topic for d in made]
    assert len(topics) == 3 and len(set(topics)) == 3, topics
    assert any("home baristas" in t for t in topics), topics
    assert {tuple(d.platforms) for d in made} == {("tiktok",)}


async def test_pause_resume_stop_and_who_may(runtime: Runtime) -> None:
    app, _ = await team(runtime)
    await say(app, "/start", user="cai")  # a creator
    assert await say(app, '/campaign new "Tips" every day 9:00 ideas', user="cai") == (
        "⚠️ Only owners and approvers can manage campaigns; /campaigns lists them."
    )
    with time_machine.travel(utc(2026, 3, 6, 12), tick=False):
        await say(app, '/campaign new "Tips" every mon,thu 9:00 topics: a; b; c')
        assert "• “Tips” — every mon,thu 09:00" in await say(app, "/campaigns", user="cai")
    await fire_campaigns(app, now=utc(2026, 3, 9, 14))  # Monday 09:00 EDT

    assert (
        await say(app, "/campaign pause Tips") == "⏸ “Tips” paused: no runs until /campaign resume."
    )
    with time_machine.travel(utc(2026, 3, 9, 15), tick=False):
        assert (await say(app, "/campaigns")).endswith("· paused")
    assert await fire_campaigns(app, now=utc(2026, 3, 12, 14)) == "0 campaign runs"
    with time_machine.travel(utc(2026, 3, 12, 20), tick=False):
        resumed = await say(app, '/campaign resume "tips"')
    assert resumed == "▶️ “Tips” resumed; next run Mon 16 Mar 09:00."
    # The Thursday slot passed while paused: it is not owed.
    assert await fire_campaigns(app, now=utc(2026, 3, 12, 21)) == "0 campaign runs"
    assert await fire_campaigns(app, now=utc(2026, 3, 16, 13, 1)) == "1 campaign run"

    with time_machine.travel(utc(2026, 3, 16, 14), tick=False):
        edited = await say(app, '/campaign edit "Tips" every day 18:30 auto 2h')
    assert edited.startswith("✏️ “Tips” now: every day 18:30; A draft nobody rejects within 2 h")
    assert edited.endswith("Next run Mon 16 Mar 18:30.")
    assert await say(app, '/campaign stop "Tips"') == "⏹ “Tips” stopped: it makes no more drafts."
    assert await fire_campaigns(app, now=utc(2026, 3, 17, 0)) == "0 campaign runs"
    assert await say(app, "/campaigns") == (
        "No campaigns yet. Use " + '/campaign new "Monday tips" every mon,thu 9:00 '
        "template:weekly-tips topics: grinder care; milk foam; latte art\nStopped: “Tips”."
    )
    assert [d.topic for d in await drafts(app)] == ["a", "b"]
    assert await say(app, '/campaign pause "Nope"') == (
        "⚠️ I can't find a campaign called “Nope”. There are no campaigns here yet."
    )
    async with app.sessions() as session:
        actions = (await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all()
    assert [a for a in actions if a.startswith("campaign.")] == [
        "campaign.create",
        "campaign.pause",
        "campaign.resume",
        "campaign.edit",
        "campaign.stop",
    ]
    assert "/campaign new" in await say(app, "/help")
    # A stopped campaign gives its name up to a new one.
    with time_machine.travel(utc(2026, 3, 17), tick=False):
        again = await say(app, '/campaign new "Tips" every day 9:00 ideas')
        listing = await say(app, "/campaigns")
    assert again.startswith("📅 Campaign “Tips” made: every day 09:00")
    assert listing.endswith("next Tue 17 Mar 09:00\nStopped: “Tips (stopped #1)”.")


async def test_a_refused_request_is_recorded_and_told(runtime: Runtime) -> None:
    app, sent = await team(runtime)
    with time_machine.travel(utc(2026, 3, 6, 12), tick=False):
        await say(app, '/campaign new "Tips" every day 9:00 topics: a; b')
    async with app.sessions.begin() as session:
        await session.execute(update(Member).values(role="viewer"))
    await fire_campaigns(app, now=utc(2026, 3, 6, 15))
    assert await drafts(app) == []
    [run] = await runs(app)
    assert (run.outcome, run.topic) == (RunOutcome.REFUSED, "a")
    assert sent.texts() == [
        "⚠️ 📅 Campaign “Tips” (Fri 6 Mar 09:00) made no draft: Viewers can't request drafts. "
        "Ask an owner for the creator role."
    ]
    # The refused run's topic is still the next one.
    async with app.sessions.begin() as session:
        await session.execute(update(Member).values(role="owner"))
    await fire_campaigns(app, now=utc(2026, 3, 7, 15))
    assert [d.topic for d in await drafts(app)] == ["a"]


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('"X" every day 9:00', "Where do the topics of “X” come from?"),
        ('"X" topics: a', "When should “X” run?"),
        ('"X" every day 9:00 template:nope topics: a', "There is no template “nope”."),
        ('"X" every day 9:00 feed: file:///etc/passwd', "file:// URLs cannot be fetched"),
        ('"X" every sometimes 9:00 topics: a', "“sometimes” is not a day"),
    ],
)
async def test_new_campaigns_that_cannot_be_made(runtime: Runtime, line: str, says: str) -> None:
    app, _ = await team(runtime)
    assert says in await say(app, f"/campaign new {line}")
    assert "/campaign new" in await say(app, "/campaign new")


async def _render(runtime: Runtime, app: App) -> None:
    """Run the queued generation jobs to the end, the jobs' messages going to `app.chat`."""
    worker = jobs_worker(dataclasses.replace(runtime, app=app), burst=True, poll_delay=0)
    try:
        await worker.run_check()
    finally:
        await worker.close()


@pytest.mark.slow
async def test_auto_publish_after_the_deadline_unless_rejected(runtime: Runtime) -> None:
    app, sent = await team(runtime, "Europe/Berlin")
    await say(app, "/start", user="ann")
    await say(app, "/role @ann approver")
    async with app.sessions.begin() as session:
        workspace_id = await session.scalar(select(Workspace.id))
        spec = make_spec(
            platforms=["youtube"],
            duration_s=5,
            tone="calm",
            structure=["hook", "tip", "tip", "tip"],
        )
        session.add(
            Template(workspace_id=workspace_id, name="quick", spec=spec.model_dump(mode="json"))
        )
    made = await say(
        app,
        '/campaign new "Daily" every day 9:00 template:quick topics: milk foam; latte art auto 1h',
    )
    assert "template quick" in made and "within 1 h of its preview" in made

    first_slot = datetime.now(UTC) + timedelta(days=1)
    async with app.sessions() as session:
        [due] = await due_runs(session, first_slot)
    await fire_campaigns(app, now=due.slot)
    await _render(runtime, app)
    [draft] = await drafts(app)
    assert (draft.state, draft.duration_s, draft.template["name"]) == (DraftState.READY, 5, "quick")
    async with app.sessions() as session:
        ready_at = await session.scalar(select(DraftVersion.created_at))
    assert ready_at is not None
    [preview] = [r for _, r in sent.replies if r.text.startswith(f"🎬 Draft #{draft.id}")]
    deadline = ready_at + timedelta(hours=1)
    local = deadline.astimezone(ZoneInfo("Europe/Berlin"))
    assert f"⏱ Publishes automatically at {local:%a} {local.day} {local:%b}" in preview.text
    assert preview.text.endswith(f"{local:%H:%M} Europe/Berlin unless someone rejects it.")

    assert await auto_publish(app, now=deadline - timedelta(minutes=1)) == "0 auto-approved"
    assert await auto_publish(app, now=deadline) == "1 auto-approved"
    assert await auto_publish(app, now=deadline + timedelta(minutes=1)) == "0 auto-approved"
    approved = sent.texts()[-1]
    assert approved.startswith(
        f"⏱ Nobody rejected draft #{draft.id} of campaign “Daily” in time.\n✅ Draft #{draft.id} "
        "approved by olga. Publishing to youtube"
    )
    async with app.sessions() as session:
        approval = await session.scalar(select(Approval))
        entry = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "campaign.auto_approve")
        )
        olga = await session.scalar(select(Member).where(Member.display_name == "olga"))
    assert approval is not None and olga is not None
    assert (approval.member_id, approval.decision) == (olga.id, "approve")
    assert entry is not None and entry.target == f"draft:{draft.id}"
    assert entry.detail["campaign"] == "Daily"
    await _render(runtime, app)  # the publish job
    assert (await drafts(app))[0].state == DraftState.PUBLISHED
    assert len(list((app.media_dir / "outbox").glob("youtube/*/manifest.json"))) == 1

    # The next run's draft is rejected before its deadline: it is not published.
    await fire_campaigns(app, now=due.slot + timedelta(days=1))
    await _render(runtime, app)
    second = (await drafts(app))[-1]
    assert second.state == DraftState.READY and second.topic == "latte art"
    rejected = await handle(
        app, Incoming(CHAT, "console:ann", "ann", button=encode(Verb.REJECT, second.id))
    )
    assert rejected[0].text.startswith(f"❌ Draft #{second.id} rejected by ann")
    assert await auto_publish(app, now=datetime.now(UTC) + timedelta(days=2)) == "0 auto-approved"
    assert (await drafts(app))[-1].state == DraftState.REJECTED
    async with app.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Approval)) == 2
    assert not any(re.search(rf"draft #{second.id} of campaign", t) for t in sent.texts())


async def test_pausing_hands_waiting_drafts_to_people(runtime: Runtime) -> None:
    app, _ = await team(runtime)
    with time_machine.travel(utc(2026, 3, 6, 12), tick=False):
        await say(app, '/campaign new "Tips" every day 9:00 topics: a; b auto 2h')
    await fire_campaigns(app, now=utc(2026, 3, 6, 15))
    [run] = await runs(app)
    assert (run.outcome, run.auto_publish_after_s) == (RunOutcome.DRAFTED, 7200)
    paused = await say(app, "/campaign pause Tips")
    assert paused.endswith("1 of its drafts waiting for review now needs an approval to publish.")
    [run] = await runs(app)
    assert run.outcome == RunOutcome.MANUAL
    async with app.sessions() as session:
        campaign = await session.scalar(select(Campaign))
    assert campaign is not None and campaign.state == "paused"
