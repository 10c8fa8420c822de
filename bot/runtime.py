"""Building the application from settings, and running its workers inside one process."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

import structlog
from arq import Retry
from arq.connections import RedisSettings
from arq.constants import in_progress_key_prefix
from arq.cron import CronJob, cron
from arq.typing import WorkerCoroutine
from arq.worker import Function, Worker, func
from sqlalchemy.exc import DBAPIError

from bot.adapter import ChatAdapter, deliver_reply
from bot.monitoring import ObservedWorker
from handlers.app import App
from handlers.campaign_runs import CAMPAIGN_CRON_JOB, CAMPAIGN_JOB_TIMEOUT_S, run_campaigns
from handlers.chat_queue import DELIVER_JOB, QueueChatSender
from handlers.digests import DIGEST_CRON_JOB, post_due_digests
from handlers.drafts import GENERATE_JOB, PUBLISH_JOB
from handlers.generate import generate_draft
from handlers.metrics import COLLECT_METRICS_JOB, COLLECT_TIMEOUT_S, collect_metrics
from handlers.publish import MAX_TRIES as PUBLISH_TRIES
from handlers.publish import publish_draft
from handlers.schedule import RECONCILE_JOB, publish_scheduled, reconcile_schedules
from services.accounts import AccountService, ConnectLinks, TokenCipher
from services.admin_logins import AdminLogins
from services.db import SessionFactory, make_engine, make_sessions, migrate
from services.links import MediaLinks
from services.outbox import OutboxPublisher
from services.publishers.registry import PlatformClients
from services.queue import CHAT_QUEUE, JOBS_QUEUE, open_queue
from services.review_links import ReviewLinks
from services.scheduling import PUBLISH_AT_JOB
from services.settings import Settings
from services.signing import Signer
from services.storage import MediaStore, S3Store
from services.usage import Prices
from services.voice import EspeakVoice, Voice
from services.writer import OfflineWriter, RequestReader, Writer

RENDER_TIMEOUT_S = 900
log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Runtime:
    """The application plus what the process needs to run workers against its queue."""

    app: App
    redis: RedisSettings
    worker_jobs: int = 2
    job_lease_s: float = 60.0


@asynccontextmanager
async def open_runtime(
    settings: Settings, *, apply_migrations: bool | None = None
) -> AsyncIterator[Runtime]:
    """Database, queue and content services, opened together and closed in reverse order."""
    settings.media_dir.mkdir(parents=True, exist_ok=True)
    url = settings.sqlalchemy_url
    if apply_migrations if apply_migrations is not None else url.startswith("sqlite"):
        await migrate(url)
    engine = make_engine(url)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(engine.dispose)
        queue = open_queue(redis_url=settings.redis_url, media_dir=settings.media_dir)
        pool, redis = await stack.enter_async_context(queue)
        writer, reader = _writer(settings, stack)
        sessions = make_sessions(engine)
        store = await open_store(settings)
        app = App(
            sessions=sessions,
            queue=pool,
            chat=QueueChatSender(queue=pool, store=store),
            writer=writer,
            reader=reader,
            voice=_voice(settings, stack),
            publisher=OutboxPublisher(root=settings.outbox_dir),
            media_dir=settings.media_dir,
            store=store,
            prices=Prices(
                llm_input_per_mtok=settings.openai_price_input_per_mtok if reader else 0.0,
                llm_output_per_mtok=settings.openai_price_output_per_mtok if reader else 0.0,
                voice_per_1k_chars=(
                    settings.elevenlabs_price_per_1k_chars if settings.elevenlabs_api_key else 0.0
                ),
                render_per_minute=settings.render_cost_per_minute_usd,
            ),
            max_upload_bytes=settings.max_upload_mb * 1024 * 1024,
            generations_per_hour=settings.generations_per_hour,
            job_lease_s=settings.job_lease_s,
            fetch_allow=settings.fetch_allow_entries,
            **_publishing(settings, sessions, store),
        )
        yield Runtime(app, redis, settings.worker_jobs, settings.job_lease_s)


async def open_store(settings: Settings) -> MediaStore:
    """The S3-compatible store when S3_BUCKET is set (its bucket created if missing), else
    the media folder."""
    if settings.s3_bucket is None:
        return MediaStore(settings.media_dir)
    store = S3Store(
        settings.media_dir,
        bucket=settings.s3_bucket,
        prefix=settings.s3_prefix,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=(
            settings.s3_secret_access_key.get_secret_value()
            if settings.s3_secret_access_key
            else None
        ),
    )
    await store.create_bucket()
    log.info("media.store", bucket=settings.s3_bucket, endpoint=settings.s3_endpoint_url)
    return store


def secret_key(settings: Settings) -> bytes | None:
    """SECRET_KEY's bytes, or None when it is not set."""
    return settings.secret_key.get_secret_value().encode() if settings.secret_key else None


