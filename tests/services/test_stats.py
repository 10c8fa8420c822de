"""Stats: gains from snapshots, engagement, top posts, change, best times and cost."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.db import SessionFactory
from services.stats import Change, Cost, compute_stats, local_days
from services.stats_inputs import Figures, Period, Post, Snapshot, Timeline
from services.stats_query import load_stats
from tests.services.analytics_data import DAY, NOW, seed

NY = "America/New_York"
WEEK = Period.last(7, NOW)


async def test_loaded_figures_equal_those_computed_from_the_seeded_rows(
    sessions: SessionFactory,
) -> None:
    seeded = await seed(sessions)
    async with sessions() as s:
        loaded = await load_stats(s, seeded.workspace_id, period=WEEK, timezone=NY)
    computed = compute_stats(seeded.posts, seeded.snapshots, seeded.usage, period=WEEK, timezone=NY)
    assert loaded == computed

    # A: 500 at the end minus 150 at the start; B: all of its 300 (no earlier snapshot);
    # D: nothing since its last snapshot; E: 70 - 50 (its baseline from 150 days ago).
    assert loaded.by_platform == {
        "facebook": Figures(20, 0, 0, 0),
        "instagram": Figures(0, 0, 0, 0),
        "tiktok": Figures(350, 38, 4, 4),
        "youtube": Figures(300, 30, 3, 3, 600.0),
    }
    assert loaded.total == Figures(670, 68, 7, 7, 600.0)
    assert loaded.total.engagement_rate == pytest.approx(82 / 670)
    assert loaded.previous_by_platform == {
        "facebook": Figures(0),
        "instagram": Figures(0),
        "tiktok": Figures(150, 12, 1, 1),
    }
    assert loaded.views_change().describe() == "▲ 347%"
    assert loaded.views_change("youtube").describe() == "new"
    assert loaded.views_change("instagram").describe() == "no change"
    assert [(r.post.title, r.gain.views) for r in loaded.top_posts] == [
        ("autumn menu", 350),
        ("cold brew", 300),
        ("old post", 20),
    ]
    assert loaded.posts_by_platform == {"youtube": 2}  # B and C went out in the period
    assert loaded.latest_snapshot_at == NOW - timedelta(hours=1)  # not the one after `until`
    assert loaded.cost == Cost(
        {"llm_input_tokens": 1200, "llm_output_tokens": 800, "voice_chars": 300},
        pytest.approx(0.09066),  # type: ignore[arg-type]
    )
    assert loaded.cost.describe() == (
        "$0.09: model tokens 1,200 in / 800 out, voice 300 characters"
    )


async def test_the_days_of_the_chart_add_up_to_the_period(sessions: SessionFactory) -> None:
    seeded = await seed(sessions)
    async with sessions() as s:
        report = await load_stats(s, seeded.workspace_id, period=WEEK, timezone=NY)
    # Local days in New York: 13 Nov 07:00 EST to 20 Nov 07:00 EST.
    days = [date(2026, 11, d) for d in range(13, 21)]
    views = {name: dict(series) for name, series in report.daily_views.items()}
    assert {name: list(v) for name, v in views.items()} == {n: days for n in views}
    assert views["tiktok"] == {d: 0 for d in days} | {date(2026, 11, 17): 250, days[-1]: 100}
    assert views["youtube"] == {d: 0 for d in days} | {date(2026, 11, 19): 300}
    assert views["facebook"] == {d: 0 for d in days} | {date(2026, 11, 15): 20}
    for name, figures in report.by_platform.items():
        assert sum(views[name].values()) == figures.views


async def test_one_platform(sessions: SessionFactory) -> None:
    seeded = await seed(sessions)
    async with sessions() as s:
        report = await load_stats(
            s, seeded.workspace_id, period=WEEK, timezone=NY, platform="youtube"
        )
    assert report.by_platform == {"youtube": Figures(300, 30, 3, 3, 600.0)}
    assert [r.post.platform for r in report.top_posts] == ["youtube"]
    assert report.timing.posts == 1
    assert report.cost.cost_usd == pytest.approx(0.09066)  # cost is the workspace's


async def test_best_times_in_the_workspace_zone(sessions: SessionFactory) -> None:
    seeded = await seed(sessions)
    async with sessions() as s:
        report = await load_stats(s, seeded.workspace_id, period=WEEK, timezone=NY)
    timing = report.timing
    # A scores 400 (its views at one week old, not today's 500), B 300, D 80 (30 Oct was still
    # daylight-saving time: 08:00 EDT); C has no figures and E is older than 90 days.
    assert timing.posts == 3 and timing.enough
    assert [(h.label, h.posts, h.average_views) for h in timing.hours] == [
        ("18:00", 1, 400),
        ("09:00", 1, 300),
        ("08:00", 1, 80),
    ]
    assert [d.label for d in timing.weekdays] == ["Tue", "Wed", "Sat"]
    async with sessions() as s:
        in_utc = await load_stats(s, seeded.workspace_id, period=WEEK, timezone="UTC")
    assert [h.label for h in in_utc.timing.hours] == ["23:00", "14:00", "12:00"]


def _post(pub_id: int, platform: str, at: datetime) -> Post:
    return Post(pub_id, pub_id, platform, f"post {pub_id}", at)


def test_a_downward_correction_is_a_negative_gain_and_periods_add_up() -> None:
    post = _post(1, "youtube", NOW - 10 * DAY)
    snaps = [
        Snapshot(1, NOW - 9 * DAY, Figures(1000, 10)),
        Snapshot(1, NOW - 3 * DAY, Figures(900, 12)),  # spam views removed
    ]
    timeline = Timeline(snaps)
    this_week = timeline.gain(1, NOW - 7 * DAY, NOW)
    last_week = timeline.gain(1, NOW - 14 * DAY, NOW - 7 * DAY)
    assert this_week == Figures(-100, 2) and last_week == Figures(1000, 10)
    assert timeline.gain(1, NOW - 14 * DAY, NOW) == this_week + last_week
    report = compute_stats([post], snaps, [], period=WEEK, timezone="UTC")
    assert report.top_posts == ()  # nothing gained is not a top post
    assert report.views_change().describe() == "▼ 110%"  # from +1,000 to -100


def test_no_snapshots_no_figures() -> None:
    report = compute_stats([_post(1, "tiktok", NOW - DAY)], [], [], period=WEEK, timezone="UTC")
    assert not report.has_figures and report.top_posts == () and report.daily_views == {}
    assert report.posts_by_platform == {"tiktok": 1} and report.timing.posts == 0
    assert report.total.engagement_rate is None


@pytest.mark.parametrize(
    ("current", "previous", "said"),
    [
        (120, 100, "▲ 20%"),
        (80, 100, "▼ 20%"),
        (100, 100, "no change"),
        (5, 0, "new"),
        (0, 0, "no change"),
        (1001, 1000, "no change"),
    ],
)
def test_change(current: int, previous: int, said: str) -> None:
    assert Change(current, previous).describe() == said


def test_local_days_follow_the_clocks() -> None:
    # Europe/Berlin leaves summer time on Sunday 25 Oct 2026: that day has 25 hours.
    period = Period(datetime(2026, 10, 24, 12, tzinfo=UTC), datetime(2026, 10, 26, 12, tzinfo=UTC))
    days = local_days(period, "Europe/Berlin")
    assert [d for d, _, _ in days] == [date(2026, 10, 24), date(2026, 10, 25), date(2026, 10, 26)]
    assert [end - start for _, start, end in days] == [
        timedelta(hours=10),  # 14:00 to midnight CEST
        timedelta(hours=25),
        timedelta(hours=13),  # midnight to 13:00 CET
    ]
    assert days[0][1] == period.since and days[-1][2] == period.until
