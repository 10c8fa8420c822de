"""The publishing boundary: one `Publisher` per platform kind, and the publication ledger."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.content import Platform, PlatformMeta
from services.db import get_or_create
from services.models import Publication, SocialAccount


@dataclass(frozen=True)
class PublishRequest:
    """Everything a publisher needs for one post."""

    publication_id: int
    idempotency_key: str
    draft_id: int
    version: int
    video_path: Path
    thumbnail_path: Path
    meta: PlatformMeta
    duration_s: float = 0.0
    width: int = 1080
    height: int = 1920
    account_id: str = "local"  # the platform's id of the account (channel, IG user, page, open_id)
    options: Mapping[str, str] = field(default_factory=dict)  # per workspace: privacy, mode, …
    remote_ref: str | None = None  # what an earlier attempt saved through its checkpoint
    video_url: str | None = None  # a signed, expiring URL of the video (Meta fetches from it)


@dataclass(frozen=True)
class PublishResult:
    """Where the post ended up."""

    external_id: str
    url: str


class PublishError(Exception):
    """A post failed for good; the message is what a person can act on."""


class RetryLater(PublishError):
    """The platform is busy or failing (429, 5xx, a timeout before anything was posted)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TokenRejected(PublishError):
    """The platform refused the access token (401): refresh it and try again."""


class AccountNeedsReconnect(PublishError):
    """The account's tokens can no longer be refreshed: a person must run /connect again."""


class Unconfirmed(PublishError):
    """The publish call was sent but its answer was lost (a timeout): the post may exist.

    Never re-send blindly: `Publisher.confirm` looks on the platform first.
    """


class Tokens(Protocol):
    """The access token of one connected account, kept fresh."""

    async def access_token(self) -> str:
        """A token valid for at least a few minutes (refreshed first if it is about to expire)."""

    async def refresh(self) -> str:
        """A new token after the platform refused the current one; AccountNeedsReconnect if the
        refresh token is refused too."""


class Checkpoint(Protocol):
    """Saves a platform-side reference (upload session, container id, publish id) on the
    publication before the call that makes the post public, so a later attempt can confirm."""

    async def __call__(self, remote_ref: str) -> None:
        """Persist `remote_ref`."""


async def no_checkpoint(remote_ref: str) -> None:
    """A Checkpoint that keeps nothing (the outbox needs none)."""


class Publisher(Protocol):
    """Posts one video to one account; must never make a second post for one key."""

    async def publish(
        self, request: PublishRequest, checkpoint: Checkpoint = no_checkpoint
    ) -> PublishResult:
        """Post it and say where. Raises PublishError (or a subclass) when it did not."""

    async def confirm(self, request: PublishRequest) -> PublishResult | None:
        """After an Unconfirmed: the post this request made, if the platform has it, else None."""


async def outbox_account(session: AsyncSession, workspace_id: int, platform: str) -> SocialAccount:
    """The workspace's local-outbox account for a platform, created on first use."""
    query = select(SocialAccount).where(
        SocialAccount.workspace_id == workspace_id,
        SocialAccount.platform == platform,
        SocialAccount.kind == "outbox",
    )
    return await get_or_create(
        session,
        query,
        lambda: SocialAccount(
            workspace_id=workspace_id,
            platform=platform,
            kind="outbox",
            external_id="local",
            display_name=f"local outbox ({platform})",
        ),
    )


async def claim_publication(
    session: AsyncSession, *, draft_id: int, version_id: int, account: SocialAccount
) -> Publication:
    """The one publication of this version to this account, created once by its key."""
    key = f"v{version_id}:a{account.id}"
    return await get_or_create(
        session,
        select(Publication).where(Publication.idempotency_key == key),
        lambda: Publication(
            draft_id=draft_id,
            version_id=version_id,
            account_id=account.id,
            platform=account.platform,
            idempotency_key=key,
        ),
    )


async def problems_for(
    video_path: Path, metas: Sequence[PlatformMeta], duration_s: float
) -> dict[Platform, list[str]]:
    """What in a rendered version does not fit each of its platforms (video and metadata)."""
    from services.platforms import VideoFacts, fit_problems
    from services.video_ffmpeg import RenderError, probe_media

    try:
        info = await probe_media(video_path)
        width, height = info.width, info.height
    except RenderError:
        width, height = 0, 0
    size = video_path.stat().st_size if video_path.is_file() else 0
    return fit_problems(metas, VideoFacts(duration_s, width, height, size))


def describe_problems(problems: Mapping[Platform, list[str]]) -> list[str]:
    """Lines for the chat: what does not fit, per platform."""
    return [f"⚠️ {p}" for found in problems.values() for p in found]
