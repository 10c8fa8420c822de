"""The reviewer page: GET /review/{token} shows a draft's version, POST decides on it once.

Routes stay thin: handlers.review reads the page, handlers.review_decision decides. The
signed token in the URL is the capability; a post is refused when the browser says it came
from another site (Sec-Fetch-Site, else Origin), so no other page can decide for a visitor.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from bot.pages import cross_site, message_page, render, trouble_page
from handlers.actor import Refusal
from handlers.app import App
from handlers.review import LinkProblem, ProblemKind, review_media, review_page
from handlers.review_decision import Decision, ReviewForm, check_form, decide
from services.platforms import DISPLAY_NAMES
from services.storage import MediaMissing

_PROBLEM_PAGES = {
    ProblemKind.INVALID: (404, "Link not valid"),
    ProblemKind.EXPIRED: (410, "Link expired"),
}


def add_review_routes(web: FastAPI, app: App) -> None:
    """Register the reviewer page's routes on the web app."""

    @web.get("/review/{token}", response_class=HTMLResponse)
    async def review_get(request: Request, token: str) -> Response:
        return await _guarded(request, lambda: _show(request, app, token))

    @web.post("/review/{token}", response_class=HTMLResponse)
    async def review_post(request: Request, token: str) -> Response:
        return await _guarded(request, lambda: _post(request, app, token))

    @web.get("/review/{token}/video", response_model=None)
    async def review_video(request: Request, token: str) -> Response:
        return await _guarded(request, lambda: _file(request, app, token, "video", "video/mp4"))

    @web.get("/review/{token}/poster", response_model=None)
    async def review_poster(request: Request, token: str) -> Response:
        return await _guarded(request, lambda: _file(request, app, token, "poster", "image/png"))


async def _guarded(request: Request, make: Callable[[], Awaitable[Response]]) -> Response:
    """Run a route; a page (never a traceback) for what goes wrong."""
    try:
        return await make()
    except LinkProblem as exc:
        status, title = _PROBLEM_PAGES.get(exc.kind, (409, "Nothing to decide"))
        return message_page(request, title, str(exc), status=status)
    except Exception as exc:
        return trouble_page(request, exc, where="review")


async def _show(
    request: Request,
    app: App,
    token: str,
    *,
    status: int = 200,
    error: str = "",
    form: ReviewForm | None = None,
) -> Response:
    page = await review_page(app, token)
    base = f"/review/{token}"
    context = {
        "title": f"Review: {page.draft.topic}",
        "page": page,
        "action": base,
        "video_url": f"{base}/video",
        "poster_url": f"{base}/poster",
        "platform_names": {p.value: n for p, n in DISPLAY_NAMES.items()},
        "error": error,
        "form": form or ReviewForm(decision="", name="", comment=""),
        "decisions": Decision,
    }
    return render(request, "review.html", context, status=status)


async def _post(request: Request, app: App, token: str) -> Response:
    if cross_site(request, app.reviews.public_url if app.reviews else None):
        return message_page(
            request,
            "Not accepted",
            "This decision was sent from another website, so it was not accepted.",
            status=403,
            hint="Open the review link itself and decide on that page.",
        )
    data = await request.form()
    form = ReviewForm(
        decision=str(data.get("decision", "")),
        name=str(data.get("name", "")),
        comment=str(data.get("comment", "")),
    )
    try:
        check_form(form)
    except Refusal as exc:
        return await _show(request, app, token, status=400, error=str(exc), form=form)
    try:
        await decide(app, token, form)
    except LinkProblem as exc:
        if exc.kind in _PROBLEM_PAGES:
            raise
        return await _show(request, app, token, status=409, error=str(exc), form=form)
    except Refusal as exc:
        message = f"{exc} Nothing was recorded; the team has been told in their chat."
        return await _show(request, app, token, status=409, error=message, form=form)
    # Post/redirect/get: reloading the page shows the decision and sends nothing again.
    return RedirectResponse(f"/review/{token}", status_code=303)


async def _file(request: Request, app: App, token: str, kind: str, media_type: str) -> Response:
    """The version's video or poster; Starlette's FileResponse answers Range requests (206)."""
    try:
        path = await review_media(app, token, kind)
    except MediaMissing:
        return message_page(
            request,
            "File missing",
            "This draft's file is no longer kept on the bot.",
            status=404,
            hint="Ask the team for a new link.",
        )
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "private"})
