"""Analytics from metric snapshots and usage records: pure computations, no I/O.

Platforms report running totals, so a post's figures at a moment are those of its latest
snapshot taken at or before that moment, and a period's figures are differences:

* **Gains.** A post's gain over a period (since, until] is its figures at `until` minus its
  figures at `since`. With no snapshot at or before `since` (published in the period, or first
  collected in it) the baseline is zero: everything counted so far belongs to the period. A post
  with no snapshot by `until` has no figures and is left out. Gains are not clamped, so
  consecutive periods add up exactly (the days of a chart sum to the period's total); a
  platform's downward correction (spam views removed, an unlike) shows as a negative gain.
* **Engagement rate** is (likes + comments + shares) / views, over the same gains; none
  without views.
* **Change** compares with the period of equal length just before.
* **Top posts** rank the posts that gained views in the period by those views.
* **Best hours and weekdays** score each post published in the last 90 days (or the period, if
  longer) by its views at one week old (its last snapshot by then; the first one after if
  collection started later), grouped by the hour and weekday it went out in the workspace's
  time zone and ranked by average views per post.
* **Cost** adds up the usage records created in [since, until): model tokens, voice
  characters, and what they cost.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from services.scheduling import zone_of
from services.stats_inputs import Figures, Period, Post, Snapshot, Timeline, UsageLine, total

TOP_POSTS = 5
TIMING_LOOKBACK = timedelta(days=90)
TIMING_AGE = timedelta(days=7)
MIN_TIMING_POSTS = 3
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class PostResult:
    """A post and what it gained in the period."""

    post: Post
    gain: Figures


@dataclass(frozen=True)
class Change:
    """A figure now and in the previous period."""

    current: float
    previous: float

    @property
    def ratio(self) -> float | None:
        """(current - previous) / previous; None when there was nothing before."""
        return (self.current - self.previous) / self.previous if self.previous > 0 else None

    def describe(self) -> str:
        """“▲ 23%”, “▼ 5%”, “no change”, or “new” when there was nothing before."""
        ratio = self.ratio
        if ratio is None:
            return "new" if self.current > 0 else "no change"
        if round(ratio * 100) == 0:
            return "no change"
        return f"{'▲' if ratio > 0 else '▼'} {abs(ratio):.0%}"

    def versus(self, before: str) -> str:
        """“▲ 23% on the 7 days before”, “unchanged from …”, or “none …” if there was nothing."""
        said = self.describe()
        if said == "new":
            return f"none {before}"
        return f"unchanged from {before}" if said == "no change" else f"{said} on {before}"


@dataclass(frozen=True)
class TimeSlot:
    """An hour of the day or a weekday, with how its posts did."""

    key: int  # the hour (0 to 23) or the weekday (0 is Monday)
    label: str
    posts: int
    average_views: float


@dataclass(frozen=True)
class ScoredPost:
    """A post with its figures at one week old, as best times score it."""

    post: Post
    figures: Figures
    week_old: bool  # False: younger at the period's end, so its figures are those of today

    @property
    def views(self) -> int:
        """Its views at one week old (or so far)."""
        return self.figures.views


@dataclass(frozen=True)
class Timing:
    """When the team's posts did best, best first."""

    posts: int
    hours: tuple[TimeSlot, ...] = ()
    weekdays: tuple[TimeSlot, ...] = ()

    @property
    def enough(self) -> bool:
        """Whether there are enough posts to say anything."""
        return self.posts >= MIN_TIMING_POSTS


