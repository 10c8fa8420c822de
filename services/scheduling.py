"""Publication times: reading them, presets, and keeping drafts' schedules in the database.

A schedule lives in `Draft.scheduled_at` (UTC); the job queue only wakes it up. The rules:

* **Before approval** (requested, generating, ready) a time can be set, moved or cleared
  freely; the draft's state does not change. When the last approval needed comes in, the
  draft goes `approved → scheduled` in the same transaction if its time is still ahead, and
  a wake-up job is queued for that time; if the time has passed meanwhile, it publishes now.
* **Scheduled** (approved, waiting for its time): the time can be moved, which keeps the
  approval. Every wake-up job carries the time it was queued for and its id includes it, so a
  move queues a new job and the old one, when it fires, finds a different time and does
  nothing. Cancelling sends the draft back to `ready` for review with its approvals withdrawn:
  nothing publishes until it is approved again (then right away, or at a new time set first).
* **Approved without a time** is being published right now (its job is queued), so it cannot
  be scheduled any more; neither can anything from `publishing` on.
* A wake-up claims the draft (`scheduled → publishing`) only if it is still scheduled for
  exactly its time and that time has come; then the publish job runs. The reconciler
  re-queues, every minute, the wake-up of each scheduled draft whose time has come and the
  publish job of each approved draft, under the same job ids: a queue that lost its jobs
  (Redis restarted or flushed) catches up, and a queue that did not finds the job already
  there (arq refuses a second job with one id), so nothing is published twice.

Times are read and shown in the workspace's IANA time zone.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from arq import ArqRedis
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.drafts import transition
from services.models import Approval, Draft, DraftState

log = structlog.get_logger(__name__)

PUBLISH_AT_JOB = "publish_scheduled"
MAX_AHEAD = timedelta(days=366)
UPCOMING_LIMIT = 20
BEFORE_APPROVAL = (DraftState.REQUESTED, DraftState.GENERATING, DraftState.READY)

_CLOCK = re.compile(r"(?<![\d:.])(\d{1,2}):(\d{2})(?![\d:])\s*([ap])?\.?m?\b", re.IGNORECASE)
_DURATION = re.compile(
    r"in\s+(an?|half\s+an|\d+(?:[.,]\d+)?)\s*"
    r"(seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h)",
    re.IGNORECASE,
)
_BARE_TIME = re.compile(r"\d{1,2}(?::\d{2})?\s*(?:[ap]\.?m\.?)?", re.IGNORECASE)
_ISO_START = re.compile(r"\d{4}-\d{2}-\d{2}")
_MIDNIGHT_WORDS = re.compile(r"midnight|0?0:00|12\s*a\.?m", re.IGNORECASE)
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class ScheduleError(ValueError):
    """A time that cannot be used; the message says why and what works instead."""


@functools.lru_cache(maxsize=256)
def zone_of(name: str) -> ZoneInfo:
    """The workspace's time zone; UTC (logged once) if the stored name is not a zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("scheduling.bad_timezone", timezone=name)
        return ZoneInfo("UTC")


def known_zone(name: str) -> str | None:
    """The IANA name of a time zone ("europe/berlin" finds "Europe/Berlin"), or None."""
    name = name.strip()
    if name in zoneinfo.available_timezones():
        return name
    found = [z for z in zoneinfo.available_timezones() if z.lower() == name.lower()]
    return found[0] if found else None


def examples(tz: str, now: datetime) -> str:
    """What works, with an ISO example that is ahead of `now`."""
    day = now.astimezone(zone_of(tz)).date() + timedelta(days=7)
    return f"“tomorrow 9am”, “fri 18:30”, “in 2 hours” or “{day.isoformat()} 10:00”"


def format_when(at: datetime, tz: str, *, now: datetime | None = None, zone: bool = True) -> str:
    """A time for people, in the workspace's zone: "Fri 27 Nov 18:30 Europe/Berlin"."""
    tzinfo = zone_of(tz)
    local = at.astimezone(tzinfo)
    this_year = (now or datetime.now(UTC)).astimezone(tzinfo).year
    year = f" {local.year}" if local.year != this_year else ""
    text = f"{local:%a} {local.day} {local:%b}{year} {local:%H:%M}"
    return f"{text} {tzinfo.key}" if zone else text


