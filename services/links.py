"""Signed, expiring links to files under the media folder, served by the web app."""

from __future__ import annotations

from pathlib import Path

from services.signing import Signer

MEDIA_LINK_TTL_S = 7 * 24 * 3600


class MediaLinks:
    """Signed, expiring URLs for files under the media folder (nothing outside it is served)."""

    def __init__(self, *, signer: Signer, media_dir: Path, public_url: str | None) -> None:
        self._signer = signer
        self._root = media_dir.resolve()
        self._public_url = public_url

    def url_for(self, path: Path, *, ttl_s: int = MEDIA_LINK_TTL_S) -> str | None:
        """A link to `path` valid for `ttl_s` seconds, or None without PUBLIC_URL."""
        if self._public_url is None:
            return None
        relative = path.resolve().relative_to(self._root)
        token = self._signer.sign(relative.as_posix(), ttl_s=ttl_s)
        return f"{self._public_url}/media/{token}"

    def resolve(self, token: str) -> Path:
        """The file a valid token points to; BadSignature or FileNotFoundError otherwise."""
        path = (self._root / self._signer.unsign(token)).resolve()
        if not path.is_relative_to(self._root) or not path.is_file():
            raise FileNotFoundError(token)
        return path
