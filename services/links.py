"""Signed, expiring links to files under the media folder, served by the web app."""

from __future__ import annotations

from pathlib import Path

from services.signing import Signer
from services.storage import MediaStore

MEDIA_LINK_TTL_S = 7 * 24 * 3600


class MediaLinks:
    """Signed, expiring URLs for files under the media folder (nothing outside it is served)."""

    def __init__(self, *, signer: Signer, store: MediaStore, public_url: str | None) -> None:
        self._signer = signer
        self._store = store
        self._public_url = public_url

    def url_for(self, path: Path, *, ttl_s: int = MEDIA_LINK_TTL_S) -> str | None:
        """A link to `path` valid for `ttl_s` seconds, or None without PUBLIC_URL."""
        if self._public_url is None:
            return None
        return f"{self._public_url}/media/{self.token_for(path, ttl_s=ttl_s)}"

    def token_for(self, path: Path, *, ttl_s: int = MEDIA_LINK_TTL_S) -> str:
        """The signed token of a link to `path`: the web app serves it at /media/<token>."""
        return self._signer.sign(self._store.ref(path), ttl_s=ttl_s)

    async def resolve(self, token: str) -> Path:
        """The file a valid token points to, on this machine (fetched from the store if need
        be); BadSignature, FileNotFoundError (MediaMissing) or ValueError otherwise."""
        ref = self._signer.unsign(token)
        if ref.startswith("/"):
            raise ValueError("not a media reference")
        return await self._store.local(ref)
