"""Counters and histograms kept in Redis, and their Prometheus exposition.

Jobs run in worker processes, often on other machines, while `/metrics` is served by the bot
process. Rather than give every worker an endpoint of its own (one scrape target per worker,
to be found and kept up to date), every process adds to the same Redis hashes, and the bot's
`/metrics` reads them at scrape time into a registry of its own. One scrape target sees all;
a count survives a worker's restart (and is lost with Redis, which Prometheus reads as a
counter reset, as usual).

A counter is one hash (a field per set of label values); a histogram is one hash with a
field per label set and bucket (each observation adds to one bucket; the exposition sums
them into Prometheus' cumulative `le` buckets), plus its sum and count. Gauges (queue depth,
workers, jobs running, the services' last success and failure) are computed at scrape time.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Awaitable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.health import (
    ServiceState,
    WorkerBeat,
    describe,
    live_workers,
    service_states,
    utcnow,
)
from services.queue import CHAT_QUEUE, JOBS_QUEUE

log = structlog.get_logger(__name__)

PREFIX = "socialbot:metrics:"
QUEUES = {"jobs": JOBS_QUEUE, "chat": CHAT_QUEUE}
_SEP = "|"


@dataclass(frozen=True)
class CounterSpec:
    """A counter: its Prometheus name (without `_total`), help and label names."""

    name: str
    help: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class HistogramSpec:
    """A histogram: its name, help, label names and bucket upper bounds (ascending)."""

    name: str
    help: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...]


JOBS = CounterSpec(
    "socialbot_jobs",
    "Jobs that ended, by kind (the job's name) and outcome: ok, failed, retried.",
    ("kind", "outcome"),
)
PUBLISHES = CounterSpec(
    "socialbot_publishes",
    "Calls to publish a post (to the platform or its local outbox), by platform and outcome: "
    "published, failed, retry (the platform was busy), unconfirmed (the answer was lost).",
    ("platform", "outcome"),
)
RENDER_SECONDS = HistogramSpec(
    "socialbot_render_seconds",
    "Seconds to make one version of a draft: script, voice and video.",
    (),
    (5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0),
)
CHAT_REPLY_SECONDS = HistogramSpec(
    "socialbot_chat_reply_seconds",
    "Seconds from a chat update's arrival in the bot to its replies being sent, by frontend.",
    ("frontend",),
    (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
COUNTERS = (JOBS, PUBLISHES)
HISTOGRAMS = (RENDER_SECONDS, CHAT_REPLY_SECONDS)


def _field(values: Iterable[str]) -> str:
    return _SEP.join(v.replace(_SEP, "/") for v in values)


def _labels(spec: CounterSpec | HistogramSpec, values: tuple[str, ...]) -> tuple[str, ...]:
    if len(values) != len(spec.labels):
        raise ValueError(f"{spec.name} takes labels {spec.labels}, got {values}")
    return values


class Telemetry:
    """Adds to the shared counters and histograms in Redis; a write never raises."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def count(self, spec: CounterSpec, *labels: str, by: int = 1) -> None:
        """Add `by` to the counter with these label values."""
        key = PREFIX + spec.name
        pipe = self._redis.pipeline(transaction=False)
        pipe.hincrby(key, _field(_labels(spec, labels)), by)
        await self._quietly(spec.name, pipe.execute())

    async def observe(self, spec: HistogramSpec, value: float, *labels: str) -> None:
        """Record one observation of the histogram with these label values."""
        if not math.isfinite(value):
            return
        head = _field(_labels(spec, labels))
        bucket = bisect.bisect_left(spec.buckets, value)  # len(buckets): the +Inf bucket
        pipe = self._redis.pipeline(transaction=False)
        key = PREFIX + spec.name
        pipe.hincrby(key, f"{head}{_SEP}b{bucket}", 1)
        pipe.hincrbyfloat(key, f"{head}{_SEP}sum", value)
        pipe.hincrby(key, f"{head}{_SEP}count", 1)
        await self._quietly(spec.name, pipe.execute())

    async def _quietly(self, name: str, write: Awaitable[object]) -> None:
        try:
            await write
        except (RedisError, OSError) as exc:
            log.warning("telemetry.unrecorded", metric=name, error=describe(exc))


# --- reading, at scrape time -----------------------------------------------------------------


@dataclass(frozen=True)
class QueueDepth:
    """Jobs waiting in one queue: due now, and deferred to a later time (scheduled posts)."""

    due: int
    deferred: int


@dataclass(frozen=True)
class HistogramData:
    """One label set of a histogram: the count per bucket (last: +Inf), the sum and count."""

    buckets: tuple[int, ...]
    sum: float
    count: int


@dataclass(frozen=True)
class Snapshot:
    """Everything `/metrics` shows, read from Redis at one time."""

    counters: Mapping[str, Mapping[tuple[str, ...], float]] = field(default_factory=dict)
    histograms: Mapping[str, Mapping[tuple[str, ...], HistogramData]] = field(default_factory=dict)
    queues: Mapping[str, QueueDepth] = field(default_factory=dict)
    workers: tuple[WorkerBeat, ...] = ()
    services: tuple[ServiceState, ...] = ()


