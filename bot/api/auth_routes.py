"""/auth: a key for tokens, a refresh token for a new pair, and who a token acts for."""

from __future__ import annotations

from fastapi import APIRouter

from bot.api.deps import Caller, Ctx
from bot.api.problems import problem_docs
from bot.api.schemas import Me, RefreshRequest, TokenAnswer, TokenRequest
from services.api_tokens import TokenPair

router = APIRouter(prefix="/auth", tags=["auth"])


def _answer(pair: TokenPair) -> TokenAnswer:
    return TokenAnswer(
        access_token=pair.access_token,
        expires_in=pair.expires_in,
        refresh_token=pair.refresh_token,
        refresh_expires_in=pair.refresh_expires_in,
    )


@router.post("/token", responses=problem_docs(401, 422, 429))
async def token(body: TokenRequest, ctx: Ctx) -> TokenAnswer:
    """Exchange an API key (made with /apikey new in a private chat) for tokens."""
    await ctx.limiter.hit(await ctx.issuer.key_id(ctx.app.sessions, body.api_key))
    _, pair = await ctx.issuer.exchange(ctx.app.sessions, body.api_key)
    return _answer(pair)


@router.post("/refresh", responses=problem_docs(401, 422, 429))
async def refresh(body: RefreshRequest, ctx: Ctx) -> TokenAnswer:
    """A refresh token for a new pair. Each works once: a second use revokes its family."""
    await ctx.limiter.hit(ctx.issuer.refresh_key_id(body.refresh_token))
    _, pair = await ctx.issuer.refresh(ctx.app.sessions, body.refresh_token)
    return _answer(pair)


@router.get("/me", responses=problem_docs(401, 429))
async def me(caller: Caller) -> Me:
    """The key, the member it acts as, its role and workspace."""
    actor = caller.actor
    return Me(
        key=caller.key.name,
        key_prefix=caller.key.prefix,
        acts_as=actor.member.display_name,
        member_id=actor.member.id,
        role=actor.role,
        workspace_id=actor.workspace.id,
        workspace=actor.workspace.name,
    )
