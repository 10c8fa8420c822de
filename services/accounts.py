"""Connected platform accounts: the OAuth flow, tokens encrypted at rest, kept fresh.

`/connect <platform>` → `start_connect` stores who asked (workspace, member, chat) with a PKCE
verifier under a random nonce and returns the web app's start link, whose `state` is the nonce
signed and expiring. The callback → `finish_connect` checks the signature, uses the nonce once
(compare-and-set on `used_at`), trades the code for tokens and stores each account it gives.
Tokens are Fernet-encrypted with a key derived from SECRET_KEY. `StoredTokens` hands publishers
a token that is refreshed before it expires or after a 401, under a row lock so that two
workers never spend the same (rotating) refresh token.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select, update

from services.content import Platform
from services.db import SessionFactory
from services.models import AccountStatus, OAuthState, SocialAccount, utcnow
from services.oauth_types import (
    ConnectedIdentity,
    OAuthError,
    PlatformAuth,
    RefreshRefused,
    TokenSet,
)
from services.publishing import AccountNeedsReconnect, RetryLater
from services.signing import BadSignature, Signer

STATE_TTL_S = 15 * 60
REFRESH_MARGIN = timedelta(minutes=5)  # refresh a token this long before it expires
OAUTH_KIND = "oauth"
DISCONNECTED_KIND = "disconnected"  # kept for the history of its publications


class ConnectError(Exception):
    """The connect flow cannot go on; the message says why and what to do."""


class TokenCipher:
    """Encrypts token sets for the database (Fernet: AES-128-CBC with HMAC-SHA256)."""

    def __init__(self, secret_key: bytes) -> None:
        digest = hashlib.sha256(b"socialbot platform tokens\0" + secret_key).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def encrypt(self, tokens: TokenSet) -> bytes:
        """The token set, encrypted."""
        data = {
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "expires_at": _iso(tokens.expires_at),
            "refresh_expires_at": _iso(tokens.refresh_expires_at),
            "scope": tokens.scope,
        }
        return self._fernet.encrypt(json.dumps(data).encode())

    def decrypt(self, blob: bytes) -> TokenSet:
        """The token set; ConnectError if it was made with another SECRET_KEY."""
        try:
            data = json.loads(self._fernet.decrypt(blob))
        except InvalidToken:
            raise ConnectError(
                "the stored tokens cannot be read with this SECRET_KEY: connect the account again"
            ) from None
        return TokenSet(
            access_token=data["access_token"],
            refresh_token=data["refresh_token"],
            expires_at=_from_iso(data["expires_at"]),
            refresh_expires_at=_from_iso(data["refresh_expires_at"]),
            scope=data["scope"],
        )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _from_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)[:96]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


@dataclass(frozen=True)
class ConnectLinks:
    """Where the connect flow lives on the web app (PUBLIC_URL)."""

    public_url: str

    def start(self, platform: Platform, state: str) -> str:
        """The link a member opens: it redirects to the platform's consent page."""
        return f"{self.public_url}/oauth/{platform.value}/start?{urlencode({'state': state})}"

    def callback(self, platform: Platform) -> str:
        """The redirect URI registered with the platform."""
        return f"{self.public_url}/oauth/{platform.value}/callback"


@dataclass(frozen=True)
class Connected:
    """What a finished connect flow stored, and where to say so."""

    platform: Platform
    chat_ref: str
    accounts: tuple[str, ...]  # display names


