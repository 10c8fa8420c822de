"""/readyz follows the workers and the database, /metrics counts what the jobs did,
`/admin status` and `socialbot status` tell an operator what is going on."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio
import structlog
from arq.worker import FailedJobs
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from bot.console import ConsoleChat
from bot.logs import configure_logging
from bot.monitoring import replying
from bot.runtime import Runtime, jobs_worker, open_runtime, running
from bot.status import run_status
from bot.web import create_web_app
from handlers.buttons import Verb, encode
from handlers.drafts import PUBLISH_JOB
from handlers.port import Incoming, Reply
from handlers.router import handle
from services.links import MediaLinks
from services.models import Draft, DraftState
from services.signing import Signer
from tests.conftest import PG_HOST, make_settings, postgres_database, run_jobs
from tests.fakes.tcp_proxy import TcpProxy

CHAT = "console:team"
SOCIALBOT = Path(sys.executable).parent / "socialbot"
FAST_BEAT = {"beat_every_s": 0.1, "beat_ttl_s": 1.0, "cron_jobs": []}


def web_app(runtime: Runtime) -> FastAPI:
    links = MediaLinks(
        signer=Signer(key=b"k" * 32, purpose="media"), store=runtime.app.store, public_url=None
    )
    return create_web_app(links=links, app=runtime.app)


@contextlib.asynccontextmanager
async def web_client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=web_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
        yield client


async def eventually(
    probe: Callable[[], Awaitable[httpx.Response]], status: int, *, within_s: float = 5.0
) -> httpx.Response:
    """Probe until the answer has `status` (a worker beats, a key expires), or fail."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        response = await probe()
        if response.status_code == status or asyncio.get_running_loop().time() > deadline:
            assert response.status_code == status, response.text
            return response
        await asyncio.sleep(0.05)


async def say(app: Any, text: str, *, user: str = "olga", button: str | None = None) -> Reply:
    incoming = Incoming(CHAT, f"console:{user}", user, text=text, button=button)
    return (await handle(app, incoming))[0]


@pytest.fixture
async def runtime(tmp_path: Path, redis_server_url: str) -> AsyncIterator[Runtime]:
    settings = make_settings(tmp_path / "media", REDIS_URL=redis_server_url)
    async with open_runtime(settings) as rt:
        yield rt


async def test_readyz_follows_the_worker(runtime: Runtime) -> None:
    async with web_client(runtime) as client:
        assert (await client.get("/healthz")).status_code == 200
        down = await client.get("/readyz")
        assert down.status_code == 503
        assert down.json()["failed"] == ["workers"]
        assert down.json()["checks"]["database"]["ok"] and down.json()["checks"]["redis"]["ok"]

        async with running(jobs_worker(runtime, **FAST_BEAT)):
            up = await eventually(lambda: client.get("/readyz"), 200)
            assert up.json()["status"] == "ready"
            assert "1 alive" in up.json()["checks"]["workers"]["detail"]
        # stopped cleanly: its heartbeat goes with it
        assert (await client.get("/readyz")).status_code == 503

        # killed: the heartbeat stays until it expires (1 s here, a minute by default)
        killed = jobs_worker(runtime, **FAST_BEAT)
        task = asyncio.create_task(killed.async_run())
        await eventually(lambda: client.get("/readyz"), 200)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert (await client.get("/readyz")).status_code == 200
        gone = await eventually(lambda: client.get("/readyz"), 503, within_s=3.0)
        assert gone.json()["failed"] == ["workers"]
        await killed.close()

        async with running(jobs_worker(runtime, **FAST_BEAT)):
            await eventually(lambda: client.get("/readyz"), 200)


