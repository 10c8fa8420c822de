"""`socialbot status`: what `/admin status` shows, printed; exit 0 when ready, 1 when not."""

from __future__ import annotations

from typing import TextIO

import redis.asyncio

from services.db import make_engine, make_sessions
from services.settings import Settings
from services.status import status_text, system_status


async def run_status(settings: Settings, *, out: TextIO) -> int:
    """Print the status of the deployment these settings point at; 0 if it is ready."""
    if not settings.redis_url:
        out.write(
            "socialbot status: not ready — REDIS_URL is not set, and the embedded Redis lives "
            "inside the process that runs it (`socialbot run` or `socialbot shell`); set "
            "REDIS_URL to the queue the bot and workers share.\n"
        )
        return 1
    engine = make_engine(settings.sqlalchemy_url)
    client = redis.asyncio.Redis.from_url(
        settings.redis_url, socket_connect_timeout=3, socket_timeout=3
    )
    try:
        status = await system_status(make_sessions(engine), client)
    finally:
        await client.aclose()
        await engine.dispose()
    out.write(status_text(status) + "\n")
    return 0 if status.ready else 1
