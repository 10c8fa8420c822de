"""RSS and Atom feeds as topic sources: fetched through the SSRF guard, parsed with feedparser.

`read_feed` fetches a URL someone gave with `services.net_guard` (public addresses only,
unless FETCH_ALLOW lets an internal host through; a capped body) and parses it from the bytes
it got, so feedparser itself never touches the network. Entries come back newest first; each
has a stable id (the feed's own, else its link, else its title) to remember which were used.
"""

from __future__ import annotations

import asyncio
import calendar
import io
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import feedparser
import httpx

from services.net_guard import FetchRefused, fetch_capped, guarded_client
from services.phrases import clean

FEED_MAX_BYTES = 2 * 1024 * 1024
FEED_TIMEOUT_S = 15.0
TITLE_CHARS = 200


class FeedError(Exception):
    """A feed that can't be used now; the message says why, for the chat."""


@dataclass(frozen=True)
class FeedEntry:
    """One item of a feed: its id, title and link."""

    id: str
    title: str
    link: str | None = None


@dataclass(frozen=True)
class Feed:
    """A feed's title and its entries, newest first."""

    title: str
    entries: tuple[FeedEntry, ...]


async def read_feed(url: str, *, allow: Sequence[str] = ()) -> Feed:
    """Fetch and parse the feed at `url`; `FeedError` saying what went wrong otherwise."""
    try:
        async with guarded_client(allow=allow, timeout_s=FEED_TIMEOUT_S) as client:
            fetched = await fetch_capped(
                client, url, max_bytes=FEED_MAX_BYTES, deadline_s=FEED_TIMEOUT_S * 2
            )
    except FetchRefused as exc:
        raise FeedError(f"I won't fetch that feed: {exc}.") from exc
    except httpx.HTTPStatusError as exc:
        raise FeedError(
            f"The feed answered HTTP {exc.response.status_code}; check the URL."
        ) from exc
    except httpx.HTTPError as exc:
        raise FeedError(f"I couldn't reach the feed ({type(exc).__name__}: {exc}).") from exc
    return await asyncio.to_thread(parse_feed, fetched.body)


def parse_feed(body: bytes) -> Feed:
    """The feed in `body` (RSS 0.9x-2.0, RSS 1.0 or Atom); `FeedError` if it is none of them."""
    parsed = feedparser.parse(io.BytesIO(body))
    if not parsed.get("version") and not parsed.entries:
        raise FeedError("That URL doesn't give an RSS or Atom feed.")
    entries = []
    for position, raw in enumerate(parsed.entries):
        title = clean(str(raw.get("title") or ""))[:TITLE_CHARS].strip()
        if not title:
            continue
        link = str(raw.get("link") or "") or None
        ident = str(raw.get("id") or link or title)
        stamp = raw.get("published_parsed") or raw.get("updated_parsed")
        when = float(calendar.timegm(stamp)) if stamp else None
        entries.append((when, position, FeedEntry(ident, title, link)))
    # Newest first by date when entries have one; otherwise in the feed's order (newest first
    # by convention).
    dated = all(when is not None for when, _, _ in entries)
    entries.sort(key=lambda e: (-(e[0] or 0.0), e[1]) if dated else (0.0, e[1]))
    title = clean(str(parsed.feed.get("title") or "")) or "feed"
    return Feed(title[:TITLE_CHARS], tuple(entry for _, _, entry in entries))


def newest_unused(feed: Feed, used: Collection[str]) -> FeedEntry | None:
    """The newest entry whose id is not in `used`."""
    return next((entry for entry in feed.entries if entry.id not in used), None)
