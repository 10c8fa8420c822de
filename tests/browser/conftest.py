"""The browser harness: the real web app on uvicorn on loopback, driven by Debian's Chromium.

One Chromium per test session (per xdist worker), started through Playwright from
/usr/bin/chromium (never a downloaded browser); each test gets a fresh browser context
and page. Every test in this folder runs in the session's event loop, which the browser
belongs to.

Fixtures (general, for every page the web app serves):

* `browser`: the session's Chromium.
* `listener`: a socket bound on 127.0.0.1 (its port is known before the app is built, so
  PUBLIC_URL can point at it).
* `web_runtime`: a runtime (SQLite, embedded Redis) with SECRET_KEY and PUBLIC_URL set to
  the listener's address.
* `site`: the web app of `web_runtime` served on the listener, and a page: `Site`.
* `screenshots`: where screenshots go ($SCREENSHOT_DIR, else tests/browser/artifacts).

Async fixtures of tests here must say `loop_scope="session"` too (`@pytest_asyncio.fixture(
loop_scope="session")`), or pytest-asyncio runs them in another loop than the test's.

`serve_web(web, listener)` serves any ASGI app on a listener, for tests that build their
own runtime or app.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright

from bot.runtime import Runtime, open_runtime
from bot.web import create_web_app
from services.links import MediaLinks
from services.signing import Signer
from tests.conftest import make_settings
from tests.fakes.loopback import base_url, serve_web

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
SECRET_KEY = "browser-tests-secret-key-0123456789abcdef"
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run this folder's tests in the session's loop, where the browser lives."""
    marker = pytest.mark.asyncio(loop_scope="session")
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(marker, append=False)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, once per session. Absent: skipped on a workstation,
    a failure in CI (where `make test` installs it)."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package")
        pytest.skip(f"{CHROMIUM} is missing: `apt-get install chromium` to run browser tests")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A socket listening on a free loopback port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield sock
    sock.close()


@pytest_asyncio.fixture(loop_scope="session")
async def web_runtime(tmp_path: Path, listener: socket.socket) -> AsyncIterator[Runtime]:
    """A runtime whose PUBLIC_URL is the listener's address (SQLite, embedded Redis)."""
    settings = make_settings(
        tmp_path / "media", SECRET_KEY=SECRET_KEY, PUBLIC_URL=base_url(listener)
    )
    async with open_runtime(settings) as runtime:
        yield runtime


def web_app_of(runtime: Runtime) -> Any:
    """The web app `socialbot run` would serve for this runtime."""
    app = runtime.app
    links = app.links or MediaLinks(
        signer=Signer(key=SECRET_KEY.encode(), purpose="media"), store=app.store, public_url=None
    )
    return create_web_app(links=links, app=app)


@dataclass(frozen=True)
class Site:
    """The served web app, its runtime and a browser page."""

    url: str
    runtime: Runtime
    page: Page


@pytest_asyncio.fixture(loop_scope="session")
async def site(
    browser: Browser, web_runtime: Runtime, listener: socket.socket
) -> AsyncIterator[Site]:
    """The web app of `web_runtime` on loopback, and a fresh page (1280x800) in Chromium."""
    async with serve_web(web_app_of(web_runtime), listener) as url:
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        try:
            yield Site(url, web_runtime, await context.new_page())
        finally:
            await context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """The folder the run keeps screenshots in ($SCREENSHOT_DIR or tests/browser/artifacts)."""
    folder = Path(os.environ.get("SCREENSHOT_DIR") or HERE / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def screenshot_sizes(page: Page, folder: Path, name: str) -> list[Path]:
    """Full-page screenshots at 360x800 (a phone) and 1280x800, as `<name>-<width>.png`."""
    taken = []
    for width, height in ((360, 800), (1280, 800)):
        await page.set_viewport_size({"width": width, "height": height})
        path = folder / f"{name}-{width}x{height}.png"
        await page.screenshot(path=str(path), full_page=True)
        taken.append(path)
    return taken