async def test_readyz_unready_while_the_database_is_unreachable(
    tmp_path: Path, redis_server_url: str
) -> None:
    async with postgres_database() as url, TcpProxy(host=PG_HOST, port=5432) as proxy:
        proxied = url.replace(f"@{PG_HOST}/", f"@127.0.0.1:{proxy.port}/")
        settings = make_settings(
            tmp_path / "media", DATABASE_URL=proxied, REDIS_URL=redis_server_url
        )
        async with (
            open_runtime(settings, apply_migrations=True) as rt,
            web_client(rt) as client,
            running(jobs_worker(rt, **FAST_BEAT)),
        ):
            await eventually(lambda: client.get("/readyz"), 200)
            await proxy.cut()
            down = await client.get("/readyz")
            assert down.status_code == 503
            assert down.json()["failed"] == ["database"]
            await proxy.restore()
            await eventually(lambda: client.get("/readyz"), 200)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text page, by name and sorted labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.mark.slow
async def test_metrics_count_a_finished_job_and_its_publishes(runtime: Runtime) -> None:
    app, console = runtime.app, ConsoleChat(out=io.StringIO(), chat_ref=CHAT)
    async with web_client(runtime) as client:
        before = samples((await client.get("/metrics")).text)
        assert ("socialbot_jobs_total", (("kind", "generate_draft"), ("outcome", "ok"))) not in (
            before
        )
        await say(app, "/start")
        assert (
            "queued"
            in (await say(app, "/draft a 6 second clip about tea for TikTok and YouTube")).text
        )
        queued = samples((await client.get("/metrics")).text)
        assert queued[("socialbot_queue_depth", (("queue", "jobs"), ("state", "due")))] == 1

        await run_jobs(runtime, console)
        await say(app, "", button=encode(Verb.APPROVE, 1))
        await run_jobs(runtime, console)

        page = await client.get("/metrics")
        assert page.headers["content-type"].startswith("text/plain")
        after = samples(page.text)
    jobs = (("kind", "generate_draft"), ("outcome", "ok"))
    assert after[("socialbot_jobs_total", jobs)] == 1
    assert after[("socialbot_jobs_total", (("kind", "publish_draft"), ("outcome", "ok")))] == 1
    for platform in ("tiktok", "youtube"):
        key = (("outcome", "published"), ("platform", platform))
        assert after[("socialbot_publishes_total", key)] == 1
    assert after[("socialbot_render_seconds_count", ())] == 1
    assert after[("socialbot_render_seconds_sum", ())] > 0
    assert after[("socialbot_queue_depth", (("queue", "jobs"), ("state", "due")))] == 0
    for service in ("publish:outbox", "voice:espeak", "writer:offline"):
        assert ("socialbot_service_last_success_timestamp_seconds", (("service", service),)) in (
            after
        )


async def test_admin_status_is_for_owners_and_names_a_failed_job(runtime: Runtime) -> None:
    app = runtime.app
    await say(app, "/start")
    await say(app, "hello", user="sam")  # joins as a creator
    refused = await say(app, "/admin status", user="sam")
    assert refused.alert and "Only an owner" in refused.text
    assert "Use /admin status" in (await say(app, "/admin")).text

    await say(app, "/draft a 6 second clip about tea")
    async with app.sessions.begin() as session:  # approved, yet without a version to publish
        await session.execute(update(Draft).values(state=DraftState.APPROVED))
    await app.queue.enqueue_job(PUBLISH_JOB, 1, _job_id="publish:1")
    worker = jobs_worker(runtime, burst=True, poll_delay=0, cron_jobs=[])
    try:
        await worker.async_run()
    finally:
        await worker.close()
    assert worker.jobs_failed == 1

    status = (await say(app, "/admin status")).text
    assert "not ready: workers" in status  # the burst worker is gone
    assert re.search(r"publish_draft \(draft #1\) \[publish:1\]: draft 1 has no version 0", status)
    assert "Queues: jobs 0 waiting" in status
    assert "media store: FAILED" not in status
    # Another team's owner on the same deployment does not see this team's draft jobs.
    other = await handle(app, Incoming("console:other", "console:zoe", "zoe", text="/start"))
    assert "now a workspace" in other[0].text
    theirs = await handle(
        app, Incoming("console:other", "console:zoe", "zoe", text="/admin status")
    )
    assert "Failed jobs" in theirs[0].text and "publish:1" not in theirs[0].text


