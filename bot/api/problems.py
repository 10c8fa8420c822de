"""Every error of the API as application/problem+json (RFC 9457): type, title, status and a
detail a person can act on. The handlers' refusals keep their own words."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException

from bot.api.ratelimit import RateLimited
from handlers.actor import Forbidden, Refusal
from handlers.parsing import RequestError
from services.api_tokens import TokenError

log = structlog.get_logger(__name__)

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:socialbot:problem:"
_KINDS = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Not authenticated"),
    403: ("forbidden", "Not allowed"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    409: ("refused", "Refused in the current state"),
    422: ("invalid-request", "Invalid request"),
    429: ("rate-limited", "Too many requests"),
    500: ("internal", "Internal error"),
    503: ("unavailable", "Temporarily unavailable"),
}


class Problem(BaseModel):
    """An error, as every endpoint answers it."""

    type: str
    title: str
    status: int
    detail: str


class ApiProblem(Exception):
    """An error an endpoint answers with; `status` picks its type and title."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


def problem_response(
    status: int,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    """The problem+json answer for `status`."""
    slug, title = _KINDS.get(status, ("error", "Error"))
    body = {"type": TYPE_PREFIX + slug, "title": title, "status": status, "detail": detail}
    return JSONResponse(
        body | dict(extra or {}), status_code=status, headers=headers, media_type=MEDIA_TYPE
    )


def problem_docs(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the problems an endpoint may answer (and 500, 503)."""
    return {
        status: {
            "description": _KINDS[status][1],
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in (*statuses, 500, 503)
    }


def install_problem_handlers(api: FastAPI) -> None:
    """Turn every error the API can meet into a problem answer."""
    api.add_exception_handler(ApiProblem, _api_problem)
    api.add_exception_handler(HTTPException, _http_error)
    api.add_exception_handler(RequestValidationError, _invalid)
    api.add_exception_handler(Refusal, _refusal)
    api.add_exception_handler(RequestError, _request_error)
    api.add_exception_handler(TokenError, _token_error)
    api.add_exception_handler(RateLimited, _rate_limited)
    api.add_exception_handler(DBAPIError, _unavailable)
    api.add_exception_handler(RedisError, _unavailable)
    api.add_exception_handler(Exception, _crashed)


async def _api_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiProblem)
    return problem_response(exc.status, exc.detail, headers=exc.headers, extra=exc.extra)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    path = request.url.path
    if exc.status_code == 404:
        detail = (
            f"There is no {path}. The endpoints are listed at /api/v1/docs."
            if exc.detail in (None, "Not Found")
            else str(exc.detail)
        )
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        detail = f"{path} does not take {request.method}; it takes {allowed or 'other methods'}."
    else:
        detail = str(exc.detail)
    return problem_response(exc.status_code, detail, headers=exc.headers)


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": ".".join(str(p) for p in e.get("loc", ())), "message": str(e.get("msg", ""))}
        for e in exc.errors()
    ]
    said = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    detail = f"The request does not fit the schema (see /api/v1/docs): {said}."
    return problem_response(422, detail, extra={"errors": errors})


async def _refusal(request: Request, exc: Exception) -> JSONResponse:
    status = 403 if isinstance(exc, Forbidden) else 409
    return problem_response(status, str(exc))


async def _request_error(request: Request, exc: Exception) -> JSONResponse:
    return problem_response(422, str(exc))


async def _token_error(request: Request, exc: Exception) -> JSONResponse:
    return problem_response(
        401, str(exc), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
    )


async def _rate_limited(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RateLimited)
    return problem_response(
        429,
        f"This key made more than {exc.limit} calls in the last minute; "
        f"try again in {exc.retry_after_s} s.",
        headers={"Retry-After": str(exc.retry_after_s)},
    )


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    ref = uuid.uuid4().hex[:8]
    log.error("api.unavailable", ref=ref, error=str(exc)[:300])
    return problem_response(
        503,
        f"The database or queue is not answering (ref {ref}); nothing was changed. "
        "Try again in a minute.",
        headers={"Retry-After": "30"},
    )


async def _crashed(request: Request, exc: Exception) -> JSONResponse:
    ref = uuid.uuid4().hex[:8]
    log.error("api.crashed", ref=ref, path=request.url.path, exc_info=exc)
    return problem_response(500, f"Something went wrong on our side (ref {ref}).")
