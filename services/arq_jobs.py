"""arq's own records of jobs, read and changed for the jobs monitor.

arq keeps each job as a few Redis keys: its definition (`arq:job:<id>`), its place in the
queue (a sorted set scored by due time), an in-progress mark while a worker runs it, and its
result (`arq:result:<id>`, kept an hour) once it ended. This module reads those (queued and
finished jobs; services.status reads the running ones), takes a job that has not started off
the queue, and asks the workers to abort one that is running (arq's abort set).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from arq.constants import (
    abort_jobs_ss,
    in_progress_key_prefix,
    job_key_prefix,
    result_key_prefix,
    retry_key_prefix,
)
from arq.jobs import DeserializationError, JobResult, deserialize_job, deserialize_result
from redis.asyncio import Redis
from redis.exceptions import WatchError

RESULTS_READ = 500  # finished jobs read at most (arq keeps each result an hour)
WITHDRAWN_MARK_MS = 10_000  # how long a withdrawn job's id stays marked as taken


class JobState(StrEnum):
    """Where a job is, as arq sees it."""

    QUEUED = "queued"  # due: the next free worker takes it
    DEFERRED = "deferred"  # due later (a scheduled post's wake-up, a retry's back-off)
    RUNNING = "running"
    DONE = "done"  # ended, as a success or a failure (see `success`)
    GONE = "gone"  # arq has no record of it (its result expired)


@dataclass(frozen=True)
class JobRecord:
    """One job as arq records it."""

    job_id: str
    function: str
    args: tuple[object, ...]
    state: JobState
    job_try: int | None = None
    enqueued_at: datetime | None = None
    due_at: datetime | None = None  # queued and deferred jobs
    started_at: datetime | None = None  # finished jobs
    finished_at: datetime | None = None
    success: bool | None = None
    result: object = None

    @property
    def duration_s(self) -> float | None:
        """How long a finished job ran."""
        if self.started_at is None or self.finished_at is None:
            return None
        return max(0.0, (self.finished_at - self.started_at).total_seconds())

    @property
    def cancelled(self) -> bool:
        """Whether it ended because it was aborted."""
        return isinstance(self.result, asyncio.CancelledError)


def _from_ms(ms: float) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _finished(job_id: str, result: JobResult) -> JobRecord:
    return JobRecord(
        job_id=job_id,
        function=result.function,
        args=tuple(result.args),
        state=JobState.DONE,
        job_try=result.job_try,
        enqueued_at=result.enqueue_time,
        started_at=result.start_time,
        finished_at=result.finish_time,
        success=result.success,
        result=result.result,
    )


async def queued_jobs(redis: Redis, queue: str, *, now: datetime) -> list[JobRecord]:
    """The jobs waiting in `queue` (due now or later), soonest first; a job a worker has
    just taken (it has an in-progress mark) is left out."""
    entries = await redis.zrange(queue, 0, -1, withscores=True)
    if not entries:
        return []
    ids = [raw.decode() for raw, _ in entries]
    pipe = redis.pipeline(transaction=False)
    for job_id in ids:
        pipe.get(job_key_prefix + job_id)
        pipe.exists(in_progress_key_prefix + job_id)
    answers = await pipe.execute()
    jobs = []
    for index, (job_id, (_, score)) in enumerate(zip(ids, entries, strict=True)):
        raw, running = answers[2 * index], answers[2 * index + 1]
        if not raw or running:
            continue
        try:
            job = deserialize_job(raw)
        except DeserializationError:
            continue
        due = _from_ms(score)
        jobs.append(
            JobRecord(
                job_id=job_id,
                function=job.function,
                args=tuple(job.args),
                state=JobState.DEFERRED if due > now else JobState.QUEUED,
                job_try=job.job_try,
                enqueued_at=job.enqueue_time,
                due_at=due,
            )
        )
    return jobs


async def finished_jobs(redis: Redis, *, limit: int = RESULTS_READ) -> list[JobRecord]:
    """Jobs whose result arq still keeps, the latest to finish first."""
    ids: list[str] = []
    async for key in redis.scan_iter(match=result_key_prefix + "*", count=500):
        ids.append(key.decode().removeprefix(result_key_prefix))
        if len(ids) >= limit:
            break
    if not ids:
        return []
    raws = await redis.mget([result_key_prefix + i for i in ids])
    jobs = []
    for job_id, raw in zip(ids, raws, strict=True):
        if not raw:
            continue
        try:
            jobs.append(_finished(job_id, deserialize_result(raw)))
        except DeserializationError:
            continue
    jobs.sort(key=lambda j: j.finished_at or j.enqueued_at or _from_ms(0), reverse=True)
    return jobs


async def tries(redis: Redis, job_ids: list[str]) -> dict[str, int]:
    """How many times each job has been started (arq counts them in its retry keys)."""
    if not job_ids:
        return {}
    raws = await redis.mget([retry_key_prefix + i for i in job_ids])
    return {i: int(raw) for i, raw in zip(job_ids, raws, strict=True) if raw}


async def find_job(redis: Redis, queue: str, job_id: str, *, now: datetime) -> JobRecord:
    """What arq knows of one job now (state GONE when it knows nothing)."""
    pipe = redis.pipeline(transaction=False)
    pipe.get(result_key_prefix + job_id)
    pipe.exists(in_progress_key_prefix + job_id)
    pipe.get(job_key_prefix + job_id)
    pipe.zscore(queue, job_id)
    result, running, raw, score = await pipe.execute()
    try:
        if result:
            return _finished(job_id, deserialize_result(result))
        if raw:
            job = deserialize_job(raw)
            due = _from_ms(score) if score is not None else None
            state = (
                JobState.RUNNING
                if running
                else JobState.DEFERRED
                if due is not None and due > now
                else JobState.QUEUED
            )
            return JobRecord(
                job_id,
                job.function,
                tuple(job.args),
                state,
                job_try=job.job_try,
                enqueued_at=job.enqueue_time,
                due_at=due,
            )
    except DeserializationError:
        pass
    return JobRecord(job_id, "", (), JobState.GONE)


async def withdraw(redis: Redis, queue: str, job_id: str) -> bool:
    """Take a job that no worker has started off the queue; False if one has started it.

    The job's in-progress key is watched and then set for a few seconds, so that a worker
    taking the job at this very moment either wins (and this returns False) or backs off.
    """
    mark = in_progress_key_prefix + job_id
    async with redis.pipeline(transaction=True) as pipe:
        try:
            await pipe.watch(mark)
            if await pipe.exists(mark) or await pipe.zscore(queue, job_id) is None:
                return False
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.zrem(queue, job_id)
            pipe.delete(job_key_prefix + job_id, retry_key_prefix + job_id)
            pipe.set(mark, b"withdrawn", px=WITHDRAWN_MARK_MS)
            await pipe.execute()
        except WatchError:
            return False
    return True


async def abort(redis: Redis, job_id: str, *, timeout_s: float, poll_s: float = 0.1) -> bool:
    """Ask the workers to cancel a running job and wait up to `timeout_s` for it to end
    cancelled. False when it ended otherwise or not in time; the request is then taken back,
    so a job that did not stop now is not stopped later by surprise."""
    await redis.zadd(abort_jobs_ss, {job_id: int(time.time() * 1000)})
    deadline = time.monotonic() + timeout_s
    while True:
        raw = await redis.get(result_key_prefix + job_id)
        if raw:
            await redis.zrem(abort_jobs_ss, job_id)
            try:
                return _finished(job_id, deserialize_result(raw)).cancelled
            except DeserializationError:
                return False
        if time.monotonic() >= deadline:
            await redis.zrem(abort_jobs_ss, job_id)
            return False
        await asyncio.sleep(poll_s)
