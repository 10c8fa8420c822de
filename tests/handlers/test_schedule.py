"""Scheduling through the console adapter, on real arq and an embedded Redis.

Drafts are made directly in the database (a version with small stand-in files), so that
publishing to the outbox is real but no video has to be rendered.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from bot.console import ConsoleChat
from bot.runtime import Runtime, chat_worker, jobs_worker, open_runtime
from handlers.buttons import Verb, encode
from handlers.port import Incoming, Reply
from handlers.router import handle
from handlers.schedule import publish_scheduled, reconcile_schedules
from services.models import Approval, Draft, DraftState, DraftVersion, Member, Workspace, utcnow
from services.queue import JOBS_QUEUE
from services.scheduling import wake_job_id
from services.video_ffmpeg import ffmpeg_exe
from tests.conftest import make_settings, run_jobs

CHAT = "console:team"
BERLIN = "Europe/Berlin"


@pytest.fixture(scope="module")
def small_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-second vertical video: enough for the platform checks made on approval."""
    path = tmp_path_factory.mktemp("video") / "video.mp4"
    source = ["-f", "lavfi", "-i", "color=c=black:s=90x160:d=1"]
    output = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-y", str(path)]
    subprocess.run([ffmpeg_exe(), "-v", "error", *source, *output], check=True)
    return path


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    """SQLite and an embedded Redis; jobs run only when a test runs a worker."""
    async with open_runtime(make_settings(tmp_path / "media")) as rt:
        yield rt


class Chat:
    """The team's console chat: people type and press, workers run when the test says."""

    def __init__(self, runtime: Runtime, video: Path) -> None:
        self.runtime = runtime
        self.video = video
        self.app = runtime.app
        self.console = ConsoleChat(out=io.StringIO(), chat_ref=CHAT)

    async def say(self, text: str, *, user: str = "olga") -> Reply:
        return await self._handle(Incoming(CHAT, f"console:{user}", user, text=text))

    async def press(self, verb: Verb, draft_id: int, *, user: str = "olga") -> Reply:
        button = encode(verb, draft_id)
        return await self._handle(Incoming(CHAT, f"console:{user}", user, button=button))

    async def _handle(self, incoming: Incoming) -> Reply:
        replies = await handle(self.app, incoming)
        assert len(replies) == 1
        await self.console.render(CHAT, replies[0])
        return replies[0]

    async def run_due_jobs(self, count: int) -> None:
        """Run the next `count` jobs as they come due (later ones stay queued), then deliver."""
        worker = jobs_worker(self.runtime, burst=True, poll_delay=0.05, max_burst_jobs=count)
        try:
            await worker.run_check()
        finally:
            await worker.close()
        chats = chat_worker(self.runtime, {"console": self.console}, burst=True, poll_delay=0)
        try:
            await chats.run_check()
        finally:
            await chats.close()

    async def draft(self, *, requested_by: str = "olga") -> int:
        """A draft with one finished version for TikTok and YouTube."""
        folder = self.app.drafts_dir / "stand-in"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.video, folder / "video.mp4")
        (folder / "thumbnail.png").write_bytes(b"\x89PNG\r\n\x1a\n")
        metadata = [
            {"platform": p, "title": "Cold brew", "caption": "Try it", "hashtags": ["#coffee"]}
            for p in ("tiktok", "youtube")
        ]
        async with self.app.sessions.begin() as session:
            member = (
                await session.execute(select(Member).where(Member.display_name == requested_by))
            ).scalar_one()
            draft = Draft(
                workspace_id=member.workspace_id,
                chat_ref=CHAT,
                requested_by=member.id,
                request_text="a short about cold brew",
                topic="cold brew",
                platforms=["tiktok", "youtube"],
                duration_s=10,
                tone="calm",
                state=DraftState.READY,
                current_version=1,
            )
            session.add(draft)
            await session.flush()
            session.add(
                DraftVersion(
                    draft_id=draft.id,
                    number=1,
                    script={},
                    metadata_json=metadata,
                    words=[],
                    audio_path=str(folder / "voice.wav"),
                    video_path=str(folder / "video.mp4"),
                    thumbnail_path=str(folder / "thumbnail.png"),
                    duration_s=10.0,
                )
            )
        return draft.id

    async def get(self, draft_id: int) -> Draft:
        async with self.app.sessions() as session:
            draft = await session.get(Draft, draft_id)
        assert draft is not None
        return draft

    async def publications(self) -> int:
        manifests = list((self.app.media_dir / "outbox").glob("*/*/manifest.json"))
        return len(manifests)

    async def wake_score_ms(self, draft_id: int, at: datetime) -> float | None:
        """The score of the draft's wake-up for `at` in arq's queue (its due time in ms)."""
        score: float | None = await self.app.queue.zscore(JOBS_QUEUE, wake_job_id(draft_id, at))
        return score

    def results(self) -> list[str]:
        return [r.text for r in self.console.replies if r.text.startswith("📣")]


