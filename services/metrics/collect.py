"""Collecting figures: which posts are due, reading them per account, storing snapshots.

A published post is due when it has no snapshot yet, or when its newest snapshot is older than
its cadence allows (`Cadence`: every 2 h in its first 48 h, then every 24 h, never after 90
days), or (local outbox only) when its metrics.json was edited since. Due posts are grouped by
account and read by that platform's `MetricsReader` with the account's stored tokens (as the
publish job builds them); each account's figures are stored at once as one `MetricSnapshot`
per post, `taken_at` the run's time.

Platforms run side by side and never stop one another. Within a platform the accounts go one
after another: `RetryLater` (quota, rate limit, 429, 5xx) stops that platform for this run
(its posts stay due, so the next run tries again); `AccountNeedsReconnect` skips that account;
any other failure skips that account. Each is a `Problem` in the `CollectionReport`.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import func, select

from services.accounts import DISCONNECTED_KIND, OAUTH_KIND, AccountService
from services.content import Platform
from services.db import SessionFactory
from services.metrics.outbox import OutboxMetrics
from services.metrics.reading import Due, Figures, MetricsReader
from services.models import (
    AccountStatus,
    MetricSnapshot,
    Publication,
    PublicationState,
    SocialAccount,
    utcnow,
)
from services.platforms import DISPLAY_NAMES
from services.publishers.registry import PlatformClients
from services.publishing import AccountNeedsReconnect, PublishError, RetryLater
from services.settings import Settings

log = structlog.get_logger(__name__)

OUTBOX_KIND = "outbox"


@dataclass(frozen=True)
class Cadence:
    """How often a post's figures are read: often while it is new, then daily, then never."""

    early_every: timedelta = timedelta(hours=2)
    early_for: timedelta = timedelta(hours=48)
    later_every: timedelta = timedelta(hours=24)
    stop_after: timedelta = timedelta(days=90)
    # Runs come every 15 minutes and a snapshot is stamped a little after its run began:
    # without some slack a post would wait a whole extra run each time.
    slack: timedelta = timedelta(minutes=5)

    def due(self, published_at: datetime, last_taken_at: datetime | None, now: datetime) -> bool:
        """Whether a post published at `published_at` wants a snapshot at `now`."""
        age = now - published_at
        if age > self.stop_after:
            return False
        if last_taken_at is None:
            return True
        every = self.early_every if age <= self.early_for else self.later_every
        return now - last_taken_at >= every - self.slack


class ProblemKind(StrEnum):
    """Why an account's figures were not read."""

    BUSY = "busy"  # quota, rate limit or the platform failing: the next run tries again
    RECONNECT = "reconnect"  # its access is gone: a person must /connect it again
    FAILED = "failed"  # refused or broken otherwise: see the reason


@dataclass(frozen=True)
class Problem:
    """One account whose figures were not read in a run, and why."""

    platform: str  # a Platform value
    kind: ProblemKind
    reason: str
    account: str = ""  # the account's display name
    workspace_id: int | None = None

    def line(self) -> str:
        """A line for a digest or a log: `TikTok (@cafe): busy: TikTok is busy (…)`."""
        name = _display(self.platform)
        who = f" ({self.account})" if self.account else ""
        return f"{name}{who}: figures not updated ({self.kind.value}): {self.reason}"


@dataclass(frozen=True)
class CollectionReport:
    """What one collection run stored, per platform, and what it could not read."""

    taken_at: datetime
    collected: Mapping[str, int] = field(default_factory=dict)  # platform → snapshots stored
    skipped: Mapping[str, int] = field(default_factory=dict)  # platform → due posts unreadable
    problems: tuple[Problem, ...] = ()

    @property
    def failed_platforms(self) -> frozenset[str]:
        """The platforms with at least one account not read."""
        return frozenset(p.platform for p in self.problems)

    def problems_in(self, workspace_id: int) -> tuple[Problem, ...]:
        """The problems of one workspace's accounts."""
        return tuple(p for p in self.problems if p.workspace_id == workspace_id)

    def summary(self) -> str:
        """One line for logs and job results."""
        stored = ", ".join(f"{p} {n}" for p, n in sorted(self.collected.items())) or "none"
        text = f"snapshots stored: {stored}"
        if self.problems:
            text += "; " + "; ".join(p.line() for p in self.problems)
        return text


