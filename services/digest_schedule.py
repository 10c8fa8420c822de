"""When a chat gets its digest: daily or weekly at a wall-clock time in the workspace's zone.

A schedule's *slots* are the moments it names (every day at 09:00 Europe/Berlin, or every
Monday at 09:00), converted to UTC with the zone's rules on that date, so daylight saving
moves them with the clocks. The periodic job posts a chat's latest slot that has come if it
has not been posted yet: `ChatBinding.digest_last_slot` records the last slot claimed, and a
claim is a compare-and-set on it, so two workers (or a job re-run after a restart) post each
slot once. Setting a schedule marks its latest slot as done: the first digest comes at the
next one. A worker that was down posts only the latest slot it missed, once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.models import ChatBinding
from services.scheduling import zone_of

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
EXAMPLES = "daily 09:00, weekly mon 09:00 or off"
_CLOCK = re.compile(r"(\d{1,2})(?::(\d{2}))?\s*([ap]\.?m\.?)?", re.IGNORECASE)


class Cadence(StrEnum):
    """How often a chat gets its digest."""

    DAILY = "daily"
    WEEKLY = "weekly"


class DigestScheduleError(ValueError):
    """A schedule that cannot be read; the message says what works."""


@dataclass(frozen=True)
class DigestSchedule:
    """Daily at `at`, or weekly on `weekday` (0 is Monday) at `at`, in the workspace's zone."""

    cadence: Cadence
    at: time
    weekday: int | None = None

    @property
    def days(self) -> int:
        """How many days each digest covers."""
        return 7 if self.cadence is Cadence.WEEKLY else 1

    @property
    def clock(self) -> str:
        """The time of day as stored and shown: "09:00"."""
        return f"{self.at:%H:%M}"

    def describe(self) -> str:
        """“daily at 09:00” or “weekly on Monday at 09:00”."""
        if self.cadence is Cadence.WEEKLY and self.weekday is not None:
            return f"weekly on {WEEKDAYS[self.weekday].title()} at {self.clock}"
        return f"daily at {self.clock}"

    @classmethod
    def stored(cls, binding: ChatBinding) -> DigestSchedule | None:
        """A chat's schedule from its columns; None without one (or with a broken one)."""
        try:
            cadence = Cadence(binding.digest_cadence or "")
            at = time.fromisoformat(binding.digest_time or "")
        except ValueError:
            return None
        weekday = binding.digest_weekday
        if cadence is Cadence.WEEKLY and (weekday is None or not 0 <= weekday <= 6):
            return None
        return cls(cadence, at, weekday if cadence is Cadence.WEEKLY else None)


def parse_schedule(words: list[str]) -> DigestSchedule:
    """Read ["daily", "09:00"] or ["weekly", "mon", "9am"]; `DigestScheduleError` otherwise."""
    said = " ".join(words)[:60]
    lowered = [w.lower() for w in words]
    if lowered[:1] == ["daily"] and len(lowered) == 2:
        return DigestSchedule(Cadence.DAILY, _clock(lowered[1], said))
    if lowered[:1] == ["weekly"] and len(lowered) == 3:
        days = [
            i
            for i, name in enumerate(WEEKDAYS)
            if len(lowered[1]) >= 3 and name.startswith(lowered[1])
        ]
        if len(days) != 1:
            raise DigestScheduleError(
                f"“{lowered[1][:20]}” is not a weekday: use mon, tue, wed, thu, fri, sat or sun."
            )
        return DigestSchedule(Cadence.WEEKLY, _clock(lowered[2], said), days[0])
    raise DigestScheduleError(f"I couldn't read “{said}” as a schedule: use {EXAMPLES}.")


def _clock(text: str, said: str) -> time:
    match = _CLOCK.fullmatch(text)
    if match is None:
        raise DigestScheduleError(
            f"“{text[:20]}” is not a time of day: use 24-hour HH:MM, e.g. 09:00."
        )
    hour, minute = int(match[1]), int(match[2] or 0)
    if match[3]:
        if not 1 <= hour <= 12:
            raise DigestScheduleError(f"“{text[:20]}” is not a time of day: e.g. 9am or 18:30.")
        hour = hour % 12 + (12 if match[3].lower().startswith("p") else 0)
    if hour > 23 or minute > 59 or (match[2] is None and not match[3]):
        raise DigestScheduleError(
            f"“{text[:20]}” is not a time of day: use 24-hour HH:MM, e.g. 09:00."
        )
    return time(hour, minute)


def _slot_on(day: date, schedule: DigestSchedule, timezone: str) -> datetime | None:
    if schedule.weekday is not None and day.weekday() != schedule.weekday:
        return None
    return datetime.combine(day, schedule.at, tzinfo=zone_of(timezone)).astimezone(UTC)


def latest_slot(schedule: DigestSchedule, timezone: str, now: datetime) -> datetime:
    """The schedule's last slot at or before `now` (UTC)."""
    today = now.astimezone(zone_of(timezone)).date()
    for back in range(9):
        slot = _slot_on(today - timedelta(days=back), schedule, timezone)
        if slot is not None and slot <= now:
            return slot
    raise AssertionError("a weekly slot is at most eight local days back")


def next_slot(schedule: DigestSchedule, timezone: str, now: datetime) -> datetime:
    """The schedule's first slot after `now` (UTC)."""
    today = now.astimezone(zone_of(timezone)).date()
    for ahead in range(9):
        slot = _slot_on(today + timedelta(days=ahead), schedule, timezone)
        if slot is not None and slot > now:
            return slot
    raise AssertionError("a weekly slot is at most eight local days ahead")


async def set_schedule(
    session: AsyncSession,
    binding: ChatBinding,
    schedule: DigestSchedule | None,
    *,
    timezone: str,
    now: datetime,
) -> None:
    """Give a chat a schedule (its latest slot counts as done), or take it away."""
    binding.digest_cadence = schedule.cadence.value if schedule else None
    binding.digest_weekday = schedule.weekday if schedule else None
    binding.digest_time = schedule.clock if schedule else None
    binding.digest_last_slot = latest_slot(schedule, timezone, now) if schedule else None
    await session.flush()


async def claim_slot(
    session: AsyncSession, binding_id: int, schedule: DigestSchedule, slot: datetime
) -> bool:
    """Mark `slot` as posted if the chat still has this schedule and no later slot was claimed."""
    weekday = ChatBinding.digest_weekday
    result = await session.execute(
        update(ChatBinding)
        .where(
            ChatBinding.id == binding_id,
            ChatBinding.digest_cadence == schedule.cadence.value,
            ChatBinding.digest_time == schedule.clock,
            weekday.is_(None) if schedule.weekday is None else weekday == schedule.weekday,
            or_(ChatBinding.digest_last_slot.is_(None), ChatBinding.digest_last_slot < slot),
        )
        .values(digest_last_slot=slot)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def release_slot(
    session: AsyncSession, binding_id: int, slot: datetime, previous: datetime | None
) -> None:
    """Undo a claim whose digest could not be made, so the next run tries the slot again."""
    await session.execute(
        update(ChatBinding)
        .where(ChatBinding.id == binding_id, ChatBinding.digest_last_slot == slot)
        .values(digest_last_slot=previous)
        .execution_options(synchronize_session=False)
    )
