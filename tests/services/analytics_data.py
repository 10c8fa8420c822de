"""Seeded posts, snapshots and usage for the analytics tests, in the database and as values.

Times are around NOW (Friday 20 Nov 2026, 12:00 UTC). The posts:

* A, tiktok, out Tue 10 Nov 23:30 UTC (18:30 in New York): counted before and in the period.
* B, youtube, out Wed 18 Nov 14:00 UTC (09:00 in New York): first counted in the period.
* C, youtube, out Thu 19 Nov: no figures yet.
* D, instagram, out Sat 31 Oct 12:00 UTC (08:00 EDT): last counted 15 days ago, gains nothing.
* E, facebook, out 200 days ago: its baseline is a snapshot from 150 days ago.

Plus a failed publication and another workspace's post, which must not count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.db import SessionFactory
from services.models import (
    Draft,
    DraftVersion,
    Member,
    MetricSnapshot,
    Publication,
    SocialAccount,
    UsageRecord,
    Workspace,
)
from services.stats_inputs import Figures, Post, Snapshot, UsageLine

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
DAY = timedelta(days=1)

# (key, topic, platform, published_at, [(taken_at, views, likes, comments, shares, watch)])
POSTS = [
    (
        "A",
        "autumn menu",
        "tiktok",
        datetime(2026, 11, 10, 23, 30, tzinfo=UTC),
        [
            (NOW - 8 * DAY, 100, 10, 1, 0, None),
            (NOW - 7 * DAY - timedelta(hours=1), 150, 12, 1, 1, None),
            (NOW - 3 * DAY, 400, 40, 4, 2, None),
            (NOW - timedelta(hours=1), 500, 50, 5, 5, None),
            (NOW + timedelta(hours=1), 900, 90, 9, 9, None),  # after the period
        ],
    ),
    (
        "B",
        "cold brew",
        "youtube",
        datetime(2026, 11, 18, 14, tzinfo=UTC),
        [(NOW - DAY, 300, 30, 3, 3, 600.0)],
    ),
    ("C", "latte art", "youtube", datetime(2026, 11, 19, 12, tzinfo=UTC), []),
    (
        "D",
        "pumpkin pie",
        "instagram",
        datetime(2026, 10, 31, 12, tzinfo=UTC),
        [(NOW - 15 * DAY, 80, 8, 0, 0, None)],
    ),
    (
        "E",
        "old post",
        "facebook",
        NOW - 200 * DAY,
        [
            (NOW - 200 * DAY + timedelta(hours=1), 10, 0, 0, 0, None),
            (NOW - 150 * DAY, 50, 0, 0, 0, None),
            (NOW - 5 * DAY, 70, 0, 0, 0, None),
        ],
    ),
]
# (kind, quantity, cost, created_at)
USAGE = [
    ("llm_input_tokens", 1200, 0.00018, NOW - 2 * DAY),
    ("llm_output_tokens", 800, 0.00048, NOW - 2 * DAY),
    ("voice_chars", 300, 0.09, NOW - DAY),
    ("voice_chars", 999, 5.0, NOW - 10 * DAY),  # before the period
    ("voice_chars", 1, 1.0, NOW),  # at its end: the next period's
]


@dataclass
class Seeded:
    """What was stored, as the values `services.stats` computes from."""

    workspace_id: int
    posts: list[Post] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)
    usage: list[UsageLine] = field(default_factory=list)
    draft_ids: dict[str, int] = field(default_factory=dict)


async def draft_with_version(
    s: AsyncSession,
    workspace_id: int,
    member_id: int,
    topic: str,
    state: str,
    at: datetime,
    *,
    platform: str = "tiktok",
    duration_s: int = 10,
    tone: str = "calm",
    chat_ref: str = "console:team",
) -> tuple[Draft, DraftVersion]:
    """A stored draft with a version 1 of `duration_s` (no files), made at `at`."""
    draft = Draft(
        workspace_id=workspace_id,
        chat_ref=chat_ref,
        requested_by=member_id,
        request_text=topic,
        topic=topic,
        platforms=[platform],
        duration_s=duration_s,
        tone=tone,
        state=state,
        created_at=at,
    )
    s.add(draft)
    await s.flush()
    version = DraftVersion(
        draft_id=draft.id,
        number=1,
        script={},
        metadata_json=[],
        words=[],
        audio_path="",
        video_path="",
        thumbnail_path="",
        duration_s=float(duration_s),
    )
    s.add(version)
    await s.flush()
    return draft, version


async def seed(
    sessions: SessionFactory,
    *,
    workspace_id: int | None = None,
    timezone: str = "UTC",
    shift: timedelta = timedelta(0),
) -> Seeded:
    """Store the posts, snapshots and usage above (in a new workspace unless one is given).

    `shift` moves every time by that much: NOW + shift stands for NOW.
    """
    async with sessions.begin() as s:
        if workspace_id is None:
            workspace = Workspace(name="w", timezone=timezone)
            s.add(workspace)
            await s.flush()
            workspace_id = workspace.id
        other = Workspace(name="other")
        s.add(other)
        await s.flush()
        seeded = Seeded(workspace_id)
        member = Member(workspace_id=workspace_id, user_ref="u", display_name="u", role="owner")
        outsider = Member(workspace_id=other.id, user_ref="x", display_name="x", role="owner")
        s.add_all([member, outsider])
        await s.flush()
        accounts = {}
        owners = [(workspace_id, p) for p in ("tiktok", "youtube", "instagram", "facebook")]
        for ws, platform in [*owners, (other.id, "tiktok")]:
            accounts[ws, platform] = SocialAccount(
                workspace_id=ws, platform=platform, display_name=platform
            )
        s.add_all(accounts.values())
        await s.flush()
        for key, topic, platform, published_at, snaps in POSTS:
            published_at += shift
            draft, version = await draft_with_version(
                s, workspace_id, member.id, topic, "published", published_at - timedelta(hours=1)
            )
            seeded.draft_ids[key] = draft.id
            publication = Publication(
                draft_id=draft.id,
                version_id=version.id,
                account_id=accounts[workspace_id, platform].id,
                platform=platform,
                idempotency_key=f"{draft.id}:{platform}",
                state="published",
                published_at=published_at,
                url=f"https://example.com/{key}",
            )
            s.add(publication)
            await s.flush()
            seeded.posts.append(
                Post(publication.id, draft.id, platform, topic, published_at, publication.url)
            )
            for taken_at, views, likes, comments, shares, watch in snaps:
                taken_at += shift
                s.add(
                    MetricSnapshot(
                        publication_id=publication.id,
                        taken_at=taken_at,
                        views=views,
                        likes=likes,
                        comments=comments,
                        shares=shares,
                        watch_time_s=watch,
                    )
                )
                figures = Figures(views, likes, comments, shares, watch)
                seeded.snapshots.append(Snapshot(publication.id, taken_at, figures))
        # A rejected draft in the period; a failed post and another workspace's post with
        # figures, neither of which counts.
        now = NOW + shift
        await draft_with_version(
            s, workspace_id, member.id, "rejected idea", "rejected", now - 3 * DAY
        )
        draft, version = await draft_with_version(
            s, workspace_id, member.id, "failed", "failed", now - DAY
        )
        failed = Publication(
            draft_id=draft.id,
            version_id=version.id,
            account_id=accounts[workspace_id, "tiktok"].id,
            platform="tiktok",
            idempotency_key="failed",
            state="failed",
            published_at=None,
        )
        draft, version = await draft_with_version(
            s, other.id, outsider.id, "theirs", "published", now - DAY
        )
        theirs = Publication(
            draft_id=draft.id,
            version_id=version.id,
            account_id=accounts[other.id, "tiktok"].id,
            platform="tiktok",
            idempotency_key="theirs",
            state="published",
            published_at=now - DAY,
        )
        s.add_all([failed, theirs])
        await s.flush()
        for pub in (failed, theirs):
            s.add(MetricSnapshot(publication_id=pub.id, taken_at=now - DAY, views=10_000))
        for kind, quantity, cost, at in USAGE:
            at += shift
            s.add(
                UsageRecord(
                    workspace_id=workspace_id,
                    kind=kind,
                    provider="test",
                    quantity=quantity,
                    cost_usd=cost,
                    created_at=at,
                )
            )
            seeded.usage.append(UsageLine(kind, float(quantity), cost, at))
        s.add(
            UsageRecord(
                workspace_id=other.id,
                kind="voice_chars",
                provider="test",
                quantity=5,
                cost_usd=7.0,
                created_at=now - DAY,
            )
        )
    return seeded
