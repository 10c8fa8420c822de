"""What the processes say about themselves in Redis, and whether the whole is ready.

- Worker heartbeats: each job worker writes a key of its own every few seconds (host, pid,
  when it started, its last beat, the jobs it runs), expiring a minute after its last beat,
  and indexed in a sorted set by the time of that beat.
- Outside services: one hash per service with its last success, its last failure and that
  failure's message (trimmed, with credentials scrubbed), written where we talk to them.
- Failed jobs: a short list, newest first, of jobs that failed and why.
- Readiness: the database answers, Redis answers, and a worker beat within the last minute.

Writers never raise: a Redis that does not answer must not fail the job or reply that was
being recorded (it is logged instead); readers report what they could not read.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import text

from services.db import SessionFactory

log = structlog.get_logger(__name__)

WORKERS_KEY = "socialbot:workers"  # sorted set: worker id → time of its last beat
WORKER_KEY = "socialbot:worker:"  # + worker id: the beat itself, as JSON
SERVICES_KEY = "socialbot:services"  # set of service names
SERVICE_KEY = "socialbot:service:"  # + name: hash of last_ok_at, last_error_at, last_error
FAILED_JOBS_KEY = "socialbot:failed-jobs"  # list of JSON entries, newest first
FAILED_JOBS_KEPT = 50
BEAT_EVERY_S = 10.0
BEAT_TTL_S = 60.0
READY_WITHIN_S = 60.0  # a worker counts as alive while its last beat is younger than this
CHECK_TIMEOUT_S = 3.0
ERROR_CHARS = 300

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def _epoch(at: datetime) -> float:
    return at.timestamp()


def _at(epoch: float | str | bytes | None) -> datetime | None:
    if epoch is None or epoch in (b"", ""):
        return None
    return datetime.fromtimestamp(float(epoch), UTC)


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


# --- scrubbing -------------------------------------------------------------------------------

# Error messages from HTTP clients carry URLs (with tokens in their query strings), and
# database or Redis errors may carry connection URLs. bot/logs.py redacts log lines; this
# layer cannot use it, so what is stored is cut down the same way here.
_CREDENTIALS = (
    re.compile(r"(?<=/bot)\d{3,}:[A-Za-z0-9_-]{20,}"),  # Telegram Bot API URLs
    re.compile(r"(?i)(?<=bearer )[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?<=://)[^:/@\s]*:[^@/\s]+(?=@)"),  # scheme://user:password@host
    re.compile(r"(?<=\?)[^\s\"'#]+"),  # every query string: tokens travel there
    re.compile(
        r"(?i)(?<![A-Za-z0-9_])(?:access_token|refresh_token|client_secret|api_key|token|key)"
        r"=[^\s&\"']+"
    ),
    re.compile(
        r"(?i)(?<=[\"'])(?:access_token|refresh_token|client_secret|api_key)[\"']:\s*[\"'][^\"']+"
    ),
)
REDACTED = "[redacted]"


def scrub(message: str, *, limit: int = ERROR_CHARS) -> str:
    """One line of `message`, credentials replaced, at most `limit` characters."""
    line = " ".join(message.split())
    for pattern in _CREDENTIALS:
        line = pattern.sub(REDACTED, line)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def describe(error: BaseException | str) -> str:
    """An exception as one scrubbed line: its message, or its type when it has none."""
    if isinstance(error, str):
        return scrub(error)
    return scrub(str(error).strip() or type(error).__name__)


async def _quietly(what: str, write: Awaitable[Any]) -> None:
    """Await a Redis write; a failure is logged, never raised."""
    try:
        await write
    except (RedisError, OSError) as exc:
        log.warning("health.unrecorded", what=what, error=describe(exc))


# --- worker heartbeats -----------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerBeat:
    """One worker process as it last described itself."""

    worker_id: str
    host: str
    pid: int
    queue: str
    started_at: datetime
    last_beat: datetime
    jobs_running: int = 0
    jobs_complete: int = 0
    jobs_failed: int = 0
    jobs_retried: int = 0

    def to_json(self) -> str:
        """The beat as stored in Redis."""
        data = asdict(self)
        data["started_at"] = _epoch(self.started_at)
        data["last_beat"] = _epoch(self.last_beat)
        return json.dumps(data)

    @classmethod
    def from_json(cls, raw: bytes | str) -> WorkerBeat:
        """A stored beat back."""
        data = json.loads(raw)
        data["started_at"] = _at(data["started_at"])
        data["last_beat"] = _at(data["last_beat"])
        return cls(**data)


async def write_beat(redis: Redis, beat: WorkerBeat, *, ttl_s: float = BEAT_TTL_S) -> None:
    """Store a worker's beat, expiring `ttl_s` after it (never raises)."""
    now = _epoch(beat.last_beat)
    pipe = redis.pipeline(transaction=False)
    pipe.set(WORKER_KEY + beat.worker_id, beat.to_json(), px=int(ttl_s * 1000))
    pipe.zadd(WORKERS_KEY, {beat.worker_id: now})
    pipe.zremrangebyscore(WORKERS_KEY, "-inf", now - 24 * 3600)  # long-gone workers
    await _quietly("worker.beat", pipe.execute())


