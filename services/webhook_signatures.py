"""Checking that a platform's webhook delivery is genuine, on the raw body, before reading it.

- **Meta** (Instagram, Facebook) signs the raw body with the app secret: header
  `X-Hub-Signature-256: sha256=<hex HMAC-SHA256>`. The subscription handshake is a GET with
  `hub.mode=subscribe`, `hub.verify_token` (ours, from settings) and `hub.challenge`, which is
  echoed back. Meta's signature carries no time, so a replay is caught by the event key only.
- **TikTok** sends `TikTok-Signature: t=<unix seconds>,s=<hex HMAC-SHA256 of "<t>.<raw body>"
  with the client secret>`; a delivery older than `MAX_AGE_S` is refused as stale.

Every refusal is a `WebhookRefused` with the HTTP status to answer and a short reason.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

MAX_AGE_S = 300  # TikTok's own examples allow five minutes of clock skew and delay
UNSIGNED, FORBIDDEN, REPLAYED = 401, 403, 409


class WebhookRefused(Exception):
    """A delivery that is not taken; `status` is the HTTP answer, the message its reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def hmac_hex(secret: str, message: bytes) -> str:
    """The hex HMAC-SHA256 of `message` keyed with `secret`."""
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def event_key(body: bytes) -> str:
    """What makes a delivery unique for replay checks: the hash of its raw body.

    Both platforms put the event's time and ids in the body, so a second delivery of the same
    event (a replay, or the platform sending it again) has the same key."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def verify_meta(body: bytes, header: str | None, secrets: Sequence[str]) -> None:
    """Accept `body` only if `header` is its HMAC with one of the Meta app `secrets`."""
    if not secrets:
        raise WebhookRefused(FORBIDDEN, "Meta webhooks are not configured (no app secret set)")
    if not header:
        raise WebhookRefused(UNSIGNED, "unsigned: X-Hub-Signature-256 is missing")
    scheme, _, signature = header.strip().partition("=")
    if scheme.lower() != "sha256" or not signature:
        raise WebhookRefused(UNSIGNED, "X-Hub-Signature-256 must read sha256=<hex>")
    if not any(hmac.compare_digest(hmac_hex(s, body), signature.lower()) for s in secrets):
        raise WebhookRefused(FORBIDDEN, "the signature does not match the body")


def verify_tiktok(
    body: bytes, header: str | None, secret: str | None, *, now: float, max_age_s: float = MAX_AGE_S
) -> int:
    """Accept `body` only if `header` signs it with `secret` and is recent; its timestamp."""
    if not secret:
        raise WebhookRefused(FORBIDDEN, "TikTok webhooks are not configured (no client secret)")
    if not header:
        raise WebhookRefused(UNSIGNED, "unsigned: TikTok-Signature is missing")
    parts = dict(p.strip().partition("=")[::2] for p in header.split(","))
    stamp, signature = parts.get("t", ""), parts.get("s", "")
    if not stamp.isdigit() or not signature:
        raise WebhookRefused(UNSIGNED, "TikTok-Signature must read t=<unix time>,s=<hex>")
    expected = hmac_hex(secret, stamp.encode() + b"." + body)
    if not hmac.compare_digest(expected, signature.lower()):
        raise WebhookRefused(FORBIDDEN, "the signature does not match the body")
    if abs(now - int(stamp)) > max_age_s:
        raise WebhookRefused(FORBIDDEN, f"stale: signed more than {max_age_s:g} s from now")
    return int(stamp)


def meta_challenge(
    mode: str | None, token: str | None, challenge: str | None, expected: str | None
) -> str:
    """The `hub.challenge` to echo when Meta's subscription handshake carries our token."""
    if not expected:
        raise WebhookRefused(FORBIDDEN, "META_WEBHOOK_VERIFY_TOKEN is not set")
    if mode != "subscribe" or not challenge:
        raise WebhookRefused(FORBIDDEN, "expected hub.mode=subscribe and a hub.challenge")
    if not hmac.compare_digest((token or "").encode(), expected.encode()):
        raise WebhookRefused(FORBIDDEN, "hub.verify_token does not match")
    return challenge