@dataclass(frozen=True)
class MetricsSources:
    """What collecting needs: the database, the outbox folder, platform clients and tokens."""

    sessions: SessionFactory
    outbox_root: Path
    platforms: PlatformClients | None = None  # None: connected accounts cannot be read
    accounts: AccountService | None = None
    cadence: Cadence = field(default_factory=Cadence)
    # Reader keyword arguments per platform (tests: short timeouts).
    reader_options: Mapping[Platform, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Account:
    """The fields of a SocialAccount that collecting uses, read once."""

    id: int
    workspace_id: int
    platform: str
    kind: str
    display_name: str
    status: str
    error: str | None

    @classmethod
    def of(cls, row: SocialAccount) -> _Account:
        return cls(
            row.id,
            row.workspace_id,
            row.platform,
            row.kind,
            row.display_name,
            row.status,
            row.error,
        )


@dataclass
class _Tally:
    """What a run (or one platform's part of it) stored and met."""

    collected: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)

    def problem(self, account: _Account, kind: ProblemKind, reason: str) -> None:
        found = Problem(account.platform, kind, reason, account.display_name, account.workspace_id)
        log.warning(
            "metrics.problem",
            platform=found.platform,
            account=account.id,
            kind=kind.value,
            reason=reason,
        )
        self.problems.append(found)

    def merge(self, other: _Tally) -> None:
        self.collected.update(other.collected)
        self.skipped.update(other.skipped)
        self.problems.extend(other.problems)


class _NotConfigured(PublishError):
    """This worker lacks the platform's client id and secret (or SECRET_KEY/PUBLIC_URL)."""


async def collect(
    sources: MetricsSources, *, workspace_id: int | None = None, now: datetime | None = None
) -> CollectionReport:
    """Read and store the figures of every due post (of one workspace, if given)."""
    now = now or utcnow()
    work = await _due_posts(sources, now=now, workspace_id=workspace_id)
    lanes: dict[str, list[tuple[_Account, list[Due]]]] = {}
    tally = _Tally()
    for account, posts in work.items():
        if account.kind == OAUTH_KIND:
            lanes.setdefault(account.platform, []).append((account, posts))
        elif account.kind == OUTBOX_KIND:
            lanes.setdefault(OUTBOX_KIND, []).append((account, posts))
        elif account.kind == DISCONNECTED_KIND:
            tally.problem(
                account,
                ProblemKind.RECONNECT,
                f"the account was disconnected; run /connect {account.platform} to follow "
                "its posts again",
            )
    names = list(lanes)
    results = await asyncio.gather(
        *(_lane(sources, name, lanes[name], now) for name in names), return_exceptions=True
    )
    for name, result in zip(names, results, strict=True):
        if isinstance(result, _Tally):
            tally.merge(result)
        elif isinstance(result, Exception):  # a bug in one lane: the others still count
            log.error("metrics.lane_crashed", lane=name, exc_info=result)
            for account, _ in lanes[name]:
                tally.problem(account, ProblemKind.FAILED, f"unexpected error: {result!r}")
        else:
            raise result
    report = CollectionReport(
        taken_at=now,
        collected={p: n for p, n in tally.collected.items() if n},
        skipped={p: n for p, n in tally.skipped.items() if n},
        problems=tuple(tally.problems),
    )
    log.info("metrics.collected", workspace=workspace_id, summary=report.summary())
    return report


async def collect_for_workspace(
    sources: MetricsSources, workspace_id: int, *, now: datetime | None = None
) -> CollectionReport:
    """Bring one workspace's figures up to date (e.g. right before its digest)."""
    return await collect(sources, workspace_id=workspace_id, now=now)


async def _due_posts(
    sources: MetricsSources, *, now: datetime, workspace_id: int | None = None
) -> dict[_Account, list[Due]]:
    """The published posts whose figures are due at `now`, by account."""
    cadence = sources.cadence
    newest = (
        select(
            MetricSnapshot.publication_id.label("publication_id"),
            func.max(MetricSnapshot.taken_at).label("taken_at"),
        )
        .group_by(MetricSnapshot.publication_id)
        .subquery()
    )
    query = (
        select(Publication, SocialAccount, newest.c.taken_at)
        .join(SocialAccount, SocialAccount.id == Publication.account_id)
        .outerjoin(newest, newest.c.publication_id == Publication.id)
        .where(
            Publication.state == PublicationState.PUBLISHED,
            Publication.external_id.is_not(None),
            Publication.published_at.is_not(None),
            Publication.published_at >= now - cadence.stop_after,
        )
        .order_by(Publication.id)
    )
    if workspace_id is not None:
        query = query.where(SocialAccount.workspace_id == workspace_id)
    async with sources.sessions() as session:
        rows = (await session.execute(query)).all()
    accounts: dict[int, _Account] = {}
    work: dict[_Account, list[Due]] = {}
    for publication, row, last in rows:
        account = accounts.setdefault(row.id, _Account.of(row))
        assert publication.published_at is not None and publication.external_id is not None
        post = Due(publication.id, publication.external_id, publication.published_at, last)
        due = cadence.due(post.published_at, last, now)
        if not due and account.kind == OUTBOX_KIND:
            outbox = OutboxMetrics(root=sources.outbox_root, platform=account.platform)
            due = await asyncio.to_thread(outbox.edited_since, post)
        if due:
            work.setdefault(account, []).append(post)
    return work


