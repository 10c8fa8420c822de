"""/stats through the router: the period and platform read, the figures shown, bad input named."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.runtime import Runtime, open_runtime
from handlers.actor import Refusal
from handlers.app import App
from handlers.port import Incoming
from handlers.router import handle
from handlers.stats import parse_stats_args
from services.models import Workspace, utcnow
from tests.conftest import make_settings
from tests.services.analytics_data import NOW, Seeded, seed

CHAT = "console:team"


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    async with open_runtime(make_settings(tmp_path / "media")) as rt:
        yield rt


async def say(app: App, text: str, *, user: str = "olga") -> str:
    replies = await handle(app, Incoming(CHAT, f"console:{user}", user, text=text))
    assert len(replies) == 1
    return replies[0].text


async def seeded_workspace(app: App, timezone: str = "UTC") -> Seeded:
    """A workspace made with /start, holding the analytics seed moved to the present.

    The seed's NOW is put a minute ahead of the clock, so nothing sits on the period's edge.
    """
    await say(app, "/start")
    async with app.sessions.begin() as session:
        workspace_id = (await session.execute(select(Workspace.id))).scalar_one()
        await session.execute(
            update(Workspace).where(Workspace.id == workspace_id).values(timezone=timezone)
        )
    shift = utcnow() - NOW + timedelta(minutes=1)
    return await seed(app.sessions, workspace_id=workspace_id, shift=shift)


@pytest.mark.parametrize(
    ("args", "read"),
    [
        ("", (7, None)),
        ("30d", (30, None)),
        ("90D", (90, None)),
        ("14 days", (14, None)),
        ("1 day", (1, None)),
        ("14", (14, None)),
        ("month", (30, None)),
        ("tiktok", (7, "tiktok")),
        ("ig 30d", (30, "instagram")),
        ("30d, YouTube", (30, "youtube")),
    ],
)
def test_parse(args: str, read: tuple[int, str | None]) -> None:
    assert parse_stats_args(args) == read


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        ("0d", "1 to 365 days"),
        ("400 days", "1 to 365 days"),
        ("myspace", "couldn't read “myspace”"),
        ("7d 30d", "couldn't read “30d”"),
        ("tiktok youtube", "couldn't read “youtube”"),
        ("last week", "couldn't read “last”"),
        ("x" * 100, "couldn't read “" + "x" * 29 + "…”"),
    ],
)
def test_parse_refuses_with_what_works(args: str, complaint: str) -> None:
    with pytest.raises(Refusal) as caught:
        parse_stats_args(args)
    assert complaint in str(caught.value) and "/stats 30d" in str(caught.value)


async def test_stats_for_a_week_and_for_one_platform(runtime: Runtime) -> None:
    app = runtime.app
    seeded = await seeded_workspace(app, "America/New_York")
    lines = (await say(app, "/stats")).splitlines()
    assert lines[0].startswith("📊 Stats for the last 7 days (to ")
    assert lines[0].endswith("America/New_York), all platforms")
    assert lines[1:8] == [
        "Views 670 (▲ 347% on the 7 days before) · likes 68 · comments 7 · shares 7",
        "Engagement 12.2% (9.3% before) · watch time 0.2 h",
        "By platform:",
        "  facebook: 20 views (new), engagement 0.0%",
        "  instagram: 0 views (no change), engagement n/a",
        "  tiktok: 350 views (▲ 133%), engagement 13.1%",
        "  youtube: 300 views (new), engagement 12.0%, 2 new posts",
    ]
    a, b = seeded.draft_ids["A"], seeded.draft_ids["B"]
    assert lines[8:13] == [
        "Top posts:",
        f"  1. #{a} autumn menu (tiktok): 350 views, engagement 13.1%",
        "     https://example.com/A",
        f"  2. #{b} cold brew (youtube): 300 views, engagement 12.0%",
        "     https://example.com/B",
    ]
    text = "\n".join(lines)
    # The seed is moved to the present, so the hours themselves vary (tests/services has them).
    timing = lines[lines.index("Top posts:") + 7 :][:3]
    assert timing[0] == (
        "Best times to post, by views at one week old (3 posts of the last 90 days, "
        "America/New_York):"
    )
    assert timing[1].startswith("  hours: ") and timing[1].count("avg") == 3
    assert timing[1].endswith(":00 (avg 80 views, 1 post)")
    assert timing[2].startswith("  weekdays: ")
    assert "Cost of the period: $0.09: model tokens 1,200 in / 800 out, voice 300" in text
    assert "Figures last collected " in text

    tiktok = await say(app, "/stats 30d tiktok")
    assert "last 30 days" in tiktok and "tiktok only" in tiktok
    assert "By platform" not in tiktok and "cold brew" not in tiktok
    assert "Cost of the period (whole workspace)" in tiktok


async def test_stats_without_figures_and_with_bad_input(runtime: Runtime) -> None:
    app = runtime.app
    await say(app, "/start")
    reply = await say(app, "/stats 30d")
    assert "No figures for this period yet" in reply
    assert "not enough posts with figures from the last 90 days yet (0 of the 3" in reply
    assert "Cost of the period: $0.00: nothing metered" in reply
    assert "Figures last collected" not in reply
    refused = await say(app, "/stats 0")
    assert refused.startswith("⚠️ Pick a period of 1 to 365 days.")
    await say(app, "hi", user="vic")  # any member may look
    assert "📊 Stats" in await say(app, "/stats", user="vic")
