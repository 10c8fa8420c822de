"""The HTTP API for other programs, under /api/v1: the chat's use cases over JSON.

It is an app of its own mounted into the web app, so that its errors (problem+json), CORS
and OpenAPI schema (/api/v1/docs, /api/v1/openapi.json) stay its own; /docs and
/openapi.json of the web app lead to them.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from starlette.middleware.cors import CORSMiddleware

from bot.api import analytics_routes, auth_routes, content_routes, draft_routes, platform_routes
from bot.api.config import ApiConfig
from bot.api.deps import ApiContext
from bot.api.problems import Problem, install_problem_handlers
from bot.api.ratelimit import RateLimiter
from handlers.app import App
from services.api_tokens import TokenIssuer
from services.links import MediaLinks

PREFIX = "/api/v1"
__all__ = ["PREFIX", "ApiConfig", "create_api", "mount_api"]


def create_api(*, app: App, links: MediaLinks, config: ApiConfig) -> FastAPI:
    """The API as an app of its own (paths relative to /api/v1)."""
    api = FastAPI(
        title="socialbot API",
        version="1",
        description=(
            "Make drafts, follow their jobs, approve, schedule and publish them, and read the "
            "figures, as the team's chat does. Exchange an API key (made by an owner with "
            "/apikey new in a private chat with the bot) at POST /auth/token, then send "
            "`Authorization: Bearer <access token>`. Errors are application/problem+json."
        ),
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    api.state.api = ApiContext(
        app=app,
        links=links,
        config=config,
        issuer=TokenIssuer(
            secret_key=config.secret_key,
            access_ttl_s=config.token_ttl_s,
            refresh_ttl_s=config.refresh_ttl_s,
        ),
        limiter=RateLimiter(app.queue, per_minute=config.rate_limit_per_min),
    )
    install_problem_handlers(api)
    for module in (auth_routes, content_routes, draft_routes, platform_routes, analytics_routes):
        api.include_router(module.router)
    _problem_schema(api)
    if config.cors_origins:
        api.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["Retry-After"],
            max_age=600,
        )
    return api


def mount_api(web: FastAPI, *, app: App, links: MediaLinks, config: ApiConfig) -> None:
    """Serve the API under /api/v1 of the web app, with /docs and /openapi.json leading to it."""
    web.mount(PREFIX, create_api(app=app, links=links, config=config))

    @web.get("/docs", include_in_schema=False)
    async def docs() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/docs")

    @web.get("/openapi.json", include_in_schema=False)
    async def schema() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/openapi.json")


def _problem_schema(api: FastAPI) -> None:
    """Make sure the Problem schema every error response refers to is in the components."""
    generate = api.openapi

    def openapi() -> dict[str, object]:
        schema = generate()
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        schemas.setdefault("Problem", Problem.model_json_schema())
        return schema

    api.openapi = openapi  # type: ignore[method-assign]
