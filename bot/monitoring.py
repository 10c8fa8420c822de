"""Monitoring in the processes: job workers that beat and count, and replies that are timed.

`ObservedWorker` is the base of the job worker (`HeartbeatWorker`): it writes its heartbeat
to Redis every `beat_every_s` from its poll loop (so a worker whose loop is stuck stops
beating), and removes it when it closes. Each job's id, name, draft and chat are bound to
every log line the job causes, arq's own included; every job function is wrapped so that its
end is counted by kind and outcome and a failure's reason is kept for `socialbot status` and
`/admin status` (as are the failures arq decides without running the job).

`replying` wraps a frontend's handling of one update: its log lines carry the chat (and the
draft of a pressed button), and the time from the update's arrival to its replies being sent
goes into the chat latency histogram.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

from arq import Retry
from arq.constants import job_key_prefix
from arq.jobs import DeserializationError, deserialize_job, deserialize_result
from arq.typing import WorkerCoroutine
from arq.worker import Worker
from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from redis.asyncio import Redis
from redis.exceptions import RedisError
from structlog.contextvars import bound_contextvars

from handlers.app import App
from handlers.buttons import BadButton, decode
from handlers.job_records import draft_of, job_context, job_ended
from handlers.port import Incoming
from services.health import (
    BEAT_EVERY_S,
    BEAT_TTL_S,
    WorkerBeat,
    describe,
    readiness,
    record_error,
    record_ok,
    remove_beat,
    utcnow,
    write_beat,
)
from services.telemetry import CHAT_REPLY_SECONDS, Telemetry, exposition, read_snapshot


class ObservedWorker(Worker):
    """An arq worker that beats in Redis and observes every job it runs."""

    def __init__(
        self,
        *args: Any,
        beat_every_s: float = BEAT_EVERY_S,
        beat_ttl_s: float = BEAT_TTL_S,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.beat_every_s = beat_every_s
        self.beat_ttl_s = beat_ttl_s
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.started_at = utcnow()
        self._last_beat: float | None = None
        for name, function in list(self.functions.items()):
            observed = self._observed(name, function.coroutine)
            self.functions[name] = dataclasses.replace(function, coroutine=observed)

    async def heart_beat(self) -> None:
        """arq's beat (health key, cron), then ours, every `beat_every_s`."""
        await super().heart_beat()
        now = time.monotonic()
        if self._last_beat is not None and now - self._last_beat < self.beat_every_s:
            return
        self._last_beat = now
        beat = WorkerBeat(
            worker_id=self.worker_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            queue=self.queue_name,
            started_at=self.started_at,
            last_beat=utcnow(),
            jobs_running=sum(not t.done() for t in self.tasks.values()),
            jobs_complete=self.jobs_complete,
            jobs_failed=self.jobs_failed,
            jobs_retried=self.jobs_retried,
        )
        await write_beat(self.pool, beat, ttl_s=self.beat_ttl_s)

    async def run_job(self, job_id: str, score: int) -> None:
        """Run the job with its id, name, draft and chat on every log line, arq's included."""
        fields: dict[str, Any] = {"job_id": job_id}
        try:
            raw = await self.pool.get(job_key_prefix + job_id)
            if raw is not None:
                job = deserialize_job(raw, deserializer=self.job_deserializer)
                fields["job"] = job.function
                fields |= await job_context(self.ctx.get("app"), job.function, job.args)
        except (RedisError, OSError, DeserializationError):
            pass  # arq meets (and reports) the same problem in a moment
        with bound_contextvars(**fields):
            await super().run_job(job_id, score)

    async def finish_failed_job(self, job_id: str, result_data: bytes | None) -> None:
        """arq fails some jobs without running them (out of tries, expired): keep why."""
        await super().finish_failed_job(job_id, result_data)
        if result_data is None:
            return
        try:
            result = deserialize_result(result_data, deserializer=self.job_deserializer)
        except DeserializationError:
            return
        error = result.result if isinstance(result.result, BaseException) else None
        await job_ended(
            self.ctx.get("app"),
            self.pool,
            kind=result.function,
            job_id=job_id,
            outcome="failed",
            error=error or RuntimeError(str(result.result)),
            draft_id=draft_of(result.function, result.args),
        )

    async def close(self) -> None:
        """Stop; a worker that stops cleanly leaves no heartbeat behind."""
        if self._pool is not None:
            await remove_beat(self.pool, self.worker_id)
        await super().close()

    def _observed(self, name: str, job: WorkerCoroutine) -> WorkerCoroutine:
        """`job` with its try on its log lines (`run_job` bound the rest), its end recorded."""

        @functools.wraps(job)
        async def run(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
            app: App | None = ctx.get("app")
            job_id = str(ctx.get("job_id", ""))
            ended = functools.partial(
                job_ended, app, self.pool, kind=name, job_id=job_id, draft_id=draft_of(name, args)
            )
            with bound_contextvars(job=name, job_id=job_id, job_try=ctx.get("job_try")):
                try:
                    result = await job(ctx, *args, **kwargs)
                except Retry:
                    await ended(outcome="retried")
                    raise
                except Exception as exc:
                    await ended(outcome="failed", error=exc)
                    raise
                await ended(outcome="failed" if result == "failed" else "ok")
                return result

        return cast(WorkerCoroutine, run)


def _draft_of(incoming: Incoming) -> int | None:
    if incoming.button is None:
        return None
    try:
        return decode(incoming.button).draft_id
    except BadButton:
        return None


@contextlib.asynccontextmanager
async def chat_call(redis: Redis | None, frontend: str) -> AsyncIterator[None]:
    """Record the block (sending to a chat) as the chat service's last success or failure."""
    try:
        yield
    except Exception as exc:
        if redis is not None:
            await record_error(redis, f"chat:{frontend}", exc)
        raise
    if redis is not None:
        await record_ok(redis, f"chat:{frontend}")


@contextlib.asynccontextmanager
async def replying(app: App, incoming: Incoming, *, frontend: str) -> AsyncIterator[None]:
    """Handle one update inside: its chat (and pressed draft) on every log line; when the
    block has sent the replies, the time since arrival goes into the latency histogram and
    the chat service's last success; a block that raises is the chat service's failure."""
    started = time.monotonic()
    fields: dict[str, Any] = {"chat_ref": incoming.chat_ref, "user_ref": incoming.user_ref}
    draft_id = _draft_of(incoming)
    if draft_id is not None:
        fields["draft_id"] = draft_id
    with bound_contextvars(**fields):
        async with chat_call(app.queue, frontend):
            yield
        seconds = time.monotonic() - started
        await Telemetry(app.queue).observe(CHAT_REPLY_SECONDS, seconds, frontend)


def add_monitoring_routes(web: FastAPI, app: App) -> None:
    """`/readyz` (200 when the database, Redis and a worker answer, else 503 naming what did
    not) and `/metrics` (Prometheus text, read from Redis at scrape time)."""

    @web.get("/readyz")
    async def readyz() -> JSONResponse:
        ready = await readiness(app.sessions, app.queue)
        return JSONResponse(ready.to_dict(), status_code=200 if ready.ok else 503)

    @web.get("/metrics")
    async def metrics() -> Response:
        try:
            snapshot = await read_snapshot(app.queue)
        except (RedisError, OSError) as exc:
            return PlainTextResponse(f"redis: {describe(exc)}\n", status_code=503)
        return Response(exposition(snapshot), media_type=CONTENT_TYPE_LATEST)
