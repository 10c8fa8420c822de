"""Calls per API key per minute, counted in Redis so that every bot process sees one count."""

from __future__ import annotations

import math
import time
import uuid

from redis.asyncio import Redis

WINDOW_S = 60.0


class RateLimited(Exception):
    """Over the limit; `retry_after_s` is when the oldest call in the window leaves it."""

    def __init__(self, limit: int, retry_after_s: int) -> None:
        super().__init__(f"over {limit} calls per minute")
        self.limit = limit
        self.retry_after_s = retry_after_s


class RateLimiter:
    """A sliding window per key: a sorted set of call times; a refused call is not counted."""

    def __init__(self, redis: Redis, *, per_minute: int) -> None:
        self._redis = redis
        self._limit = per_minute

    async def hit(self, key_id: int, *, now: float | None = None) -> None:
        """Count one call of the key, or raise RateLimited (counting nothing)."""
        now = time.time() if now is None else now
        name = f"socialbot:api:rate:{key_id}"
        member = f"{now:.6f}:{uuid.uuid4().hex[:8]}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(name, 0, now - WINDOW_S)
            pipe.zadd(name, {member: now})
            pipe.zcard(name)
            pipe.zrange(name, 0, 0, withscores=True)
            pipe.expire(name, int(WINDOW_S) + 1)
            _, _, count, oldest, _ = await pipe.execute()
        if count <= self._limit:
            return
        await self._redis.zrem(name, member)
        first = oldest[0][1] if oldest else now
        raise RateLimited(self._limit, max(1, math.ceil(first + WINDOW_S - now)))
