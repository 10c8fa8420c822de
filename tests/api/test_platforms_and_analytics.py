"""/platforms/accounts and /analytics: the accounts posts go to, and the figures /stats shows."""

from __future__ import annotations

from sqlalchemy import select

from services.models import Workspace, utcnow
from services.stats_inputs import Period
from services.stats_query import load_stats
from tests.api.conftest import World
from tests.api.test_content import assert_problem
from tests.services.analytics_data import NOW, seed


async def _workspace(world: World) -> Workspace:
    async with world.runtime.app.sessions() as session:
        workspace = await session.scalar(select(Workspace).order_by(Workspace.id))
    assert workspace is not None
    return workspace


async def test_every_platform_posts_somewhere(world: World) -> None:
    answer = await world.client.get("/api/v1/platforms/accounts", headers=await world.headers())
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert {a["platform"] for a in body["accounts"]} == {
        "youtube",
        "tiktok",
        "instagram",
        "facebook",
    }
    assert {a["kind"] for a in body["accounts"]} == {"outbox"}
    assert body["connectable"] == []


async def test_analytics_are_the_figures_of_stats(world: World) -> None:
    workspace = await _workspace(world)
    await seed(world.runtime.app.sessions, workspace_id=workspace.id, shift=utcnow() - NOW)
    headers = await world.headers()
    async with world.runtime.app.sessions() as session:
        week = await load_stats(
            session, workspace.id, period=Period.last(7, utcnow()), timezone="UTC"
        )
    assert week.total.views > 0
    overview = (await world.client.get("/api/v1/analytics/overview", headers=headers)).json()
    assert overview["period"]["days"] == 7
    assert overview["totals"]["views"] == week.total.views
    assert overview["totals"]["likes"] == week.total.likes
    assert set(overview["by_platform"]) == set(week.by_platform)
    assert [p["draft_id"] for p in overview["top_posts"]] == [
        r.post.draft_id for r in week.top_posts
    ]
    assert overview["cost"]["usd"] == round(week.cost.cost_usd, 6)
    chat = await world.say("/stats")
    assert f"{week.total.views:,}" in chat.text

    tiktok = await world.client.get("/api/v1/analytics/platforms/tiktok?days=30", headers=headers)
    assert tiktok.status_code == 200, tiktok.text
    body = tiktok.json()
    assert body["platform"] == "tiktok" and set(body["by_platform"]) <= {"tiktok"}
    assert sum(views for _, views in body["daily_views"]) == body["totals"]["views"]

    trends = (await world.client.get("/api/v1/analytics/trends", headers=headers)).json()
    assert trends["period"]["days"] == 30
    month = sum(views for days in trends["daily_views"].values() for _, views in days)
    assert month >= week.total.views
    assert trends["timing_posts"] >= 1 and trends["best_hours"]

    unknown = await world.client.get("/api/v1/analytics/platforms/myspace", headers=headers)
    assert_problem(unknown, 422, "path.platform")
    too_long = await world.client.get("/api/v1/analytics/overview?days=9999", headers=headers)
    assert_problem(too_long, 422, "query.days")
