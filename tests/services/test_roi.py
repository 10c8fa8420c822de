"""ROI: the period's spend per draft, campaign, platform and brand against its posts' figures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from services.db import SessionFactory
from services.models import (
    Campaign,
    Draft,
    Member,
    MetricSnapshot,
    Publication,
    SocialAccount,
    UsageRecord,
    Workspace,
)
from services.roi import (
    DraftInfo,
    PostResult,
    RoiReport,
    SpendLine,
    Values,
    compute_roi,
    times,
    usd,
)
from services.roi_query import load_roi
from services.stats_inputs import Figures, Period
from tests.services.analytics_data import DAY, NOW, Seeded, draft_with_version, seed

PERIOD = Period.last(7, NOW)
VALUES = Values(per_view_usd=0.002, per_click_usd=0.05)


@dataclass(frozen=True)
class RoiSeed:
    """The analytics seed plus spend on its drafts (A, B, C) and on an unpublished one (X)."""

    seeded: Seeded
    unpublished_id: int


async def seed_roi(
    sessions: SessionFactory, *, workspace_id: int | None = None, shift: timedelta = timedelta(0)
) -> RoiSeed:
    """Spend in the period on A (tiktok, also on instagram, in campaign "Menu"), B and C
    (youtube; C has no figures yet), X (never published) and, before it, on A again."""
    seeded = await seed(sessions, workspace_id=workspace_id, shift=shift)
    now = NOW + shift
    ids = seeded.draft_ids
    async with sessions.begin() as s:
        ws = seeded.workspace_id
        member = await s.scalar(
            select(Member).where(Member.workspace_id == ws, Member.user_ref == "u")
        )
        assert member is not None
        campaign = Campaign(
            workspace_id=ws,
            chat_ref="console:team",
            name="Menu",
            weekdays=[0],
            times=["09:00"],
            source="list",
            created_by=member.id,
        )
        s.add(campaign)
        await s.flush()
        a = await s.get(Draft, ids["A"])
        assert a is not None
        a.campaign_id = campaign.id
        # A also went out on Instagram: 100 views, 10 likes.
        insta = await s.scalar(
            select(SocialAccount).where(
                SocialAccount.workspace_id == ws, SocialAccount.platform == "instagram"
            )
        )
        assert insta is not None
        version_id = await s.scalar(
            select(Publication.version_id).where(Publication.draft_id == ids["A"])
        )
        second = Publication(
            draft_id=ids["A"],
            version_id=version_id,
            account_id=insta.id,
            platform="instagram",
            idempotency_key="A:instagram",
            state="published",
            published_at=now - 3 * DAY,
        )
        s.add(second)
        await s.flush()
        s.add(MetricSnapshot(publication_id=second.id, taken_at=now - DAY, views=100, likes=10))
        s.add(MetricSnapshot(publication_id=second.id, taken_at=now + DAY, views=999))  # later
        unpublished, _ = await draft_with_version(s, ws, member.id, "never out", "ready", now - DAY)
        spend: list[tuple[int, str, float, datetime]] = [
            (ids["A"], "llm_input_tokens", 0.10, now - 2 * DAY),
            (ids["A"], "voice_chars", 0.30, now - 2 * DAY),
            (ids["A"], "render_seconds", 0.20, now - 2 * DAY),
            (ids["A"], "voice_chars", 5.00, now - 10 * DAY),  # before the period
            (ids["B"], "voice_chars", 0.15, now - DAY),
            (ids["C"], "voice_chars", 0.05, now - DAY),
            (unpublished.id, "llm_output_tokens", 0.10, now - DAY),
        ]
        for draft_id, kind, cost, at in spend:
            s.add(
                UsageRecord(
                    workspace_id=ws,
                    draft_id=draft_id,
                    kind=kind,
                    provider="test",
                    quantity=1,
                    cost_usd=cost,
                    created_at=at,
                )
            )
    return RoiSeed(seeded, unpublished.id)


async def _report(sessions: SessionFactory, values: Values = VALUES) -> tuple[RoiSeed, RoiReport]:
    roi = await seed_roi(sessions)
    async with sessions.begin() as s:
        workspace = await s.get(Workspace, roi.seeded.workspace_id)
        assert workspace is not None
        workspace.value_per_view_usd = values.per_view_usd
        workspace.value_per_click_usd = values.per_click_usd
    async with sessions() as s:
        workspace = await s.get(Workspace, roi.seeded.workspace_id)
        assert workspace is not None
        return roi, await load_roi(s, workspace, period=PERIOD)


def _figures(row: object) -> tuple[float, int, int, int]:
    cost, views, engagements, posts = (
        getattr(row, k) for k in ("cost_usd", "views", "engagements", "posts")
    )
    return round(cost, 6), views, engagements, posts


async def test_spend_and_figures_per_brand_platform_campaign_and_draft(
    sessions: SessionFactory,
) -> None:
    roi, report = await _report(sessions)
    ids = roi.seeded.draft_ids
    overhead = 0.00018 + 0.00048 + 0.09  # the seed's usage of no draft in the period
    assert report.overhead.total == pytest.approx(overhead)
    assert report.not_out.total == pytest.approx(0.10)
    brand = report.brand
    # A: 500 views (60 engagements) on TikTok + 100 (10) on Instagram; B: 300 (36); C: none.
    assert _figures(brand) == (round(0.60 + 0.15 + 0.05 + 0.10 + overhead, 6), 900, 106, 4)
    assert brand.spend.model == pytest.approx(0.10 + 0.10 + 0.00018 + 0.00048)
    assert brand.spend.render == pytest.approx(0.20)
    assert brand.cost_per_1k_views == pytest.approx(brand.cost_usd / 900 * 1000)
    assert brand.cost_per_engagement == pytest.approx(brand.cost_usd / 106)
    assert brand.value_usd == pytest.approx(900 * 0.002 + 106 * 0.05)
    assert brand.ratio == pytest.approx(7.1 / brand.cost_usd)
    # A's spend is shared between its two platforms.
    assert {r.key: _figures(r) for r in report.platforms} == {
        "instagram": (0.30, 100, 10, 1),
        "tiktok": (0.30, 500, 60, 1),
        "youtube": (0.20, 300, 36, 2),
    }
    assert [(r.label, _figures(r)) for r in report.campaigns] == [("“Menu”", (0.60, 600, 70, 2))]
    # Drafts with posts, best ROI first: B (2.4 / 0.15), A (4.7 / 0.60), C (nothing yet).
    assert [int(r.key) for r in report.drafts] == [ids["B"], ids["A"], ids["C"]]
    assert [r.ratio for r in report.drafts] == pytest.approx([16.0, 4.7 / 0.6, 0.0])
    assert report.drafts[2].cost_per_1k_views is None
    as_dict = report.as_dict()
    assert as_dict["brand"]["views"] == 900 and as_dict["brand"]["roi"] == pytest.approx(
        brand.ratio, abs=1e-6
    )
    assert [p["key"] for p in as_dict["platforms"]] == ["instagram", "tiktok", "youtube"]


async def test_the_block_shows_the_numbers_behind_the_roi(sessions: SessionFactory) -> None:
    roi, report = await _report(sessions)
    ids = roi.seeded.draft_ids
    lines = report.lines()
    assert lines[0] == (
        "💰 Return on spend: $0.99 (model $0.20, voice $0.59, render $0.20) spent in the last "
        "7 days; its drafts' 4 posts earned 900 views and 106 engagements so far"
    )
    assert lines[1] == "  $1.10 per 1,000 views · $0.0093 per engagement"
    assert lines[2] == "  value $7.10 ($0.002 a view, $0.05 a click) → ROI 7.2\u00d7 the cost"
    assert "  by platform:" in lines and "  by campaign:" in lines
    assert (
        "    tiktok: $0.30, 500 views, 60 engagements: $0.60 per 1,000 views, ROI 13\u00d7" in lines
    )
    assert f"    #{ids['C']} latte art: $0.05, 0 views, 0 engagements: ROI 0.00\u00d7" in lines
    assert lines[-1] == (
        "  of the spend, $0.10 on drafts not published (yet) and $0.091 on other work "
        "(reading requests, ideas)"
    )


async def test_without_values_the_block_says_how_to_set_them(sessions: SessionFactory) -> None:
    _, report = await _report(sessions, Values())
    assert report.brand.ratio is None and report.brand.value_usd is None
    text = "\n".join(report.lines())
    assert "ROI: no value per view or click yet; set /value view <usd>" in text
    assert "ROI " not in text.replace("ROI: no value", "")


def test_no_spend_never_divides_by_zero() -> None:
    posts = [PostResult(1, "tiktok", Figures(views=1000, likes=5))]
    report = compute_roi(
        [SpendLine(1, "voice_chars", 0.0)],
        {1: DraftInfo(1, "free")},
        posts,
        values=VALUES,
        period=PERIOD,
    )
    brand = report.brand
    assert (brand.cost_per_1k_views, brand.cost_per_engagement, brand.ratio) == (None, None, None)
    assert brand.value_usd == pytest.approx(2.25)
    assert report.lines() == [
        "💰 Return on spend: no spend recorded in the last 7 days, so no cost per view or ROI."
    ]
    assert report.drafts[0].summary() == "$0, 1,000 views, 5 engagements: no spend recorded"


def test_spend_without_views_yet() -> None:
    report = compute_roi(
        [SpendLine(1, "llm_input_tokens", 0.2), SpendLine(None, "mystery", 0.05)],
        {1: DraftInfo(1, "new", "Menu")},
        [PostResult(1, "youtube")],
        values=Values(per_view_usd=0.01),
        period=PERIOD,
    )
    assert report.brand.spend.other == pytest.approx(0.05)
    assert report.brand.cost_per_1k_views is None and report.brand.ratio == 0.0
    assert report.lines()[1] == "  no views yet to weigh it against"
    assert report.campaigns[0].summary() == "$0.20, 0 views, 0 engagements: ROI 0.00\u00d7"


@pytest.mark.parametrize(
    ("amount", "said"),
    [
        (0, "$0"),
        (1234.5, "$1,234.50"),
        (1, "$1.00"),
        (0.09, "$0.09"),
        (0.5, "$0.50"),
        (0.00048, "$0.00048"),
        (0.0093, "$0.0093"),
        (0.0909, "$0.091"),
    ],
)
def test_money_for_people(amount: float, said: str) -> None:
    assert usd(amount) == said


def test_ratios_for_people() -> None:
    assert [times(r) for r in (0.354, 2.44, 16.0, 1234.0)] == [
        "0.35\u00d7",
        "2.4\u00d7",
        "16\u00d7",
        "1,234\u00d7",
    ]
