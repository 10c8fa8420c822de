"""Server-rendered pages: the Jinja2 templates in bot/web_templates and our stylesheet.

Every page extends `base.html` and loads only `/static/style.css`: no scripts, fonts or
images from elsewhere. Pages are sent with headers that keep them out of frames and caches
and keep their address (which may carry a capability token) out of Referer headers.
"""

from __future__ import annotations

import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError

from services.storage import StoreUnavailable

log = structlog.get_logger(__name__)
HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = HERE / "web_templates"
STATIC_DIR = HERE / "static"

PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; media-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


@lru_cache(maxsize=1)
def templates() -> Jinja2Templates:
    """The page templates (autoescaped), loaded once."""
    return Jinja2Templates(directory=TEMPLATES_DIR)


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A page from a template, with the page headers (`headers` add to or override them)."""
    return templates().TemplateResponse(
        request, name, context, status_code=status, headers=PAGE_HEADERS | (headers or {})
    )


def message_page(
    request: Request, title: str, message: str, *, status: int, hint: str = ""
) -> HTMLResponse:
    """A page that only says something: a refusal, an expired link, a problem on our side."""
    context = {"title": title, "message": message, "hint": hint}
    return render(request, "message.html", context, status=status)


UNAVAILABLE = (DBAPIError, RedisError, ConnectionError, TimeoutError, StoreUnavailable)


def trouble_page(request: Request, exc: Exception, *, where: str) -> HTMLResponse:
    """The page for a failure on our side, never a traceback: 503 when the database, Redis or
    the media store is not answering, else 500; both with a reference to find it in the logs.
    Call it from an `except` block (the traceback is logged)."""
    ref = uuid.uuid4().hex[:8]
    if isinstance(exc, UNAVAILABLE):
        log.error(f"{where}.unavailable", ref=ref, error=str(exc)[:200])
        message = f"The bot can't reach its database or queue right now (ref {ref})."
        return message_page(
            request, "Try again in a minute", message, status=503, hint="Nothing was changed."
        )
    log.exception(f"{where}.crashed", ref=ref)
    return message_page(
        request,
        "Something went wrong",
        f"Something went wrong on our side (ref {ref}).",
        status=500,
        hint="Nothing was changed; the logs have the details under that reference.",
    )


def mount_static(web: FastAPI) -> None:
    """Serve bot/static at /static (the stylesheet)."""
    web.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


def cross_site(request: Request, public_url: str | None = None) -> bool:
    """Whether the browser says this post came from another site (Sec-Fetch-Site, else
    Origin against our own host and PUBLIC_URL); posts not sent by a page pass."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:  # not sent by a browser page: nothing to forge
        return False
    own = {request.headers.get("host", "")}
    if public_url:
        own.add(urlsplit(public_url).netloc)
    return urlsplit(origin).netloc not in own
