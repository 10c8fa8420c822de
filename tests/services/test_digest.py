"""Digest figures come from the stored rows; the chart is a PNG with the period's days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from services.db import SessionFactory
from services.digest import compute_digest, render_chart
from services.models import (
    Draft,
    DraftVersion,
    Member,
    Publication,
    SocialAccount,
    UsageRecord,
    Workspace,
)

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


async def seed(sessions: SessionFactory) -> int:
    async with sessions.begin() as s:
        ws = Workspace(name="w")
        other = Workspace(name="other")
        s.add_all([ws, other])
        await s.flush()
        member = Member(workspace_id=ws.id, user_ref="u", display_name="u", role="owner")
        s.add(member)
        await s.flush()
        accounts = {
            p: SocialAccount(workspace_id=ws.id, platform=p, display_name=p)
            for p in ("tiktok", "youtube")
        }
        s.add_all(accounts.values())
        # (days ago, state, platforms published)
        rows = [
            (1, "published", ["tiktok", "youtube"]),
            (2, "rejected", []),
            (3, "published", ["tiktok"]),
            (20, "published", ["youtube"]),
        ]
        for days, state, published in rows:
            at = NOW - timedelta(days=days)
            draft = Draft(
                workspace_id=ws.id,
                chat_ref="c",
                requested_by=member.id,
                request_text="r",
                topic="t",
                platforms=published or ["tiktok"],
                duration_s=10,
                tone="calm",
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
                duration_s=10.0,
            )
            s.add(version)
            await s.flush()
            for p in published:
                await s.flush()
                s.add(
                    Publication(
                        draft_id=draft.id,
                        version_id=version.id,
                        account_id=accounts[p].id,
                        platform=p,
                        idempotency_key=f"{draft.id}{p}",
                        state="published",
                        published_at=at + timedelta(hours=1),
                    )
                )
        s.add(
            UsageRecord(
                workspace_id=ws.id,
                kind="voice_chars",
                provider="x",
                quantity=300,
                cost_usd=0.05,
                created_at=NOW - timedelta(days=1),
            )
        )
        s.add(
            UsageRecord(
                workspace_id=ws.id,
                kind="voice_chars",
                provider="x",
                quantity=10,
                cost_usd=0.5,
                created_at=NOW - timedelta(days=30),
            )
        )
    return ws.id


async def test_figures_match_the_rows(sessions: SessionFactory, tmp_path: Path) -> None:
    workspace_id = await seed(sessions)
    async with sessions() as s:
        digest = await compute_digest(s, workspace_id, since=NOW - timedelta(days=7), until=NOW)
    assert digest.drafts_by_state == {"published": 2, "rejected": 1}
    assert digest.published_by_platform == {"tiktok": 2, "youtube": 1}
    assert digest.published_per_day == {
        (NOW - timedelta(days=1)).date(): 2,
        (NOW - timedelta(days=3)).date(): 1,
    }
    assert digest.usage == {"voice_chars": 300} and digest.cost_usd == pytest.approx(0.05)
    text = digest.summary()
    assert "Drafts requested: 3" in text and "Posts published: 3" in text
    assert "tiktok: 2" in text and "youtube: 1" in text

    chart = render_chart(digest, tmp_path / "charts" / "d.png")
    with Image.open(chart) as image:
        assert image.format == "PNG" and image.size == (1000, 400)
    assert [p.name for p in chart.parent.iterdir()] == ["d.png"]
