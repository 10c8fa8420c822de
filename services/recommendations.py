"""A digest's closing recommendations: two or three, each with the figure behind it.

They are drawn from the posts of the stats lookback (the last 90 days) that have been out a week,
by their views at one week old (`services.performance`): the weekday and time of day to post,
the tone and length that did better, and a platform lagging behind the others. Nothing is
recommended from fewer than `MIN_POSTS` such posts, and a group only with `MIN_GROUP_POSTS` posts
on each side and a median at least `MIN_LIFT` times the others'; with too little, the digest says
what is needed instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.performance import (
    MIN_GROUP_POSTS,
    MIN_LIFT,
    TIME_BLOCK_HOURS,
    Comparison,
    Gap,
    Performance,
    did_better,
    lagging_platform,
)

MIN_POSTS = 6
MAX_RECOMMENDATIONS = 3
_OTHERS = {
    "weekday": "other days",
    "time": "other times",
    "tone": "other tones",
    "length": "other lengths",
}


@dataclass(frozen=True)
class Recommendations:
    """What the figures recommend, or why they recommend nothing yet."""

    posts: int  # posts that had been out a week, in the lookback
    lookback_days: int
    items: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        """The lines that end a digest."""
        if self.items:
            return [
                f"Recommendations (from {self.posts} posts of the last {self.lookback_days} "
                "days, by views at one week old):",
                *(f"  • {item}" for item in self.items),
            ]
        if self.posts < MIN_POSTS:
            return [
                f"Recommendations come once {MIN_POSTS} posts of the last {self.lookback_days} "
                f"days have been out a week with figures; {self.posts} so far."
            ]
        return [
            f"Recommendations: no clear pattern yet in {self.posts} posts: no weekday, time, "
            f"tone, length or platform did {MIN_LIFT - 1:.0%} better than the rest with "
            f"{MIN_GROUP_POSTS} or more posts on each side."
        ]


def recommend(
    items: Sequence[Performance], *, timezone: str, lookback_days: int
) -> Recommendations:
    """The strongest few recommendations the posts back, clearest difference first."""
    if len(items) < MIN_POSTS:
        return Recommendations(len(items), lookback_days)
    better = {c.kind: c for c in did_better(items, timezone, kinds=_OTHERS)}
    day, hours = better.pop("weekday", None), better.pop("time", None)
    found: list[tuple[float, str]] = [
        (c.lift, _did_better(c, len(items), timezone)) for c in better.values()
    ]
    if day is not None and hours is not None:  # one recommendation: "Thursdays at 18:00-21:00"
        found.append((max(day.lift, hours.lift), _when(day, hours, len(items), timezone)))
    elif day is not None or hours is not None:
        one = day or hours
        assert one is not None
        found.append((one.lift, _did_better(one, len(items), timezone)))
    gap = lagging_platform(items)
    if gap is not None:
        found.append((gap.ratio, _lagging(gap)))
    found.sort(key=lambda pair: -pair[0])
    return Recommendations(
        len(items), lookback_days, tuple(text for _, text in found[:MAX_RECOMMENDATIONS])
    )


def _did_better(c: Comparison, total: int, timezone: str) -> str:
    figures = (
        f"median {c.median:,.0f} views, {c.versus(_OTHERS[c.kind])} ({c.posts} of {total} posts)"
    )
    if c.kind == "weekday":
        return f"Post on {c.label}: {figures}."
    if c.kind == "time":
        return f"Post between {_between(c)} ({timezone}): {figures}."
    if c.kind == "tone":
        return f"Use the {c.label} tone more: {figures}."
    return f"Keep videos {c.label}: {figures}."


def _between(hours: Comparison) -> str:
    start = int(hours.key)
    return f"{start:02d}:00 and {(start + TIME_BLOCK_HOURS) % 24:02d}:00"


def _when(day: Comparison, hours: Comparison, total: int, timezone: str) -> str:
    return (
        f"Post on {day.label} between {_between(hours)} ({timezone}): {day.label[:-1]} posts "
        f"got a median of {day.median:,.0f} views, {day.versus('other days')} ({day.posts} of "
        f"{total} posts), and posts at that time {hours.versus('other times')} "
        f"({hours.posts} posts)."
    )


def _lagging(gap: Gap) -> str:
    behind, ahead = gap.behind, gap.ahead
    return (
        f"{behind.label} is behind: {behind.median:,.0f} views per post (median of "
        f"{behind.posts}) vs {ahead.median:,.0f} on {ahead.label} ({ahead.posts} posts); "
        f"try there what works on {ahead.label}."
    )