def parse_when(text: str, tz: str, now: datetime) -> datetime:
    """Read "tomorrow 9am", "fri 18:30", "in 2 hours" or ISO 8601 in the zone `tz`; aware UTC.

    Raises `ScheduleError` for text that is not a time, a time that has passed, a date
    without a time of day, or a time more than a year ahead.
    """
    said = " ".join(text.split())
    shown = said if len(said) <= 60 else said[:59] + "…"
    if not said or said.isdigit():
        raise ScheduleError(f"I couldn't read “{shown}” as a time. Try {examples(tz, now)}.")
    zone = zone_of(tz)
    span = None if _ISO_START.match(said) else _parse_duration(said, now)
    parsed = span or (_parse_iso(said, zone) if _ISO_START.match(said) else None)
    if parsed is None:
        parsed = _parse_words(said, zone, now)
    if parsed is None:
        raise ScheduleError(f"I couldn't read “{shown}” as a time. Try {examples(tz, now)}.")
    midnight = (parsed.hour, parsed.minute, parsed.second) == (0, 0, 0)
    if span is None and midnight and not _MIDNIGHT_WORDS.search(said):
        # A date alone ("dec 25") comes back at 00:00: nobody means to post at midnight.
        day = format_when(parsed, tz, now=now, zone=False).rsplit(" ", 1)[0]
        raise ScheduleError(f"At what time on {day}? Add one, e.g. “{said} 10:00”.")
    at = parsed.astimezone(UTC).replace(microsecond=0)
    if at <= now:
        hint = f"“tomorrow {shown}”" if _BARE_TIME.fullmatch(said) else examples(tz, now)
        raise ScheduleError(
            f"“{shown}” is {format_when(at, tz, now=now)}, which has already passed. "
            f"Give a time ahead, e.g. {hint}."
        )
    if at > now + MAX_AHEAD:
        raise ScheduleError(
            f"“{shown}” is {format_when(at, tz, now=now)}, more than a year ahead; "
            "schedule within the next twelve months."
        )
    return at


