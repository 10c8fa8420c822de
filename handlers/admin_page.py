"""What the jobs monitor page shows one owner, read in one go.

The status `/admin status` prints (services.status: readiness, queue depths, running jobs,
workers, outside services) plus what a page has room for: the jobs waiting in the queue,
the jobs that ended within the hour (arq keeps their results that long) with their duration,
attempts and outcome, older failures from the failed list, the periodic jobs summed up, and
today's costs. Other workspaces' draft jobs are left out, as in `/admin status`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from handlers.actor import Actor
from handlers.admin_jobs import (
    DraftInfo,
    cancellable,
    failed,
    own_drafts,
    retryable,
)
from handlers.app import App
from handlers.drafts import GENERATE_JOB, PUBLISH_JOB
from handlers.job_records import draft_of
from services.arq_jobs import JobRecord, JobState, finished_jobs, queued_jobs, tries
from services.health import FAILED_JOBS_KEPT, FailedJob, describe, failed_jobs, utcnow
from services.queue import JOBS_QUEUE
from services.scheduling import PUBLISH_AT_JOB, zone_of
from services.stats import Cost, cost_of
from services.stats_inputs import Period
from services.stats_query import load_usage
from services.status import SystemStatus, system_status

RECENT_SHOWN = 30
QUEUED_SHOWN = 30


class RowState(StrEnum):
    """A job's state as the page words it."""

    QUEUED = "queued"
    SCHEDULED = "due later"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class JobRow:
    """One job on the page."""

    job_id: str
    kind: str
    draft_id: int | None
    state: RowState
    stage: str  # where its draft is (running, waiting) or what it returned (ended)
    attempts: int | None
    at: datetime | None  # queued: when it is due; running: when it was queued; ended: when
    duration_s: float | None = None
    reason: str = ""
    can_retry: bool = False
    can_cancel: bool = False


@dataclass(frozen=True)
class PeriodicRow:
    """A job that runs on its own schedule, summed up over the results arq still keeps."""

    kind: str
    runs: int
    failures: int
    last_at: datetime | None
    last_ok: bool


@dataclass(frozen=True)
class MonitorPage:
    """Everything the page shows, read at `status.now`."""

    status: SystemStatus
    queued: tuple[JobRow, ...]
    running: tuple[JobRow, ...]
    recent: tuple[JobRow, ...]
    periodic: tuple[PeriodicRow, ...]
    cost: Cost
    cost_since: datetime  # the start of today in the workspace's time zone


async def monitor_page(app: App, actor: Actor, *, now: datetime | None = None) -> MonitorPage:
    """Read the page for `actor`'s workspace; what Redis cannot give is said by the status."""
    at = now or utcnow()
    status = await system_status(app.sessions, app.queue, store=app.store, now=at)
    cost, since = await costs_today(app, actor, at)
    if status.unreadable:
        return MonitorPage(status, (), (), (), (), cost, since)
    waiting = await queued_jobs(app.queue, JOBS_QUEUE, now=at)
    ended = await finished_jobs(app.queue)
    failures = await failed_jobs(app.queue, limit=FAILED_JOBS_KEPT)
    ids = [draft_of(j.function, j.args) for j in status.running]
    ids += [draft_of(j.function, j.args) for j in (*waiting, *ended)]
    ids += [f.draft_id for f in failures]
    drafts = await own_drafts(app, actor, (i for i in ids if i is not None))
    rows = _Rows(drafts, {f.job_id: f for f in failures})
    started = await tries(
        app.queue, [j.job_id for j in status.running] + [j.job_id for j in waiting]
    )
    running = tuple(
        rows.running(j.job_id, j.function, j.args, started.get(j.job_id), j.enqueued_at)
        for j in status.running
        if rows.visible(j.function, j.args)
    )
    queued = tuple(
        rows.waiting(j, started.get(j.job_id)) for j in waiting if rows.visible(j.function, j.args)
    )
    return MonitorPage(
        status=status,
        queued=queued[:QUEUED_SHOWN],
        running=running,
        recent=_recent(rows, ended, failures),
        periodic=_periodic(j for j in ended if draft_of(j.function, j.args) is None),
        cost=cost,
        cost_since=since,
    )


async def costs_today(app: App, actor: Actor, now: datetime) -> tuple[Cost, datetime]:
    """What the workspace's metered use has cost since midnight in its time zone."""
    local = now.astimezone(zone_of(actor.workspace.timezone))
    since = local.replace(hour=0, minute=0, second=0, microsecond=0)
    period = Period(since.astimezone(UTC), now + timedelta(seconds=1))
    async with app.sessions() as session:
        usage = await load_usage(session, actor.workspace.id, period=period)
    return cost_of(usage, period), since


