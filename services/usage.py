"""Metered use of paid services (model tokens, voice characters, render time) and its cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.models import UsageRecord


@dataclass(frozen=True)
class Usage:
    """One metered use: e.g. 1,234 `llm_input_tokens` of `openai:gpt-4o-mini` for $0.0002."""

    kind: str
    provider: str
    quantity: float
    cost_usd: float


@dataclass
class UsageLog:
    """Collects the usage of one job's calls, to be stored with the job's results."""

    items: list[Usage] = field(default_factory=list)

    def add(self, usage: Usage) -> None:
        """Record one use."""
        self.items.append(usage)

    @property
    def cost_usd(self) -> float:
        """The total cost of what was recorded."""
        return sum(u.cost_usd for u in self.items)


@dataclass(frozen=True)
class Prices:
    """What the paid services cost, from settings; zero where the embedded default is used."""

    llm_input_per_mtok: float = 0.0
    llm_output_per_mtok: float = 0.0
    voice_per_1k_chars: float = 0.0
    render_per_minute: float = 0.0

    def render_cost(self, seconds: float) -> float:
        """What `seconds` of rendering cost."""
        return seconds / 60 * self.render_per_minute

    def estimate_draft(self, duration_s: int) -> float:
        """A generous estimate of one version's cost: script + metadata calls, and the voice."""
        words = duration_s * 2.6
        input_tokens = 2_500
        output_tokens = words * 1.5 + 800
        voice_chars = words * 6.5
        return (
            input_tokens * self.llm_input_per_mtok / 1e6
            + output_tokens * self.llm_output_per_mtok / 1e6
            + voice_chars * self.voice_per_1k_chars / 1e3
        )


async def spent_this_month(session: AsyncSession, workspace_id: int, *, now: datetime) -> float:
    """What the workspace's usage has cost since the start of `now`'s month (UTC)."""
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    total = await session.scalar(
        select(func.coalesce(func.sum(UsageRecord.cost_usd), 0.0)).where(
            UsageRecord.workspace_id == workspace_id, UsageRecord.created_at >= start
        )
    )
    return float(total or 0.0)


def usage_records(workspace_id: int, draft_id: int | None, log: UsageLog) -> list[UsageRecord]:
    """Rows to store for what a job's calls used."""
    return [
        UsageRecord(
            workspace_id=workspace_id,
            draft_id=draft_id,
            kind=u.kind,
            provider=u.provider,
            quantity=u.quantity,
            cost_usd=u.cost_usd,
        )
        for u in log.items
    ]
