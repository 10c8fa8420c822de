"""ROI in the chat: /value sets what views and clicks are worth (owners), /stats and digests
show the return on the period's spend with the numbers behind it."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.console import ConsoleChat
from bot.runtime import Runtime, open_runtime
from handlers.app import App
from handlers.port import Incoming
from handlers.router import handle
from services.digest import compute_digest
from services.models import AuditEntry, Member, UsageRecord, Workspace, utcnow
from services.roi_query import load_roi
from services.stats_inputs import Period
from tests.conftest import make_settings, run_jobs
from tests.services.analytics_data import NOW
from tests.services.test_roi import RoiSeed, seed_roi

CHAT = "console:team"


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    async with open_runtime(make_settings(tmp_path / "media")) as rt:
        yield rt


async def say(app: App, text: str, *, user: str = "olga") -> str:
    replies = await handle(app, Incoming(CHAT, f"console:{user}", user, text=text))
    assert len(replies) == 1
    return replies[0].text


async def _values(app: App) -> tuple[float | None, float | None]:
    async with app.sessions() as s:
        ws = (await s.execute(select(Workspace))).scalars().one()
        return ws.value_per_view_usd, ws.value_per_click_usd


async def _seeded(app: App) -> RoiSeed:
    """A workspace made with /start holding the ROI seed moved to just before now."""
    await say(app, "/start")
    async with app.sessions() as s:
        workspace_id = (await s.execute(select(Workspace.id))).scalar_one()
    shift = utcnow() - NOW + timedelta(minutes=1)
    return await seed_roi(app.sessions, workspace_id=workspace_id, shift=shift)


async def test_an_owner_sets_and_unsets_values(runtime: Runtime) -> None:
    app = runtime.app
    await say(app, "/start")
    assert "Value for ROI: not set." in await say(app, "/value")
    assert await say(app, "/value view 0.002") == (
        "Value for ROI: $0.002 a view. /stats and digests weigh the spend against it."
    )
    assert "$0.002 a view, $0.05 a click" in await say(app, "/value click $0.05")
    assert await _values(app) == (0.002, 0.05)
    assert "Value for ROI: $0.05 a click." in await say(app, "/value view off")
    assert "not set" in await say(app, "/value off")
    assert await _values(app) == (None, None)
    async with app.sessions() as s:
        actions = (await s.scalars(select(AuditEntry.action))).all()
    assert actions.count("workspace.value") == 4


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("/value view", "Use /value view <usd>"),
        ("/value likes 3", "Use /value view <usd>"),
        ("/value view lots", "“lots” is not an amount in USD"),
        ("/value click -1", "between $0 and $1,000"),
        ("/value view nan", "between $0 and $1,000"),
        ("/value view 5000", "between $0 and $1,000"),
    ],
)
async def test_bad_values_are_refused_and_change_nothing(
    runtime: Runtime, text: str, complaint: str
) -> None:
    app = runtime.app
    await say(app, "/start")
    await say(app, "/value view 0.01")
    reply = await say(app, text)
    assert reply.startswith("⚠️") and complaint in reply
    assert await _values(app) == (0.01, None)


async def test_only_an_owner_sets_values(runtime: Runtime) -> None:
    app = runtime.app
    await say(app, "/start")
    await say(app, "/value", user="vic")  # vic joins as a creator
    async with app.sessions() as s:
        role = await s.scalar(select(Member.role).where(Member.user_ref == "console:vic"))
    assert role == "creator"
    assert "Only an owner" in await say(app, "/value view 1", user="vic")
    assert await _values(app) == (None, None)


async def test_stats_shows_the_roi_block(runtime: Runtime) -> None:
    app = runtime.app
    seeded = await _seeded(app)
    before = await say(app, "/stats")
    assert "💰 Return on spend: $0.99 (model $0.20, voice $0.59, render $0.20) spent" in before
    assert "ROI: no value per view or click yet; set /value view <usd>" in before
    await say(app, "/value view 0.002")
    await say(app, "/value click 0.05")
    text = await say(app, "/stats")
    lines = text.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("💰")))
    assert lines[start + 1 : start + 3] == [
        "  $1.10 per 1,000 views · $0.0093 per engagement",
        "  value $7.10 ($0.002 a view, $0.05 a click) → ROI 7.2\u00d7 the cost",
    ]
    cold_brew = seeded.seeded.draft_ids["B"]
    assert f"    #{cold_brew} cold brew: $0.15, 300 views, 36 engagements" in text
    only = await say(app, "/stats tiktok")
    assert "💰 Return on spend (whole workspace): $0.99" in only


async def test_stats_without_spend_says_so(runtime: Runtime) -> None:
    app = runtime.app
    await say(app, "/start")
    text = await say(app, "/stats 30d")
    assert text.splitlines()[-1] == (
        "💰 Return on spend: no spend recorded in the last 30 days, so no cost per view or ROI."
    )


async def test_digests_carry_the_roi(runtime: Runtime) -> None:
    app = runtime.app
    seeded = await _seeded(app)
    await say(app, "/value view 0.002")
    until = utcnow()
    async with app.sessions() as s:
        digest = await compute_digest(
            s, seeded.seeded.workspace_id, since=until - timedelta(days=7), until=until
        )
    assert digest.roi is not None and digest.roi.brand.views == 900
    summary = digest.summary()
    assert "  value $1.80 ($0.002 a view) → ROI 1.8\u00d7 the cost" in summary
    reply = await say(app, "/digest")
    assert "💰 Return on spend: $0.99" in reply


@pytest.mark.slow
async def test_render_time_is_priced_by_the_setting(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "media", RENDER_COST_PER_MINUTE_USD=6)  # $0.10 a second
    async with open_runtime(settings) as runtime:
        console = ConsoleChat(out=io.StringIO(), chat_ref=CHAT)
        await say(runtime.app, "/start")
        await say(runtime.app, "/draft a 5 second reel about tea")
        await run_jobs(runtime, console)
        async with runtime.app.sessions() as s:
            seconds, cost, draft_id = (
                await s.execute(
                    select(UsageRecord.quantity, UsageRecord.cost_usd, UsageRecord.draft_id).where(
                        UsageRecord.kind == "render_seconds"
                    )
                )
            ).one()
            workspace = (await s.execute(select(Workspace))).scalars().one()
            roi = await load_roi(
                s, workspace, period=Period.last(1, utcnow() + timedelta(minutes=1))
            )
    assert seconds > 0 and cost == pytest.approx(seconds / 10, abs=0.001)
    assert roi.not_out.render == pytest.approx(cost)  # a draft not published yet
    assert draft_id is not None