@dataclass(frozen=True)
class Cost:
    """What a period used, by kind (llm_input_tokens, voice_chars, …), and what it cost."""

    quantities: dict[str, float] = field(default_factory=dict)
    cost_usd: float = 0.0

    def describe(self) -> str:
        """“$0.42: model tokens 12,345 in / 3,456 out, voice 8,900 characters”."""
        q = self.quantities
        parts = []
        tokens_in, tokens_out = q.get("llm_input_tokens", 0.0), q.get("llm_output_tokens", 0.0)
        if tokens_in or tokens_out:
            parts.append(f"model tokens {tokens_in:,.0f} in / {tokens_out:,.0f} out")
        if q.get("voice_chars"):
            parts.append(f"voice {q['voice_chars']:,.0f} characters")
        if q.get("render_seconds"):
            parts.append(f"rendering {q['render_seconds']:,.0f} s")
        used = ", ".join(parts) if parts else "nothing metered"
        return f"${self.cost_usd:.2f}: {used}"


@dataclass(frozen=True)
class StatsReport:
    """A period's analytics for a workspace (or one of its platforms)."""

    period: Period
    timezone: str
    platform: str | None
    by_platform: dict[str, Figures]
    previous_by_platform: dict[str, Figures]
    posts_by_platform: dict[str, int]
    top_posts: tuple[PostResult, ...]
    daily_views: dict[str, tuple[tuple[date, int], ...]]
    timing: Timing
    cost: Cost
    latest_snapshot_at: datetime | None = None
    scored: tuple[ScoredPost, ...] = ()  # the posts best times are computed from

    @property
    def total(self) -> Figures:
        """The period's gains over every platform."""
        return total(self.by_platform.values())

    @property
    def previous_total(self) -> Figures:
        """The previous period's gains over every platform."""
        return total(self.previous_by_platform.values())

    def views_change(self, platform: str | None = None) -> Change:
        """Views against the previous period, for one platform or all."""
        if platform is None:
            return Change(self.total.views, self.previous_total.views)
        now = self.by_platform.get(platform, Figures())
        before = self.previous_by_platform.get(platform, Figures())
        return Change(now.views, before.views)

    @property
    def has_figures(self) -> bool:
        """Whether any post had figures by the end of the period."""
        return bool(self.by_platform)


def percent(rate: float | None) -> str:
    """An engagement rate for people: “7.1%”, or “n/a” without views."""
    return "n/a" if rate is None else f"{rate:.1%}"


def shorten(text: str, limit: int = 40) -> str:
    """One line of at most `limit` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def compute_stats(
    posts: Sequence[Post],
    snapshots: Iterable[Snapshot],
    usage: Iterable[UsageLine],
    *,
    period: Period,
    timezone: str,
    platform: str | None = None,
    top: int = TOP_POSTS,
) -> StatsReport:
    """The period's analytics from the posts, their snapshots and the usage records."""
    chosen = [p for p in posts if platform is None or p.platform == platform]
    ids = {p.publication_id for p in chosen}
    timeline = Timeline(
        s for s in snapshots if s.publication_id in ids and s.taken_at <= period.until
    )
    now = _gains(chosen, timeline, period)
    before = _gains(chosen, timeline, period.previous())
    published = [p for p in chosen if period.since < p.published_at <= period.until]
    ranked = sorted(
        (r for r in now if r.gain.views > 0),
        key=lambda r: (-r.gain.views, -r.gain.interactions, r.post.publication_id),
    )
    return StatsReport(
        period=period,
        timezone=timezone,
        platform=platform,
        by_platform=_by_platform(now),
        previous_by_platform=_by_platform(before),
        posts_by_platform=_count(p.platform for p in published),
        top_posts=tuple(ranked[:top]),
        daily_views=daily_views(chosen, timeline, period, timezone),
        timing=best_times(chosen, timeline, period, timezone),
        cost=cost_of(usage, period),
        latest_snapshot_at=timeline.latest(),
        scored=tuple(scored_posts(chosen, timeline, period)),
    )


def _gains(posts: Iterable[Post], timeline: Timeline, period: Period) -> list[PostResult]:
    results = []
    for post in posts:
        gain = timeline.gain(post.publication_id, period.since, period.until)
        if gain is not None:
            results.append(PostResult(post, gain))
    return results