def _parse_iso(text: str, zone: ZoneInfo) -> datetime | None:
    """ISO 8601; without an offset it is a wall time in the workspace's zone."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


def _parse_duration(text: str, now: datetime) -> datetime | None:
    """A span like “in 2 hours”, “in 90 min”, “in an hour”: real time, whatever the clocks do."""
    match = _DURATION.fullmatch(text)
    if match is None:
        return None
    amount = {"a": 1.0, "an": 1.0, "half an": 0.5}.get(match[1].lower())
    if amount is None:
        amount = float(match[1].replace(",", "."))
    unit = match[2].lower()
    seconds = 3600.0 if unit.startswith("h") else 1.0 if unit.startswith("s") else 60.0
    return now + timedelta(seconds=amount * seconds)


def _parse_words(text: str, zone: ZoneInfo, now: datetime) -> datetime | None:
    # dateparser takes about a second to import and warm up: only when someone schedules.
    import dateparser

    local_now = now.astimezone(zone)
    clock = _CLOCK.search(text)
    if clock is not None and (int(clock[1]) > 23 or int(clock[2]) > 59):
        return None
    parsed: datetime | None = dateparser.parse(
        text,
        languages=["en"],
        settings={
            "PREFER_DATES_FROM": "future",
            "TIMEZONE": zone.key,
            "RETURN_AS_TIMEZONE_AWARE": True,
            "RELATIVE_BASE": local_now.replace(tzinfo=None),
        },
    )
    if parsed is None:
        return None
    if clock is not None:
        hour = int(clock[1])
        if clock[3]:
            hour = hour % 12 + (12 if clock[3].lower() == "p" else 0)
        if (parsed.hour, parsed.minute) != (hour, int(clock[2])):
            return None  # dateparser dropped a time it could not use ("25:00", "9:75")
    if getattr(parsed.tzinfo, "zone", None) == zone.key:
        # A wall time in the workspace's zone: dateparser keeps the offset of RELATIVE_BASE
        # ("tomorrow 9am" across a daylight-saving change is an hour off), zoneinfo does not.
        parsed = parsed.replace(tzinfo=None).replace(tzinfo=zone)
    return _today_if_named(text, parsed, zone, local_now)


def _today_if_named(text: str, parsed: datetime, zone: ZoneInfo, local_now: datetime) -> datetime:
    """On a Thursday before 18:30, “thu 18:30” means today (dateparser picks next week)."""
    words = re.findall(r"[a-z]+", text.lower())
    today = _WEEKDAYS[local_now.weekday()]
    names_today = any(len(w) >= 3 and today.startswith(w) for w in words)
    local = parsed.astimezone(zone)
    if not names_today or "next" in words or local.date() != local_now.date() + timedelta(7):
        return parsed
    same_time_today = datetime.combine(local_now.date(), local.timetz().replace(tzinfo=None))
    candidate = same_time_today.replace(tzinfo=zone)
    return candidate if candidate > local_now else parsed


class Preset(StrEnum):
    """The times the Schedule button offers; each is computed when it is pressed."""

    IN_AN_HOUR = "hour"
    TODAY_EVENING = "eve"
    TOMORROW_MORNING = "tam"
    TOMORROW_EVENING = "tpm"
    MONDAY_MORNING = "mon"


PRESET_LABELS = {
    Preset.IN_AN_HOUR: "In 1 hour",
    Preset.TODAY_EVENING: "Today 18:00",
    Preset.TOMORROW_MORNING: "Tomorrow 09:00",
    Preset.TOMORROW_EVENING: "Tomorrow 18:00",
    Preset.MONDAY_MORNING: "Monday 09:00",
}


def _at(day: date, hour: int, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=zone).astimezone(UTC)


def preset_time(preset: Preset, tz: str, now: datetime) -> datetime:
    """When a preset falls if pressed at `now`; `ScheduleError` if it has passed today."""
    zone = zone_of(tz)
    today = now.astimezone(zone).date()
    if preset is Preset.IN_AN_HOUR:
        return (now + timedelta(hours=1, minutes=1)).replace(second=0, microsecond=0)
    if preset is Preset.TODAY_EVENING:
        at = _at(today, 18, zone)
        if at <= now:
            raise ScheduleError("18:00 today has passed; pick another time.")
        return at
    tomorrow = today + timedelta(days=1)
    if preset is Preset.TOMORROW_MORNING:
        return _at(tomorrow, 9, zone)
    if preset is Preset.TOMORROW_EVENING:
        return _at(tomorrow, 18, zone)
    return _at(today + timedelta(days=7 - today.weekday()), 9, zone)


def available_presets(tz: str, now: datetime) -> list[tuple[Preset, datetime]]:
    """The presets that are still ahead, each a different time (Sunday's "Monday" is tomorrow)."""
    found: list[tuple[Preset, datetime]] = []
    for preset in Preset:
        try:
            at = preset_time(preset, tz, now)
        except ScheduleError:
            continue
        if all(at != other for _, other in found):
            found.append((preset, at))
    return found


def wake_job_id(draft_id: int, at: datetime) -> str:
    """The wake-up's job id: one per draft and time, so a moved schedule gets a new job."""
    return f"publish:{draft_id}:{int(at.timestamp())}"


async def enqueue_wake(queue: ArqRedis, draft_id: int, at: datetime) -> bool:
    """Queue the wake-up for `at`; False if that job is already queued (or has just run)."""
    job = await queue.enqueue_job(
        PUBLISH_AT_JOB, draft_id, at.isoformat(), _job_id=wake_job_id(draft_id, at), _defer_until=at
    )
    return job is not None


async def set_time(
    session: AsyncSession, draft_id: int, at: datetime | None, *, expected: DraftState
) -> bool:
    """Set (or clear) a draft's time if it is still in `expected`; False if it moved on."""
    result = await session.execute(
        update(Draft)
        .where(Draft.id == draft_id, Draft.state == expected.value)
        .values(scheduled_at=at)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def hold_for_schedule(session: AsyncSession, draft_id: int, now: datetime) -> datetime | None:
    """Right after approval: `approved → scheduled` if the draft's time is ahead; that time."""
    at = (
        await session.execute(select(Draft.scheduled_at).where(Draft.id == draft_id))
    ).scalar_one_or_none()
    if at is None or at <= now:
        return None
    if not await transition(
        session, draft_id, expected=DraftState.APPROVED, to=DraftState.SCHEDULED
    ):
        return None
    return at


async def unschedule(session: AsyncSession, draft_id: int, version: int) -> bool:
    """`scheduled → ready` with no time and the version's approvals withdrawn; False if late."""
    if not await transition(
        session, draft_id, expected=DraftState.SCHEDULED, to=DraftState.READY, scheduled_at=None
    ):
        return False
    await session.execute(
        delete(Approval).where(
            Approval.draft_id == draft_id,
            Approval.version == version,
            Approval.decision == "approve",
        )
    )
    return True


class Claim(StrEnum):
    """What a wake-up found."""

    STARTED = "started"  # the draft is now publishing: run the publish job
    EARLY = "early"  # scheduled for this time, which has not come yet (clock skew)
    STALE = "stale"  # moved, cancelled, already published, or gone: nothing to do


class _Moved(Exception):
    """The draft's time changed between the read and the claim."""


async def claim_due(
    session: AsyncSession, draft_id: int, at: datetime, now: datetime, *, retry: bool = False
) -> Claim:
    """Move the draft to publishing if it is scheduled for exactly `at` and `at` has come.

    `retry` (a re-run of a wake-up that was interrupted) also resumes a draft that this same
    wake-up had already claimed.
    """
    row = (
        await session.execute(select(Draft.state, Draft.scheduled_at).where(Draft.id == draft_id))
    ).one_or_none()
    if row is None or row.scheduled_at != at:
        return Claim.STALE
    if row.state == DraftState.PUBLISHING and retry:
        return Claim.STARTED
    if row.state != DraftState.SCHEDULED:
        return Claim.STALE
    if at > now:
        return Claim.EARLY
    try:
        async with session.begin_nested():
            if not await transition(
                session, draft_id, expected=DraftState.SCHEDULED, to=DraftState.PUBLISHING
            ):
                return Claim.STALE
            # The row is ours now (locked until commit): check that nobody moved it meanwhile.
            current = (
                await session.execute(select(Draft.scheduled_at).where(Draft.id == draft_id))
            ).scalar_one()
            if current != at:
                raise _Moved
    except _Moved:
        return Claim.STALE
    return Claim.STARTED


async def upcoming(session: AsyncSession, workspace_id: int) -> list[Draft]:
    """A workspace's drafts with a time still to come (scheduled, or awaiting approval)."""
    states = [s.value for s in (*BEFORE_APPROVAL, DraftState.SCHEDULED)]
    query = (
        select(Draft)
        .where(
            Draft.workspace_id == workspace_id,
            Draft.scheduled_at.is_not(None),
            Draft.state.in_(states),
        )
        .order_by(Draft.scheduled_at, Draft.id)
        .limit(UPCOMING_LIMIT)
    )
    return list((await session.execute(query)).scalars().all())


async def due(session: AsyncSession, now: datetime) -> list[tuple[int, datetime]]:
    """Scheduled drafts (all workspaces) whose time has come: their ids and times."""
    rows = await session.execute(
        select(Draft.id, Draft.scheduled_at)
        .where(Draft.state == DraftState.SCHEDULED.value, Draft.scheduled_at <= now)
        .order_by(Draft.scheduled_at)
    )
    return [(draft_id, at) for draft_id, at in rows.all() if at is not None]


async def approved(session: AsyncSession) -> list[int]:
    """Drafts approved for publishing now (their publish job should be queued)."""
    rows = await session.execute(
        select(Draft.id).where(Draft.state == DraftState.APPROVED.value).order_by(Draft.id)
    )
    return list(rows.scalars().all())


STALLED_AFTER = timedelta(minutes=30)  # longer than a publish job's lease and retry waits


async def stalled_publishing(session: AsyncSession, before: datetime) -> list[int]:
    """Drafts still publishing whose last change is older than `before`."""
    rows = await session.scalars(
        select(Draft.id)
        .where(Draft.state == DraftState.PUBLISHING.value, Draft.updated_at < before)
        .order_by(Draft.id)
    )
    return list(rows.all())


STALLED_GENERATION = timedelta(minutes=20)  # longer than a render's timeout and a job lease


async def stalled_generation(session: AsyncSession, before: datetime) -> list[Draft]:
    """Drafts waiting for, or in, generation whose last change is older than `before`."""
    rows = await session.scalars(
        select(Draft)
        .where(
            Draft.state.in_([DraftState.REQUESTED.value, DraftState.GENERATING.value]),
            Draft.updated_at < before,
        )
        .order_by(Draft.id)
    )
    return list(rows.all())
