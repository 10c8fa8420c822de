"""Rows and fakes for the metrics tests: workspaces, connected accounts with encrypted tokens
(read back through the real StoredTokens), published posts and their earlier snapshots."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from services.accounts import OAUTH_KIND, AccountService, ConnectLinks, TokenCipher
from services.db import SessionFactory
from services.metrics.collect import MetricsSources
from services.models import (
    Draft,
    DraftVersion,
    Member,
    MetricSnapshot,
    Publication,
    PublicationState,
    SocialAccount,
    Workspace,
    utcnow,
)
from services.oauth_types import TokenSet
from services.publishers.registry import PlatformClients
from services.settings import Settings
from services.signing import Signer
from tests.fakes.meta_server import FakeMeta
from tests.fakes.tiktok_server import FakeTikTok
from tests.fakes.youtube_server import FakeYouTube

SECRET_KEY = "k" * 32
PUBLIC_URL = "http://socialbot.test"


def fake_settings(
    media_dir: Path, youtube: FakeYouTube, tiktok: FakeTikTok, meta: FakeMeta
) -> dict[str, object]:
    """Settings values pointing every platform at its fake."""
    return {
        "SECRET_KEY": SECRET_KEY,
        "PUBLIC_URL": PUBLIC_URL,
        "YOUTUBE_CLIENT_ID": youtube.client_id,
        "YOUTUBE_CLIENT_SECRET": youtube.client_secret,
        "YOUTUBE_AUTH_URL": youtube.auth_url,
        "YOUTUBE_TOKEN_URL": youtube.token_url,
        "YOUTUBE_API_BASE_URL": youtube.api_base_url,
        "TIKTOK_CLIENT_ID": tiktok.client_key,
        "TIKTOK_CLIENT_SECRET": tiktok.client_secret,
        "TIKTOK_AUTH_URL": tiktok.auth_url,
        "TIKTOK_API_BASE_URL": tiktok.base_url,
        "INSTAGRAM_CLIENT_ID": meta.client_id,
        "INSTAGRAM_CLIENT_SECRET": meta.client_secret,
        "INSTAGRAM_AUTH_URL": meta.auth_url,
        "INSTAGRAM_GRAPH_URL": meta.graph_url,
        "FACEBOOK_CLIENT_ID": meta.client_id,
        "FACEBOOK_CLIENT_SECRET": meta.client_secret,
        "FACEBOOK_AUTH_URL": meta.auth_url,
        "FACEBOOK_GRAPH_URL": meta.graph_url,
    }


def account_service(sessions: SessionFactory) -> AccountService:
    """The AccountService the runtime builds for SECRET_KEY and PUBLIC_URL."""
    key = SECRET_KEY.encode()
    return AccountService(
        sessions=sessions,
        cipher=TokenCipher(key),
        signer=Signer(key=key, purpose="oauth-state"),
        links=ConnectLinks(PUBLIC_URL),
    )


def sources_for(sessions: SessionFactory, settings: Settings, outbox: Path) -> MetricsSources:
    """What collect() needs, with the real platform clients and stored tokens."""
    return MetricsSources(
        sessions=sessions,
        outbox_root=outbox,
        platforms=PlatformClients(settings),
        accounts=account_service(sessions),
    )


def hours(n: float) -> timedelta:
    """`n` hours."""
    return timedelta(hours=n)


@dataclass
class Seed:
    """Adds rows the way the bot would have made them."""

    sessions: SessionFactory
    cipher: TokenCipher = field(default_factory=lambda: TokenCipher(SECRET_KEY.encode()))
    _drafts: dict[int, tuple[int, int]] = field(default_factory=dict)
    _keys: itertools.count[int] = field(default_factory=itertools.count)

    async def workspace(self, name: str = "Café") -> int:
        """A workspace with a member and one draft version its posts come from."""
        async with self.sessions.begin() as s:
            ws = Workspace(name=name)
            s.add(ws)
            await s.flush()
            member = Member(
                workspace_id=ws.id, user_ref=f"u{ws.id}", display_name="u", role="owner"
            )
            s.add(member)
            await s.flush()
            draft = Draft(
                workspace_id=ws.id,
                chat_ref=f"console:{ws.id}",
                requested_by=member.id,
                request_text="r",
                topic="t",
                platforms=["youtube"],
                duration_s=10,
                tone="calm",
                state="published",
            )
            s.add(draft)
            await s.flush()
            version = DraftVersion(
                draft_id=draft.id,
                number=1,
                script={},
                metadata_json=[],
                words=[],
                audio_path="",
                video_path="",
                thumbnail_path="",
                duration_s=10.0,
            )
            s.add(version)
            await s.flush()
            self._drafts[ws.id] = (draft.id, version.id)
            return ws.id

    async def account(
        self,
        workspace_id: int,
        platform: str,
        tokens: TokenSet | None = None,
        *,
        name: str | None = None,
        external_id: str | None = None,
        kind: str = OAUTH_KIND,
    ) -> int:
        """A connected account (or, with kind="outbox", the workspace's local outbox)."""
        async with self.sessions.begin() as s:
            row = SocialAccount(
                workspace_id=workspace_id,
                platform=platform,
                kind=kind,
                external_id=external_id or ("local" if kind == "outbox" else f"id-{name}"),
                display_name=name or f"{platform} account",
                token_ciphertext=self.cipher.encrypt(tokens) if tokens else None,
                token_expires_at=tokens.expires_at if tokens else None,
            )
            s.add(row)
            await s.flush()
            return row.id

    async def post(
        self,
        account_id: int,
        external_id: str | None = None,
        *,
        age: timedelta = timedelta(hours=1),
        snapshots: Sequence[timedelta] = (),
        now: datetime | None = None,
    ) -> int:
        """A published post `age` old, with earlier snapshots taken the given times ago; without
        `external_id` it is the publication's id, as the outbox names its folders."""
        now = now or utcnow()
        async with self.sessions.begin() as s:
            account = await s.get(SocialAccount, account_id)
            assert account is not None
            draft_id, version_id = self._drafts[account.workspace_id]
            publication = Publication(
                draft_id=draft_id,
                version_id=version_id,
                account_id=account_id,
                platform=account.platform,
                idempotency_key=f"k{next(self._keys)}",
                state=PublicationState.PUBLISHED,
                external_id=external_id or "pending",
                url=f"https://example.test/{external_id}",
                published_at=now - age,
            )
            s.add(publication)
            await s.flush()
            publication.external_id = external_id or str(publication.id)
            for ago in snapshots:
                s.add(MetricSnapshot(publication_id=publication.id, taken_at=now - ago, views=1))
            return publication.id


async def snapshots(sessions: SessionFactory, publication_id: int) -> list[MetricSnapshot]:
    """A post's snapshots, oldest first."""
    async with sessions() as s:
        rows = await s.scalars(
            select(MetricSnapshot)
            .where(MetricSnapshot.publication_id == publication_id)
            .order_by(MetricSnapshot.taken_at, MetricSnapshot.id)
        )
        return list(rows)


def figures(row: MetricSnapshot) -> tuple[int, int, int, int, float | None]:
    """(views, likes, comments, shares, watch time) of a snapshot."""
    return (row.views, row.likes, row.comments, row.shares, row.watch_time_s)