async def _lane(
    sources: MetricsSources, name: str, work: Sequence[tuple[_Account, list[Due]]], now: datetime
) -> _Tally:
    """One platform's (or the outbox's) accounts, one after another."""
    tally = _Tally()
    for index, (account, posts) in enumerate(work):
        if account.kind == OAUTH_KIND and account.status == AccountStatus.RECONNECT:
            reason = account.error or "its access was refused"
            tally.problem(
                account,
                ProblemKind.RECONNECT,
                f"needs reconnecting ({reason}): run /connect {account.platform}",
            )
            continue
        try:
            await _collect_account(sources, account, posts, now, tally)
        except RetryLater as exc:
            tally.problem(account, ProblemKind.BUSY, str(exc))
            for other, _ in work[index + 1 :]:  # limits are per app: spare the platform
                tally.problem(other, ProblemKind.BUSY, f"not read this run: {exc}")
            break
        except AccountNeedsReconnect as exc:
            tally.problem(account, ProblemKind.RECONNECT, str(exc))
        except PublishError as exc:
            tally.problem(account, ProblemKind.FAILED, str(exc))
        except Exception as exc:
            log.exception("metrics.account_failed", lane=name, account=account.id)
            tally.problem(account, ProblemKind.FAILED, f"unexpected error: {exc!r}")
    return tally


async def _collect_account(
    sources: MetricsSources, account: _Account, posts: list[Due], now: datetime, tally: _Tally
) -> None:
    """Read one account's due posts and store what was read, even if reading then failed."""
    figures: list[Figures] = []
    failure: Exception | None = None
    try:
        async with _reader_for(sources, account) as reader:
            async for found in reader.read(posts):
                figures.append(found)
    except Exception as exc:
        failure = exc
    tally.collected[account.platform] += await _store(sources.sessions, figures, posts, now)
    if failure is not None:
        raise failure
    tally.skipped[account.platform] += len(posts) - len(figures)


@asynccontextmanager
async def _reader_for(sources: MetricsSources, account: _Account) -> AsyncIterator[MetricsReader]:
    if account.kind == OUTBOX_KIND:
        yield OutboxMetrics(root=sources.outbox_root, platform=account.platform)
        return
    platform = Platform(account.platform)
    if sources.platforms is None or sources.accounts is None:
        raise _NotConfigured(
            "connected accounts need SECRET_KEY and PUBLIC_URL, which are not set on this worker"
        )
    async with AsyncExitStack() as stack:
        try:
            auth = await stack.enter_async_context(sources.platforms.auth(platform))
        except LookupError:
            raise _NotConfigured(
                f"{platform.value.upper()}_CLIENT_ID and _CLIENT_SECRET are not set on this worker"
            ) from None
        tokens = sources.accounts.tokens(account.id, auth)
        options = dict(sources.reader_options.get(platform, {}))
        urls = _settings_of(sources.platforms)
        if platform is Platform.YOUTUBE:
            from services.metrics.youtube import YouTubeMetrics

            yield YouTubeMetrics(api_base_url=urls.youtube_api_base_url, tokens=tokens, **options)
        elif platform is Platform.TIKTOK:
            from services.metrics.tiktok import TikTokMetrics

            yield TikTokMetrics(api_base_url=urls.tiktok_api_base_url, tokens=tokens, **options)
        else:
            from services.metrics.meta import MetaMetrics

            graph_url = (
                urls.instagram_graph_url
                if platform is Platform.INSTAGRAM
                else urls.facebook_graph_url
            )
            yield MetaMetrics(platform=platform, graph_url=graph_url, tokens=tokens, **options)


def _settings_of(platforms: PlatformClients) -> Settings:
    """The Settings PlatformClients was built from (each platform's API URL)."""
    return platforms.settings


async def _store(
    sessions: SessionFactory, figures: Sequence[Figures], posts: Sequence[Due], now: datetime
) -> int:
    """Add a snapshot per figure; none for a post another run snapshotted meanwhile."""
    if not figures:
        return 0
    seen = {p.publication_id: p.last_taken_at for p in posts}
    ids = [f.publication_id for f in figures]
    async with sessions.begin() as session:
        rows = await session.execute(
            select(MetricSnapshot.publication_id, func.max(MetricSnapshot.taken_at))
            .where(MetricSnapshot.publication_id.in_(ids))
            .group_by(MetricSnapshot.publication_id)
        )
        latest = {publication_id: taken_at for publication_id, taken_at in rows}
        fresh = [f for f in figures if latest.get(f.publication_id) == seen.get(f.publication_id)]
        session.add_all(MetricSnapshot(taken_at=now, **dataclasses.asdict(f)) for f in fresh)
    return len(fresh)


def _display(platform: str) -> str:
    try:
        return DISPLAY_NAMES[Platform(platform)]
    except ValueError:
        return platform