@pytest.fixture
async def chat(runtime: Runtime, small_video: Path) -> Chat:
    """A workspace in Europe/Berlin whose owner is olga."""
    team = Chat(runtime, small_video)
    await team.say("/start")
    async with runtime.app.sessions.begin() as session:
        await session.execute(update(Workspace).values(timezone=BERLIN))
    return team


def ctx(chat: Chat, **extra: Any) -> dict[str, Any]:
    """What arq hands a job function."""
    return {"app": chat.app, "job_try": 1, **extra}


def tomorrow_at(hour: int) -> tuple[datetime, datetime]:
    """Tomorrow at `hour` in Berlin, computed now (two answers if midnight passes meanwhile)."""
    zone = ZoneInfo(BERLIN)
    day = datetime.now(zone).date() + timedelta(days=1)
    return (
        datetime.combine(day, datetime.min.time(), zone).replace(hour=hour),
        datetime.combine(day + timedelta(days=1), datetime.min.time(), zone).replace(hour=hour),
    )


async def test_a_scheduled_approval_waits_for_its_time(chat: Chat) -> None:
    draft_id = await chat.draft()
    reply = await chat.say(f"/schedule {draft_id} tomorrow 9am")
    assert "once it is approved" in reply.text and "09:00 Europe/Berlin" in reply.text
    draft = await chat.get(draft_id)
    assert draft.state == "ready" and draft.scheduled_at in tomorrow_at(9)
    at = draft.scheduled_at
    assert at is not None

    approved = await chat.press(Verb.APPROVE, draft_id)
    assert "Scheduled for" in approved.text and "09:00 Europe/Berlin" in approved.text
    assert approved.settles
    draft = await chat.get(draft_id)
    assert (draft.state, draft.scheduled_at) == ("scheduled", at)
    # The queue holds a wake-up deferred to that time (arq's score is the time in ms) and
    # no immediate publish job; nothing is published yet.
    assert await chat.wake_score_ms(draft_id, at) == at.timestamp() * 1000
    assert not await chat.app.queue.exists(f"arq:job:publish:{draft_id}")
    assert await chat.publications() == 0

    listing = await chat.say("/schedule")
    assert f"#{draft_id} " in listing.text and "09:00" in listing.text
    assert "cold brew" in listing.text and "tiktok, youtube" in listing.text


async def test_a_moved_schedule_publishes_once_at_the_new_time(chat: Chat) -> None:
    draft_id = await chat.draft()
    await chat.say(f"/schedule {draft_id} tomorrow 9am")
    await chat.press(Verb.APPROVE, draft_id)
    first = (await chat.get(draft_id)).scheduled_at
    assert first is not None

    moved = await chat.say(f"/schedule {draft_id} in 2 seconds")
    assert "moved to" in moved.text
    draft = await chat.get(draft_id)
    assert draft.state == "scheduled" and draft.scheduled_at is not None
    new = draft.scheduled_at
    assert await chat.wake_score_ms(draft_id, new) == new.timestamp() * 1000

    await chat.run_due_jobs(1)  # the worker waits for the new wake-up, not the old one
    draft = await chat.get(draft_id)
    assert draft.state == "published"
    assert await chat.publications() == 2
    assert len(chat.results()) == 1 and "published" in chat.results()[0]

    # The first wake-up is still queued for tomorrow; when it fires it finds nothing to do.
    assert await chat.wake_score_ms(draft_id, first) is not None
    outcome = await publish_scheduled(ctx(chat), draft_id, first.isoformat())
    assert "nothing to do" in outcome
    assert await chat.publications() == 2
    assert await reconcile_schedules(ctx(chat)) == "0 re-queued"


