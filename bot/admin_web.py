"""The jobs monitor on the web: /admin for owners, entered with a one-time link from the chat.

- GET /admin/login/{token} checks the link and shows a Sign in button; POST uses the link up
  and sets the session cookie (HttpOnly, SameSite=Strict, Secure when PUBLIC_URL is https),
  then redirects to /admin. The GET uses nothing up because chat apps fetch the links in
  messages to preview them, and a preview must not spend a one-time link.
- GET /admin is the page (it reloads itself every REFRESH_S); POST /admin/jobs/{id}/retry and
  /cancel act on a job; POST /admin/logout ends the session.

Every post must carry the session's form token and must not come from another site
(Sec-Fetch-Site, else Origin): the cookie alone is not enough. Routes stay thin: the handlers
(handlers.admin_login, handlers.admin_page, handlers.admin_jobs) do the work.
"""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bot.pages import cross_site, message_page, render, trouble_page
from handlers.actor import Actor, Refusal
from handlers.admin_jobs import cancel_job, retry_job
from handlers.admin_login import (
    LINK_HELP,
    LoginRefused,
    NotSignedIn,
    check_login,
    redeem_login,
    signed_in_owner,
)
from handlers.admin_page import monitor_page
from handlers.app import App
from services.admin_logins import SESSION_TTL_S, AdminLogins, AdminSession, BadSession
from services.platforms import DISPLAY_NAMES

COOKIE = "socialbot_admin"
NOTE_COOKIE = "socialbot_admin_note"
REFRESH_S = 15


