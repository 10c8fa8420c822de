"""What the jobs tell monitoring: outside services' outcomes, publish counts, render times.

Everything here is best effort: a Redis or database that does not answer must not change
what the job or reply does, so recording never raises.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from redis.asyncio import Redis

from handlers.app import App
from services.health import record_error, record_ok
from services.metrics.collect import CollectionReport
from services.publishing import (
    Checkpoint,
    Publisher,
    PublishError,
    PublishRequest,
    PublishResult,
    RetryLater,
    Unconfirmed,
    no_checkpoint,
)
from services.telemetry import PUBLISHES, RENDER_SECONDS, Telemetry


def service_name(kind: str, engine: object) -> str:
    """`writer:openai`, `voice:espeak`: the kind of service and which one is configured."""
    name = type(engine).__name__.lower()
    for suffix in (kind, "writer", "voice"):
        name = name.removesuffix(suffix)
    return f"{kind}:{name or 'default'}"


@contextlib.asynccontextmanager
async def service_call(
    app: App, service: str, *, not_theirs: tuple[type[BaseException], ...] = ()
) -> AsyncIterator[None]:
    """Record the block's outcome as `service`'s last success or failure. An exception in
    `not_theirs` says nothing about the service (a refusal of ours) and is not recorded."""
    try:
        yield
    except not_theirs:
        raise
    except Exception as exc:
        await record_error(app.queue, service, exc)
        raise
    await record_ok(app.queue, service)


async def observe_render(app: App, seconds: float) -> None:
    """One version made in `seconds` (never raises)."""
    await Telemetry(app.queue).observe(RENDER_SECONDS, seconds)


async def record_collection(app: App, report: CollectionReport) -> None:
    """A metrics collection run: each platform read is a success, each problem a failure."""
    for platform, stored in sorted(report.collected.items()):
        if stored and platform not in report.failed_platforms:
            await record_ok(app.queue, f"metrics:{platform}")
    for problem in report.problems:
        await record_error(app.queue, f"metrics:{problem.platform}", problem.line())


class ObservedPublisher:
    """A `Publisher` that counts each publish by platform and outcome and records the
    platform's (or the outbox's) last success and failure."""

    def __init__(self, redis: Redis, inner: Publisher, *, platform: str, service: str) -> None:
        self._redis = redis
        self._inner = inner
        self._platform = platform
        self._service = service

    async def publish(
        self, request: PublishRequest, checkpoint: Checkpoint = no_checkpoint
    ) -> PublishResult:
        """Publish through the wrapped publisher, recording the outcome."""
        try:
            result = await self._inner.publish(request, checkpoint)
        except PublishError as exc:
            await self._outcome(_publish_outcome(exc), exc)
            raise
        except Exception as exc:
            await self._outcome("failed", exc)
            raise
        await self._outcome("published")
        return result

    async def confirm(self, request: PublishRequest) -> PublishResult | None:
        """Look the post up through the wrapped publisher, recording the service's answer."""
        try:
            found = await self._inner.confirm(request)
        except Exception as exc:
            await record_error(self._redis, self._service, exc)
            raise
        await record_ok(self._redis, self._service)
        if found is not None:
            await Telemetry(self._redis).count(PUBLISHES, self._platform, "published")
        return found

    async def _outcome(self, outcome: str, error: BaseException | None = None) -> None:
        await Telemetry(self._redis).count(PUBLISHES, self._platform, outcome)
        if error is None:
            await record_ok(self._redis, self._service)
        else:
            await record_error(self._redis, self._service, error)


def _publish_outcome(exc: PublishError) -> str:
    if isinstance(exc, RetryLater):
        return "retry"
    if isinstance(exc, Unconfirmed):
        return "unconfirmed"
    return "failed"


def observed_publisher(app: App, platform: str, inner: Publisher, *, outbox: bool) -> Publisher:
    """`inner`, counted under the post's platform and recorded as the service it calls (the
    local outbox as `publish:outbox`)."""
    service = "publish:outbox" if outbox else f"publish:{platform}"
    return ObservedPublisher(app.queue, inner, platform=platform, service=service)
