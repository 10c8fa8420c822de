"""What every metrics reader takes and gives: due posts in, their figures out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Due:
    """A published post whose figures are due, as its platform knows it."""

    publication_id: int
    external_id: str  # the platform's id of the post (the outbox: the folder's name)
    published_at: datetime
    last_taken_at: datetime | None = None  # the post's newest snapshot, if any


@dataclass(frozen=True)
class Figures:
    """A post's figures at one moment; `watch_time_s` is None where the platform gives none."""

    publication_id: int
    views: int = 0
    likes: int = 0
    comments: int = 0
    shares: int = 0
    watch_time_s: float | None = None


class MetricsReader(Protocol):
    """Reads the figures of one account's posts.

    It yields the figures it could read and leaves out (with a log line) the posts it cannot
    read at all (deleted, private, a broken file). It raises `RetryLater` when the platform is
    busy or over quota, `AccountNeedsReconnect` when the account's access is gone, and
    `PublishError` for other refusals; figures yielded before that still count.
    """

    def read(self, posts: Sequence[Due]) -> AsyncIterator[Figures]:
        """The figures of `posts`, a batch at a time."""
        ...


def batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """`items` in consecutive slices of at most `size`."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def count(value: object) -> int | None:
    """A platform's count as an int (Google sends strings), or None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None