class _Denied(Exception):
    """A request the admin pages answer with a page of their own (status, title, message)."""

    def __init__(self, status: int, title: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.status, self.title, self.hint = status, title, hint


def add_admin_routes(web: FastAPI, app: App) -> None:
    """Register the jobs monitor's routes on the web app."""

    @web.get("/admin/login/{token}", response_class=HTMLResponse, include_in_schema=False)
    async def login_form(request: Request, token: str) -> Response:
        return await _guarded(request, lambda: _login_form(request, app, token))

    @web.post("/admin/login/{token}", response_class=HTMLResponse, include_in_schema=False)
    async def login(request: Request, token: str) -> Response:
        return await _guarded(request, lambda: _login(request, app, token))

    @web.get("/admin", response_class=HTMLResponse, include_in_schema=False)
    async def monitor(request: Request) -> Response:
        return await _guarded(request, lambda: _monitor(request, app))

    @web.post("/admin/jobs/{job_id}/retry", response_class=HTMLResponse, include_in_schema=False)
    async def retry(request: Request, job_id: str) -> Response:
        return await _guarded(request, lambda: _act(request, app, job_id, retry_job))

    @web.post("/admin/jobs/{job_id}/cancel", response_class=HTMLResponse, include_in_schema=False)
    async def cancel(request: Request, job_id: str) -> Response:
        return await _guarded(request, lambda: _act(request, app, job_id, cancel_job))

    @web.post("/admin/logout", response_class=HTMLResponse, include_in_schema=False)
    async def logout(request: Request) -> Response:
        return await _guarded(request, lambda: _logout(request, app))


async def _guarded(request: Request, make: Callable[[], Awaitable[Response]]) -> Response:
    """Run a route; a page (never a traceback) for what goes wrong."""
    try:
        return await make()
    except _Denied as exc:
        return message_page(request, exc.title, str(exc), status=exc.status, hint=exc.hint)
    except Exception as exc:
        return trouble_page(request, exc, where="admin_web")


def _logins(app: App) -> AdminLogins:
    if app.admin_logins is None:
        raise _Denied(
            503,
            "Jobs monitor not set up",
            "The jobs monitor needs PUBLIC_URL and SECRET_KEY, and this bot has not got both.",
            "Whoever runs the bot can set them (see the README).",
        )
    return app.admin_logins


async def _login_form(request: Request, app: App, token: str) -> Response:
    _logins(app)
    try:
        login = await check_login(app, token)
    except LoginRefused as exc:
        raise _Denied(410, "Login link not usable", str(exc)) from None
    context = {"title": "Sign in", "action": f"/admin/login/{token}", "expires": login.expires_at}
    return render(request, "admin_login.html", context)


async def _login(request: Request, app: App, token: str) -> Response:
    logins = _logins(app)
    _same_site(request, logins)
    try:
        session = await redeem_login(app, token)
    except LoginRefused as exc:
        raise _Denied(410, "Login link not usable", str(exc)) from None
    # Post/redirect/get; the redirect is same-site, so the Strict cookie goes with it.
    response = RedirectResponse("/admin", status_code=303)
    value = logins.seal(session.member_id, session.workspace_id, session.groups)
    _set_cookie(response, logins, COOKIE, value, max_age=SESSION_TTL_S)
    return response


async def _signed_in(request: Request, app: App) -> tuple[Actor, AdminSession]:
    """The owner whose session cookie came with the request; _Denied otherwise."""
    logins = _logins(app)
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        raise _Denied(401, "Sign-in required", "The jobs monitor is for owners.", LINK_HELP)
    try:
        session = logins.open(cookie)
        return await signed_in_owner(app, session), session
    except BadSession:
        raise _Denied(401, "Sign-in required", "Your session has ended.", LINK_HELP) from None
    except NotSignedIn as exc:
        raise _Denied(401, "Sign-in required", str(exc)) from None
    except Refusal as exc:
        raise _Denied(403, "Owners only", str(exc)) from None


async def _monitor(request: Request, app: App) -> Response:
    actor, session = await _signed_in(request, app)
    page = await monitor_page(app, actor)
    note = None
    raw_note = request.cookies.get(NOTE_COOKIE)
    if raw_note:
        note = _logins(app).open_note(raw_note)
    context = {
        "title": "Jobs monitor",
        "page": page,
        "actor": actor,
        "form_token": session.form_token,
        "note": note,
        "refresh_s": REFRESH_S,
        "platform_names": {p.value: n for p, n in DISPLAY_NAMES.items()},
        "ago": lambda at: ago(at, page.status.now),
        "took": took,
    }
    response = render(request, "admin.html", context)
    if raw_note:
        response.delete_cookie(NOTE_COOKIE, path="/admin")
    return response


async def _act(
    request: Request,
    app: App,
    job_id: str,
    action: Callable[[App, Actor, str], Awaitable[str]],
) -> Response:
    actor, session = await _signed_in(request, app)
    await _check_form(request, _logins(app), session)
    try:
        text, ok = await action(app, actor, job_id), True
    except Refusal as exc:
        text, ok = f"{exc} Nothing was changed.", False
    response = RedirectResponse("/admin", status_code=303)
    note = _logins(app).seal_note(text, ok=ok)
    _set_cookie(response, _logins(app), NOTE_COOKIE, note, max_age=60)
    return response


async def _logout(request: Request, app: App) -> Response:
    logins = _logins(app)
    cookie = request.cookies.get(COOKIE)
    if cookie:
        with contextlib.suppress(BadSession):  # an ended session signs out all the same
            await _check_form(request, logins, logins.open(cookie))
    response = message_page(
        request, "Signed out", "You have left the jobs monitor.", status=200, hint=LINK_HELP
    )
    response.delete_cookie(COOKIE, path="/admin")
    return response


async def _check_form(request: Request, logins: AdminLogins, session: AdminSession) -> None:
    """A post must come from our own page: same site, with the session's form token."""
    _same_site(request, logins)
    form = await request.form()
    sent = str(form.get("form_token", ""))
    if not sent or not hmac.compare_digest(sent.encode(), session.form_token.encode()):
        raise _Denied(
            403,
            "Not accepted",
            "This request did not come from the jobs monitor page (its form token is missing "
            "or stale), so nothing was done.",
            "Open /admin again and use its buttons.",
        )


def _same_site(request: Request, logins: AdminLogins) -> None:
    """Refuse a post the browser says came from another site."""
    foreign = cross_site(request, logins.public_url)
    if foreign:
        raise _Denied(
            403,
            "Not accepted",
            "This request was sent from another website, so nothing was done.",
            "Open /admin itself and use its buttons.",
        )


def _set_cookie(
    response: Response, logins: AdminLogins, name: str, value: str, *, max_age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/admin",
        httponly=True,
        samesite="strict",
        secure=logins.secure,
    )


def took(seconds: float | None) -> str:
    """A duration for the page: 0.4 s, 12 s, 3 min 5 s, 2 h 10 min."""
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 120:
        return f"{whole} s"
    if whole < 2 * 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def ago(at: datetime | None, now: datetime) -> str:
    """How long before `now` something was (or, for a due time, how long until it is)."""
    if at is None:
        return "never"
    delta = now - at
    if delta < -timedelta(seconds=1):
        return "in " + took(-delta.total_seconds())
    return took(max(0.0, delta.total_seconds())) + " ago"
