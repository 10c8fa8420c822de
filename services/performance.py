"""How posts did at a comparable age, and which kinds of post did better than the others.

`services.stats` scores each post of its lookback (the last 90 days) by its figures at one week
old. Here only the posts that have reached that age count (a younger post's figures so far are
not comparable with a week's), each joined with how it was made (tone, length). Groups of them
(a weekday, a time of day, a tone, a length, a platform) are compared with all the other posts by
median views, which one viral post cannot swing the way it swings an average.

A group is compared only with at least `MIN_GROUP_POSTS` posts in it and as many outside it, and
it did better only with a median at least `MIN_LIFT` times the others'. A platform lags when its
median is at most `LAGGING_RATIO` times the best platform's, both with `MIN_GROUP_POSTS` posts.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.content import Platform
from services.models import Draft
from services.platforms import DISPLAY_NAMES
from services.scheduling import zone_of
from services.stats import StatsReport
from services.stats_inputs import Figures, Post

MIN_GROUP_POSTS = 3
MIN_LIFT = 1.25
LAGGING_RATIO = 0.5
WEEKDAYS = ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays")
TIME_BLOCK_HOURS = 3
# (longest duration in the bucket, its label, the length a brief in it gets)
LENGTHS = (
    (15, "up to 15 s", 15),
    (30, "16\u201330 s", 30),
    (60, "31\u201360 s", 60),
    (None, "over 60 s", 90),
)


@dataclass(frozen=True)
class PostFormat:
    """How a post was made: the tone and length its draft asked for."""

    tone: str
    duration_s: int


@dataclass(frozen=True)
class Performance:
    """A post that has been out a week, its figures at one week old, and its format."""

    post: Post
    figures: Figures
    format: PostFormat | None = None

    @property
    def views(self) -> int:
        """Its views at one week old."""
        return self.figures.views

    @property
    def platform_name(self) -> str:
        """Its platform as people write it: "TikTok"."""
        return platform_name(self.post.platform)


@dataclass(frozen=True)
class Comparison:
    """A group of posts (a weekday, a tone, …) against all the others, by median views."""

    kind: str  # weekday, time, tone, length or platform
    key: str  # what a brief takes from it: the tone, the seconds, the platform; else an index
    label: str  # for people: "Thursdays", "18:00-21:00", "upbeat", "16-30 s", "TikTok"
    posts: int
    median: float
    others_posts: int
    others_median: float

    @property
    def lift(self) -> float:
        """The group's median over the others'; infinite when the others' median is 0."""
        if self.others_median > 0:
            return self.median / self.others_median
        return float("inf") if self.median > 0 else 1.0

    def versus(self, others: str) -> str:
        """“2.1x the 1,000 of other days”, or “against 0 for other days”."""
        if self.others_median > 0:
            return f"{self.lift:.1f}\u00d7 the {self.others_median:,.0f} of {others}"
        return f"against 0 for {others}"


@dataclass(frozen=True)
class Gap:
    """A platform whose posts get far fewer views than the best platform's."""

    behind: Comparison  # its posts against the best platform's
    ahead: Comparison  # the best platform's against its

    @property
    def ratio(self) -> float:
        """How many times the behind platform's median the best one's is."""
        return self.ahead.median / self.behind.median if self.behind.median > 0 else float("inf")


def platform_name(name: str) -> str:
    """A platform's name as people write it ("TikTok"); unknown names as they are."""
    try:
        return DISPLAY_NAMES[Platform(name)]
    except ValueError:
        return name


def comparable(report: StatsReport, formats: Mapping[int, PostFormat]) -> list[Performance]:
    """The report's posts that were a week old by its end, best first, with their formats."""
    found = [
        Performance(s.post, s.figures, formats.get(s.post.draft_id))
        for s in report.scored
        if s.week_old
    ]
    return sorted(found, key=lambda p: (-p.views, -p.figures.interactions, p.post.publication_id))


def median_views(items: Iterable[Performance]) -> float:
    """The median of the posts' views at one week old (0 for none)."""
    views = [item.views for item in items]
    return float(statistics.median(views)) if views else 0.0


def length_of(duration_s: int) -> tuple[str, str]:
    """The length bucket of a duration: (the seconds a brief in it gets, its label)."""
    for longest, label, brief_s in LENGTHS:
        if longest is None or duration_s <= longest:
            return str(brief_s), label
    raise AssertionError("the last bucket takes any length")