async def remove_beat(redis: Redis, worker_id: str) -> None:
    """A worker that stops cleanly is gone at once, not a minute later (never raises)."""
    pipe = redis.pipeline(transaction=False)
    pipe.delete(WORKER_KEY + worker_id)
    pipe.zrem(WORKERS_KEY, worker_id)
    await _quietly("worker.gone", pipe.execute())


async def live_workers(
    redis: Redis, *, now: datetime | None = None, within_s: float = READY_WITHIN_S
) -> list[WorkerBeat]:
    """The workers whose last beat is younger than `within_s` and has not expired."""
    at = _epoch(now or utcnow())
    ids = [_text(i) for i in await redis.zrangebyscore(WORKERS_KEY, at - within_s, "+inf")]
    if not ids:
        return []
    raws = await redis.mget([WORKER_KEY + i for i in ids])
    beats = [WorkerBeat.from_json(raw) for raw in raws if raw]
    return sorted(
        (b for b in beats if at - _epoch(b.last_beat) < within_s),
        key=lambda b: (b.host, b.pid, b.worker_id),
    )


# --- outside services ------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceState:
    """What we last saw of one outside service."""

    name: str
    last_ok_at: datetime | None
    last_error_at: datetime | None
    last_error: str

    @property
    def failing(self) -> bool:
        """Whether the last thing we saw of it was a failure."""
        if self.last_error_at is None:
            return False
        return self.last_ok_at is None or self.last_error_at > self.last_ok_at


async def record_ok(redis: Redis, service: str, *, now: datetime | None = None) -> None:
    """A call to `service` succeeded (never raises)."""
    pipe = redis.pipeline(transaction=False)
    pipe.sadd(SERVICES_KEY, service)
    pipe.hset(SERVICE_KEY + service, "last_ok_at", str(_epoch(now or utcnow())))
    await _quietly(f"service.{service}", pipe.execute())


async def record_error(
    redis: Redis, service: str, error: BaseException | str, *, now: datetime | None = None
) -> None:
    """A call to `service` failed; its message is kept trimmed and scrubbed (never raises)."""
    pipe = redis.pipeline(transaction=False)
    pipe.sadd(SERVICES_KEY, service)
    pipe.hset(
        SERVICE_KEY + service,
        mapping={"last_error_at": str(_epoch(now or utcnow())), "last_error": describe(error)},
    )
    await _quietly(f"service.{service}", pipe.execute())


async def service_states(redis: Redis) -> list[ServiceState]:
    """Every service we have talked to, by name."""
    names = sorted(_text(n) for n in await redis.smembers(SERVICES_KEY))  # type: ignore[misc]
    if not names:
        return []
    pipe = redis.pipeline(transaction=False)
    for name in names:
        pipe.hgetall(SERVICE_KEY + name)
    states = []
    for name, raw in zip(names, await pipe.execute(), strict=True):
        data = {_text(k): _text(v) for k, v in raw.items()}
        states.append(
            ServiceState(
                name=name,
                last_ok_at=_at(data.get("last_ok_at")),
                last_error_at=_at(data.get("last_error_at")),
                last_error=data.get("last_error", ""),
            )
        )
    return states