class AccountService:
    """Connect, list, refresh and disconnect a workspace's platform accounts."""

    def __init__(
        self, *, sessions: SessionFactory, cipher: TokenCipher, signer: Signer, links: ConnectLinks
    ) -> None:
        self._sessions = sessions
        self._cipher = cipher
        self._signer = signer
        self._links = links

    async def start_connect(
        self, *, workspace_id: int, member_id: int, chat_ref: str, platform: Platform
    ) -> str:
        """Record a connect attempt; the link that starts it (valid STATE_TTL_S)."""
        nonce = secrets.token_urlsafe(24)
        verifier, _ = _pkce_pair()
        async with self._sessions.begin() as session:
            session.add(
                OAuthState(
                    nonce=nonce,
                    workspace_id=workspace_id,
                    member_id=member_id,
                    platform=platform.value,
                    chat_ref=chat_ref,
                    code_verifier=verifier,
                )
            )
        return self._links.start(platform, self._signer.sign(nonce, ttl_s=STATE_TTL_S))

    async def authorize_url(self, auth: PlatformAuth, state: str) -> str:
        """The platform's consent page for a start link's state; ConnectError if it is stale."""
        row = await self._state(auth.platform, state, use=False)
        challenge = None
        if auth.pkce and row.code_verifier:
            digest = hashlib.sha256(row.code_verifier.encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        return auth.authorize_url(
            state=state, redirect_uri=self._links.callback(auth.platform), code_challenge=challenge
        )

    async def finish_connect(self, auth: PlatformAuth, *, state: str, code: str) -> Connected:
        """Check the state (once), trade the code for tokens, store the accounts."""
        row = await self._state(auth.platform, state, use=True)
        try:
            identities = await auth.exchange(
                code=code,
                redirect_uri=self._links.callback(auth.platform),
                code_verifier=row.code_verifier if auth.pkce else None,
            )
        except OAuthError as exc:
            raise ConnectError(str(exc)) from None
        if not identities:
            raise ConnectError(f"{auth.platform.value} gave access to no account")
        async with self._sessions.begin() as session:
            for identity in identities:
                await self._store(session, row, identity)
        return Connected(
            platform=auth.platform,
            chat_ref=row.chat_ref,
            accounts=tuple(i.display_name for i in identities),
        )

    async def _state(self, platform: Platform, state: str, *, use: bool) -> OAuthState:
        try:
            nonce = self._signer.unsign(state)
        except BadSignature as exc:
            reason = "has expired" if str(exc) == "expired" else "is not valid"
            raise ConnectError(f"this connect link {reason}: run /connect again") from None
        async with self._sessions.begin() as session:
            row = await session.get(OAuthState, nonce)
            if row is None or row.platform != platform.value:
                raise ConnectError("this connect link is not valid: run /connect again")
            if use:
                claimed = await session.execute(
                    update(OAuthState)
                    .where(OAuthState.nonce == nonce, OAuthState.used_at.is_(None))
                    .values(used_at=utcnow())
                )
                if not claimed.rowcount:  # type: ignore[attr-defined]
                    raise ConnectError("this connect link was already used: run /connect again")
            elif row.used_at is not None:
                raise ConnectError("this connect link was already used: run /connect again")
            session.expunge(row)
            return row

    async def _store(self, session: Any, row: OAuthState, identity: ConnectedIdentity) -> None:
        existing = await session.scalar(
            select(SocialAccount).where(
                SocialAccount.workspace_id == row.workspace_id,
                SocialAccount.platform == row.platform,
                SocialAccount.kind.in_([OAUTH_KIND, DISCONNECTED_KIND]),
                SocialAccount.external_id == identity.external_id,
            )
        )
        account = existing or SocialAccount(
            workspace_id=row.workspace_id,
            platform=row.platform,
            kind=OAUTH_KIND,
            external_id=identity.external_id,
        )
        account.kind = OAUTH_KIND
        account.display_name = identity.display_name
        account.token_ciphertext = self._cipher.encrypt(identity.tokens)
        account.token_expires_at = identity.tokens.expires_at
        account.status, account.error = AccountStatus.OK, None
        account.extra = dict(identity.extra)
        account.connected_by = row.member_id
        if existing is None:
            session.add(account)

    def tokens(self, account_id: int, auth: PlatformAuth) -> StoredTokens:
        """The Tokens of one stored account, for its publisher."""
        return StoredTokens(
            sessions=self._sessions, cipher=self._cipher, account_id=account_id, auth=auth
        )


async def connected_accounts(
    sessions: SessionFactory, workspace_id: int, platform: Platform | None = None
) -> list[SocialAccount]:
    """The workspace's connected (OAuth) accounts, by platform and name."""
    query = select(SocialAccount).where(
        SocialAccount.workspace_id == workspace_id, SocialAccount.kind == OAUTH_KIND
    )
    if platform is not None:
        query = query.where(SocialAccount.platform == platform.value)
    async with sessions() as session:
        rows = (await session.scalars(query)).all()
    return sorted(rows, key=lambda a: (a.platform, a.display_name.casefold(), a.id))


def account_health(account: SocialAccount, now: datetime | None = None) -> str:
    """A short line on whether the account can post."""
    if account.status == AccountStatus.RECONNECT:
        return f"needs reconnecting ({account.error or 'its access was refused'})"
    if account.token_expires_at is None:
        return "ok"
    left = account.token_expires_at - (now or utcnow())
    if left <= timedelta(0):
        return "ok (token expired; refreshed at the next post)"
    return "ok"


class StoredTokens:
    """The publisher-facing Tokens of one stored account (services.publishing.Tokens)."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        cipher: TokenCipher,
        account_id: int,
        auth: PlatformAuth,
        now: Any = utcnow,
    ) -> None:
        self._sessions = sessions
        self._cipher = cipher
        self._account_id = account_id
        self._auth = auth
        self._now = now
        self._current: str | None = None

    async def access_token(self) -> str:
        """The stored token, refreshed first if it expires within REFRESH_MARGIN."""
        return await self._refreshed(force=False)

    async def refresh(self) -> str:
        """A new token after the platform refused the current one."""
        return await self._refreshed(force=True)

    async def _refreshed(self, *, force: bool) -> str:
        async with self._sessions.begin() as session:
            account = await session.scalar(
                select(SocialAccount).where(SocialAccount.id == self._account_id).with_for_update()
            )
            if account is None or account.token_ciphertext is None:
                raise AccountNeedsReconnect("the account was disconnected: run /connect again")
            if account.status == AccountStatus.RECONNECT:
                raise AccountNeedsReconnect(_reconnect_message(account))
            tokens = self._cipher.decrypt(account.token_ciphertext)
            # another worker may have refreshed since our token was refused: use theirs
            stale = force and tokens.access_token == self._current
            due = tokens.expires_at is not None and tokens.expires_at - self._now() < REFRESH_MARGIN
            if stale or (not force and due) or (force and self._current is None):
                try:
                    tokens = await self._auth.refresh(tokens)
                except RefreshRefused as exc:
                    account.status, account.error = AccountStatus.RECONNECT, str(exc)
                    await session.commit()
                    raise AccountNeedsReconnect(_reconnect_message(account)) from None
                except OAuthError as exc:
                    raise RetryLater(f"refreshing the access token failed: {exc}") from None
                account.token_ciphertext = self._cipher.encrypt(tokens)
                account.token_expires_at = tokens.expires_at
            self._current = tokens.access_token
            return tokens.access_token


def _reconnect_message(account: SocialAccount) -> str:
    return (
        f"{account.platform} account {account.display_name} can no longer post "
        f"({account.error or 'its access was refused'}): run /connect {account.platform}"
    )


async def disconnect(
    sessions: SessionFactory, workspace_id: int, platform: Platform, name: str | None
) -> list[str]:
    """Remove the workspace's accounts on `platform` (one by name, or all); their names."""
    async with sessions.begin() as session:
        rows = (
            await session.scalars(
                select(SocialAccount).where(
                    SocialAccount.workspace_id == workspace_id,
                    SocialAccount.platform == platform.value,
                    SocialAccount.kind == OAUTH_KIND,
                )
            )
        ).all()
        chosen = [
            r
            for r in rows
            if name is None
            or name.lstrip("@").casefold()
            in {r.display_name.lstrip("@").casefold(), r.external_id.casefold()}
        ]
        for row in chosen:
            # publications keep their history: the row stays, without tokens, marked
            row.token_ciphertext = None
            row.status, row.error = AccountStatus.RECONNECT, "disconnected"
            row.kind = DISCONNECTED_KIND
        return [r.display_name for r in chosen]


def options_for(workspace_options: Mapping[str, str], platform: Platform) -> dict[str, str]:
    """The workspace's publishing options for one platform (`youtube.privacy_status` → …)."""
    prefix = f"{platform.value}."
    return {k.removeprefix(prefix): v for k, v in workspace_options.items() if k.startswith(prefix)}