class _Rows:
    """Turns arq's records into rows, knowing the workspace's drafts and the failures' reasons."""

    def __init__(self, drafts: dict[int, DraftInfo], failures: dict[str, FailedJob]) -> None:
        self.drafts = drafts
        self.failures = failures

    def visible(self, kind: str, args: tuple[object, ...]) -> bool:
        """Jobs of this workspace's drafts, and jobs of no draft (as `/admin status` shows)."""
        draft_id = draft_of(kind, args)
        return draft_id is None or draft_id in self.drafts

    def _draft(self, kind: str, args: tuple[object, ...]) -> DraftInfo | None:
        draft_id = draft_of(kind, args)
        return self.drafts.get(draft_id) if draft_id is not None else None

    def running(
        self,
        job_id: str,
        kind: str,
        args: tuple[object, ...],
        job_try: int | None,
        enqueued_at: datetime | None,
    ) -> JobRow:
        """A job a worker runs now."""
        draft = self._draft(kind, args)
        return JobRow(
            job_id,
            kind,
            draft.id if draft else None,
            RowState.RUNNING,
            stage_of(kind, args, draft),
            job_try,
            enqueued_at,
            can_cancel=draft is not None and cancellable(kind, JobState.RUNNING, draft),
        )

    def waiting(self, job: JobRecord, started: int | None) -> JobRow:
        """A job in the queue, due now or later (`started` times before, if it was)."""
        draft = self._draft(job.function, job.args)
        deferred = job.state is JobState.DEFERRED
        return JobRow(
            job.job_id,
            job.function,
            draft.id if draft else None,
            RowState.SCHEDULED if deferred else RowState.QUEUED,
            stage_of(job.function, job.args, draft),
            started,
            job.due_at,
            can_cancel=draft is not None and cancellable(job.function, job.state, draft),
        )

    def ended(self, job: JobRecord) -> JobRow:
        """A job whose result arq keeps: done, failed (and why) or cancelled."""
        draft = self._draft(job.function, job.args)
        state, reason = RowState.DONE, ""
        if job.cancelled:
            state, reason = RowState.CANCELLED, "cancelled"
        elif failed(job):
            state = RowState.FAILED
            known = self.failures.get(job.job_id)
            reason = known.reason if known else describe(_failure(job.result))
        return JobRow(
            job.job_id,
            job.function,
            draft.id if draft else None,
            state,
            str(job.result)[:60] if state is RowState.DONE and job.result is not None else "",
            job.job_try,
            job.finished_at,
            job.duration_s,
            reason,
            can_retry=draft is not None and failed(job) and retryable(job.function, draft),
        )

    def forgotten(self, failure: FailedJob) -> JobRow:
        """A failure from the failed list whose arq result has expired."""
        draft = self.drafts.get(failure.draft_id) if failure.draft_id is not None else None
        return JobRow(
            failure.job_id,
            failure.kind,
            failure.draft_id,
            RowState.FAILED,
            "",
            None,
            failure.at,
            reason=failure.reason,
            can_retry=draft is not None and retryable(failure.kind, draft),
        )


def _failure(result: object) -> BaseException | str:
    return result if isinstance(result, BaseException) else str(result or "failed")


def _recent(rows: _Rows, ended: list[JobRecord], failures: list[FailedJob]) -> tuple[JobRow, ...]:
    """Draft jobs that ended (and other jobs that failed), the latest first."""
    shown = [
        rows.ended(j)
        for j in ended
        if rows.visible(j.function, j.args)
        and (draft_of(j.function, j.args) is not None or failed(j))
    ]
    seen = {j.job_id for j in ended}
    for failure in failures:
        is_own = failure.draft_id is None or failure.draft_id in rows.drafts
        if failure.job_id not in seen and is_own:
            shown.append(rows.forgotten(failure))
    shown.sort(key=lambda r: r.at or datetime.min.replace(tzinfo=UTC), reverse=True)
    return tuple(shown[:RECENT_SHOWN])


def _periodic(ended: Iterable[JobRecord]) -> tuple[PeriodicRow, ...]:
    """Each job of no draft (the periodic ones): runs kept, failures, the last run."""
    by_kind: dict[str, list[JobRecord]] = defaultdict(list)
    for job in ended:
        by_kind[job.function].append(job)
    summary = []
    for kind, jobs in sorted(by_kind.items()):
        last = jobs[0]  # finished_jobs lists the latest first
        summary.append(
            PeriodicRow(
                kind, len(jobs), sum(failed(j) for j in jobs), last.finished_at, not failed(last)
            )
        )
    return tuple(summary)


def stage_of(kind: str, args: tuple[object, ...], draft: DraftInfo | None) -> str:
    """Where a waiting or running job's draft is: the version being made, or its posts."""
    if draft is None:
        return ""
    state = f"draft {draft.state.value.replace('_', ' ')}"
    if kind == GENERATE_JOB and len(args) > 1:
        return f"v{args[1]}: {draft.making or state}"
    if kind in (PUBLISH_JOB, PUBLISH_AT_JOB) and draft.posts:
        return f"{state}: " + ", ".join(f"{p} {s}" for p, s in draft.posts)
    return state
