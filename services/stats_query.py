"""Reading what `services.stats` computes from: a workspace's posts, snapshots and usage."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.models import Draft, MetricSnapshot, Publication, PublicationState, UsageRecord
from services.stats import TIMING_LOOKBACK, StatsReport, compute_stats
from services.stats_inputs import Figures, Period, Post, Snapshot, UsageLine


async def load_stats(
    session: AsyncSession,
    workspace_id: int,
    *,
    period: Period,
    timezone: str,
    platform: str | None = None,
) -> StatsReport:
    """The workspace's analytics for `period` (and the period before), in its time zone."""
    posts = await load_posts(session, workspace_id, until=period.until, platform=platform)
    # Far enough back for the previous period and for best times' lookback; before that,
    # only each post's latest snapshot is needed, as a baseline.
    window_start = min(period.previous().since, period.until - TIMING_LOOKBACK)
    snapshots = await load_snapshots(
        session, workspace_id, after=window_start, until=period.until, platform=platform
    )
    usage = await load_usage(session, workspace_id, period=period)
    return compute_stats(
        posts, snapshots, usage, period=period, timezone=timezone, platform=platform
    )


async def load_posts(
    session: AsyncSession, workspace_id: int, *, until: datetime, platform: str | None = None
) -> list[Post]:
    """The workspace's published posts that went out by `until`."""
    query = (
        select(
            Publication.id,
            Publication.draft_id,
            Publication.platform,
            Draft.topic,
            Publication.published_at,
            Publication.url,
        )
        .join(Draft, Draft.id == Publication.draft_id)
        .where(
            Draft.workspace_id == workspace_id,
            Publication.state == PublicationState.PUBLISHED.value,
            Publication.published_at.is_not(None),
            Publication.published_at <= until,
        )
        .order_by(Publication.id)
    )
    if platform is not None:
        query = query.where(Publication.platform == platform)
    rows = (await session.execute(query)).all()
    return [
        Post(pub_id, draft_id, name, topic, published_at, url)
        for pub_id, draft_id, name, topic, published_at, url in rows
        if published_at is not None
    ]


_COLUMNS = (
    MetricSnapshot.publication_id,
    MetricSnapshot.taken_at,
    MetricSnapshot.views,
    MetricSnapshot.likes,
    MetricSnapshot.comments,
    MetricSnapshot.shares,
    MetricSnapshot.watch_time_s,
)


async def load_snapshots(
    session: AsyncSession,
    workspace_id: int,
    *,
    after: datetime,
    until: datetime,
    platform: str | None = None,
) -> list[Snapshot]:
    """Snapshots in (after, until], plus each post's latest one at or before `after`."""
    mine = [Draft.workspace_id == workspace_id]
    if platform is not None:
        mine.append(Publication.platform == platform)
    latest_before = (
        select(
            MetricSnapshot.publication_id.label("publication_id"),
            func.max(MetricSnapshot.taken_at).label("taken_at"),
        )
        .join(Publication, Publication.id == MetricSnapshot.publication_id)
        .join(Draft, Draft.id == Publication.draft_id)
        .where(*mine, MetricSnapshot.taken_at <= after)
        .group_by(MetricSnapshot.publication_id)
        .subquery()
    )
    baseline = select(*_COLUMNS).join(
        latest_before,
        and_(
            MetricSnapshot.publication_id == latest_before.c.publication_id,
            MetricSnapshot.taken_at == latest_before.c.taken_at,
        ),
    )
    recent = (
        select(*_COLUMNS)
        .join(Publication, Publication.id == MetricSnapshot.publication_id)
        .join(Draft, Draft.id == Publication.draft_id)
        .where(*mine, MetricSnapshot.taken_at > after, MetricSnapshot.taken_at <= until)
    )
    found = []
    for query in (baseline, recent):
        for pub_id, taken_at, views, likes, comments, shares, watch in (
            await session.execute(query.order_by(MetricSnapshot.id))
        ).all():
            figures = Figures(int(views), int(likes), int(comments), int(shares), watch)
            found.append(Snapshot(pub_id, taken_at, figures))
    return found


async def load_usage(
    session: AsyncSession, workspace_id: int, *, period: Period
) -> list[UsageLine]:
    """The workspace's usage records created in [since, until)."""
    rows = (
        await session.execute(
            select(
                UsageRecord.kind,
                UsageRecord.quantity,
                UsageRecord.cost_usd,
                UsageRecord.created_at,
            ).where(
                UsageRecord.workspace_id == workspace_id,
                UsageRecord.created_at >= period.since,
                UsageRecord.created_at < period.until,
            )
        )
    ).all()
    return [UsageLine(kind, float(q), float(cost), at) for kind, q, cost, at in rows]
