"""A campaign's cadence: weekdays and wall-clock times in the workspace's zone, and its slots.

"every mon,thu 9:00", "every day 18:30", "every weekday 8:00", "every weekend 10:00,16:00".
A *slot* is one planned moment: a listed time on a listed weekday, converted to UTC with the
zone's rules of that date (as `services.digest_schedule` does for digests), so a 09:00 slot
stays at 09:00 local across a daylight-saving change. A time that does not exist that day
(inside the spring gap) falls at the same distance past the gap (02:30 becomes 03:30); a time
that happens twice (in the autumn overlap) is its first occurrence only, so it runs once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from services.digest_schedule import WEEKDAYS
from services.scheduling import zone_of

FORMS = "“every mon,thu 9:00”, “every day 18:30” or “every weekday 8:00”"
MAX_TIMES = 6  # a day; more is a flood, not a series
_SHORT = tuple(name[:3] for name in WEEKDAYS)
_GROUPS = {
    **dict.fromkeys(("day", "days", "daily", "everyday"), tuple(range(7))),
    **dict.fromkeys(("weekday", "weekdays", "workday", "workdays"), tuple(range(5))),
    **dict.fromkeys(("weekend", "weekends"), (5, 6)),
}
_CLOCK = re.compile(r"(\d{1,2})(?:[:.](\d{2}))?\s*([ap])?\.?(?:m\.?)?", re.IGNORECASE)
_SEPARATORS = re.compile(r"\s*(?:,|\band\b|&|\s)\s*", re.IGNORECASE)


class CadenceError(ValueError):
    """A cadence that cannot be read; the message shows the forms that work."""


@dataclass(frozen=True)
class Cadence:
    """Local times (sorted) on weekdays (0 is Monday, sorted)."""

    weekdays: tuple[int, ...]
    times: tuple[time, ...]

    @classmethod
    def stored(cls, weekdays: Sequence[int], times: Sequence[str]) -> Cadence:
        """The cadence of a campaign's columns (`weekdays`, `times` as "HH:MM")."""
        return cls(
            tuple(sorted(set(weekdays))), tuple(sorted({time.fromisoformat(t) for t in times}))
        )

    @property
    def clocks(self) -> list[str]:
        """The times as stored: ["09:00", "18:30"]."""
        return [f"{t:%H:%M}" for t in self.times]

    def describe(self) -> str:
        """The canonical form: “every mon,thu 09:00”, “every day 18:30”, “every weekday 08:00”."""
        days = {tuple(range(7)): "day", tuple(range(5)): "weekday", (5, 6): "weekend"}.get(
            self.weekdays
        ) or ",".join(_SHORT[d] for d in self.weekdays)
        return f"every {days} {','.join(self.clocks)}"

    def slots_on(self, day: date, timezone: str) -> list[datetime]:
        """The slots of one local date, in UTC, earliest first (none if it is not a listed day)."""
        if day.weekday() not in self.weekdays:
            return []
        zone = zone_of(timezone)
        # fold=0: a time in the spring gap is read with the offset before it (so it lands
        # after the gap); a time in the autumn overlap is its first occurrence.
        found = {datetime.combine(day, at, tzinfo=zone).astimezone(UTC) for at in self.times}
        return sorted(found)


def parse_cadence(text: str) -> Cadence:
    """Read “every <days> <times>”; raises `CadenceError` showing the forms that work."""
    said = " ".join(text.split())
    shown = said if len(said) <= 60 else said[:59] + "…"
    words = said.lower().split(" ")
    if not words or words[0] != "every" or len(words) < 2:
        raise CadenceError(f"I couldn't read “{shown}” as a cadence: use {FORMS}.")
    first_time = next((i for i, w in enumerate(words) if w[:1].isdigit()), None)
    if first_time is None or first_time < 2:
        raise CadenceError(f"“{shown}” has no time of day: use {FORMS}.")
    day_words = words[1:first_time]
    if day_words[-1:] == ["at"]:
        day_words = day_words[:-1]
    weekdays = _weekdays(" ".join(day_words))
    times = [_clock(part) for part in _SEPARATORS.split(" ".join(words[first_time:])) if part]
    if len(set(times)) > MAX_TIMES:
        raise CadenceError(
            f"That is {len(set(times))} times a day; a campaign runs at most {MAX_TIMES}."
        )
    return Cadence(tuple(sorted(set(weekdays))), tuple(sorted(set(times))))


def _weekdays(text: str) -> list[int]:
    found: list[int] = []
    for part in _SEPARATORS.split(text):
        if not part:
            continue
        if part in _GROUPS:
            found += _GROUPS[part]
            continue
        if "-" in part:  # a range: mon-fri
            start, _, end = part.partition("-")
            first, last = _weekday(start), _weekday(end)
            found += [(first + i) % 7 for i in range((last - first) % 7 + 1)]
            continue
        found.append(_weekday(part))
    if not found:
        raise CadenceError(f"Name the days: day, weekday, weekend or mon,tue,… Use {FORMS}.")
    return found


def _weekday(word: str) -> int:
    name = word.removesuffix("s") if len(word) > 3 else word
    days = [i for i, full in enumerate(WEEKDAYS) if len(name) >= 3 and full.startswith(name)]
    if len(days) != 1:
        raise CadenceError(
            f"“{word[:20]}” is not a day: use mon, tue, wed, thu, fri, sat, sun, day, weekday "
            f"or weekend, e.g. {FORMS}."
        )
    return days[0]


def _clock(text: str) -> time:
    match = _CLOCK.fullmatch(text)
    problem = f"“{text[:20]}” is not a time of day: use 24-hour H:MM, e.g. 9:00 or 18:30."
    if match is None:
        raise CadenceError(problem)
    hour, minute = int(match[1]), int(match[2] or 0)
    if match[3]:
        if not 1 <= hour <= 12:
            raise CadenceError(problem)
        hour = hour % 12 + (12 if match[3].lower() == "p" else 0)
    elif match[2] is None:
        raise CadenceError(problem)  # a bare "9" might be a count; say it as 9:00
    if hour > 23 or minute > 59:
        raise CadenceError(problem)
    return time(hour, minute)


def latest_slot(cadence: Cadence, timezone: str, now: datetime) -> datetime:
    """The cadence's last slot at or before `now` (UTC)."""
    today = now.astimezone(zone_of(timezone)).date()
    for back in range(8):
        earlier = [s for s in cadence.slots_on(today - timedelta(days=back), timezone) if s <= now]
        if earlier:
            return earlier[-1]
    raise CadenceError("a cadence needs at least one day and one time")


def next_slot(cadence: Cadence, timezone: str, now: datetime) -> datetime:
    """The cadence's first slot after `now` (UTC)."""
    today = now.astimezone(zone_of(timezone)).date()
    for ahead in range(8):
        later = [s for s in cadence.slots_on(today + timedelta(days=ahead), timezone) if s > now]
        if later:
            return later[0]
    raise CadenceError("a cadence needs at least one day and one time")


def count_slots(cadence: Cadence, timezone: str, after: datetime, until: datetime) -> int:
    """How many slots fall in (after, until]."""
    zone = zone_of(timezone)
    day, last = after.astimezone(zone).date(), until.astimezone(zone).date()
    count = 0
    while day <= last:
        count += sum(after < s <= until for s in cadence.slots_on(day, timezone))
        day += timedelta(days=1)
    return count
