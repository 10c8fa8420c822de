"""A loopback RSS 2.0 or Atom feed whose entries the test adds to, newest first."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

from aiohttp import web

from tests.fakes.loopback import start_app

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


@dataclass
class FeedServer:
    """The feed's entries (title, published) and the requests it answered."""

    url: str = ""
    atom: bool = False
    entries: list[tuple[str, datetime]] = field(default_factory=list)
    hits: int = 0

    def add(self, title: str) -> None:
        """Publish an entry an hour after the last one."""
        last = max((at for _, at in self.entries), default=START)
        self.entries.append((title, last + timedelta(hours=1)))

    def body(self) -> str:
        """The feed document, newest entry first."""
        items = sorted(enumerate(self.entries), key=lambda e: e[1][1], reverse=True)
        if self.atom:
            parts = [
                f"<entry><id>urn:fake:{i}</id><title>{escape(t)}</title>"
                f"<updated>{at.isoformat()}</updated><link href='https://example.com/{i}'/>"
                "</entry>"
                for i, (t, at) in items
            ]
            return (
                '<?xml version="1.0" encoding="utf-8"?>'
                '<feed xmlns="http://www.w3.org/2005/Atom"><title>Fake news</title>'
                f"<updated>{START.isoformat()}</updated>{''.join(parts)}</feed>"
            )
        parts = [
            f"<item><guid>urn:fake:{i}</guid><title>{escape(t)}</title>"
            f"<pubDate>{format_datetime(at)}</pubDate><link>https://example.com/{i}</link></item>"
            for i, (t, at) in items
        ]
        return (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>Fake news</title>'
            f"<link>https://example.com/</link>{''.join(parts)}</channel></rss>"
        )


@asynccontextmanager
async def feed_server(*titles: str, atom: bool = False) -> AsyncIterator[FeedServer]:
    """Serve a feed with `titles` (oldest first) at `<url>` on loopback."""
    server = FeedServer(atom=atom)
    for title in titles:
        server.add(title)

    async def feed(_request: web.Request) -> web.Response:
        server.hits += 1
        kind = "application/atom+xml" if server.atom else "application/rss+xml"
        return web.Response(text=server.body(), content_type=kind)

    app = web.Application()
    app.router.add_get("/feed.xml", feed)
    app.router.add_get("/page.html", _html)
    runner, base = await start_app(app)
    server.url = f"{base}/feed.xml"
    try:
        yield server
    finally:
        await runner.cleanup()


async def _html(_request: web.Request) -> web.Response:
    return web.Response(text="<html><body>Not a feed</body></html>", content_type="text/html")
