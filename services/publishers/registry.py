"""Which platforms are configured, and their OAuth clients and publishers, from settings."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from services.content import Platform
from services.oauth_types import PlatformAuth
from services.publishing import Publisher, Tokens
from services.settings import Settings


class PlatformClients:
    """OAuth clients and publishers for the platforms whose client id and secret are set."""

    def __init__(
        self, settings: Settings, *, tuning: Mapping[Platform, Mapping[str, Any]] | None = None
    ) -> None:
        self._settings = settings
        self._tuning = tuning or {}  # publisher keyword arguments per platform (tests: poll fast)

    @property
    def settings(self) -> Settings:
        """The settings the clients are built from (endpoints, client ids)."""
        return self._settings

    def configured(self) -> list[Platform]:
        """The platforms an account can be connected on."""
        return [p for p in Platform if self._client(p) is not None]

    def _client(self, platform: Platform) -> tuple[str, str] | None:
        s = self._settings
        pair = {
            Platform.YOUTUBE: (s.youtube_client_id, s.youtube_client_secret),
            Platform.INSTAGRAM: (s.instagram_client_id, s.instagram_client_secret),
            Platform.FACEBOOK: (s.facebook_client_id, s.facebook_client_secret),
            Platform.TIKTOK: (s.tiktok_client_id, s.tiktok_client_secret),
        }[platform]
        if not pair[0] or pair[1] is None:
            return None
        return pair[0], pair[1].get_secret_value()

    @asynccontextmanager
    async def auth(self, platform: Platform) -> AsyncIterator[PlatformAuth]:
        """The platform's OAuth client (closed afterwards); LookupError if not configured."""
        client = self._client(platform)
        if client is None:
            raise LookupError(platform)
        client_id, secret = client
        s = self._settings
        if platform is Platform.YOUTUBE:
            from services.publishers.youtube_auth import YouTubeAuth

            yield YouTubeAuth(
                client_id=client_id,
                client_secret=secret,
                auth_url=s.youtube_auth_url,
                token_url=s.youtube_token_url,
                api_base_url=s.youtube_api_base_url,
            )
        elif platform is Platform.TIKTOK:
            from services.publishers.tiktok_auth import TikTokAuth

            tiktok = TikTokAuth(
                client_id=client_id,
                client_secret=secret,
                auth_url=s.tiktok_auth_url,
                api_base_url=s.tiktok_api_base_url,
            )
            try:
                yield tiktok
            finally:
                await tiktok.aclose()
        else:
            from services.publishers.meta_auth import FacebookLoginAuth

            instagram = platform is Platform.INSTAGRAM
            yield FacebookLoginAuth(
                platform=platform,
                client_id=client_id,
                client_secret=secret,
                auth_url=s.instagram_auth_url if instagram else s.facebook_auth_url,
                graph_url=s.instagram_graph_url if instagram else s.facebook_graph_url,
            )

    @asynccontextmanager
    async def publisher(self, platform: Platform, tokens: Tokens) -> AsyncIterator[Publisher]:
        """A publisher for one connected account, closed afterwards."""
        s = self._settings
        extra = dict(self._tuning.get(platform, {}))
        if platform is Platform.YOUTUBE:
            from services.publishers.youtube import YouTubePublisher

            yield YouTubePublisher(api_base_url=s.youtube_api_base_url, tokens=tokens, **extra)
        elif platform is Platform.TIKTOK:
            from services.publishers.tiktok import TikTokPublisher

            tiktok = TikTokPublisher(api_base_url=s.tiktok_api_base_url, tokens=tokens, **extra)
            try:
                yield tiktok
            finally:
                with contextlib.suppress(Exception):
                    await tiktok.aclose()
        elif platform is Platform.INSTAGRAM:
            from services.publishers.instagram import InstagramPublisher

            yield InstagramPublisher(graph_url=s.instagram_graph_url, tokens=tokens, **extra)
        else:
            from services.publishers.facebook import FacebookPublisher

            yield FacebookPublisher(graph_url=s.facebook_graph_url, tokens=tokens, **extra)
