"""/drafts: list and read drafts; approve, reject and schedule them as the chat's buttons do.

Each decision goes through the same handler as the chat (same role checks, same audit
entries), and the chat hears of it like of a member's press.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from bot.api.deps import Caller, Ctx, KeyActor, base_url, draft_of
from bot.api.draft_views import detail, load_summary, page
from bot.api.problems import ApiProblem, problem_docs
from bot.api.schemas import ActionResult, DraftDetail, DraftPage, ScheduleRequest
from handlers.buttons import Verb
from handlers.drafts import press
from handlers.port import Reply
from handlers.schedule import cancel_schedule, schedule_at
from services.models import DraftState, utcnow
from services.scheduling import ScheduleError, parse_when, wake_job_id

router = APIRouter(prefix="/drafts", tags=["drafts"])


@router.get("", responses=problem_docs(401, 422, 429))
async def list_drafts(
    ctx: Ctx,
    caller: Caller,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    state: DraftState | None = None,
) -> DraftPage:
    """The workspace's drafts, newest first, a page at a time (follow `next`)."""
    async with ctx.app.sessions() as session:
        return await page(
            session,
            caller.actor.workspace.id,
            limit=limit,
            offset=offset,
            state=state.value if state else None,
            base=base_url(ctx, request),
        )


@router.get("/{draft_id}", responses=problem_docs(401, 404, 422, 429))
async def get_draft(draft_id: int, ctx: Ctx, caller: Caller, request: Request) -> DraftDetail:
    """A draft: state, every version's script, texts per platform and files (signed links
    that expire in an hour), decisions and posts."""
    draft = await draft_of(ctx, caller, draft_id)
    async with ctx.app.sessions() as session:
        return await detail(
            session, draft, links=ctx.links, store=ctx.app.store, base=base_url(ctx, request)
        )


@router.post("/{draft_id}/approve", responses=problem_docs(401, 403, 404, 409, 422, 429))
async def approve(draft_id: int, ctx: Ctx, caller: Caller, request: Request) -> ActionResult:
    """Approve the draft's current version, as the preview's Approve button does."""
    return await _press(ctx, caller, request, draft_id, Verb.APPROVE)


@router.post("/{draft_id}/reject", responses=problem_docs(401, 403, 404, 409, 422, 429))
async def reject(draft_id: int, ctx: Ctx, caller: Caller, request: Request) -> ActionResult:
    """Reject the draft, as the preview's Reject button does."""
    return await _press(ctx, caller, request, draft_id, Verb.REJECT)


@router.post("/{draft_id}/schedule", responses=problem_docs(401, 403, 404, 409, 422, 429))
async def schedule(
    draft_id: int, body: ScheduleRequest, ctx: Ctx, caller: Caller, request: Request
) -> ActionResult:
    """Publish at a time once approved (or move an approved draft's time), or cancel it, as
    /schedule does: `when` reads like the chat's (tomorrow 9am, ISO 8601, …)."""
    actor = caller.actor
    draft = await draft_of(ctx, caller, draft_id)
    if body.cancel:
        reply = await cancel_schedule(ctx.app, actor, draft.id)
    else:
        assert body.when is not None
        try:
            at = parse_when(body.when, actor.workspace.timezone, utcnow())
        except ScheduleError as exc:
            raise ApiProblem(422, str(exc)) from None
        reply = await schedule_at(ctx.app, actor, draft.id, at)
    return await _result(ctx, caller, request, draft.id, draft.chat_ref, reply)


async def _press(
    ctx: Ctx, caller: KeyActor, request: Request, draft_id: int, verb: Verb
) -> ActionResult:
    draft = await draft_of(ctx, caller, draft_id)
    reply = await press(ctx.app, caller.actor, verb, draft.id)
    return await _result(ctx, caller, request, draft.id, draft.chat_ref, reply)


async def _result(
    ctx: Ctx, caller: KeyActor, request: Request, draft_id: int, chat: str, reply: Reply
) -> ActionResult:
    """Tell the draft's chat what the key did, and answer with the draft as it is now."""
    await ctx.app.chat.send(chat, Reply(f"🔌 {reply.text}"))
    async with ctx.app.sessions() as session:
        summary = await load_summary(session, draft_id, base_url(ctx, request))
    task = None
    if summary.state in (DraftState.APPROVED, DraftState.PUBLISHING):
        task = f"publish:{draft_id}"
    elif summary.state == DraftState.SCHEDULED and summary.scheduled_at is not None:
        task = wake_job_id(draft_id, summary.scheduled_at)
    return ActionResult(message=reply.text, draft=summary, task=task)