def _publishing(
    settings: Settings, sessions: SessionFactory, store: MediaStore
) -> dict[str, Any]:
    """Connected accounts (need SECRET_KEY and PUBLIC_URL), platform clients, media links."""
    key = secret_key(settings)
    parts: dict[str, Any] = {"platforms": PlatformClients(settings)}
    if key is None:
        return parts
    parts["links"] = MediaLinks(
        signer=Signer(key=key, purpose="media"),
        store=store,
        public_url=settings.public_url,
    )
    if settings.public_url:
        parts["admin_logins"] = AdminLogins(
            signer=Signer(key=key, purpose="admin-session"), public_url=settings.public_url
        )
        parts["reviews"] = ReviewLinks(
            signer=Signer(key=key, purpose="review"),
            public_url=settings.public_url,
            ttl_h=settings.review_link_ttl_h,
        )
        parts["accounts"] = AccountService(
            sessions=sessions,
            cipher=TokenCipher(key),
            signer=Signer(key=key, purpose="oauth-state"),
            links=ConnectLinks(settings.public_url),
        )
    return parts


def _writer(settings: Settings, stack: AsyncExitStack) -> tuple[Writer, RequestReader | None]:
    """The model writer when OPENAI_API_KEY is set, else the offline one (which reads nothing)."""
    if settings.openai_api_key is None:
        return OfflineWriter(), None
    from services.model_writer import OpenAIWriter

    writer = OpenAIWriter(
        api_key=settings.openai_api_key.get_secret_value(),
        base_url=settings.openai_base_url,
        model=settings.openai_model,
        price_input_per_mtok=settings.openai_price_input_per_mtok,
        price_output_per_mtok=settings.openai_price_output_per_mtok,
    )
    stack.push_async_callback(writer.aclose)
    return writer, writer


def _voice(settings: Settings, stack: AsyncExitStack) -> Voice:
    """ElevenLabs when ELEVENLABS_API_KEY is set, else eSpeak NG from its wheel."""
    if settings.elevenlabs_api_key is None:
        return EspeakVoice(words_per_minute=130)  # eSpeak runs ~20% fast: ~155 wpm heard
    from services.elevenlabs_voice import ElevenLabsVoice

    voice = ElevenLabsVoice(
        api_key=settings.elevenlabs_api_key.get_secret_value(),
        base_url=settings.elevenlabs_base_url,
        default_voice_id=settings.elevenlabs_voice_id,
        model_id=settings.elevenlabs_model_id,
        price_per_1k_chars=settings.elevenlabs_price_per_1k_chars,
    )
    stack.push_async_callback(voice.aclose)
    return voice


UNAVAILABLE_RETRIES = 10  # tries of a job while the database cannot be reached


