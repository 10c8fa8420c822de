"""Sign-in to the /admin pages: one-time login links and the session cookie they give.

A login link is `PUBLIC_URL/admin/login/<token>`: the token is random and only its SHA-256 is
stored (the WebLogin row), so the database alone cannot sign anybody in. An owner's chat groups
(a Discord role mapped to owner) travel inside the token, covered by that hash, and then inside
the session, so the web pages judge the role as the chat does. The session is a cookie signed
with Signer purpose "admin-session" that expires after eight hours; it carries a random form
token that every form of the pages must send back (CSRF).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from dataclasses import dataclass

from services.signing import BadSignature, Signer

LOGIN_TTL_S = 10 * 60
SESSION_TTL_S = 8 * 3600
NOTE_TTL_S = 60


class BadSession(ValueError):
    """The cookie was altered, made with another key, malformed, or has expired."""


@dataclass(frozen=True)
class AdminSession:
    """Who is signed in to the /admin pages, and the form token of their session."""

    member_id: int
    workspace_id: int
    groups: tuple[str, ...] = ()
    form_token: str = ""


def login_token(groups: tuple[str, ...] = ()) -> str:
    """A new random login token; the member's chat groups ride along, if they have any."""
    token = secrets.token_urlsafe(24)
    if groups:
        token += "." + base64.urlsafe_b64encode(json.dumps(list(groups)).encode()).decode()
    return token


def token_digest(token: str) -> str:
    """What is stored of a login token: its SHA-256, 64 hex digits."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_groups(token: str) -> tuple[str, ...]:
    """The chat groups a (genuine) login token carries."""
    _, _, encoded = token.partition(".")
    if not encoded:
        return ()
    try:
        groups = json.loads(base64.urlsafe_b64decode(encoded.encode()))
    except (ValueError, binascii.Error):
        return ()
    return tuple(str(g) for g in groups) if isinstance(groups, list) else ()


@dataclass(frozen=True)
class AdminLogins:
    """Login links to `public_url` and the signed session cookie of the /admin pages."""

    signer: Signer
    public_url: str

    def login_url(self, token: str) -> str:
        """The one-time link for a login token."""
        return f"{self.public_url}/admin/login/{token}"

    @property
    def secure(self) -> bool:
        """Whether the cookie must only travel over HTTPS (PUBLIC_URL is https)."""
        return self.public_url.lower().startswith("https://")

    def seal(self, member_id: int, workspace_id: int, groups: tuple[str, ...]) -> str:
        """A new session cookie's value, with a fresh form token."""
        payload = {
            "m": member_id,
            "w": workspace_id,
            "g": list(groups),
            "f": secrets.token_urlsafe(18),
        }
        return self.signer.sign(json.dumps(payload), ttl_s=SESSION_TTL_S)

    def open(self, cookie: str, *, now: float | None = None) -> AdminSession:
        """The session a valid cookie holds; BadSession otherwise."""
        try:
            data = json.loads(self.signer.unsign(cookie, now=now))
            return AdminSession(
                member_id=int(data["m"]),
                workspace_id=int(data["w"]),
                groups=tuple(str(g) for g in data["g"]),
                form_token=str(data["f"]),
            )
        except (BadSignature, ValueError, KeyError, TypeError):
            raise BadSession("not a valid session") from None

    def seal_note(self, text: str, *, ok: bool) -> str:
        """A short-lived cookie value carrying the outcome of an action to the next page."""
        return self.signer.sign(json.dumps({"note": text, "ok": ok}), ttl_s=NOTE_TTL_S)

    def open_note(self, cookie: str) -> tuple[str, bool] | None:
        """The outcome a note cookie carries; None when it is not a valid, fresh note."""
        try:
            data = json.loads(self.signer.unsign(cookie))
            return str(data["note"]), bool(data["ok"])
        except (BadSignature, ValueError, KeyError, TypeError):
            return None
