"""The analytics cron job, and the App's way into `services.metrics` for digests and /stats."""

from __future__ import annotations

from typing import Any

import structlog

from handlers.app import App
from handlers.observe import record_collection
from services.metrics.collect import (
    CollectionReport,
    MetricsSources,
    collect,
    collect_for_workspace,
)

log = structlog.get_logger(__name__)

COLLECT_METRICS_JOB = "collect_metrics"
COLLECT_TIMEOUT_S = 600


def metrics_sources(app: App) -> MetricsSources:
    """What collecting needs, from the App (the outbox is the media folder's `outbox/`)."""
    return MetricsSources(
        sessions=app.sessions,
        outbox_root=app.media_dir / "outbox",
        platforms=app.platforms,
        accounts=app.accounts,
    )


async def collect_metrics(ctx: dict[str, Any]) -> str:
    """Cron: store the figures of every post that is due; a summary of what happened."""
    app: App = ctx["app"]
    report = await collect(metrics_sources(app))
    await record_collection(app, report)
    return report.summary()


async def collect_workspace_metrics(app: App, workspace_id: int) -> CollectionReport:
    """Bring one workspace's figures up to date (before its digest); what failed is reported."""
    return await collect_for_workspace(metrics_sources(app), workspace_id)
