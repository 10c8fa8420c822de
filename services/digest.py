"""Digests: what a workspace made and published in a period, with a chart."""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.models import Draft, Publication, PublicationState, UsageRecord


@dataclass(frozen=True)
class Digest:
    """A period's figures for one workspace."""

    since: datetime
    until: datetime
    drafts_by_state: dict[str, int]
    published_by_platform: dict[str, int]
    drafts_per_day: dict[date, int]
    published_per_day: dict[date, int]
    cost_usd: float
    usage: dict[str, float] = field(default_factory=dict)

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
        days = max(1, round((self.until - self.since) / timedelta(days=1)))
        lines = [f"Digest for the last {days} day{'s' if days != 1 else ''}:"]
        lines.append(f"• Drafts requested: {self.drafts_total}")
        if self.drafts_by_state:
            states = ", ".join(f"{n} {s}" for s, n in sorted(self.drafts_by_state.items()))
            lines.append(f"  ({states})")
        lines.append(f"• Posts published: {self.published_total}")
        for platform, n in sorted(self.published_by_platform.items()):
            lines.append(f"  {platform}: {n}")
        if self.usage:
            used = ", ".join(f"{k} {v:g}" for k, v in sorted(self.usage.items()))
            lines.append(f"• Usage: {used} (cost ${self.cost_usd:.2f})")
        return "\n".join(lines)


async def compute_digest(
    session: AsyncSession, workspace_id: int, *, since: datetime, until: datetime
) -> Digest:
    """Count the workspace's drafts, posts and usage between `since` and `until`."""
    drafts = (
        await session.execute(
            select(Draft.state, Draft.created_at).where(
                Draft.workspace_id == workspace_id,
                Draft.created_at >= since,
                Draft.created_at < until,
            )
        )
    ).all()
    posts = (
        await session.execute(
            select(Publication.platform, Publication.published_at)
            .join(Draft, Draft.id == Publication.draft_id)
            .where(
                Draft.workspace_id == workspace_id,
                Publication.state == PublicationState.PUBLISHED,
                Publication.published_at >= since,
                Publication.published_at < until,
            )
        )
    ).all()
    usage_rows = (
        await session.execute(
            select(UsageRecord.kind, UsageRecord.quantity, UsageRecord.cost_usd).where(
                UsageRecord.workspace_id == workspace_id,
                UsageRecord.created_at >= since,
                UsageRecord.created_at < until,
            )
        )
    ).all()
    usage: dict[str, float] = {}
    for kind, quantity, _cost in usage_rows:
        usage[kind] = round(usage.get(kind, 0.0) + float(quantity), 1)
    return Digest(
        since=since,
        until=until,
        drafts_by_state=dict(Counter(state for state, _ in drafts)),
        published_by_platform=dict(Counter(platform for platform, _ in posts)),
        drafts_per_day=dict(Counter(created.date() for _, created in drafts)),
        published_per_day=dict(Counter(at.date() for _, at in posts if at is not None)),
        cost_usd=sum(float(cost) for *_, cost in usage_rows),
        usage=usage,
    )


def render_chart(digest: Digest, out_path: Path) -> Path:
    """Draw drafts and posts per day and posts per platform to a PNG (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = [digest.since.date() + timedelta(days=i) for i in range(_span_days(digest))]
    fig, (daily, platforms) = plt.subplots(
        1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [2, 1]}, layout="constrained"
    )
    try:
        x = range(len(days))
        daily.bar(
            [i - 0.2 for i in x],
            [digest.drafts_per_day.get(d, 0) for d in days],
            width=0.4,
            label="drafts",
            color="#8fa8c8",
        )
        daily.bar(
            [i + 0.2 for i in x],
            [digest.published_per_day.get(d, 0) for d in days],
            width=0.4,
            label="published",
            color="#2f7d4f",
        )
        daily.set_xticks(list(x), [d.strftime("%d %b") for d in days], rotation=45, fontsize=8)
        daily.set_title("Per day")
        daily.legend()
        daily.yaxis.get_major_locator().set_params(integer=True)
        names = sorted(digest.published_by_platform)
        platforms.barh(names, [digest.published_by_platform[n] for n in names], color="#2f7d4f")
        platforms.set_title("Posts per platform")
        platforms.xaxis.get_major_locator().set_params(integer=True)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".png", dir=out_path.parent)
        os.close(fd)
        try:
            fig.savefig(tmp, format="png", dpi=100)
            os.replace(tmp, out_path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    finally:
        plt.close(fig)
    return out_path


def _span_days(digest: Digest) -> int:
    return max(1, (digest.until.date() - digest.since.date()).days + 1)
