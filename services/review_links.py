"""Signed, expiring reviewer links: `PUBLIC_URL/review/<token>`, the token carrying a nonce."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.signing import BadSignature, Signer

REVIEW_LINK_TTL_H = 72


class LinkAltered(ValueError):
    """The token was cut, changed or made with another key: it names no link."""


class LinkExpired(ValueError):
    """The token is genuine but its time is up."""


@dataclass(frozen=True)
class ReviewLinks:
    """Makes and reads reviewer-link tokens (Signer purpose "review"); the nonce names the
    ReviewLink row, which stays the authority on expiry and decision."""

    signer: Signer
    public_url: str
    ttl_h: int = REVIEW_LINK_TTL_H

    def token_for(self, nonce: str, *, created_at: datetime) -> str:
        """The token of a link made at `created_at`, valid for `ttl_h` hours from then."""
        return self.signer.sign(nonce, ttl_s=self.ttl_h * 3600, now=created_at.timestamp())

    def url_for(self, token: str) -> str:
        """The page's address."""
        return f"{self.public_url}/review/{token}"

    def nonce_of(self, token: str) -> str:
        """The nonce of a valid token; LinkExpired or LinkAltered otherwise."""
        try:
            return self.signer.unsign(token)
        except BadSignature:
            pass
        try:
            self.signer.unsign(token, now=0.0)  # genuine, apart from its time?
        except BadSignature:
            raise LinkAltered("not a review link") from None
        raise LinkExpired("expired")
