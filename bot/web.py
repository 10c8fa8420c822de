"""The web app: Telegram webhook, signed media links, health. Routes stay thin."""

from __future__ import annotations

import hmac
import html
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse

from bot.admin_web import add_admin_routes
from bot.api import ApiConfig, mount_api
from bot.monitoring import add_monitoring_routes
from bot.pages import mount_static
from bot.review_web import add_review_routes
from bot.webhooks import WebhookKeys, webhook_routes
from handlers.accounts import oauth_callback, oauth_start
from handlers.app import App
from services.accounts import ConnectError
from services.links import MediaLinks
from services.signing import BadSignature
from services.storage import StoreUnavailable


def create_web_app(
    *,
    links: MediaLinks,
    telegram_webhook: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
    webhook_secret: str | None = None,
    app: App | None = None,
    webhook_keys: WebhookKeys | None = None,
    api: ApiConfig | None = None,
) -> FastAPI:
    """The FastAPI app `socialbot run` serves on WEB_PORT."""
    web = FastAPI(title="socialbot", docs_url=None, redoc_url=None, openapi_url=None)

    if app is not None:

        @web.get("/oauth/{platform}/start", response_model=None)
        async def oauth_begin(platform: str, state: str = "") -> RedirectResponse | HTMLResponse:
            try:
                return RedirectResponse(await oauth_start(app, platform, state), status_code=302)
            except ConnectError as exc:
                return _page("Not connected", f"{exc}.", status=400)

        @web.get("/oauth/{platform}/callback")
        async def oauth_back(
            platform: str,
            state: str = "",
            code: str | None = None,
            error: str | None = None,
            error_description: str | None = None,
        ) -> HTMLResponse:
            outcome = await oauth_callback(
                app, platform, state=state, code=code, error=error_description or error
            )
            title = "Connected" if outcome.ok else "Not connected"
            return _page(title, outcome.message, status=200 if outcome.ok else 400)

    @web.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    if app is not None:
        add_monitoring_routes(web, app)
        web.include_router(webhook_routes(app, webhook_keys or WebhookKeys()))
        add_review_routes(web, app)
        add_admin_routes(web, app)
        if api is not None:  # the HTTP API under /api/v1 (bot.api)
            mount_api(web, app=app, links=links, config=api)
    mount_static(web)

    @web.get("/media/{token}")
    async def media(token: str) -> FileResponse:
        try:
            path = await links.resolve(token)
        except (BadSignature, FileNotFoundError, ValueError):
            raise HTTPException(404, "This link is invalid or has expired.") from None
        except StoreUnavailable:
            raise HTTPException(503, "The media store is not answering; try again soon.") from None
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


def _page(title: str, message: str, *, status: int) -> HTMLResponse:
    body = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>socialbot: {html.escape(title)}</title></head>"
        "<body style='font-family: system-ui, sans-serif; max-width: 32rem; margin: 3rem auto;"
        " padding: 0 1rem'>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p></body></html>"
    )
    return HTMLResponse(body, status_code=status)
