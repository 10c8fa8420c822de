"""What every platform's OAuth 2.0 client provides, and the tokens it hands back.

The generic flow (signed single-use `state`, PKCE, encrypted storage, refresh before expiry)
lives in services.accounts; each platform module implements `PlatformAuth`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from services.content import Platform


@dataclass(frozen=True)
class TokenSet:
    """An account's tokens as the platform gave them (expiry times in UTC)."""

    access_token: str
    refresh_token: str | None = None
    expires_at: datetime | None = None
    refresh_expires_at: datetime | None = None
    scope: str = ""


@dataclass(frozen=True)
class ConnectedIdentity:
    """One account an authorization gave access to: a channel, a Page, an IG user, a creator."""

    external_id: str
    display_name: str
    tokens: TokenSet
    extra: Mapping[str, str] = field(default_factory=dict)


class OAuthError(Exception):
    """The authorization or a token call failed; the message is what a person can act on."""


class RefreshRefused(OAuthError):
    """The refresh token was refused (revoked, expired): the account must be connected again."""


class PlatformAuth(Protocol):
    """One platform's OAuth 2.0 authorization-code client."""

    platform: Platform
    pkce: bool  # whether authorize_url takes a code_challenge (S256)

    def authorize_url(self, *, state: str, redirect_uri: str, code_challenge: str | None) -> str:
        """Where to send the person to grant access."""

    async def exchange(
        self, *, code: str, redirect_uri: str, code_verifier: str | None
    ) -> list[ConnectedIdentity]:
        """Trade the callback's code for tokens and the account(s) they give access to."""

    async def refresh(self, tokens: TokenSet) -> TokenSet:
        """New tokens (a rotated refresh token replaces the old one); RefreshRefused if the
        platform will not refresh."""
