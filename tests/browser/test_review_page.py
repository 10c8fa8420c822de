"""The reviewer page in a real Chromium: the video plays and seeks, Approve decides once and
the chat is told, an altered link gets the refusal page. Screenshots at 360x800 and 1280x800."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page

from services.models import DraftState
from tests.browser.conftest import Site, screenshot_sizes
from tests.handlers.review_data import TeamChat, make_video


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One short real video (H.264 + AAC) for the module."""
    return make_video(tmp_path_factory.mktemp("video"))


async def _plays(page: Page) -> None:
    """The video element's time advances; seeking (range requests) lands where asked."""
    player = page.locator("video")
    await player.evaluate("v => { v.muted = true; return v.play(); }")
    advanced = "t => document.querySelector('video').currentTime > t"
    await page.wait_for_function(advanced, arg=0.3)
    before = await player.evaluate("v => v.currentTime")
    await page.wait_for_function(advanced, arg=before)
    await player.evaluate(
        "v => new Promise(done => { v.addEventListener('seeked', done, {once: true});"
        " v.currentTime = 3; })"
    )
    assert await player.evaluate("v => v.currentTime") >= 2.9
    assert await player.evaluate("v => v.error") is None


async def test_reviewer_page_approve_once_and_refusals(
    site: Site, video: Path, screenshots: Path
) -> None:
    team = TeamChat(site.runtime)
    await team.say("/start")
    draft_id = await team.ready_draft(video)
    token = await team.review_link(draft_id)
    url = f"{site.url}/review/{token}"
    page = site.page

    opened = await page.goto(url)
    assert opened is not None and opened.status == 200
    await _plays(page)
    await page.evaluate("document.querySelector('video').pause()")
    assert await page.get_by_role("button", name="Approve").is_visible()
    await screenshot_sizes(page, screenshots, "review-open")

    other_tab = await page.context.new_page()  # the same link, still open in a second tab
    await other_tab.goto(url)

    await page.set_viewport_size({"width": 360, "height": 800})
    await page.fill("#name", "Jane Client")
    await page.fill("#comment", "Looks great")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Approve").click()
    assert page.url == url  # after the post, back to the page (post/redirect/get)
    status = page.locator(".status")
    assert "Approved by Jane Client" in " ".join((await status.inner_text()).split())
    assert await page.locator("form").count() == 0
    assert (await team.draft(draft_id)).state == DraftState.APPROVED
    await team.drain()
    told = [t for t in team.texts() if t.startswith("🔗 Reviewer link")]
    assert len(told) == 1 and "Jane Client approved it." in told[0]
    await screenshot_sizes(page, screenshots, "review-decided")

    await other_tab.fill("#name", "Mallory")
    async with other_tab.expect_navigation() as second:
        await other_tab.get_by_role("button", name="Approve").click()
    answer = await second.value
    assert answer is not None and answer.status == 409
    assert "A decision was already made" in await other_tab.locator(".error").inner_text()
    assert len([t for t in team.texts() if t.startswith("🔗 Reviewer link")]) == 1

    altered = await page.goto(f"{site.url}/review/{token[:-4]}{token[-4:][::-1]}x")
    assert altered is not None and altered.status == 404
    assert await page.get_by_role("heading", name="Link not valid").is_visible()
    await screenshot_sizes(page, screenshots, "review-refused")
