"""/platforms/accounts and /publish: where posts go, and publishing approved drafts."""

from __future__ import annotations

from fastapi import APIRouter, Request

from bot.api.deps import Caller, Ctx, base_url, draft_of
from bot.api.draft_views import API, load_summary
from bot.api.problems import ApiProblem, problem_docs
from bot.api.schemas import AccountOut, AccountsOut, ActionResult, PublishRequest
from handlers.drafts import describe_state
from handlers.port import Reply
from handlers.publish import publish_again
from services.accounts import account_health, connected_accounts
from services.content import Platform
from services.models import DraftState
from services.scheduling import format_when

router = APIRouter(tags=["platforms"])
_ON_ITS_WAY = (DraftState.APPROVED, DraftState.PUBLISHING)
_AGAIN = (DraftState.PARTIALLY_PUBLISHED, DraftState.FAILED)


@router.get("/platforms/accounts", responses=problem_docs(401, 429))
async def accounts(ctx: Ctx, caller: Caller) -> AccountsOut:
    """Each platform's connected accounts; a platform without one posts to the local outbox."""
    rows = await connected_accounts(ctx.app.sessions, caller.actor.workspace.id)
    found = [
        AccountOut(platform=r.platform, kind=r.kind, name=r.display_name, health=account_health(r))
        for r in rows
    ]
    connected = {r.platform for r in rows}
    found += [
        AccountOut(platform=p.value, kind="outbox", name="local outbox folder", health="ok")
        for p in Platform
        if p.value not in connected
    ]
    configured = ctx.app.platforms.configured() if ctx.app.platforms else []
    return AccountsOut(accounts=found, connectable=[p.value for p in configured])


@router.post("/publish", status_code=202, responses=problem_docs(401, 403, 404, 409, 422, 429))
async def publish(body: PublishRequest, ctx: Ctx, caller: Caller, request: Request) -> ActionResult:
    """Publish an approved draft. Approval starts publishing by itself, so this tries again
    the failed posts of a published draft (as /publish does); a draft not approved is refused:
    the API never skips approval."""
    draft = await draft_of(ctx, caller, body.draft_id)
    state = DraftState(draft.state)
    base = base_url(ctx, request)
    if state in _ON_ITS_WAY:
        async with ctx.app.sessions() as session:
            summary = await load_summary(session, draft.id, base)
        message = f"{describe_state(draft)} Follow it at {base}{API}/drafts/{draft.id}."
        return ActionResult(message=message, draft=summary, task=f"publish:{draft.id}")
    if state is DraftState.SCHEDULED and draft.scheduled_at is not None:
        when = format_when(draft.scheduled_at, caller.actor.workspace.timezone)
        raise ApiProblem(
            409,
            f"Draft {draft.id} is approved and publishes at {when}. To publish sooner, move "
            f"it: POST {API}/drafts/{draft.id}/schedule with an earlier time.",
        )
    if state not in _AGAIN:
        raise ApiProblem(
            409,
            f"{describe_state(draft)} Only approved drafts are published: approve it with "
            f"POST {API}/drafts/{draft.id}/approve (it then publishes by itself).",
        )
    reply = await publish_again(ctx.app, caller.actor, str(draft.id))
    await ctx.app.chat.send(draft.chat_ref, Reply(f"🔌 {reply.text}"))
    async with ctx.app.sessions() as session:
        summary = await load_summary(session, draft.id, base)
    return ActionResult(message=reply.text, draft=summary)