Grouping = Callable[[Performance], tuple[str, str] | None]  # a post → (key, label), or no group


def groupings(timezone: str) -> dict[str, Grouping]:
    """How posts are grouped, by kind, with weekdays and times of day in `timezone`."""
    zone = zone_of(timezone)

    def weekday(p: Performance) -> tuple[str, str]:
        day = p.post.published_at.astimezone(zone).weekday()
        return str(day), WEEKDAYS[day]

    def time_of_day(p: Performance) -> tuple[str, str]:
        start = p.post.published_at.astimezone(zone).hour // TIME_BLOCK_HOURS * TIME_BLOCK_HOURS
        end = (start + TIME_BLOCK_HOURS) % 24
        return str(start), f"{start:02d}:00\u2013{end:02d}:00"

    def tone(p: Performance) -> tuple[str, str] | None:
        name = " ".join(p.format.tone.lower().split()) if p.format else ""
        return (name, name) if name else None

    def length(p: Performance) -> tuple[str, str] | None:
        return length_of(p.format.duration_s) if p.format else None

    def platform(p: Performance) -> tuple[str, str]:
        return p.post.platform, p.platform_name

    return {
        "weekday": weekday,
        "time": time_of_day,
        "tone": tone,
        "length": length,
        "platform": platform,
    }


def _groups(items: Sequence[Performance], group: Grouping) -> dict[tuple[str, str], list[int]]:
    found: dict[tuple[str, str], list[int]] = defaultdict(list)
    for item in items:
        key = group(item)
        if key is not None:
            found[key].append(item.views)
    return found


def best_group(items: Sequence[Performance], kind: str, group: Grouping) -> Comparison | None:
    """The group of `kind` that did best against all the other posts, if one did better."""
    groups = _groups(items, group)
    best: Comparison | None = None
    for (key, label), views in groups.items():
        others = [v for (k, _), vs in groups.items() if k != key for v in vs]
        if len(views) < MIN_GROUP_POSTS or len(others) < MIN_GROUP_POSTS:
            continue
        found = Comparison(
            kind,
            key,
            label,
            len(views),
            float(statistics.median(views)),
            len(others),
            float(statistics.median(others)),
        )
        if found.lift >= MIN_LIFT and (
            best is None
            or (found.lift, found.posts)
            > (
                best.lift,
                best.posts,
            )
        ):
            best = found
    return best


def did_better(
    items: Sequence[Performance], timezone: str, kinds: Collection[str] | None = None
) -> list[Comparison]:
    """For each kind of group (or those of `kinds`), the one that did better, if any; the
    clearest first."""
    found = [
        comparison
        for kind, group in groupings(timezone).items()
        if kinds is None or kind in kinds
        if (comparison := best_group(items, kind, group)) is not None
    ]
    return sorted(found, key=lambda c: (-c.lift, -c.posts, c.kind))


def lagging_platform(items: Sequence[Performance]) -> Gap | None:
    """The platform furthest behind the best one, if it gets at most half its median views."""
    by_platform = {
        key: views
        for key, views in _groups(items, groupings("UTC")["platform"]).items()
        if len(views) >= MIN_GROUP_POSTS
    }
    if len(by_platform) < 2:
        return None
    medians = {key: float(statistics.median(views)) for key, views in by_platform.items()}
    worst = min(medians, key=lambda k: (medians[k], k))
    best = max(medians, key=lambda k: (medians[k], k))
    if medians[worst] > medians[best] * LAGGING_RATIO:
        return None

    def side(one: tuple[str, str], other: tuple[str, str]) -> Comparison:
        return Comparison(
            "platform",
            one[0],
            one[1],
            len(by_platform[one]),
            medians[one],
            len(by_platform[other]),
            medians[other],
        )

    return Gap(behind=side(worst, best), ahead=side(best, worst))


async def load_formats(session: AsyncSession, draft_ids: Iterable[int]) -> dict[int, PostFormat]:
    """The tone and length of each of these drafts, by draft id."""
    ids = sorted(set(draft_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(Draft.id, Draft.tone, Draft.duration_s).where(Draft.id.in_(ids))
    )
    return {draft_id: PostFormat(tone, int(seconds)) for draft_id, tone, seconds in rows}
