"""/digest schedules and the periodic job that posts them: the right moment, once per slot."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from bot.runtime import Runtime, cron_jobs, open_runtime
from handlers.app import App
from handlers.digests import DIGEST_CRON_JOB, post_digests
from handlers.port import Incoming, MediaKind, Reply
from handlers.router import handle
from services.metrics.collect import CollectionReport, Problem, ProblemKind
from services.models import ChatBinding, Workspace, utcnow
from tests.conftest import make_settings
from tests.services.analytics_data import NOW, seed

CHAT = "console:team"
NEWS = "console:42"
KATHMANDU = "Asia/Kathmandu"  # UTC+5:45: a wrong zone cannot land on the right minute


class Sent:
    """A chat sender that keeps what it is given; the first `fail` sends raise."""

    def __init__(self, fail: int = 0) -> None:
        self.replies: list[tuple[str, Reply]] = []
        self.fail = fail

    async def send(self, chat_ref: str, reply: Reply) -> None:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("the chat queue is down")
        self.replies.append((chat_ref, reply))


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    async with open_runtime(make_settings(tmp_path / "media")) as rt:
        yield rt


async def say(app: App, text: str, *, user: str = "olga", chat: str = CHAT) -> str:
    replies = await handle(app, Incoming(chat, f"console:{user}", user, text=text))
    assert len(replies) == 1
    return replies[0].text


async def team(runtime: Runtime, timezone: str = KATHMANDU) -> tuple[App, Sent]:
    """A workspace in `timezone` whose chat sends are recorded."""
    sent = Sent()
    app = dataclasses.replace(runtime.app, chat=sent)
    await say(app, "/start")
    async with app.sessions.begin() as session:
        await session.execute(update(Workspace).values(timezone=timezone))
    return app, sent


def next_local(at: time, tz: str, after: datetime, weekday: int | None = None) -> datetime:
    """The first `at` (local, in `tz`) after `after`, on `weekday` if given; in UTC."""
    zone = ZoneInfo(tz)
    day = after.astimezone(zone).date()
    while True:
        slot = datetime.combine(day, at, tzinfo=zone).astimezone(UTC)
        if slot > after and (weekday is None or day.weekday() == weekday):
            return slot
        day += timedelta(days=1)


def test_the_job_runs_every_five_minutes() -> None:
    job = next(j for j in cron_jobs() if j.name == DIGEST_CRON_JOB)
    assert job.minute == set(range(0, 60, 5)) and job.run_at_startup


async def test_daily_digest_posts_at_its_local_time_once_per_slot(runtime: Runtime) -> None:
    app, sent = await team(runtime)
    set_at = utcnow()
    reply = await say(app, "/digest schedule daily 09:00")
    slot = next_local(time(9), KATHMANDU, set_at)
    assert slot.minute == 15  # 09:00 in Kathmandu is hh:15 UTC
    assert reply.startswith(
        "A digest of the last 1 day will be posted here daily at 09:00 Asia/Kathmandu, the first on"
    )

    assert await post_digests(app, now=slot - timedelta(minutes=1)) == "0 digests posted"
    assert await post_digests(app, now=slot + timedelta(minutes=2)) == "1 digest posted"
    assert await post_digests(app, now=slot + timedelta(minutes=7)) == "0 digests posted"
    [(chat, digest)] = sent.replies
    assert chat == CHAT and digest.text.startswith("Digest for the last 1 day (to ")
    [chart] = digest.media
    assert chart.kind is MediaKind.PHOTO and chart.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    tomorrow = slot + timedelta(days=1)
    assert await post_digests(app, now=tomorrow - timedelta(minutes=1)) == "0 digests posted"
    assert await post_digests(app, now=tomorrow + timedelta(minutes=1)) == "1 digest posted"
    assert len(sent.replies) == 2


async def test_a_worker_that_was_down_posts_the_missed_slot_once(runtime: Runtime) -> None:
    app, sent = await team(runtime)
    set_at = utcnow()
    await say(app, "/digest schedule daily 09:00")
    slot = next_local(time(9), KATHMANDU, set_at)
    three_days_later = slot + timedelta(days=3, hours=5)
    assert await post_digests(app, now=three_days_later) == "1 digest posted"
    assert await post_digests(app, now=three_days_later + timedelta(minutes=5)) == (
        "0 digests posted"
    )
    async with app.sessions() as session:
        last = await session.scalar(select(ChatBinding.digest_last_slot))
    assert last == slot + timedelta(days=3)
    assert len(sent.replies) == 1


async def test_weekly_digest_in_a_digest_channel(runtime: Runtime) -> None:
    app, sent = await team(runtime, "America/New_York")
    set_at = utcnow()
    reply = await say(app, f"/digest channel {NEWS} weekly fri 17:30")
    assert "posted in that channel weekly on Friday at 17:30 America/New_York" in reply
    assert "A digest of the last 7 days" in reply
    slot = next_local(time(17, 30), "America/New_York", set_at, weekday=4)
    listing = await say(app, "/digest channel")
    assert "• console:team (this chat): when someone sends /digest" in listing
    assert "• console:42: weekly on Friday at 17:30, next Fri" in listing

    for day in range(1, 7):  # the days before: nothing
        assert await post_digests(app, now=slot - timedelta(days=day)) == "0 digests posted"
    assert await post_digests(app, now=slot) == "1 digest posted"
    [(chat, digest)] = sent.replies
    assert chat == NEWS and digest.text.startswith("Digest for the last 7 days")

    # /digest on demand still posts here and copies to the channel.
    now_reply = await say(app, "/digest 3")
    assert now_reply.startswith("Digest for the last 3 days")
    assert [c for c, _ in sent.replies] == [NEWS, NEWS]

    assert "No more regular digests in that channel" in await say(
        app, f"/digest schedule {NEWS} off"
    )
    assert "• console:42: a copy of each /digest" in await say(app, "/digest channel")
    assert await post_digests(app, now=slot + timedelta(days=7)) == "0 digests posted"


async def test_two_workers_post_a_slot_once(runtime: Runtime) -> None:
    app, sent = await team(runtime)
    set_at = utcnow()
    await say(app, "/digest schedule daily 09:00")
    await say(app, f"/digest schedule {NEWS} daily 09:00")
    slot = next_local(time(9), KATHMANDU, set_at) + timedelta(minutes=1)
    results = await asyncio.gather(*(post_digests(app, now=slot) for _ in range(3)))
    assert sum(int(r.split()[0]) for r in results) == 2
    assert sorted(c for c, _ in sent.replies) == [NEWS, CHAT]


async def test_a_failed_send_leaves_the_slot_for_the_next_run(runtime: Runtime) -> None:
    app, sent = await team(runtime)
    set_at = utcnow()
    await say(app, "/digest schedule daily 09:00")
    slot = next_local(time(9), KATHMANDU, set_at)
    sent.fail = 1
    with pytest.raises(ConnectionError):
        await post_digests(app, now=slot)
    assert sent.replies == []
    assert await post_digests(app, now=slot + timedelta(minutes=5)) == "1 digest posted"
    assert len(sent.replies) == 1


async def test_schedule_commands_refuse_clearly(runtime: Runtime) -> None:
    app, _sent = await team(runtime)
    assert "not a time of day: use 24-hour HH:MM" in await say(app, "/digest schedule daily 25:00")
    assert "“someday” is not a weekday: use mon, tue" in await say(
        app, "/digest schedule weekly someday 09:00"
    )
    assert "I couldn't read “hourly” as a schedule: use daily 09:00" in await say(
        app, "/digest schedule hourly"
    )
    assert "Which schedule?" in await say(app, "/digest schedule")
    assert "another service" in await say(app, "/digest schedule telegram:-100 daily 09:00")
    assert "doesn't get this workspace's digests" in await say(app, f"/digest schedule {NEWS} off")
    await say(app, "/start", user="ann", chat="console:7")
    assert "belongs to another workspace" in await say(
        app, "/digest schedule console:7 daily 09:00"
    )
    await say(app, "hi", user="cris")
    assert "Only approvers and owners can schedule" in await say(
        app, "/digest schedule daily 09:00", user="cris"
    )
    assert "1 to 365" in await say(app, "/digest 0")
    async with app.sessions() as session:
        cadences = (await session.scalars(select(ChatBinding.digest_cadence))).all()
    assert set(cadences) == {None}


async def test_the_collection_runs_first_and_a_failing_platform_is_named(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, sent = await team(runtime)
    async with app.sessions() as session:
        workspace_id = (await session.execute(select(Workspace.id))).scalar_one()
    set_at = utcnow()
    slot = next_local(time(9), KATHMANDU, set_at, weekday=0)
    await seed(app.sessions, workspace_id=workspace_id, shift=slot - NOW - timedelta(minutes=1))
    collected: list[int] = []

    async def collect(app_: App, workspace: int) -> CollectionReport:
        collected.append(workspace)
        problems = (
            Problem(
                "instagram", ProblemKind.RECONNECT, "the token was revoked", "@cafe", workspace
            ),
            Problem("tiktok", ProblemKind.BUSY, "rate limited", "", workspace + 1),  # not ours
        )
        return CollectionReport(taken_at=slot, problems=problems)

    monkeypatch.setattr("handlers.digests.collect_workspace_metrics", collect)
    await say(app, "/digest schedule weekly mon 09:00")
    assert await post_digests(app, now=slot) == "1 digest posted"
    assert collected == [workspace_id]
    [(_chat, digest)] = sent.replies
    assert (
        "⚠️ instagram: figures could not be updated (@cafe: the token was revoked; "
        "/connect instagram again)." in digest.text
    )
    for line in ("tiktok: 350 views", "youtube: 300 views", "facebook: 20 views"):
        assert line in digest.text
    assert "tiktok: figures could not" not in digest.text

    async def broken(app_: App, workspace: int) -> CollectionReport:
        raise RuntimeError("database gone")

    monkeypatch.setattr("handlers.digests.collect_workspace_metrics", broken)
    assert await post_digests(app, now=slot + timedelta(days=7)) == "1 digest posted"
    assert "⚠️ all platforms: figures could not be updated (collecting failed" in (
        sent.replies[-1][1].text
    )
