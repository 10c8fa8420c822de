"""`/stats [period] [platform]`: views, engagement, top posts, best times, cost and ROI."""

from __future__ import annotations

import re

from handlers.actor import Actor, Refusal
from handlers.app import App
from handlers.port import Reply
from services.content import Platform
from services.models import utcnow
from services.roi_query import load_roi
from services.scheduling import format_when
from services.stats import (
    MIN_TIMING_POSTS,
    TIMING_LOOKBACK,
    StatsReport,
    TimeSlot,
    percent,
    shorten,
)
from services.stats_inputs import Period
from services.stats_query import load_stats

DEFAULT_DAYS = 7
MAX_DAYS = 365
USAGE = (
    "Use /stats [7d|30d|90d|<N> days] [youtube|tiktok|instagram|facebook], "
    "e.g. /stats, /stats 30d or /stats 14 days tiktok."
)
_ALIASES = {p.value: p.value for p in Platform} | {
    "yt": "youtube",
    "tt": "tiktok",
    "ig": "instagram",
    "insta": "instagram",
    "fb": "facebook",
}
_NAMED_PERIODS = {"week": 7, "month": 30, "quarter": 90, "year": 365}
_DAYS = re.compile(r"(\d{1,6})(d|days?)?")
_DAY_WORDS = ("d", "day", "days")


def parse_stats_args(args: str) -> tuple[int, str | None]:
    """Read "[period] [platform]" in either order: (days, platform or None)."""
    words = args.lower().replace(",", " ").split()
    days: int | None = None
    platform: str | None = None
    i = 0
    while i < len(words):
        word = words[i]
        match = _DAYS.fullmatch(word)
        if word in _ALIASES and platform is None:
            platform = _ALIASES[word]
        elif (match or word in _NAMED_PERIODS) and days is None:
            days = int(match[1]) if match else _NAMED_PERIODS[word]
            if match and not match[2] and i + 1 < len(words) and words[i + 1] in _DAY_WORDS:
                i += 1  # "14 days"
        else:
            shown = word if len(word) <= 30 else word[:29] + "…"
            raise Refusal(f"I couldn't read “{shown}” here. {USAGE}")
        i += 1
    days = DEFAULT_DAYS if days is None else days
    if not 1 <= days <= MAX_DAYS:
        raise Refusal(f"Pick a period of 1 to {MAX_DAYS} days. {USAGE}")
    return days, platform


async def stats_command(app: App, actor: Actor, args: str) -> Reply:
    """`/stats`: the workspace's analytics for a period, optionally for one platform."""
    days, platform = parse_stats_args(args)
    tz = actor.workspace.timezone
    period = Period.last(days, utcnow())
    async with app.sessions() as session:
        report = await load_stats(
            session, actor.workspace.id, period=period, timezone=tz, platform=platform
        )
        roi = await load_roi(session, actor.workspace, period=period)
    scope = " (whole workspace)" if platform else ""
    return Reply("\n".join([render_stats(report), *roi.lines(scope)]))


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def render_stats(report: StatsReport) -> str:
    """The report as a short plain-text message."""
    days, tz = report.period.days, report.timezone
    until = format_when(report.period.until, tz, now=report.period.until)
    scope = f"{report.platform} only" if report.platform else "all platforms"
    lines = [f"📊 Stats for the last {_plural(days, 'day')} (to {until}), {scope}"]
    published = sum(report.posts_by_platform.values())
    if not report.has_figures:
        lines.append(
            "No figures for this period yet: views, likes and comments are collected from the "
            f"platforms after posts go out. Posts published in the period: {published}."
        )
    else:
        lines += _totals(report)
    lines += _top_posts(report)
    lines += _timing(report)
    lines.append(
        f"Cost of the period{' (whole workspace)' if report.platform else ''}: "
        f"{report.cost.describe()}"
    )
    if report.latest_snapshot_at is not None:
        at = format_when(report.latest_snapshot_at, tz, now=report.period.until, zone=False)
        lines.append(f"Figures last collected {at}.")
    return "\n".join(lines)


def _totals(report: StatsReport) -> list[str]:
    now, before = report.total, report.previous_total
    days = report.period.days
    before_ = "the day before" if days == 1 else f"the {days:,} days before"
    lines = [
        f"Views {now.views:,} ({report.views_change().versus(before_)}) · likes {now.likes:,} · "
        f"comments {now.comments:,} · shares {now.shares:,}"
    ]
    engagement = f"Engagement {percent(now.engagement_rate)}"
    if before.engagement_rate is not None:
        engagement += f" ({percent(before.engagement_rate)} before)"
    if now.watch_time_s:
        engagement += f" · watch time {now.watch_time_s / 3600:,.1f} h"
    lines.append(engagement)
    if report.platform is None:
        lines.append("By platform:")
        for name, figures in report.by_platform.items():
            new = report.posts_by_platform.get(name, 0)
            lines.append(
                f"  {name}: {figures.views:,} views ({report.views_change(name).describe()}), "
                f"engagement {percent(figures.engagement_rate)}"
                + (f", {_plural(new, 'new post')}" if new else "")
            )
    return lines


def _top_posts(report: StatsReport) -> list[str]:
    if not report.top_posts:
        return []
    lines = ["Top posts:"]
    for rank, result in enumerate(report.top_posts, 1):
        post, gain = result.post, result.gain
        lines.append(
            f"  {rank}. #{post.draft_id} {shorten(post.title)} ({post.platform}): "
            f"{gain.views:,} views, engagement {percent(gain.engagement_rate)}"
        )
        if post.url and post.url.startswith(("https://", "http://")):
            lines.append(f"     {post.url}")
    return lines


def _timing(report: StatsReport) -> list[str]:
    timing = report.timing
    lookback = max(TIMING_LOOKBACK.days, report.period.days)
    if not timing.enough:
        return [
            f"Best times to post: not enough posts with figures from the last {lookback} days "
            f"yet ({timing.posts} of the {MIN_TIMING_POSTS} needed)."
        ]
    return [
        f"Best times to post, by views at one week old ({_plural(timing.posts, 'post')} of "
        f"the last {lookback} days, {report.timezone}):",
        f"  hours: {_slots(timing.hours)}",
        f"  weekdays: {_slots(timing.weekdays)}",
    ]


def _slots(slots: tuple[TimeSlot, ...], shown: int = 3) -> str:
    return ", ".join(
        f"{s.label} (avg {s.average_views:,.0f} views, {_plural(s.posts, 'post')})"
        for s in slots[:shown]
    )
