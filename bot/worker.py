"""`socialbot worker`: an arq worker whose start-up and shut-down open and close the app."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from bot.runtime import RENDER_TIMEOUT_S, cron_jobs, job_functions, open_runtime
from services.queue import JOBS_QUEUE, redis_settings_from_url
from services.settings import Settings, load_settings

SHUTDOWN_WAIT_S = 120


async def startup(ctx: dict[str, Any]) -> None:
    """Open database, queue and content services for the worker's jobs."""
    stack = AsyncExitStack()
    settings: Settings = ctx.get("settings") or load_settings()
    runtime = await stack.enter_async_context(open_runtime(settings))
    ctx["app"], ctx["exit_stack"] = runtime.app, stack


async def shutdown(ctx: dict[str, Any]) -> None:
    """Close what `startup` opened, in reverse order."""
    stack: AsyncExitStack | None = ctx.pop("exit_stack", None)
    if stack is not None:
        await stack.aclose()


def worker_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `arq.Worker` running the job queue on `REDIS_URL`."""
    assert settings.redis_url, "the standalone worker needs REDIS_URL"
    return {
        "functions": job_functions(),
        "cron_jobs": cron_jobs(),
        "queue_name": JOBS_QUEUE,
        "redis_settings": redis_settings_from_url(settings.redis_url),
        "on_startup": startup,
        "on_shutdown": shutdown,
        "ctx": {"settings": settings},
        "max_jobs": settings.worker_jobs,
        "job_timeout": RENDER_TIMEOUT_S,
        "lease_s": settings.job_lease_s,
        # SIGTERM: take no new jobs and let running ones finish (a render cut between its
        # commit and its preview would lose the preview), then cancel what is left
        "job_completion_wait": SHUTDOWN_WAIT_S,
    }