@pytest.fixture
def json_log(tmp_path: Path) -> Iterator[Path]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level, structlog.get_config()
    path = tmp_path / "socialbot.log"
    configure_logging(level="INFO", file=path)
    yield path
    for handler in root.handlers:
        handler.close()
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    structlog.configure(**saved[2])


@pytest.mark.slow
async def test_log_lines_carry_the_job_draft_and_chat(runtime: Runtime, json_log: Path) -> None:
    app, console = runtime.app, ConsoleChat(out=io.StringIO(), chat_ref=CHAT)
    await say(app, "/start")
    await say(app, "/draft a 6 second clip about tea")
    await run_jobs(runtime, console)
    await say(app, "/draft a 6 second clip about coffee")
    async with app.sessions.begin() as session:  # approved, yet without a version to publish
        await session.execute(update(Draft).where(Draft.id == 2).values(state="approved"))
    await app.queue.enqueue_job(PUBLISH_JOB, 2, _job_id="publish:2")
    with contextlib.suppress(FailedJobs):
        await run_jobs(runtime, console)
    incoming = Incoming(CHAT, "console:olga", "olga", button=encode(Verb.REJECT, 1))
    async with replying(app, incoming, frontend="console"):
        structlog.get_logger("test").info("handling.press")

    lines = [json.loads(line) for line in json_log.read_text().splitlines()]
    done = [line for line in lines if line["event"] == "generate.done"]
    assert len(done) == 1
    assert done[0]["job"] == "generate_draft" and done[0]["job_id"].startswith("generate:1:1")
    assert done[0]["draft_id"] == 1 and done[0]["chat_ref"] == CHAT
    assert done[0]["level"] == "info" and done[0]["logger"] == "handlers.generate"
    failed = [line for line in lines if line.get("job_id") == "publish:2"]
    assert {line["logger"] for line in failed} == {"arq.worker", "handlers.job_records"}
    for line in failed:  # arq's own report of the failure too
        assert line["draft_id"] == 2 and line["chat_ref"] == CHAT and line["job"] == PUBLISH_JOB
    assert "has no version" in next(x for x in failed if x["logger"] == "arq.worker")["exception"]
    pressed = [line for line in lines if line["event"] == "handling.press"]
    assert pressed[0]["chat_ref"] == CHAT and pressed[0]["draft_id"] == 1
    latency = samples((await _metrics(runtime)).text)
    assert latency[("socialbot_chat_reply_seconds_count", (("frontend", "console"),))] == 1


async def _metrics(runtime: Runtime) -> httpx.Response:
    async with web_client(runtime) as client:
        return await client.get("/metrics")


async def test_socialbot_status_exit_code(tmp_path: Path, redis_server_url: str) -> None:
    settings = make_settings(tmp_path / "media", REDIS_URL=redis_server_url)
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "LOG_LEVEL"}}
    env |= {"REDIS_URL": redis_server_url, "MEDIA_DIR": str(tmp_path / "media")}

    async def status() -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            str(SOCIALBOT),
            "status",
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode is not None
        return process.returncode, out.decode() + err.decode()

    async with open_runtime(settings) as rt:
        code, text = await status()
        assert code == 1, text
        assert "not ready: workers" in text
        async with running(jobs_worker(rt, **FAST_BEAT)):
            await asyncio.sleep(0.3)
            code, text = await status()
        assert code == 0, text
        assert "✅ ready" in text and "Workers (1)" in text

    out = io.StringIO()
    no_redis = make_settings(tmp_path / "media")
    assert await run_status(no_redis, out=out) == 1
    assert "REDIS_URL is not set" in out.getvalue()
    client = redis.asyncio.Redis.from_url(redis_server_url)
    assert await client.exists("socialbot:workers") == 0  # the worker removed its beat
    await client.aclose()
