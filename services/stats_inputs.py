"""What the stats are computed from: posts, snapshots, usage, periods, and posts' timelines.

`services.stats` says what is made of them.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Figures:
    """A post's counters (or a sum of them); watch time only where the platform reports it."""

    views: int = 0
    likes: int = 0
    comments: int = 0
    shares: int = 0
    watch_time_s: float | None = None

    def __add__(self, other: Figures) -> Figures:
        return Figures(
            self.views + other.views,
            self.likes + other.likes,
            self.comments + other.comments,
            self.shares + other.shares,
            _add_optional(self.watch_time_s, other.watch_time_s),
        )

    def __sub__(self, other: Figures) -> Figures:
        watch = self.watch_time_s
        if watch is not None and other.watch_time_s is not None:
            watch -= other.watch_time_s
        return Figures(
            self.views - other.views,
            self.likes - other.likes,
            self.comments - other.comments,
            self.shares - other.shares,
            watch,
        )

    @property
    def interactions(self) -> int:
        """Likes, comments and shares together."""
        return self.likes + self.comments + self.shares

    @property
    def engagement_rate(self) -> float | None:
        """(likes + comments + shares) / views; None without views."""
        return self.interactions / self.views if self.views > 0 else None


def _add_optional(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else a + b


def total(figures: Iterable[Figures]) -> Figures:
    """The sum of some figures."""
    result = Figures()
    for item in figures:
        result += item
    return result


@dataclass(frozen=True)
class Post:
    """One published post: which draft, where, and when it went out."""

    publication_id: int
    draft_id: int
    platform: str
    title: str
    published_at: datetime
    url: str | None = None


@dataclass(frozen=True)
class Snapshot:
    """A post's running totals as a platform reported them at one moment."""

    publication_id: int
    taken_at: datetime
    figures: Figures


@dataclass(frozen=True)
class UsageLine:
    """One usage record: e.g. 300 `voice_chars` for $0.09."""

    kind: str
    quantity: float
    cost_usd: float
    created_at: datetime


@dataclass(frozen=True)
class Period:
    """The moments after `since` up to and including `until` (aware datetimes)."""

    since: datetime
    until: datetime

    @classmethod
    def last(cls, days: int, until: datetime) -> Period:
        """The `days` days up to `until`."""
        return cls(until - timedelta(days=days), until)

    @property
    def days(self) -> int:
        """The length in whole days (at least one)."""
        return max(1, round((self.until - self.since) / timedelta(days=1)))

    def previous(self) -> Period:
        """The period of equal length just before this one."""
        return Period(self.since - (self.until - self.since), self.since)


class Timeline:
    """Each post's snapshots in time order, to read its figures at any moment."""

    def __init__(self, snapshots: Iterable[Snapshot]) -> None:
        grouped: dict[int, list[Snapshot]] = defaultdict(list)
        for snap in snapshots:
            grouped[snap.publication_id].append(snap)
        self._snaps = {k: sorted(v, key=lambda s: s.taken_at) for k, v in grouped.items()}
        self._times = {k: [s.taken_at for s in v] for k, v in self._snaps.items()}

    def at(self, publication_id: int, moment: datetime) -> Figures | None:
        """The figures of the latest snapshot at or before `moment`, if any."""
        times = self._times.get(publication_id, [])
        index = bisect.bisect_right(times, moment)
        return self._snaps[publication_id][index - 1].figures if index else None

    def first_after(self, publication_id: int, moment: datetime) -> Figures | None:
        """The figures of the first snapshot after `moment`, if any."""
        times = self._times.get(publication_id, [])
        index = bisect.bisect_right(times, moment)
        return self._snaps[publication_id][index].figures if index < len(times) else None

    def gain(self, publication_id: int, since: datetime, until: datetime) -> Figures | None:
        """What the post gained over (since, until]; None if it had no figures by `until`."""
        end = self.at(publication_id, until)
        if end is None:
            return None
        return end - (self.at(publication_id, since) or Figures())

    def latest(self) -> datetime | None:
        """When the most recent snapshot was taken."""
        return max((t[-1] for t in self._times.values() if t), default=None)
