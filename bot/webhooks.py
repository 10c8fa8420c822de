"""Web routes for platform webhooks: Meta (`/webhooks/meta`) and TikTok (`/webhooks/tiktok`).

Each POST is verified on its raw body (`services.webhook_signatures`) before anything reads it,
then handed to `handlers.webhooks.receive`. Refusals answer 401 (unsigned), 403 (wrong
signature, stale, not configured) or 409 (replayed) with a short reason and change nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from handlers.app import App
from handlers.webhooks import PostOutcome, Replayed, meta_outcomes, receive, tiktok_outcomes
from services.settings import Settings
from services.webhook_signatures import (
    REPLAYED,
    WebhookRefused,
    event_key,
    meta_challenge,
    verify_meta,
    verify_tiktok,
)


@dataclass(frozen=True)
class WebhookKeys:
    """The secrets webhook deliveries are checked with."""

    meta_verify_token: str | None = None
    meta_app_secrets: tuple[str, ...] = ()  # the Instagram and Facebook apps' secrets
    tiktok_client_secret: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookKeys:
        """META_WEBHOOK_VERIFY_TOKEN, INSTAGRAM_/FACEBOOK_CLIENT_SECRET, TIKTOK_CLIENT_SECRET."""
        secrets = (settings.instagram_client_secret, settings.facebook_client_secret)
        token, tiktok = settings.meta_webhook_verify_token, settings.tiktok_client_secret
        return cls(
            meta_verify_token=token.get_secret_value() if token else None,
            meta_app_secrets=tuple(
                dict.fromkeys(s.get_secret_value() for s in secrets if s is not None)
            ),
            tiktok_client_secret=tiktok.get_secret_value() if tiktok else None,
        )


def _refusal(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": reason}, status_code=status)


def _payload(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError:
        raise WebhookRefused(400, "the body is not JSON") from None
    if not isinstance(payload, dict):
        raise WebhookRefused(400, "the body is not a JSON object")
    return payload


async def _deliver(
    app: App,
    platform: str,
    body: bytes,
    verify: Callable[[], object],
    outcomes: Callable[[dict[str, Any]], list[PostOutcome]],
) -> JSONResponse:
    """Verify, then record and apply one delivery; the answer for the platform."""
    try:
        verify()
        found = outcomes(_payload(body))
        receipt = await receive(app, platform=platform, key=event_key(body), outcomes=found)
    except WebhookRefused as exc:
        return _refusal(exc.status, exc.reason)
    except Replayed as exc:
        return _refusal(REPLAYED, str(exc))
    return JSONResponse({"ok": True, "applied": receipt.applied, "ignored": receipt.ignored})


def webhook_routes(app: App, keys: WebhookKeys) -> APIRouter:
    """The routes, checking deliveries with `keys`."""
    router = APIRouter(prefix="/webhooks", tags=["webhooks"])

    @router.get("/meta", response_model=None)
    async def meta_handshake(request: Request) -> PlainTextResponse:
        q = request.query_params
        try:
            challenge = meta_challenge(
                q.get("hub.mode"),
                q.get("hub.verify_token"),
                q.get("hub.challenge"),
                keys.meta_verify_token,
            )
        except WebhookRefused as exc:
            return PlainTextResponse(exc.reason, status_code=exc.status)
        return PlainTextResponse(challenge)

    @router.post("/meta")
    async def meta_event(request: Request) -> JSONResponse:
        body = await request.body()
        header = request.headers.get("x-hub-signature-256")
        return await _deliver(
            app,
            "meta",
            body,
            lambda: verify_meta(body, header, keys.meta_app_secrets),
            meta_outcomes,
        )

    @router.post("/tiktok")
    async def tiktok_event(request: Request) -> JSONResponse:
        body = await request.body()
        header = request.headers.get("tiktok-signature")
        secret = keys.tiktok_client_secret
        return await _deliver(
            app,
            "tiktok",
            body,
            lambda: verify_tiktok(body, header, secret, now=time.time()),
            tiktok_outcomes,
        )

    return router
