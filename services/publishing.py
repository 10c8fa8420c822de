"""The publishing boundary: one `Publisher` per platform kind, and the publication ledger."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.content import PlatformMeta
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


@dataclass(frozen=True)
class PublishResult:
    """Where the post ended up."""

    external_id: str
    url: str


class PublishError(Exception):
    """A post failed; the message is what a person can act on."""


class Publisher(Protocol):
    """Posts one video to one account; must be safe to call twice with the same key."""

    async def publish(self, request: PublishRequest) -> PublishResult:
        """Post it (or find the earlier post with this idempotency key) and say where."""


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