def _by_platform(results: Iterable[PostResult]) -> dict[str, Figures]:
    sums: dict[str, Figures] = {}
    for result in results:
        sums[result.post.platform] = sums.get(result.post.platform, Figures()) + result.gain
    return dict(sorted(sums.items()))


def _count(names: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for name in names:
        counts[name] += 1
    return dict(sorted(counts.items()))


def local_days(period: Period, timezone: str) -> list[tuple[date, datetime, datetime]]:
    """The period cut at local midnights: each day with its (start, end] in UTC, clipped."""
    zone = zone_of(timezone)
    first = period.since.astimezone(zone).date()
    last = period.until.astimezone(zone).date()
    days = []
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        start = datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone).astimezone(UTC)
        start, end = max(start, period.since), min(end, period.until)
        if start < end:
            days.append((day, start, end))
    return days


def daily_views(
    posts: Sequence[Post], timeline: Timeline, period: Period, timezone: str
) -> dict[str, tuple[tuple[date, int], ...]]:
    """Views gained per local day, per platform that had figures by the period's end."""
    days = local_days(period, timezone)
    measured = [p for p in posts if timeline.at(p.publication_id, period.until) is not None]
    series: dict[str, list[int]] = {}
    for post in measured:
        row = series.setdefault(post.platform, [0] * len(days))
        for i, (_day, start, end) in enumerate(days):
            gain = timeline.gain(post.publication_id, start, end)
            row[i] += gain.views if gain is not None else 0
    return {
        name: tuple((day, views) for (day, _, _), views in zip(days, row, strict=True))
        for name, row in sorted(series.items())
    }


def scored_posts(posts: Sequence[Post], timeline: Timeline, period: Period) -> list[ScoredPost]:
    """The posts of the timing lookback that have figures, each with its figures at one week
    old (at the period's end for younger ones)."""
    start = period.until - max(TIMING_LOOKBACK, period.until - period.since)
    found = []
    for post in posts:
        if not start < post.published_at <= period.until:
            continue
        aged = min(post.published_at + TIMING_AGE, period.until)
        figures = timeline.at(post.publication_id, aged)
        if figures is None:
            later = timeline.first_after(post.publication_id, aged)
            figures = later if aged < period.until else None
        if figures is not None:
            week_old = post.published_at + TIMING_AGE <= period.until
            found.append(ScoredPost(post, figures, week_old))
    return found


def best_times(posts: Sequence[Post], timeline: Timeline, period: Period, timezone: str) -> Timing:
    """Hours and weekdays ranked by the average views at one week old of the posts made then."""
    zone = zone_of(timezone)
    hours: dict[int, list[int]] = defaultdict(list)
    weekdays: dict[int, list[int]] = defaultdict(list)
    scored = scored_posts(posts, timeline, period)
    for item in scored:
        local = item.post.published_at.astimezone(zone)
        hours[local.hour].append(item.figures.views)
        weekdays[local.weekday()].append(item.figures.views)
    return Timing(
        posts=len(scored),
        hours=_ranked(hours, lambda h: f"{h:02d}:00"),
        weekdays=_ranked(weekdays, lambda d: WEEKDAY_NAMES[d]),
    )


def _ranked(groups: dict[int, list[int]], label: Callable[[int], str]) -> tuple[TimeSlot, ...]:
    slots = [
        TimeSlot(key, label(key), len(views), sum(views) / len(views))
        for key, views in groups.items()
    ]
    return tuple(sorted(slots, key=lambda s: (-s.average_views, -s.posts, s.key)))


def cost_of(usage: Iterable[UsageLine], period: Period) -> Cost:
    """The usage recorded in [since, until), by kind, and its cost."""
    quantities: dict[str, float] = defaultdict(float)
    cost = 0.0
    for line in usage:
        if period.since <= line.created_at < period.until:
            quantities[line.kind] += line.quantity
            cost += line.cost_usd
    return Cost(dict(sorted(quantities.items())), round(cost, 6))
