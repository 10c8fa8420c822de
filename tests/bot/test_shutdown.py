"""Stopping `socialbot run`: the in-process worker lets a running render finish first."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.runtime import jobs_worker, open_runtime, running
from handlers.app import App
from handlers.port import Incoming
from handlers.router import handle
from services.models import Draft
from tests.conftest import make_settings

pytestmark = pytest.mark.slow


async def draft_state(app: App) -> str:
    async with app.sessions() as session:
        return str((await session.execute(select(Draft.state))).scalar_one())


@pytest.mark.parametrize(("drain_s", "after"), [(120.0, "ready"), (0.0, "generating")])
async def test_a_running_render_finishes_before_the_worker_stops(
    tmp_path: Path, drain_s: float, after: str
) -> None:
    async with open_runtime(make_settings(tmp_path / "media")) as runtime:
        app = runtime.app
        for text in ("/start", "/draft a 6 second reel about tea for instagram"):
            await handle(app, Incoming("console:t", "console:u", "u", text=text))
        renders = tmp_path / "media" / "drafts" / "1"
        async with running(jobs_worker(runtime, poll_delay=0.05), drain_s=drain_s):
            for _ in range(600):  # stop once the render has begun
                if any(renders.glob(".v1-*/.render-*")):
                    break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("the render never started")
        # Without draining the job is cut off (another worker would take it up later).
        assert await draft_state(app) == after