async def test_a_schedule_survives_a_redis_flush(chat: Chat) -> None:
    draft_id = await chat.draft()
    await chat.say(f"/schedule {draft_id} tomorrow 18:00")
    await chat.press(Verb.APPROVE, draft_id)
    assert await reconcile_schedules(ctx(chat)) == "0 re-queued"  # not due yet

    await chat.app.queue.flushdb()  # Redis restarted empty
    past = utcnow().replace(microsecond=0) - timedelta(minutes=1)
    async with chat.app.sessions.begin() as session:  # and meanwhile its time came
        await session.execute(update(Draft).values(scheduled_at=past))

    assert await reconcile_schedules(ctx(chat)) == "1 re-queued"
    assert await reconcile_schedules(ctx(chat)) == "0 re-queued"  # already queued: not doubled
    await run_jobs(chat.runtime, chat.console)
    assert (await chat.get(draft_id)).state == "published"
    assert await chat.publications() == 2 and len(chat.results()) == 1

    assert await reconcile_schedules(ctx(chat)) == "0 re-queued"
    await run_jobs(chat.runtime, chat.console)
    assert await chat.publications() == 2 and len(chat.results()) == 1


async def test_an_approved_draft_whose_job_was_lost_is_published(chat: Chat) -> None:
    draft_id = await chat.draft()
    await chat.press(Verb.APPROVE, draft_id)
    await chat.app.queue.flushdb()
    assert await reconcile_schedules(ctx(chat)) == "1 re-queued"
    await run_jobs(chat.runtime, chat.console)
    assert (await chat.get(draft_id)).state == "published"
    assert await chat.publications() == 2


async def test_cancel_sends_it_back_for_review_and_nothing_publishes(chat: Chat) -> None:
    draft_id = await chat.draft()
    await chat.say(f"/schedule {draft_id} tomorrow 9am")
    await chat.press(Verb.APPROVE, draft_id)
    at = (await chat.get(draft_id)).scheduled_at
    assert at is not None

    cancelled = await chat.say(f"/schedule cancel {draft_id}")
    assert "no longer scheduled" in cancelled.text and "approval was withdrawn" in cancelled.text
    assert encode(Verb.APPROVE, draft_id) in {b.id for b in cancelled.buttons}
    draft = await chat.get(draft_id)
    assert (draft.state, draft.scheduled_at) == ("ready", None)
    async with chat.app.sessions() as session:
        approvals = (await session.execute(select(func.count()).select_from(Approval))).scalar()
    assert approvals == 0
    assert "Nothing is scheduled" in (await chat.say("/schedule")).text

    # The old wake-up and the reconciler leave it alone.
    assert "nothing to do" in await publish_scheduled(ctx(chat), draft_id, at.isoformat())
    assert await reconcile_schedules(ctx(chat)) == "0 re-queued"
    assert await chat.publications() == 0 and (await chat.get(draft_id)).state == "ready"
    assert "isn't scheduled" in (await chat.say(f"/schedule {draft_id} cancel")).text

    # Approving it again publishes it now.
    assert "Publishing to" in (await chat.press(Verb.APPROVE, draft_id)).text
    await chat.run_due_jobs(1)
    assert (await chat.get(draft_id)).state == "published"
    assert await chat.publications() == 2


async def test_a_time_set_before_approval_can_be_cleared(chat: Chat) -> None:
    draft_id = await chat.draft()
    await chat.say(f"/schedule {draft_id} tomorrow 9am")
    reply = await chat.say(f"/schedule {draft_id} off")
    assert "publishes right away" in reply.text
    assert (await chat.get(draft_id)).scheduled_at is None
    assert "Publishing to" in (await chat.press(Verb.APPROVE, draft_id)).text


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (DraftState.PUBLISHING, "being published right now"),
        (DraftState.PUBLISHED, "already published"),
        (DraftState.APPROVED, "being published now"),
    ],
)
async def test_too_late_to_move_or_cancel(chat: Chat, state: DraftState, expected: str) -> None:
    draft_id = await chat.draft()
    later = utcnow().replace(microsecond=0) + timedelta(hours=3)
    async with chat.app.sessions.begin() as session:
        await session.execute(update(Draft).values(state=state, scheduled_at=later))
    for attempt in (
        chat.say(f"/schedule cancel {draft_id}"),
        chat.say(f"/schedule {draft_id} tomorrow 10:00"),
        chat.press(Verb.AT_TOMORROW_MORNING, draft_id),
        chat.press(Verb.SCHEDULE, draft_id),
    ):
        reply = await attempt
        assert reply.alert and expected in reply.text, reply.text
    draft = await chat.get(draft_id)
    assert (draft.state, draft.scheduled_at) == (state, later)
    assert await chat.app.queue.zcard(JOBS_QUEUE) == 0


