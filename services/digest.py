"""Digests: a period's analytics and activity for one workspace, as a short text and a chart."""

from __future__ import annotations

import functools
import os
import tempfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.models import Draft, Publication, PublicationState, Workspace
from services.performance import comparable, load_formats
from services.recommendations import Recommendations, recommend
from services.roi import RoiReport
from services.roi_query import load_roi
from services.scheduling import format_when
from services.stats import TIMING_LOOKBACK, StatsReport, percent, shorten
from services.stats_inputs import Period
from services.stats_query import load_stats

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

CHART_SIZE_IN = (10.0, 4.0)
CHART_DPI = 100
_COLOURS = {
    "youtube": "#c4302b",
    "tiktok": "#111111",
    "instagram": "#c13584",
    "facebook": "#1877f2",
}


@dataclass(frozen=True)
class Digest:
    """A period's figures for one workspace, and the platforms whose figures could not be had."""

    stats: StatsReport
    drafts_by_state: dict[str, int]
    published_by_platform: dict[str, int]
    failures: dict[str, str] = field(default_factory=dict)  # platform → why it failed
    recommendations: Recommendations | None = None  # what the figures suggest doing next
    roi: RoiReport | None = None  # the period's spend against what it earned

    @property
    def since(self) -> datetime:
        """The start of the period."""
        return self.stats.period.since

    @property
    def until(self) -> datetime:
        """The end of the period."""
        return self.stats.period.until

    @property
    def drafts_total(self) -> int:
        """How many drafts were requested in the period."""
        return sum(self.drafts_by_state.values())

    @property
    def published_total(self) -> int:
        """How many posts went out in the period."""
        return sum(self.published_by_platform.values())

    def summary(self) -> str:
        """A short text for the chat."""
        stats = self.stats
        days = stats.period.days
        when = format_when(self.until, stats.timezone, now=self.until)
        lines = [f"Digest for the last {days} day{'s' if days != 1 else ''} (to {when})"]
        if stats.has_figures:
            total = stats.total
            before = "the day before" if days == 1 else f"the {days} days before"
            lines.append(
                f"Views: {total.views:,} ({stats.views_change().versus(before)}), "
                f"engagement {percent(total.engagement_rate)}"
            )
            for name, figures in stats.by_platform.items():
                lines.append(
                    f"  {name}: {figures.views:,} views ({stats.views_change(name).describe()}), "
                    f"engagement {percent(figures.engagement_rate)}"
                )
        else:
            lines.append("Views: no figures collected for this period yet.")
        for name, reason in sorted(self.failures.items()):
            lines.append(f"⚠️ {name}: figures could not be updated ({reason}).")
        if stats.top_posts:
            lines.append("Top posts:")
            for rank, result in enumerate(stats.top_posts, 1):
                post = result.post
                lines.append(
                    f"  {rank}. #{post.draft_id} {shorten(post.title)} ({post.platform}): "
                    f"{result.gain.views:,} views"
                )
        states = ", ".join(f"{n} {s}" for s, n in sorted(self.drafts_by_state.items()))
        lines.append(f"Drafts requested: {self.drafts_total}" + (f" ({states})" if states else ""))
        posts = ", ".join(f"{p}: {n}" for p, n in sorted(self.published_by_platform.items()))
        lines.append(f"Posts published: {self.published_total}" + (f" ({posts})" if posts else ""))
        lines.append(f"Cost: {stats.cost.describe()}")
        if self.roi is not None:
            lines += self.roi.lines()
        if self.recommendations is not None:
            lines += self.recommendations.lines()
        return "\n".join(lines)


