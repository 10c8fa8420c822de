"""Figures of local-outbox posts, from `outbox/<platform>/<publication id>/metrics.json`.

The outbox publisher writes that file with zeros next to `manifest.json`; a person edits it to
play the audience (`EXAMPLE`). A key left out counts 0 (`watch_time_s`: none given). A missing
file reads as zeros; a file that is not such an object is skipped with a warning (the post
keeps its earlier figures) and never stops the collection. A file edited since the post's
newest snapshot makes the post due at once, so an edit shows in the next digest.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import structlog

from services.metrics.reading import Due, Figures

log = structlog.get_logger(__name__)

METRICS_FILE = "metrics.json"
COUNTS = ("views", "likes", "comments", "shares")
WATCH_TIME = "watch_time_s"
EXAMPLE = '{"views": 120, "likes": 8, "comments": 2, "shares": 1, "watch_time_s": 300}'


class MalformedMetrics(ValueError):
    """A metrics.json a person broke; the message says what is wrong with it."""


def blank_metrics() -> dict[str, int]:
    """The metrics.json of a post nobody has seen yet."""
    return {**dict.fromkeys(COUNTS, 0), WATCH_TIME: 0}


def parse_metrics(publication_id: int, text: str) -> Figures:
    """The figures in a metrics.json's text; MalformedMetrics when it is not what we expect."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise MalformedMetrics(f"not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise MalformedMetrics('not an object like {"views": 120, "likes": 8}')
    values: dict[str, int] = {}
    for key in COUNTS:
        raw = data.get(key, 0)
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
            raise MalformedMetrics(f"{key} must be a whole number of 0 or more, not {raw!r}")
        values[key] = raw
    watch = data.get(WATCH_TIME)
    if watch is not None and (
        isinstance(watch, bool) or not isinstance(watch, int | float) or watch < 0
    ):
        raise MalformedMetrics(f"{WATCH_TIME} must be a number of seconds, not {watch!r}")
    unknown = sorted(set(data) - {*COUNTS, WATCH_TIME})
    if unknown:
        log.warning("metrics.outbox.unknown_keys", publication=publication_id, keys=unknown)
    return Figures(
        publication_id=publication_id,
        watch_time_s=float(watch) if watch is not None else None,
        **values,
    )


class OutboxMetrics:
    """Reads the metrics files of one platform's outbox folder."""

    def __init__(self, *, root: Path, platform: str) -> None:
        self._folder = root / platform

    def path(self, post: Due) -> Path | None:
        """Where the post's metrics.json lives (None if its id is not a plain folder name)."""
        name = post.external_id
        if not name or name in {".", ".."} or Path(name).name != name:
            return None
        return self._folder / name / METRICS_FILE

    def edited_since(self, post: Due) -> bool:
        """Whether the post's file changed after its newest snapshot (a person edited it)."""
        path = self.path(post)
        if path is None or post.last_taken_at is None:
            return False
        try:
            changed = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        except OSError:
            return False
        return changed > post.last_taken_at

    async def read(self, posts: Sequence[Due]) -> AsyncIterator[Figures]:
        """The figures in each post's file; a malformed file is left out with a warning."""
        for post in posts:
            figures = await asyncio.to_thread(self._read, post)
            if figures is not None:
                yield figures

    def _read(self, post: Due) -> Figures | None:
        path = self.path(post)
        if path is None:
            log.warning("metrics.outbox.bad_folder_name", publication=post.publication_id)
            return None
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return Figures(publication_id=post.publication_id)
        except (OSError, UnicodeDecodeError) as exc:
            _skipped(post, path, f"unreadable ({exc})")
            return None
        try:
            return parse_metrics(post.publication_id, text)
        except MalformedMetrics as exc:
            _skipped(post, path, str(exc))
            return None


def _skipped(post: Due, path: Path, problem: str) -> None:
    log.warning(
        "metrics.outbox.malformed",
        publication=post.publication_id,
        path=str(path),
        problem=problem,
        expected=EXAMPLE,
    )
