"""Reading what `services.roi` computes from: a period's spend, its drafts, their posts' figures."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.models import Campaign, Draft, UsageRecord, Workspace
from services.roi import DraftInfo, PostResult, RoiReport, SpendLine, Values, compute_roi
from services.stats_inputs import Figures, Period
from services.stats_query import load_posts, load_snapshots


async def load_roi(session: AsyncSession, workspace: Workspace, *, period: Period) -> RoiReport:
    """The workspace's return on spend for `period`, at its values per view and click."""
    spend = [
        SpendLine(draft_id, kind, float(cost))
        for draft_id, kind, cost in await session.execute(
            select(UsageRecord.draft_id, UsageRecord.kind, UsageRecord.cost_usd).where(
                UsageRecord.workspace_id == workspace.id,
                UsageRecord.created_at >= period.since,
                UsageRecord.created_at < period.until,
            )
        )
    ]
    ids = sorted({line.draft_id for line in spend if line.draft_id is not None})
    drafts: dict[int, DraftInfo] = {}
    if ids:
        rows = await session.execute(
            select(Draft.id, Draft.topic, Campaign.name)
            .outerjoin(Campaign, Campaign.id == Draft.campaign_id)
            .where(Draft.id.in_(ids))
        )
        drafts = {i: DraftInfo(i, topic, campaign) for i, topic, campaign in rows}
    published = await load_posts(session, workspace.id, until=period.until)
    # Each post's latest snapshot at or before the period's end.
    latest = {
        snap.publication_id: snap.figures
        for snap in await load_snapshots(
            session, workspace.id, after=period.until, until=period.until
        )
    }
    posts = [
        PostResult(p.draft_id, p.platform, latest.get(p.publication_id, Figures()))
        for p in published
        if p.draft_id in drafts
    ]
    values = Values(workspace.value_per_view_usd, workspace.value_per_click_usd)
    return compute_roi(spend, drafts, posts, values=values, period=period, brand=str(workspace.id))
