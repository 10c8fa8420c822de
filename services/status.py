"""The system's status, for `socialbot status` and `/admin status`: one function, one text.

Queue depths, the jobs running now (arq's in-progress marks, with each job's function and
arguments), the latest failed jobs and why, the workers and their last beat, and each outside
service's last success and last failure; readiness on top.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from arq.constants import in_progress_key_prefix, job_key_prefix
from arq.jobs import DeserializationError, deserialize_job
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.db import SessionFactory
from services.health import (
    FailedJob,
    Readiness,
    ServiceState,
    WorkerBeat,
    describe,
    failed_jobs,
    readiness,
    service_states,
    utcnow,
)
from services.storage import MediaStore
from services.telemetry import QueueDepth, queue_depths

RUNNING_SHOWN = 20
FAILED_SHOWN = 10


@dataclass(frozen=True)
class RunningJob:
    """A job some worker is running now."""

    job_id: str
    function: str
    args: tuple[object, ...]
    job_try: int | None
    enqueued_at: datetime | None


@dataclass(frozen=True)
class SystemStatus:
    """Everything the status shows, read at `now`."""

    now: datetime
    readiness: Readiness
    queues: dict[str, QueueDepth]
    running: tuple[RunningJob, ...]
    failed: tuple[FailedJob, ...]
    workers: tuple[WorkerBeat, ...]
    services: tuple[ServiceState, ...]
    store: str | None = None  # the media store's check: None when it answered
    unreadable: str | None = None  # why the queue's part could not be read

    @property
    def ready(self) -> bool:
        """Whether the database, Redis and a worker all answered."""
        return self.readiness.ok


async def running_jobs(redis: Redis, *, limit: int = RUNNING_SHOWN) -> list[RunningJob]:
    """Jobs with an in-progress mark whose definition is still there (a finished cron job's
    mark outlives it a little, without one)."""
    ids: list[str] = []
    async for key in redis.scan_iter(match=in_progress_key_prefix + "*", count=500):
        ids.append(key.decode().removeprefix(in_progress_key_prefix))
    if not ids:
        return []
    raws = await redis.mget([job_key_prefix + i for i in ids])
    jobs = []
    for job_id, raw in zip(ids, raws, strict=True):
        if not raw:
            continue
        try:
            job = deserialize_job(raw)
        except DeserializationError:
            continue
        jobs.append(RunningJob(job_id, job.function, job.args, job.job_try, job.enqueue_time))
    jobs.sort(key=lambda j: (j.enqueued_at is None, j.enqueued_at or utcnow(), j.job_id))
    return jobs[:limit]


async def system_status(
    sessions: SessionFactory,
    redis: Redis,
    *,
    store: MediaStore | None = None,
    now: datetime | None = None,
) -> SystemStatus:
    """Read the status; what cannot be read (Redis down) is said, not raised."""
    at = now or utcnow()
    ready = await readiness(sessions, redis, now=at)
    store_problem = None
    if store is not None:
        try:
            await store.check()
        except Exception as exc:  # any failure is the answer: it is shown, not raised
            store_problem = describe(exc)
    empty = SystemStatus(at, ready, {}, (), (), ready.workers, (), store_problem)
    if "redis" in ready.failed:
        return dataclasses.replace(empty, unreadable="Redis does not answer")
    try:
        return SystemStatus(
            now=at,
            readiness=ready,
            queues=await queue_depths(redis, now=at),
            running=tuple(await running_jobs(redis)),
            failed=tuple(await failed_jobs(redis, limit=FAILED_SHOWN)),
            workers=ready.workers,
            services=tuple(await service_states(redis)),
            store=store_problem,
        )
    except (RedisError, OSError) as exc:
        return dataclasses.replace(empty, unreadable=describe(exc))


def _ago(at: datetime | None, now: datetime) -> str:
    if at is None:
        return "never"
    seconds = max(0, int((now - at).total_seconds()))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min ago"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def _args(args: tuple[object, ...]) -> str:
    text = ", ".join(repr(a) for a in args)
    return text if len(text) <= 60 else text[:59] + "…"


def status_text(status: SystemStatus) -> str:
    """The status as plain lines, for a terminal or a chat."""
    now = status.now
    head = "✅ ready" if status.ready else "⚠️ not ready: " + ", ".join(status.readiness.failed)
    lines = [f"socialbot status — {head}"]
    for check in status.readiness.checks:
        lines.append(f"  {check.name}: {'ok' if check.ok else 'FAILED'} — {check.detail}")
    if status.store is not None:
        lines.append(f"  media store: FAILED — {status.store}")
    if status.unreadable:
        lines.append(f"(queues, jobs and services unknown: {status.unreadable})")
        return "\n".join(lines)
    lines.append("")
    lines.append(
        "Queues: "
        + "; ".join(
            f"{name} {q.due} waiting" + (f", {q.deferred} scheduled" if q.deferred else "")
            for name, q in status.queues.items()
        )
    )
    lines.append(f"Workers ({len(status.workers)}):")
    for w in status.workers:
        lines.append(
            f"  {w.host} pid {w.pid}: last beat {_ago(w.last_beat, now)}, "
            f"{w.jobs_running} running, up since {w.started_at:%Y-%m-%d %H:%M} UTC "
            f"({w.jobs_complete} done, {w.jobs_failed} failed, {w.jobs_retried} retried)"
        )
    if not status.workers:
        lines.append("  none has reported in the last minute")
    lines.append(f"Running jobs ({len(status.running)}):")
    for job in status.running:
        tries = f", try {job.job_try}" if job.job_try and job.job_try > 1 else ""
        since = f", queued {_ago(job.enqueued_at, now)}" if job.enqueued_at else ""
        lines.append(f"  {job.job_id}: {job.function}({_args(job.args)}){tries}{since}")
    lines.append(f"Failed jobs, latest first ({len(status.failed)}):")
    for failed in status.failed:
        draft = f" (draft #{failed.draft_id})" if failed.draft_id is not None else ""
        lines.append(
            f"  {_ago(failed.at, now)} {failed.kind}{draft} [{failed.job_id}]: {failed.reason}"
        )
    lines.append("Outside services (last success · last failure):")
    for service in status.services:
        mark = "⚠️ " if service.failing else ""
        error = f" — {service.last_error}" if service.last_error_at is not None else ""
        lines.append(
            f"  {mark}{service.name}: {_ago(service.last_ok_at, now)} · "
            f"{_ago(service.last_error_at, now)}{error}"
        )
    if not status.services:
        lines.append("  none called yet")
    return "\n".join(lines)