def retry_when_unavailable(job: WorkerCoroutine) -> WorkerCoroutine:
    """Turn "the database (or another service) cannot be reached" into a later retry.

    arq gives up on a job that raises; a job that met a database that was briefly down should
    run again once it is back, not leave its draft stuck. Retries back off: 10 s, 20 s, … 60 s.
    """

    @functools.wraps(job)
    async def run(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await job(ctx, *args, **kwargs)
        except (DBAPIError, ConnectionError) as exc:
            tries = int(ctx.get("job_try", 1))
            log.warning(
                "job.unavailable",
                job=getattr(job, "__name__", "job"),
                job_try=tries,
                error=str(exc)[:200],
            )
            raise Retry(defer=min(60, 10 * tries)) from exc

    return cast(WorkerCoroutine, run)


def job_functions() -> list[Function]:
    """The job queue's functions, under the names the handlers enqueue them by."""
    retries = max(PUBLISH_TRIES, UNAVAILABLE_RETRIES)
    return [
        func(
            retry_when_unavailable(generate_draft),
            name=GENERATE_JOB,
            timeout=RENDER_TIMEOUT_S,
            max_tries=UNAVAILABLE_RETRIES,
        ),
        func(retry_when_unavailable(publish_draft), name=PUBLISH_JOB, max_tries=retries),
        func(retry_when_unavailable(publish_scheduled), name=PUBLISH_AT_JOB, max_tries=retries),
    ]


def cron_jobs() -> list[CronJob]:
    """Periodic jobs: every minute, re-queue scheduled posts the queue lost (and at start)."""
    return [
        cron(reconcile_schedules, name=RECONCILE_JOB, second=0, run_at_startup=True, timeout=60),
        # Every five minutes (and at start, to catch a slot missed while down): due digests.
        cron(
            post_due_digests,
            name=DIGEST_CRON_JOB,
            minute=set(range(0, 60, 5)),
            second=15,
            run_at_startup=True,
            timeout=600,
        ),
        # Every 15 minutes: the figures of published posts that are due (services.metrics).
        cron(
            collect_metrics,
            name=COLLECT_METRICS_JOB,
            minute={0, 15, 30, 45},
            second=30,
            timeout=COLLECT_TIMEOUT_S,
        ),
        # Every minute (and at start, for a slot missed while down): campaign runs that are
        # due, and campaign drafts whose time to be rejected has passed.
        cron(
            run_campaigns,
            name=CAMPAIGN_CRON_JOB,
            second=45,
            run_at_startup=True,
            timeout=CAMPAIGN_JOB_TIMEOUT_S,
        ),
    ]


class HeartbeatWorker(ObservedWorker):
    """An arq worker whose running jobs keep their in-progress mark alive while they run.

    arq marks a running job in Redis for the longest job timeout (15 minutes, for renders)
    and no other worker takes the job while the mark lasts. Here the mark lasts `lease_s`
    (JOB_LEASE_S, a minute by default) and is renewed four times as often while the job runs,
    so a job whose worker was killed (or whose machine went away) runs again on another
    worker within that time.
    """

    def __init__(self, *args: Any, lease_s: float = 60.0, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abort_jobs", True)  # the jobs monitor's Cancel (arq abort)
        super().__init__(*args, **kwargs)
        self.in_progress_timeout_s = lease_s

    async def run_job(self, job_id: str, score: int) -> None:
        """Run the job as arq does, renewing its in-progress mark until it ends."""
        key = in_progress_key_prefix + job_id
        lease_ms = int(self.in_progress_timeout_s * 1000)

        async def beat() -> None:
            while True:
                await asyncio.sleep(self.in_progress_timeout_s / 4)
                await self.pool.pexpire(key, lease_ms)

        task = asyncio.create_task(beat())
        try:
            await super().run_job(job_id, score)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def jobs_worker(runtime: Runtime, **overrides: Any) -> Worker:
    """An in-process worker for content and publishing jobs, sharing the runtime's app."""
    options: dict[str, Any] = {
        "queue_name": JOBS_QUEUE,
        "redis_settings": runtime.redis,
        "ctx": {"app": runtime.app},
        "handle_signals": False,
        "max_jobs": runtime.worker_jobs,
        "job_timeout": RENDER_TIMEOUT_S,
        "poll_delay": 0.2,
        "lease_s": runtime.job_lease_s,
    } | overrides
    # A burst worker drains the queue and stops; periodic jobs belong to long-running ones.
    options.setdefault("cron_jobs", [] if options.get("burst") else cron_jobs())
    return HeartbeatWorker(job_functions(), **options)


def chat_worker(runtime: Runtime, adapters: Mapping[str, ChatAdapter], **overrides: Any) -> Worker:
    """The bot's consumer of the chat queue: one job at a time, so each chat sees them in order."""
    options: dict[str, Any] = {
        "queue_name": CHAT_QUEUE,
        "redis_settings": runtime.redis,
        "ctx": {"adapters": adapters, "store": runtime.app.store},
        "handle_signals": False,
        "max_jobs": 1,
        "poll_delay": 0.05,
    } | overrides
    return Worker([func(deliver_reply, name=DELIVER_JOB)], **options)


@asynccontextmanager
async def running(*workers: Worker, drain_s: float = 0.0) -> AsyncIterator[None]:
    """Run workers as tasks for the duration of the block, then close them.

    With `drain_s`, the workers first stop taking jobs and give the running ones that long
    to finish (a render cut off between its commit and its preview would lose the preview),
    as `socialbot worker` does on SIGTERM; what is still running then is cancelled, and
    another worker takes it up after JOB_LEASE_S."""
    tasks = [asyncio.create_task(w.async_run()) for w in workers]
    try:
        yield
    finally:
        if drain_s > 0:
            await _drain(workers, drain_s)
        for worker in workers:
            await _close(worker)
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _drain(workers: tuple[Worker, ...], seconds: float) -> None:
    for worker in workers:
        worker.allow_pick_jobs = False
    busy = [t for w in workers for t in w.tasks.values() if not t.done()]
    if busy:
        log.info("workers.draining", jobs=len(busy), wait_s=seconds)
        await asyncio.wait(busy, timeout=seconds)


async def _close(worker: Worker) -> None:
    """Stop a worker; arq re-raises the cancellation of the jobs it cancels, so finish for it."""
    try:
        await worker.close()
    except asyncio.CancelledError:
        pool = worker._pool  # arq leaves its pool open when close() is interrupted
        if pool is not None:
            await pool.aclose()
            worker._pool = None
