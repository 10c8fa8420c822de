"""What every endpoint works with: the application, and the key a request acts for.

A request's access token is checked on every call against the key's row (a revoked key's
tokens stop at once), counted against the key's rate limit, and turned into the same `Actor`
the chat builds for a member: the key's own member row, in the key's workspace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, cast

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select

from bot.api.config import ApiConfig
from bot.api.problems import ApiProblem
from bot.api.ratelimit import RateLimiter
from handlers.actor import Actor
from handlers.app import App
from services.api_tokens import TokenError, TokenIssuer
from services.drafts import get_draft
from services.links import MediaLinks
from services.models import ChatBinding, Draft, Workspace
from services.web_models import ApiKey

bearer = HTTPBearer(auto_error=False, description="An access token from POST /auth/token.")


@dataclass(frozen=True)
class ApiContext:
    """The API's collaborators, built once when the API is mounted."""

    app: App
    links: MediaLinks
    config: ApiConfig
    issuer: TokenIssuer
    limiter: RateLimiter


@dataclass(frozen=True)
class KeyActor:
    """The key a request acts for, and the actor it acts as."""

    key: ApiKey
    actor: Actor


def context(request: Request) -> ApiContext:
    """The API's context (kept on the API's own FastAPI app)."""
    return cast(ApiContext, request.app.state.api)


Ctx = Annotated[ApiContext, Depends(context)]


async def key_actor(
    ctx: Ctx,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> KeyActor:
    """The key and actor behind the request's bearer token; counts the call."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise TokenError(
            "Send an access token as “Authorization: Bearer <token>”; get one by exchanging "
            "an API key at POST /api/v1/auth/token."
        )
    async with ctx.app.sessions() as session:
        caller = await ctx.issuer.authenticate(session, credentials.credentials)
        workspace = await session.get(Workspace, caller.key.workspace_id)
    if workspace is None:
        raise TokenError("That token's workspace no longer exists.")
    await ctx.limiter.hit(caller.key.id)
    return KeyActor(caller.key, Actor(workspace, caller.member))


Caller = Annotated[KeyActor, Depends(key_actor)]


async def draft_of(ctx: ApiContext, caller: KeyActor, draft_id: int) -> Draft:
    """A draft of the caller's workspace, or a 404 problem (other workspaces' are not found)."""
    async with ctx.app.sessions() as session:
        draft = await get_draft(session, caller.actor.workspace.id, draft_id)
    if draft is None:
        raise ApiProblem(
            404,
            f"There is no draft {draft_id} in “{caller.actor.workspace.name}”; "
            "GET /api/v1/drafts lists them.",
        )
    return draft


async def main_chat(ctx: ApiContext, workspace: Workspace) -> str:
    """The chat a workspace's drafts from the API are previewed and approved in."""
    async with ctx.app.sessions() as session:
        chat = await session.scalar(
            select(ChatBinding.chat_ref)
            .where(ChatBinding.workspace_id == workspace.id, ChatBinding.purpose == "main")
            .order_by(ChatBinding.id)
            .limit(1)
        )
    if chat is None:
        raise ApiProblem(
            409,
            f"“{workspace.name}” has no chat to post the preview in for approval; bind one "
            f"with /brand use {workspace.name} in the team's chat, then try again.",
        )
    return chat


def base_url(ctx: ApiContext, request: Request) -> str:
    """Where links in answers point: PUBLIC_URL, else the origin the request came to."""
    if ctx.config.public_url:
        return ctx.config.public_url
    return f"{request.url.scheme}://{request.url.netloc}"
