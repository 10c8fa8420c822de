"""A workspace's history of posts with their formats, for the ideas and recommendations tests.

Times are around the analytics seed's NOW (Friday 20 Nov 2026, 12:00 UTC). Twelve posts have been
out more than a week; each has a snapshot a day in, one just before it was a week old (the views
listed: what it is scored by) and a later one with 20% more. The Thursday evening posts (upbeat,
16-30 s, on TikTok) did best; Instagram's did worst. One more post, out two days, already has
more views than any other: too young to compare, so it must not lead anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from services.db import SessionFactory
from services.models import (
    Member,
    MetricSnapshot,
    Publication,
    SocialAccount,
    Workspace,
)
from tests.services.analytics_data import DAY, NOW, draft_with_version


def _at(day: int, month: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


# (topic, platform, tone, duration_s, published_at, views at one week old)
HISTORY = [
    ("pumpkin spice latte", "tiktok", "upbeat", 25, _at(12, 11, 18), 12_400),  # Thu
    ("autumn menu", "tiktok", "upbeat", 30, _at(5, 11, 18, 30), 9_000),  # Thu
    ("cold brew", "tiktok", "upbeat", 20, _at(29, 10, 19), 8_000),  # Thu
    ("holiday blend", "tiktok", "upbeat", 30, _at(9, 11, 9), 5_000),  # Mon
    ("latte art", "tiktok", "calm", 45, _at(26, 10, 9), 4_000),  # Mon
    ("barista tips", "youtube", "calm", 60, _at(20, 10, 10), 3_000),  # Tue
    ("seasonal pastries", "youtube", "calm", 45, _at(23, 10, 10), 2_600),  # Fri
    ("coffee beans", "youtube", "calm", 50, _at(14, 10, 11), 2_500),  # Wed
    ("decaf", "youtube", "informative", 60, _at(3, 10, 14), 2_400),  # Sat
    ("our team", "instagram", "calm", 45, _at(30, 9, 10), 350),  # Wed
    ("opening hours", "instagram", "informative", 40, _at(6, 10, 12), 310),  # Tue
    ("new cups", "instagram", "calm", 40, _at(12, 10, 9), 300),  # Mon
]
YOUNG = ("viral espresso", "tiktok", "upbeat", 15, NOW - 2 * DAY, 50_000)


@dataclass
class History:
    """What was stored: the workspace and each topic's draft id."""

    workspace_id: int
    member_id: int
    draft_ids: dict[str, int] = field(default_factory=dict)


async def seed_history(
    sessions: SessionFactory,
    *,
    workspace_id: int | None = None,
    shift: timedelta = timedelta(0),
    posts: list[tuple[str, str, str, int, datetime, int]] | None = None,
    young: bool = True,
) -> History:
    """Store the posts above (in a new workspace unless one is given); NOW + shift is NOW."""
    rows = list(HISTORY if posts is None else posts) + ([YOUNG] if young else [])
    async with sessions.begin() as s:
        if workspace_id is None:
            workspace = Workspace(name="cafe")
            s.add(workspace)
            await s.flush()
            workspace_id = workspace.id
        member = Member(
            workspace_id=workspace_id, user_ref="seed", display_name="seed", role="owner"
        )
        s.add(member)
        await s.flush()
        history = History(workspace_id, member.id)
        accounts: dict[str, SocialAccount] = {}
        for topic, platform, tone, duration, published_at, views in rows:
            published_at += shift
            if platform not in accounts:
                accounts[platform] = SocialAccount(
                    workspace_id=workspace_id,
                    platform=platform,
                    display_name=platform,
                    external_id=f"seed-{platform}",
                )
                s.add(accounts[platform])
                await s.flush()
            draft, version = await draft_with_version(
                s,
                workspace_id,
                member.id,
                topic,
                "published",
                published_at - timedelta(hours=2),
                platform=platform,
                duration_s=duration,
                tone=tone,
                chat_ref="console:seed",
            )
            publication = Publication(
                draft_id=draft.id,
                version_id=version.id,
                account_id=accounts[platform].id,
                platform=platform,
                idempotency_key=f"seed:{draft.id}",
                state="published",
                published_at=published_at,
                url=f"https://example.com/{draft.id}",
            )
            s.add(publication)
            await s.flush()
            history.draft_ids[topic] = draft.id
            for taken_at, seen in (
                (published_at + DAY, views // 3),
                (published_at + 7 * DAY - timedelta(hours=1), views),
                (published_at + 8 * DAY, views * 6 // 5),
            ):
                if taken_at <= NOW + shift:
                    s.add(
                        MetricSnapshot(
                            publication_id=publication.id,
                            taken_at=taken_at,
                            views=seen,
                            likes=seen // 10,
                            comments=seen // 100,
                            shares=seen // 100,
                        )
                    )
    return history
