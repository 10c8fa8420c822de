"""Signed, expiring tokens for links (media URLs): HMAC-SHA256 over the payload and expiry."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time


class BadSignature(ValueError):
    """The token was altered, made with another key, or has expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Makes and checks tokens like `<payload>.<expiry>.<mac>`, bound to one purpose."""

    def __init__(self, *, key: bytes, purpose: str) -> None:
        self._key = hashlib.sha256(key + b"\0" + purpose.encode()).digest()

    def sign(self, payload: str, *, ttl_s: int, now: float | None = None) -> str:
        """A token for `payload` valid for `ttl_s` seconds."""
        expires = int((now if now is not None else time.time()) + ttl_s)
        body = f"{_b64(payload.encode())}.{expires}"
        return f"{body}.{_b64(self._mac(body))}"

    def unsign(self, token: str, *, now: float | None = None) -> str:
        """The payload of a valid, unexpired token; BadSignature otherwise."""
        try:
            encoded, expires, mac = token.split(".")
            body = f"{encoded}.{expires}"
            if not hmac.compare_digest(_unb64(mac), self._mac(body)):
                raise BadSignature("bad signature")
            if int(expires) < (now if now is not None else time.time()):
                raise BadSignature("expired")
            return _unb64(encoded).decode()
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadSignature(str(exc) or "malformed") from None

    def _mac(self, body: str) -> bytes:
        return hmac.new(self._key, body.encode(), hashlib.sha256).digest()
