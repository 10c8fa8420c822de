"""The web app: Telegram webhook, signed media links, health. Routes stay thin."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse

from services.signing import BadSignature, Signer

MEDIA_LINK_TTL_S = 7 * 24 * 3600


class MediaLinks:
    """Signed, expiring URLs for files under the media folder (nothing outside it is served)."""

    def __init__(self, *, signer: Signer, media_dir: Path, public_url: str | None) -> None:
        self._signer = signer
        self._root = media_dir.resolve()
        self._public_url = public_url

    def url_for(self, path: Path) -> str | None:
        """A link to `path`, or None without PUBLIC_URL."""
        if self._public_url is None:
            return None
        relative = path.resolve().relative_to(self._root)
        token = self._signer.sign(relative.as_posix(), ttl_s=MEDIA_LINK_TTL_S)
        return f"{self._public_url}/media/{token}"

    def resolve(self, token: str) -> Path:
        """The file a valid token points to; BadSignature or FileNotFoundError otherwise."""
        path = (self._root / self._signer.unsign(token)).resolve()
        if not path.is_relative_to(self._root) or not path.is_file():
            raise FileNotFoundError(token)
        return path


def create_web_app(
    *,
    links: MediaLinks,
    telegram_webhook: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
    webhook_secret: str | None = None,
) -> FastAPI:
    """The FastAPI app `socialbot run` serves on WEB_PORT."""
    web = FastAPI(title="socialbot", docs_url=None, redoc_url=None)

    @web.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @web.get("/media/{token}")
    async def media(token: str) -> FileResponse:
        try:
            path = links.resolve(token)
        except (BadSignature, FileNotFoundError):
            raise HTTPException(404, "This link is invalid or has expired.") from None
        return FileResponse(path)

    if telegram_webhook is not None:

        @web.post("/telegram/webhook")
        async def telegram(
            request: Request,
            secret: str | None = Header(default=None, alias="X-Telegram-Bot-Api-Secret-Token"),
        ) -> JSONResponse:
            expected = webhook_secret or ""
            if not expected or not hmac.compare_digest((secret or "").encode(), expected.encode()):
                return JSONResponse({"ok": False}, status_code=403)
            await telegram_webhook(await request.json())
            return JSONResponse({"ok": True})

    return web
