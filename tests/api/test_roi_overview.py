"""/api/v1/analytics/overview carries the ROI /stats shows: the same figures, as data."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from services.models import Workspace, utcnow
from tests.api.conftest import World
from tests.services.analytics_data import NOW
from tests.services.test_roi import seed_roi


async def test_the_overview_has_the_roi(world: World) -> None:
    app = world.runtime.app
    async with app.sessions() as s:
        workspace_id = (await s.execute(select(Workspace.id))).scalar_one()
    seeded = await seed_roi(
        app.sessions, workspace_id=workspace_id, shift=utcnow() - NOW + timedelta(minutes=1)
    )
    await world.say("/value view 0.002")
    await world.say("/value click 0.05")
    answer = await world.client.get(
        "/api/v1/analytics/overview", params={"days": 7}, headers=await world.headers()
    )
    assert answer.status_code == 200, answer.text
    roi = answer.json()["roi"]
    assert (roi["value_per_view_usd"], roi["value_per_click_usd"]) == (0.002, 0.05)
    brand = roi["brand"]
    assert (brand["views"], brand["engagements"], brand["posts"]) == (900, 106, 4)
    assert brand["value_usd"] == pytest.approx(7.1)
    assert brand["roi"] == pytest.approx(7.1 / brand["cost_usd"], rel=1e-5)
    assert {p["key"]: p["cost_usd"] for p in roi["platforms"]} == pytest.approx(
        {"instagram": 0.3, "tiktok": 0.3, "youtube": 0.2}
    )
    assert [d["key"] for d in roi["drafts"]][:2] == [
        str(seeded.seeded.draft_ids["B"]),
        str(seeded.seeded.draft_ids["A"]),
    ]
    assert roi["not_published_cost_usd"] == pytest.approx(0.1)
