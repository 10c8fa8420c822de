"""The jobs monitor in a real Chromium: an owner signs in with the link from `/admin status`,
sees a running and a failed job, and cancels the running one with the page's own button.
Screenshots at 360x800 and 1280x800."""

from __future__ import annotations

from pathlib import Path

from bot.runtime import jobs_worker, running
from services.models import DraftState
from tests.bot.admin_world import (
    NO_CRON,
    HeldWriter,
    failed_generation,
    login_token,
    with_writer,
)
from tests.browser.conftest import Site, screenshot_sizes
from tests.handlers.review_data import TeamChat


async def test_admin_page_lists_a_running_and_a_failed_job(site: Site, screenshots: Path) -> None:
    team = TeamChat(site.runtime)
    await team.say("/start")
    failed = await failed_generation(team, "tea")
    held = HeldWriter()
    await team.say("/draft a 6 second clip about coffee")
    page = site.page
    async with running(jobs_worker(with_writer(site.runtime, held), **NO_CRON)):
        await held.started.wait()
        token = await login_token(team)
        await page.goto(f"{site.url}/admin/login/{token}")
        async with page.expect_navigation():
            await page.get_by_role("button", name="Sign in").click()
        assert page.url == f"{site.url}/admin"
        assert await page.title() == "Jobs monitor · socialbot"

        running_row = page.locator('#running tr[data-job="generate:2:1:1"]')
        assert "running" in await running_row.inner_text()
        assert "v1: writing the script" in await running_row.inner_text()
        failed_row = page.locator(f'#recent tr[data-job="generate:{failed}:1:1"]')
        failed_text = await failed_row.inner_text()
        assert "failed" in failed_text and "the model refused: try another topic" in failed_text
        assert await failed_row.get_by_role("button", name="Retry").is_visible()
        await screenshot_sizes(page, screenshots, "admin")

        await page.set_viewport_size({"width": 360, "height": 800})
        async with page.expect_navigation():
            await running_row.get_by_role("button", name="Cancel").click()
        assert page.url == f"{site.url}/admin"
        note = await page.locator("[role=status]").inner_text()
        assert "cancelled the making of draft #2" in note
    assert (await team.draft(2)).state == DraftState.FAILED
    assert await page.locator('#recent tr[data-job="generate:2:1:1"]').count() == 1
