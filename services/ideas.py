"""Ideas for a workspace's next posts: the basis read from its figures, and where ideas wait.

`load_basis` reads what `services.idea_writing` makes ideas from: the analytics of the last
`LOOKBACK_DAYS` (`services.stats_query`, the same figures /stats shows), the posts that have been
out a week ranked by their views then, the formats that did better (`services.performance`) and
the topics of the latest drafts. A writer (`Writer.ideas`) turns the basis into ideas.

An idea waits in Redis for a "Draft this" press under its own random id, per workspace, for
`IDEA_TTL`; the button carries only that id, so an expired or forged one finds nothing.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.content import Brand
from services.idea_writing import Idea, IdeaBasis
from services.models import Draft
from services.performance import comparable, did_better, load_formats, median_views
from services.stats_inputs import Period
from services.stats_query import load_stats

LOOKBACK_DAYS = 90
TOP_POSTS = 5
RECENT_TOPICS = 20
IDEA_TTL = timedelta(hours=24)
_KEY = "socialbot:idea:{workspace}:{idea}"
_ID_LOW, _ID_HIGH = 100_000_000_000, 999_999_999_999  # twelve digits: short, hard to guess


async def load_basis(
    session: AsyncSession, workspace_id: int, *, brand: Brand, timezone: str, now: datetime
) -> IdeaBasis:
    """What the workspace's ideas are made from, as of `now`."""
    report = await load_stats(
        session, workspace_id, period=Period.last(LOOKBACK_DAYS, now), timezone=timezone
    )
    formats = await load_formats(session, (s.post.draft_id for s in report.scored))
    aged = comparable(report, formats)
    recent = (
        await session.scalars(
            select(Draft.topic)
            .where(Draft.workspace_id == workspace_id)
            .order_by(Draft.created_at.desc(), Draft.id.desc())
            .limit(RECENT_TOPICS)
        )
    ).all()
    return IdeaBasis(
        brand=brand,
        top=tuple(aged[:TOP_POSTS]),
        median_views=median_views(aged),
        posts=len(aged),
        younger=len(report.scored) - len(aged),
        angles=tuple(did_better(aged, timezone, kinds=("tone", "length", "platform"))),
        recent_topics=tuple(dict.fromkeys(recent)),
        lookback_days=LOOKBACK_DAYS,
    )


class IdeaStore:
    """Ideas waiting for a "Draft this" press, in Redis, per workspace, for `IDEA_TTL`."""

    def __init__(self, redis: Redis, *, ttl: timedelta = IDEA_TTL) -> None:
        """A store on `redis` (the job queue's) keeping each idea for `ttl`."""
        self._redis = redis
        self._ttl_ms = max(1, round(ttl.total_seconds() * 1000))

    async def save(self, workspace_id: int, idea: Idea) -> int:
        """Keep `idea`; its id, for the button."""
        while True:
            idea_id = _ID_LOW + secrets.randbelow(_ID_HIGH - _ID_LOW + 1)
            stored = await self._redis.set(
                self._key(workspace_id, idea_id),
                json.dumps(idea.to_dict()),
                px=self._ttl_ms,
                nx=True,
            )
            if stored:
                return idea_id

    async def get(self, workspace_id: int, idea_id: int) -> Idea | None:
        """The idea, if it is this workspace's and has not expired."""
        raw = await self._redis.get(self._key(workspace_id, idea_id))
        return None if raw is None else Idea.from_dict(json.loads(raw))

    async def claim(self, workspace_id: int, idea_id: int) -> bool:
        """Mark the idea as being drafted; False if someone already did (once per idea)."""
        claimed = await self._redis.set(
            self._key(workspace_id, idea_id) + ":drafted", "1", px=self._ttl_ms, nx=True
        )
        return bool(claimed)

    async def release(self, workspace_id: int, idea_id: int) -> None:
        """Undo a claim whose draft was refused, so the idea can be drafted later."""
        await self._redis.delete(self._key(workspace_id, idea_id) + ":drafted")

    @staticmethod
    def _key(workspace_id: int, idea_id: int) -> str:
        return _KEY.format(workspace=workspace_id, idea=idea_id)