async def test_only_the_requester_or_an_approver_may_schedule(chat: Chat) -> None:
    await chat.say("hello", user="cris")  # joins as a creator
    olgas = await chat.draft()
    refused = await chat.say(f"/schedule {olgas} tomorrow 9am", user="cris")
    assert refused.alert and "can't schedule someone else's draft" in refused.text
    assert "can't schedule" in (await chat.press(Verb.SCHEDULE, olgas, user="cris")).text
    assert "can't" in (await chat.press(Verb.AT_TOMORROW_MORNING, olgas, user="cris")).text
    assert (await chat.get(olgas)).scheduled_at is None

    # Cris may propose a time for their own draft; once approved, only an approver moves it.
    cris_own = await chat.draft(requested_by="cris")
    proposed = await chat.say(f"/schedule {cris_own} tomorrow 9am", user="cris")
    assert "will publish" in proposed.text
    await chat.press(Verb.APPROVE, cris_own)
    moved = await chat.say(f"/schedule {cris_own} tomorrow 10am", user="cris")
    assert moved.alert and "can't move an approved draft" in moved.text
    assert "moved to" in (await chat.say(f"/schedule {cris_own} tomorrow 10am")).text


async def test_the_schedule_button_offers_presets(chat: Chat) -> None:
    draft_id = await chat.draft()
    options = await chat.press(Verb.SCHEDULE, draft_id)
    ids = {b.id for b in options.buttons}
    assert {
        encode(Verb.AT_HOUR, draft_id),
        encode(Verb.AT_TOMORROW_MORNING, draft_id),
        encode(Verb.AT_TOMORROW_EVENING, draft_id),
    } <= ids
    assert f"/schedule {draft_id} <when>" in options.text and BERLIN in options.text
    assert encode(Verb.UNSCHEDULE, draft_id) not in ids

    pressed = await chat.press(Verb.AT_TOMORROW_MORNING, draft_id)
    assert "will publish" in pressed.text and "09:00 Europe/Berlin" in pressed.text
    assert (await chat.get(draft_id)).scheduled_at in tomorrow_at(9)

    again = await chat.press(Verb.SCHEDULE, draft_id)
    assert "Now set for" in again.text
    assert encode(Verb.UNSCHEDULE, draft_id) in {b.id for b in again.buttons}
    await chat.press(Verb.UNSCHEDULE, draft_id)
    assert (await chat.get(draft_id)).scheduled_at is None


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("{id} banana", "couldn't read “banana” as a time. Try “tomorrow 9am”"),
        ("{id} yesterday 9am", "has already passed"),
        ("tomorrow 9am", "is not a draft number"),
        ("cancel", "Use /schedule <draft> <when>"),
        ("999 tomorrow 9am", "can't find draft #999"),
    ],
)
async def test_bad_schedule_commands_change_nothing(chat: Chat, args: str, expected: str) -> None:
    draft_id = await chat.draft()
    reply = await chat.say(f"/schedule {args.format(id=draft_id)}")
    assert reply.alert and expected in reply.text, reply.text
    assert (await chat.get(draft_id)).scheduled_at is None


async def test_owners_set_the_time_zone(chat: Chat) -> None:
    assert "read and shown in Europe/Berlin" in (await chat.say("/schedule zone")).text
    await chat.say("hello", user="cris")
    refused = await chat.say("/schedule zone UTC", user="cris")
    assert refused.alert and "Only an owner" in refused.text
    unknown = await chat.say("/schedule zone Mars/Olympus")
    assert unknown.alert and "not a time zone I know" in unknown.text

    assert (
        "now read and shown in America/New_York"
        in (await chat.say("/schedule zone america/new_york")).text
    )
    draft_id = await chat.draft()
    reply = await chat.say(f"/schedule {draft_id} tomorrow 9am")
    assert "09:00 America/New_York" in reply.text
    at = (await chat.get(draft_id)).scheduled_at
    assert at is not None and at.astimezone(ZoneInfo("America/New_York")).hour == 9
