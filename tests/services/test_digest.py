"""Digests: figures from the stored rows, failing platforms named, a PNG chart of the series."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.patches import Rectangle
from PIL import Image

from services.db import SessionFactory
from services.digest import Digest, chart_figure, compute_digest, render_chart
from services.stats import compute_stats
from services.stats_inputs import Figures, Period, Post, Snapshot
from tests.services.analytics_data import NOW, seed

BERLIN = "Europe/Berlin"


async def _digest(sessions: SessionFactory, **options: object) -> Digest:
    seeded = await seed(sessions)
    async with sessions() as s:
        return await compute_digest(
            s,
            seeded.workspace_id,
            since=NOW - timedelta(days=7),
            until=NOW,
            timezone=BERLIN,
            **options,  # type: ignore[arg-type]
        )


async def test_figures_equal_those_computed_from_the_seeded_snapshots(
    sessions: SessionFactory,
) -> None:
    seeded = await seed(sessions)
    async with sessions() as s:
        digest = await compute_digest(
            s, seeded.workspace_id, since=NOW - timedelta(days=7), until=NOW, timezone=BERLIN
        )
    expected = compute_stats(
        seeded.posts,
        seeded.snapshots,
        seeded.usage,
        period=Period(NOW - timedelta(days=7), NOW),
        timezone=BERLIN,
    )
    assert digest.stats == expected
    assert digest.drafts_by_state == {"failed": 1, "published": 2, "rejected": 1}
    assert digest.published_by_platform == {"youtube": 2}
    assert digest.failures == {}
    assert digest.summary().splitlines() == [
        "Digest for the last 7 days (to Fri 20 Nov 13:00 Europe/Berlin)",
        "Views: 670 (▲ 347% on the 7 days before), engagement 12.2%",
        "  facebook: 20 views (new), engagement 0.0%",
        "  instagram: 0 views (no change), engagement n/a",
        "  tiktok: 350 views (▲ 133%), engagement 13.1%",
        "  youtube: 300 views (new), engagement 12.0%",
        "Top posts:",
        f"  1. #{seeded.draft_ids['A']} autumn menu (tiktok): 350 views",
        f"  2. #{seeded.draft_ids['B']} cold brew (youtube): 300 views",
        f"  3. #{seeded.draft_ids['E']} old post (facebook): 20 views",
        "Drafts requested: 4 (1 failed, 2 published, 1 rejected)",
        "Posts published: 2 (youtube: 2)",
        "Cost: $0.09: model tokens 1,200 in / 800 out, voice 300 characters",
        # The seed's spend is on no draft: nothing to weigh it against.
        "💰 Return on spend: $0.091 (model $0.00066, voice $0.09) spent in the last 7 days; "
        "no post of the drafts it went to is out yet, so nothing to weigh it against.",
        "  of the spend, $0.091 on other work (reading requests, ideas)",
        # A and D have been out a week: too few to recommend anything from.
        "Recommendations come once 6 posts of the last 90 days have been out a week with "
        "figures; 2 so far.",
    ]


async def test_a_failing_platform_is_named_and_the_others_still_appear(
    sessions: SessionFactory, tmp_path: Path
) -> None:
    digest = await _digest(sessions, failures={"instagram": "its token has expired"})
    text = digest.summary()
    assert "⚠️ instagram: figures could not be updated (its token has expired)." in text
    for line in ("tiktok: 350 views", "youtube: 300 views", "facebook: 20 views"):
        assert line in text
    figure = chart_figure(digest)
    daily = figure.axes[0]
    assert [line.get_label() for line in daily.get_lines()] == [
        "facebook",
        "instagram (not updated)",
        "tiktok",
        "youtube",
    ]
    assert figure.get_suptitle() == "Figures could not be updated: instagram"


def _bars(axes: Axes) -> list[tuple[str, float]]:
    labels = [t.get_text() for t in axes.get_yticklabels()]
    heights = [p.get_width() for p in axes.patches if isinstance(p, Rectangle)]
    return list(zip(labels, heights, strict=True))


async def test_the_chart_is_a_png_with_the_expected_series(
    sessions: SessionFactory, tmp_path: Path
) -> None:
    digest = await _digest(sessions)
    figure = chart_figure(digest)
    daily, top = figure.axes
    series = {
        str(line.get_label()): [int(y) for y in line.get_ydata()]  # type: ignore[union-attr]
        for line in daily.get_lines()
    }
    assert series == {
        name: [views for _, views in days] for name, days in digest.stats.daily_views.items()
    }
    assert sum(series["tiktok"]) == 350 and sum(series["youtube"]) == 300
    # The five best posts (here three), best on top.
    assert _bars(top) == [
        (f"#{r.post.draft_id} {r.post.title} ({r.post.platform})", r.gain.views)
        for r in reversed(digest.stats.top_posts)
    ]

    chart = render_chart(digest, tmp_path / "charts" / "d.png")
    with Image.open(chart) as image:
        image.verify()
    with Image.open(chart) as image:
        assert image.format == "PNG" and image.size == (1000, 400)
    assert [p.name for p in chart.parent.iterdir()] == ["d.png"]  # no temporary file left


def test_awkward_titles_and_an_empty_period_still_draw(tmp_path: Path) -> None:
    # "$" would start matplotlib's math mode; the emoji is not in its font (a warning, which
    # the test settings turn into an error).
    post = Post(1, 7, "tiktok", "🎃 $5 pumpkin $pice latte", NOW - timedelta(days=1))
    stats = compute_stats(
        [post],
        [Snapshot(1, NOW - timedelta(hours=2), Figures(10))],
        [],
        period=Period(NOW - timedelta(days=1), NOW),
        timezone="UTC",
    )
    digest = Digest(stats, {}, {})
    render_chart(digest, tmp_path / "one.png")
    assert _bars(chart_figure(digest).axes[1]) == [("#7 $5 pumpkin $pice latte (tiktok)", 10)]

    empty = Digest(
        compute_stats([], [], [], period=Period(NOW - timedelta(days=1), NOW), timezone="UTC"),
        {},
        {},
    )
    assert "Views: no figures collected for this period yet." in empty.summary()
    with Image.open(render_chart(empty, tmp_path / "empty.png")) as image:
        assert image.format == "PNG"
