"""A job's records: the draft and chat it concerns (bound to its log lines), and its end,
counted by kind and outcome, with a failed job's reason kept for the status.

Best effort, like all monitoring: a database or Redis that does not answer leaves a record
out, never changes what the job does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import structlog
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from handlers.app import App
from handlers.drafts import GENERATE_JOB, PUBLISH_JOB
from services.health import FailedJob, describe, record_failed_job, utcnow
from services.models import Draft, Publication, PublicationState
from services.scheduling import PUBLISH_AT_JOB
from services.telemetry import JOBS, Telemetry

log = structlog.get_logger(__name__)

DRAFT_JOBS = frozenset({GENERATE_JOB, PUBLISH_JOB, PUBLISH_AT_JOB})  # first argument: draft id


def draft_of(name: str, args: Sequence[Any]) -> int | None:
    """The draft a job concerns, from its arguments (None for jobs about no one draft)."""
    if name not in DRAFT_JOBS or not args:
        return None
    try:
        return int(args[0])
    except (TypeError, ValueError):
        return None


async def job_context(app: App | None, name: str, args: Sequence[Any]) -> dict[str, Any]:
    """The draft (and its chat) a job concerns, for every log line it writes."""
    draft_id = draft_of(name, args)
    if draft_id is None:
        return {}
    fields: dict[str, Any] = {"draft_id": draft_id}
    if app is None:
        return fields
    try:
        async with app.sessions() as session:
            chat_ref = await session.scalar(select(Draft.chat_ref).where(Draft.id == draft_id))
    except (SQLAlchemyError, OSError):  # the job itself meets the outage and retries
        return fields
    if chat_ref:
        fields["chat_ref"] = chat_ref
    return fields


async def failure_reason(app: App | None, draft_id: int | None) -> str:
    """Why a job that returned "failed" failed: its draft's error, else its failed posts'."""
    if app is None or draft_id is None:
        return "failed"
    try:
        async with app.sessions() as session:
            draft = await session.get(Draft, draft_id)
            if draft is not None and draft.error:
                return describe(draft.error)
            errors = (
                await session.scalars(
                    select(Publication.platform + ": " + Publication.error).where(
                        Publication.draft_id == draft_id,
                        Publication.state == PublicationState.FAILED,
                        Publication.error.is_not(None),
                    )
                )
            ).all()
    except (SQLAlchemyError, OSError):
        return "failed"
    return describe("; ".join(e for e in errors if e) or "failed")


async def job_ended(
    app: App | None,
    redis: Redis,
    *,
    kind: str,
    job_id: str,
    outcome: str,
    error: BaseException | None = None,
    draft_id: int | None = None,
    now: datetime | None = None,
) -> None:
    """Count a job's end by kind and outcome; keep a failed one's reason for the status."""
    await Telemetry(redis).count(JOBS, kind, outcome)
    if outcome != "failed":
        return
    reason = describe(error) if error is not None else await failure_reason(app, draft_id)
    if error is not None and not str(error).strip():
        reason = type(error).__name__
    entry = FailedJob(
        at=now or utcnow(),
        job_id=job_id,
        kind=kind,
        reason=reason,
        draft_id=draft_id,
    )
    log.warning("job.failed", reason=reason)
    await record_failed_job(redis, entry)