# --- failed jobs -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FailedJob:
    """A job that failed, and why."""

    at: datetime
    job_id: str
    kind: str
    reason: str
    draft_id: int | None = None

    def to_json(self) -> str:
        """The entry as stored in Redis."""
        return json.dumps(asdict(self) | {"at": _epoch(self.at)})

    @classmethod
    def from_json(cls, raw: bytes | str) -> FailedJob:
        """A stored entry back."""
        data = json.loads(raw)
        at = _at(data.pop("at"))
        assert at is not None
        return cls(at=at, **data)


async def record_failed_job(redis: Redis, job: FailedJob) -> None:
    """Keep a failed job at the head of the list, which holds the latest few (never raises)."""
    pipe = redis.pipeline(transaction=False)
    pipe.lpush(FAILED_JOBS_KEY, job.to_json())
    pipe.ltrim(FAILED_JOBS_KEY, 0, FAILED_JOBS_KEPT - 1)
    await _quietly("job.failed", pipe.execute())


async def failed_jobs(redis: Redis, *, limit: int = 10) -> list[FailedJob]:
    """The latest failed jobs, newest first."""
    raws = await redis.lrange(FAILED_JOBS_KEY, 0, limit - 1)  # type: ignore[misc]
    return [FailedJob.from_json(raw) for raw in raws]


# --- readiness -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One readiness check: its name, whether it passed, and a line about it."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Readiness:
    """The database, Redis and the workers, each checked."""

    checks: tuple[Check, ...]
    workers: tuple[WorkerBeat, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return all(c.ok for c in self.checks)

    @property
    def failed(self) -> tuple[str, ...]:
        """The names of the checks that did not pass."""
        return tuple(c.name for c in self.checks if not c.ok)

    def to_dict(self) -> dict[str, Any]:
        """A JSON body for /readyz."""
        return {
            "status": "ready" if self.ok else "unready",
            "failed": list(self.failed),
            "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in self.checks},
        }


async def _timed(check: Awaitable[Any], timeout_s: float) -> None:
    await asyncio.wait_for(check, timeout_s)


async def _ping_database(sessions: SessionFactory) -> None:
    async with sessions() as session:
        await session.execute(text("SELECT 1"))


async def readiness(
    sessions: SessionFactory,
    redis: Redis,
    *,
    now: datetime | None = None,
    within_s: float = READY_WITHIN_S,
    timeout_s: float = CHECK_TIMEOUT_S,
) -> Readiness:
    """Check the database (SELECT 1), Redis (PING) and the workers' beats (one is enough)."""
    checks = []
    try:
        await _timed(_ping_database(sessions), timeout_s)
        checks.append(Check("database", True, "answers"))
    except Exception as exc:  # whatever stops it, the answer is "not ready, because …"
        checks.append(Check("database", False, describe(exc)))
    workers: list[WorkerBeat] = []
    try:
        await _timed(redis.ping(), timeout_s)
        checks.append(Check("redis", True, "answers"))
        workers = await live_workers(redis, now=now, within_s=within_s)
    except Exception as exc:
        checks.append(Check("redis", False, describe(exc)))
        checks.append(Check("workers", False, "unknown: Redis does not answer"))
        return Readiness(tuple(checks))
    if workers:
        at = now or utcnow()
        newest = max(b.last_beat for b in workers)
        ago = max(0.0, (at - newest).total_seconds())
        checks.append(Check("workers", True, f"{len(workers)} alive, last beat {ago:.0f} s ago"))
    else:
        checks.append(
            Check("workers", False, f"no worker has reported in the last {within_s:.0f} s")
        )
    return Readiness(tuple(checks), tuple(workers))
