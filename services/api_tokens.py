"""API keys and the tokens they are exchanged for (the HTTP API under /api/v1).

A key is shown once and kept only as its SHA-256. A key is exchanged for a short-lived access
token and a refresh token, both JWTs (HS256) signed with a key derived from SECRET_KEY. A
refresh token works once: using it gives a new pair whose refresh token is of the same
family. A refresh token used a second time has leaked (or a client kept an old copy), so the
whole family is revoked, and with it the access tokens issued in it (each names its family).
A revoked key's tokens stop working at once: every request reads the key's row.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.db import SessionFactory
from services.models import Member, Role, utcnow
from services.web_models import ApiKey, ApiRefreshToken

KEY_PREFIX = "sbk_"
SHOWN_PREFIX = 12  # characters of a key kept in clear to tell keys apart in /apikeys
ISSUER = "socialbot"
AUDIENCE = "socialbot-api"
ALGORITHM = "HS256"
ACCESS, REFRESH = "access", "refresh"
GET_NEW = "Exchange the API key for new tokens: POST /api/v1/auth/token."


class TokenError(Exception):
    """A key or token is not (or no longer) valid; the message says why and what to do."""


def new_secret() -> str:
    """A fresh API key: the prefix and 43 URL-safe characters (256 bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(secret: str) -> str:
    """What is stored of a key: its SHA-256, in hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def signing_key(secret_key: bytes) -> bytes:
    """The JWT signing key, derived from SECRET_KEY (never the same bytes as other uses)."""
    return hmac.new(secret_key, b"socialbot api tokens", hashlib.sha256).digest()


async def create_key(
    session: AsyncSession, *, workspace_id: int, name: str, role: str, created_by: int
) -> tuple[ApiKey, str]:
    """A new key and its secret; the key gets a member row of its own to act as."""
    secret = new_secret()
    key = ApiKey(
        workspace_id=workspace_id,
        name=name,
        prefix=secret[:SHOWN_PREFIX],
        key_hash=hash_key(secret),
        role=role,
        created_by=created_by,
    )
    session.add(key)
    await session.flush()
    member = Member(
        workspace_id=workspace_id,
        user_ref=f"api:{key.id}",
        display_name=f"API key {name}",
        role=role,
    )
    session.add(member)
    await session.flush()
    key.member_id = member.id
    return key, secret


async def active_keys(session: AsyncSession, workspace_id: int) -> list[ApiKey]:
    """The workspace's keys that are not revoked, by name."""
    query = select(ApiKey).where(ApiKey.workspace_id == workspace_id, ApiKey.revoked_at.is_(None))
    return list((await session.scalars(query.order_by(ApiKey.name, ApiKey.id))).all())


async def active_key(session: AsyncSession, workspace_id: int, name: str) -> ApiKey | None:
    """The workspace's unrevoked key called `name`."""
    query = select(ApiKey).where(
        ApiKey.workspace_id == workspace_id, ApiKey.name == name, ApiKey.revoked_at.is_(None)
    )
    return (await session.scalars(query)).first()


async def revoke_key(session: AsyncSession, key: ApiKey) -> None:
    """Revoke a key, its refresh tokens, and what its member row may do."""
    now = utcnow()
    key.revoked_at = now
    await session.execute(
        update(ApiRefreshToken)
        .where(ApiRefreshToken.api_key_id == key.id, ApiRefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    if key.member_id is not None:
        member = await session.get(Member, key.member_id)
        if member is not None:
            member.role = Role.VIEWER.value  # no longer counted as an owner, say


@dataclass(frozen=True)
class TokenPair:
    """What a key or a refresh token is exchanged for."""

    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int


@dataclass(frozen=True)
class Caller:
    """Who an access token speaks for: an unrevoked key and its member row."""

    key: ApiKey
    member: Member


class TokenIssuer:
    """Issues and checks the API's tokens; the database keeps the refresh tokens' state."""

    def __init__(
        self,
        *,
        secret_key: bytes,
        access_ttl_s: int,
        refresh_ttl_s: int,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self._key = signing_key(secret_key)
        self._access_ttl_s = access_ttl_s
        self._refresh_ttl_s = refresh_ttl_s
        self._now = now

    async def key_id(self, sessions: SessionFactory, secret: str) -> int:
        """The id of a valid, unrevoked key (to count the call before anything is made)."""
        async with sessions() as session:
            return (await _key_of(session, secret)).id

    def refresh_key_id(self, token: str) -> int:
        """The id of the key a well-formed, unexpired refresh token was issued to."""
        return int(self._decode(token, REFRESH)["sub"])

    async def exchange(self, sessions: SessionFactory, secret: str) -> tuple[ApiKey, TokenPair]:
        """A key for a new pair of tokens (a new family)."""
        async with sessions.begin() as session:
            key = await _key_of(session, secret)
            key.last_used_at = self._now()
            pair = await self._issue(session, key, family=uuid.uuid4().hex)
        return key, pair

    async def refresh(self, sessions: SessionFactory, token: str) -> tuple[ApiKey, TokenPair]:
        """A refresh token for a new pair; a second use revokes the family (and says so)."""
        claims = self._decode(token, REFRESH)
        async with sessions.begin() as session:
            row = await session.get(ApiRefreshToken, str(claims["jti"]))
            key = await session.get(ApiKey, row.api_key_id) if row is not None else None
            if row is None or key is None:
                raise TokenError(f"That refresh token is not known. {GET_NEW}")
            _check_key(key)
            if row.revoked_at is not None:
                raise TokenError(f"That refresh token was revoked. {GET_NEW}")
            used = await session.execute(
                update(ApiRefreshToken)
                .where(
                    ApiRefreshToken.jti == row.jti,
                    ApiRefreshToken.used_at.is_(None),
                    ApiRefreshToken.revoked_at.is_(None),
                )
                .values(used_at=self._now())
            )
            if used.rowcount:  # type: ignore[attr-defined]
                return key, await self._issue(session, key, family=row.family)
            await session.execute(
                update(ApiRefreshToken)
                .where(ApiRefreshToken.family == row.family, ApiRefreshToken.revoked_at.is_(None))
                .values(revoked_at=self._now())
            )
        raise TokenError(
            "That refresh token was already used once, so it may have leaked: it and every "
            f"token issued with it are now revoked. {GET_NEW}"
        )

    async def authenticate(self, session: AsyncSession, token: str) -> Caller:
        """The key and member an access token speaks for; TokenError if it may not."""
        claims = self._decode(token, ACCESS)
        key = await session.get(ApiKey, int(claims["sub"]))
        if key is None:
            raise TokenError(f"That token's API key no longer exists. {GET_NEW}")
        _check_key(key)
        revoked = await session.scalar(
            select(ApiRefreshToken.jti)
            .where(
                ApiRefreshToken.family == str(claims["fam"]),
                ApiRefreshToken.revoked_at.is_not(None),
            )
            .limit(1)
        )
        if revoked is not None:
            raise TokenError(f"That token was revoked. {GET_NEW}")
        member = await session.get(Member, key.member_id) if key.member_id else None
        if member is None:
            raise TokenError("That API key has no member to act as; make a new key.")
        return Caller(key, member)

    async def _issue(self, session: AsyncSession, key: ApiKey, *, family: str) -> TokenPair:
        now = self._now()
        jti = uuid.uuid4().hex
        session.add(
            ApiRefreshToken(
                jti=jti,
                api_key_id=key.id,
                family=family,
                created_at=now,
                expires_at=now + timedelta(seconds=self._refresh_ttl_s),
            )
        )
        await session.flush()
        common = {"sub": str(key.id), "ws": key.workspace_id, "fam": family}
        return TokenPair(
            access_token=self._encode(common, ACCESS, uuid.uuid4().hex, now, self._access_ttl_s),
            refresh_token=self._encode(common, REFRESH, jti, now, self._refresh_ttl_s),
            expires_in=self._access_ttl_s,
            refresh_expires_in=self._refresh_ttl_s,
        )

    def _encode(
        self, common: dict[str, Any], kind: str, jti: str, now: datetime, ttl_s: int
    ) -> str:
        claims = common | {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "typ": kind,
            "jti": jti,
            "iat": int(now.timestamp()),
            "exp": int(now.timestamp()) + ttl_s,
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def _decode(self, token: str, kind: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "jti", "typ", "fam"]},
            )
        except jwt.ExpiredSignatureError:
            what = "access token" if kind == ACCESS else "refresh token"
            hint = "Refresh it: POST /api/v1/auth/refresh." if kind == ACCESS else GET_NEW
            raise TokenError(f"That {what} has expired. {hint}") from None
        except jwt.InvalidTokenError:
            raise TokenError(
                f"That token is not valid (altered, cut short, or not ours). {GET_NEW}"
            ) from None
        if claims.get("typ") != kind or not str(claims["sub"]).isdigit():
            expected = "an access token" if kind == ACCESS else "a refresh token"
            raise TokenError(f"That is not {expected}. {GET_NEW}")
        return claims


async def _key_of(session: AsyncSession, secret: str) -> ApiKey:
    key = await session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(secret)))
    if key is None:
        raise TokenError(
            "That API key is not known. Check it was copied whole (it starts with "
            f"{KEY_PREFIX}); an owner makes keys with /apikey new in a private chat."
        )
    _check_key(key)
    return key


def _check_key(key: ApiKey) -> None:
    if key.revoked_at is not None:
        raise TokenError(
            f"The API key “{key.name}” was revoked. An owner can make a new one with "
            "/apikey new <name> in a private chat with the bot."
        )