async def queue_depths(redis: Redis, *, now: datetime | None = None) -> dict[str, QueueDepth]:
    """Each queue's jobs: due now and deferred (arq keeps a queue as a sorted set by due time)."""
    now_ms = int((now or utcnow()).timestamp() * 1000)
    pipe = redis.pipeline(transaction=False)
    for queue in QUEUES.values():
        pipe.zcount(queue, "-inf", now_ms)
        pipe.zcount(queue, f"({now_ms}", "+inf")
    counts = await pipe.execute()
    return {
        name: QueueDepth(due=int(counts[2 * i]), deferred=int(counts[2 * i + 1]))
        for i, name in enumerate(QUEUES)
    }


def _split(raw: Mapping[bytes, bytes]) -> Iterator[tuple[tuple[str, ...], str, float]]:
    for key, value in raw.items():
        *labels, part = key.decode().split(_SEP)
        yield tuple(labels), part, float(value)


async def read_snapshot(redis: Redis, *, now: datetime | None = None) -> Snapshot:
    """The counters, histograms, queue depths, live workers and services, from Redis."""
    pipe = redis.pipeline(transaction=False)
    for spec in (*COUNTERS, *HISTOGRAMS):
        pipe.hgetall(PREFIX + spec.name)
    raws = await pipe.execute()
    counters: dict[str, dict[tuple[str, ...], float]] = {}
    for spec, raw in zip(COUNTERS, raws, strict=False):
        counters[spec.name] = {
            tuple(key.decode().split(_SEP)): float(value) for key, value in raw.items()
        }
    histograms: dict[str, dict[tuple[str, ...], HistogramData]] = {}
    for spec, raw in zip(HISTOGRAMS, raws[len(COUNTERS) :], strict=True):
        parts: dict[tuple[str, ...], dict[str, float]] = defaultdict(dict)
        for labels, part, value in _split(raw):
            parts[labels if spec.labels else ()][part] = value
        histograms[spec.name] = {
            labels: HistogramData(
                buckets=tuple(int(p.get(f"b{i}", 0)) for i in range(len(spec.buckets) + 1)),
                sum=p.get("sum", 0.0),
                count=int(p.get("count", 0)),
            )
            for labels, p in parts.items()
        }
    return Snapshot(
        counters=counters,
        histograms=histograms,
        queues=await queue_depths(redis, now=now),
        workers=tuple(await live_workers(redis, now=now)),
        services=tuple(await service_states(redis)),
    )


class _SnapshotCollector(Collector):
    """Turns a snapshot into metric families for one scrape."""

    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        """The families, counters and histograms first, then the gauges."""
        snap = self._snapshot
        for spec in COUNTERS:
            counter = CounterMetricFamily(spec.name, spec.help, labels=spec.labels)
            for labels, value in sorted(snap.counters.get(spec.name, {}).items()):
                counter.add_metric(labels, value)
            yield counter
        for hspec in HISTOGRAMS:
            histogram = HistogramMetricFamily(hspec.name, hspec.help, labels=hspec.labels)
            for labels, data in sorted(snap.histograms.get(hspec.name, {}).items()):
                bounds = [*(str(b) for b in hspec.buckets), "+Inf"]
                cumulative, running = [], 0
                for bound, n in zip(bounds, data.buckets, strict=True):
                    running += n
                    cumulative.append((bound, float(running)))
                histogram.add_metric(labels, cumulative, data.sum)
            yield histogram
        depth = GaugeMetricFamily(
            "socialbot_queue_depth",
            "Jobs waiting in a queue: due now, or deferred to a later time (scheduled posts).",
            labels=("queue", "state"),
        )
        for name, queue in sorted(snap.queues.items()):
            depth.add_metric((name, "due"), queue.due)
            depth.add_metric((name, "deferred"), queue.deferred)
        yield depth
        yield GaugeMetricFamily(
            "socialbot_workers", "Job workers that beat within the last minute.", len(snap.workers)
        )
        yield GaugeMetricFamily(
            "socialbot_jobs_running",
            "Jobs the live workers are running.",
            sum(w.jobs_running for w in snap.workers),
        )
        ok = GaugeMetricFamily(
            "socialbot_service_last_success_timestamp_seconds",
            "When a call to an outside service last succeeded (Unix time).",
            labels=("service",),
        )
        failed = GaugeMetricFamily(
            "socialbot_service_last_failure_timestamp_seconds",
            "When a call to an outside service last failed (Unix time).",
            labels=("service",),
        )
        for service in snap.services:
            if service.last_ok_at is not None:
                ok.add_metric((service.name,), service.last_ok_at.timestamp())
            if service.last_error_at is not None:
                failed.add_metric((service.name,), service.last_error_at.timestamp())
        yield ok
        yield failed


def exposition(snapshot: Snapshot) -> bytes:
    """The snapshot in Prometheus' text format, through a registry of its own."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SnapshotCollector(snapshot))
    return generate_latest(registry)
