"""/analytics: the figures /stats shows, as data (the same stats services compute them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from bot.api.deps import Caller, Ctx
from bot.api.problems import problem_docs
from bot.api.schemas import (
    CostOut,
    FiguresOut,
    Overview,
    PeriodOut,
    PlatformStats,
    Slot,
    TopPost,
    Trends,
)
from handlers.stats import MAX_DAYS
from services.content import Platform
from services.models import utcnow
from services.roi_query import load_roi
from services.stats import StatsReport, TimeSlot
from services.stats_inputs import Figures, Period
from services.stats_query import load_stats

router = APIRouter(prefix="/analytics", tags=["analytics"])
Days = Annotated[int, Query(ge=1, le=MAX_DAYS, description="The period: the last N days.")]


async def _report(ctx: Ctx, caller: Caller, days: int, platform: str | None) -> StatsReport:
    workspace = caller.actor.workspace
    async with ctx.app.sessions() as session:
        return await load_stats(
            session,
            workspace.id,
            period=Period.last(days, utcnow()),
            timezone=workspace.timezone,
            platform=platform,
        )


@router.get("/overview", responses=problem_docs(401, 422, 429))
async def overview(ctx: Ctx, caller: Caller, days: Days = 7) -> Overview:
    """Views and engagement per platform, the change on the period before, top posts, cost,
    and the return on that spend (ROI, as /stats shows it)."""
    report = await _report(ctx, caller, days, None)
    async with ctx.app.sessions() as session:
        roi = await load_roi(session, caller.actor.workspace, period=report.period)
    return _overview(report).model_copy(update={"roi": roi.overview()})


@router.get("/platforms/{platform}", responses=problem_docs(401, 422, 429))
async def platform_stats(
    platform: Platform, ctx: Ctx, caller: Caller, days: Days = 7
) -> PlatformStats:
    """One platform's figures, with its views day by day."""
    report = await _report(ctx, caller, days, platform.value)
    daily = list(report.daily_views.get(platform.value, ()))
    return PlatformStats(**_overview(report).model_dump(), daily_views=daily)


@router.get("/trends", responses=problem_docs(401, 422, 429))
async def trends(ctx: Ctx, caller: Caller, days: Days = 30) -> Trends:
    """Views day by day per platform, the change on the period before, the best hours and
    weekdays to post (in the workspace's time zone; views at one week old)."""
    report = await _report(ctx, caller, days, None)
    platforms = sorted(set(report.by_platform) | set(report.previous_by_platform))
    return Trends(
        period=_period(report),
        daily_views={p: list(days_) for p, days_ in report.daily_views.items()},
        views_change={p: report.views_change(p).ratio for p in platforms},
        timing_posts=report.timing.posts,
        best_hours=[_slot(s) for s in report.timing.hours],
        best_weekdays=[_slot(s) for s in report.timing.weekdays],
    )


def _overview(report: StatsReport) -> Overview:
    return Overview(
        period=_period(report),
        platform=report.platform,
        totals=_figures(report.total),
        views_change=report.views_change(report.platform).ratio,
        by_platform={p: _figures(f) for p, f in report.by_platform.items()},
        posts_by_platform=dict(report.posts_by_platform),
        top_posts=[
            TopPost(
                draft_id=r.post.draft_id,
                platform=r.post.platform,
                title=r.post.title,
                url=r.post.url,
                published_at=r.post.published_at,
                figures=_figures(r.gain),
            )
            for r in report.top_posts
        ],
        cost=CostOut(usd=round(report.cost.cost_usd, 6), quantities=dict(report.cost.quantities)),
    )


def _period(report: StatsReport) -> PeriodOut:
    period = report.period
    return PeriodOut(
        since=period.since, until=period.until, days=period.days, timezone=report.timezone
    )


def _figures(figures: Figures) -> FiguresOut:
    return FiguresOut(
        views=figures.views,
        likes=figures.likes,
        comments=figures.comments,
        shares=figures.shares,
        engagement_rate=figures.engagement_rate,
        watch_time_s=figures.watch_time_s,
    )


def _slot(slot: TimeSlot) -> Slot:
    return Slot(label=slot.label, posts=slot.posts, average_views=slot.average_views)
