"""Per-member rate limit on generation (drafts, edits, regenerations), kept in Redis.

A sliding window: each accepted request is a member of a sorted set scored by its time; a
request is refused while the last hour already holds the limit. Redis keeps the count for
every process (bot and workers on several machines see the same figure).
"""

from __future__ import annotations

import math
import time
import uuid

from handlers.actor import Actor, Refusal
from handlers.app import App

WINDOW_S = 3600


def _key(actor: Actor) -> str:
    return f"socialbot:rate:generate:{actor.workspace.id}:{actor.member.id}"


async def check_generation_rate(app: App, actor: Actor, *, now: float | None = None) -> None:
    """Count one generation for the member, or refuse (counting nothing) over the limit."""
    limit = app.generations_per_hour
    if limit <= 0:
        return
    now = time.time() if now is None else now
    key = _key(actor)
    async with app.queue.pipeline(transaction=True) as pipe:
        pipe.zremrangebyscore(key, 0, now - WINDOW_S)
        pipe.zrange(key, 0, 0, withscores=True)
        pipe.zcard(key)
        _, oldest, count = await pipe.execute()
    if count >= limit:
        wait_min = math.ceil((oldest[0][1] + WINDOW_S - now) / 60) if oldest else 60
        raise Refusal(
            f"{actor.member.display_name}, you have asked for {count} videos in the last hour; "
            f"the limit is {limit} per hour per member. Try again in {wait_min} min."
        )
    async with app.queue.pipeline(transaction=True) as pipe:
        pipe.zadd(key, {f"{now:.6f}:{uuid.uuid4().hex[:8]}": now})
        pipe.expire(key, WINDOW_S)
        await pipe.execute()
