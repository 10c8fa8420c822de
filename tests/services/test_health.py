"""Heartbeats, outside services' outcomes, failed jobs and the shared counters, on real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio
from prometheus_client.parser import text_string_to_metric_families

from services.health import (
    FAILED_JOBS_KEPT,
    FailedJob,
    WorkerBeat,
    failed_jobs,
    live_workers,
    record_error,
    record_failed_job,
    record_ok,
    remove_beat,
    scrub,
    service_states,
    write_beat,
)
from services.telemetry import (
    CHAT_REPLY_SECONDS,
    JOBS,
    RENDER_SECONDS,
    Telemetry,
    exposition,
    read_snapshot,
)

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
async def client(redis_server_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    redis_client = redis.asyncio.Redis.from_url(redis_server_url)
    yield redis_client
    await redis_client.aclose()


def beat(worker_id: str, at: datetime, **values: int) -> WorkerBeat:
    return WorkerBeat(worker_id, "host-a", 41, "socialbot:jobs", NOW, at, **values)


async def test_workers_count_while_their_beat_is_fresh(client: redis.asyncio.Redis) -> None:
    await write_beat(client, beat("w1", NOW, jobs_running=2))
    await write_beat(client, beat("w2", NOW - timedelta(seconds=40)))
    alive = await live_workers(client, now=NOW + timedelta(seconds=15))
    assert [(w.worker_id, w.jobs_running) for w in alive] == [("w1", 2), ("w2", 0)]
    assert alive[0].last_beat == NOW and alive[0].started_at == NOW
    later = await live_workers(client, now=NOW + timedelta(seconds=15), within_s=30)
    assert [w.worker_id for w in later] == ["w1"]
    await remove_beat(client, "w1")
    assert [w.worker_id for w in await live_workers(client, now=NOW)] == ["w2"]


async def test_a_beat_expires_on_its_own(client: redis.asyncio.Redis) -> None:
    now = datetime.now(UTC)
    await write_beat(client, beat("w1", now), ttl_s=0.2)
    assert await live_workers(client, now=now)
    await asyncio.sleep(0.3)
    assert await live_workers(client, now=now) == []


async def test_service_outcomes_keep_the_latest_and_scrub_the_error(
    client: redis.asyncio.Redis,
) -> None:
    await record_ok(client, "publish:youtube", now=NOW)
    await record_error(
        client,
        "publish:youtube",
        RuntimeError(
            "GET https://graph.example/v1/me?fields=id&access_token=EAAGsecret failed:\n"
            "Authorization: Bearer abcdefghijklmnop; postgresql://bot:hunter2@db/x"
        ),
        now=NOW + timedelta(minutes=1),
    )
    await record_ok(client, "writer:openai", now=NOW + timedelta(minutes=2))
    states = {s.name: s for s in await service_states(client)}
    youtube = states["publish:youtube"]
    assert youtube.failing and youtube.last_ok_at == NOW
    assert youtube.last_error_at == NOW + timedelta(minutes=1)
    for secret in ("EAAGsecret", "abcdefghijklmnop", "hunter2"):
        assert secret not in youtube.last_error
    assert youtube.last_error.startswith("GET https://graph.example/v1/me?[redacted] failed:")
    assert "\n" not in youtube.last_error
    assert not states["writer:openai"].failing and states["writer:openai"].last_error_at is None


def test_scrub_trims_and_keeps_what_is_not_a_credential() -> None:
    assert scrub("YouTube is busy (HTTP 503); try later") == "YouTube is busy (HTTP 503); try later"
    assert scrub("token=abc123456 and key=zzz") == "[redacted] and [redacted]"
    assert len(scrub("x" * 1000)) == 300


async def test_failed_jobs_newest_first_and_capped(client: redis.asyncio.Redis) -> None:
    for n in range(FAILED_JOBS_KEPT + 5):
        job = FailedJob(NOW + timedelta(seconds=n), f"publish:{n}", "publish_draft", f"no {n}", n)
        await record_failed_job(client, job)
    latest = await failed_jobs(client, limit=3)
    assert [j.job_id for j in latest] == ["publish:54", "publish:53", "publish:52"]
    assert latest[0].draft_id == 54 and latest[0].at == NOW + timedelta(seconds=54)
    assert await client.llen("socialbot:failed-jobs") == FAILED_JOBS_KEPT


async def test_counters_and_histograms_add_up_across_writers(
    client: redis.asyncio.Redis, redis_server_url: str
) -> None:
    other = redis.asyncio.Redis.from_url(redis_server_url)  # another process, say
    for writer in (Telemetry(client), Telemetry(other)):
        await writer.count(JOBS, "generate_draft", "ok")
        await writer.observe(RENDER_SECONDS, 12.0)
        await writer.observe(CHAT_REPLY_SECONDS, 0.03, "telegram")
    await Telemetry(client).count(JOBS, "publish_draft", "retried", by=3)
    await Telemetry(client).observe(RENDER_SECONDS, 20.0)  # on a bound: in that bucket
    await Telemetry(client).observe(RENDER_SECONDS, 9999.0)
    await Telemetry(client).observe(RENDER_SECONDS, float("nan"))  # dropped
    await other.aclose()
    with pytest.raises(ValueError, match="takes labels"):
        await Telemetry(client).count(JOBS, "generate_draft")

    text = exposition(await read_snapshot(client, now=NOW)).decode()
    found = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert found[("socialbot_jobs_total", (("kind", "generate_draft"), ("outcome", "ok")))] == 2
    assert found[("socialbot_jobs_total", (("kind", "publish_draft"), ("outcome", "retried")))] == 3
    assert found[("socialbot_render_seconds_bucket", (("le", "10.0"),))] == 0
    assert found[("socialbot_render_seconds_bucket", (("le", "20.0"),))] == 3
    assert found[("socialbot_render_seconds_bucket", (("le", "600.0"),))] == 3
    assert found[("socialbot_render_seconds_bucket", (("le", "+Inf"),))] == 4
    assert found[("socialbot_render_seconds_count", ())] == 4
    assert found[("socialbot_render_seconds_sum", ())] == pytest.approx(12 + 12 + 20 + 9999)
    latency = (("frontend", "telegram"), ("le", "0.05"))
    assert found[("socialbot_chat_reply_seconds_bucket", latency)] == 2
    assert found[("socialbot_workers", ())] == 0