async def compute_digest(
    session: AsyncSession,
    workspace_id: int,
    *,
    since: datetime,
    until: datetime,
    timezone: str = "UTC",
    failures: Mapping[str, str] | None = None,
) -> Digest:
    """The workspace's analytics, drafts and posts between `since` and `until`.

    `failures` maps a platform to why its figures could not be collected (the metrics
    collection's report); the digest names each one and still shows the others.
    """
    stats = await load_stats(session, workspace_id, period=Period(since, until), timezone=timezone)
    drafts = (
        await session.execute(
            select(Draft.state).where(
                Draft.workspace_id == workspace_id,
                Draft.created_at >= since,
                Draft.created_at < until,
            )
        )
    ).scalars()
    posts = (
        await session.execute(
            select(Publication.platform)
            .join(Draft, Draft.id == Publication.draft_id)
            .where(
                Draft.workspace_id == workspace_id,
                Publication.state == PublicationState.PUBLISHED,
                Publication.published_at >= since,
                Publication.published_at < until,
            )
        )
    ).scalars()
    drafts_by_state, published_by_platform = dict(Counter(drafts)), dict(Counter(posts))
    formats = await load_formats(session, (s.post.draft_id for s in stats.scored))
    lookback = max(TIMING_LOOKBACK.days, stats.period.days)
    workspace = await session.get(Workspace, workspace_id)
    roi = None if workspace is None else await load_roi(session, workspace, period=stats.period)
    return Digest(
        stats=stats,
        drafts_by_state=drafts_by_state,
        published_by_platform=published_by_platform,
        failures=dict(failures or {}),
        recommendations=recommend(
            comparable(stats, formats), timezone=timezone, lookback_days=lookback
        ),
        roi=roi,
    )


def chart_figure(digest: Digest) -> Figure:
    """Views per day per platform (lines) beside the period's top five posts (bars)."""
    from matplotlib.figure import Figure

    stats = digest.stats
    fig = Figure(figsize=CHART_SIZE_IN, dpi=CHART_DPI, layout="constrained")
    daily, top = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    daily.set_title("Views per day")
    days = next(iter(stats.daily_views.values()), ())
    if days:
        x = range(len(days))
        for name, series in stats.daily_views.items():
            label = f"{name} (not updated)" if name in digest.failures else name
            daily.plot(x, [v for _, v in series], marker="o", label=label, color=_COLOURS.get(name))
        step = max(1, len(days) // 10)
        daily.set_xticks(
            list(x)[::step], [d.strftime("%d %b") for d, _ in days][::step], fontsize=8
        )
        daily.yaxis.get_major_locator().set_params(integer=True)
        daily.grid(axis="y", alpha=0.3)
        daily.legend(fontsize=8)
    else:
        _empty(daily, "No views collected yet")
    top.set_title("Top posts: views in the period")
    if stats.top_posts:
        ranked = list(reversed(stats.top_posts))  # barh draws bottom-up: best on top
        labels = [
            _label(f"#{r.post.draft_id} {shorten(r.post.title, 24)} ({r.post.platform})")
            for r in ranked
        ]
        y = list(range(len(ranked)))
        bars = top.barh(
            y,
            [r.gain.views for r in ranked],
            color=[_COLOURS.get(r.post.platform, "#2f7d4f") for r in ranked],
        )
        top.bar_label(bars, [f"{r.gain.views:,}" for r in ranked], padding=3, fontsize=8)
        top.margins(x=0.15)  # room for the figures beside the longest bar
        top.set_yticks(y, labels, parse_math=False)  # a "$" in a title is not math
        top.tick_params(axis="y", labelsize=8)
        top.xaxis.get_major_locator().set_params(integer=True)
    else:
        _empty(top, "No posts with views yet")
    if digest.failures:
        names = ", ".join(sorted(digest.failures))
        fig.suptitle(f"Figures could not be updated: {names}", color="#b03a2e", fontsize=9)
    return fig


def render_chart(digest: Digest, out_path: Path) -> Path:
    """Draw the digest's chart to a PNG, written atomically."""
    fig = chart_figure(digest)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=out_path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, format="png", dpi=CHART_DPI)
        os.replace(tmp, out_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out_path


def _empty(axes: Axes, text: str) -> None:
    axes.text(0.5, 0.5, text, ha="center", va="center", transform=axes.transAxes, color="grey")
    axes.set_xticks([])
    axes.set_yticks([])


def _label(text: str) -> str:
    """Text without the characters matplotlib's font lacks (emoji), which it warns about."""
    known = _font_characters()
    return " ".join("".join(c for c in text if ord(c) in known or c.isspace()).split())


@functools.cache
def _font_characters() -> frozenset[int]:
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    return frozenset(FT2Font(font_manager.findfont("DejaVu Sans")).get_charmap())
