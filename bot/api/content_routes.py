"""/content: make a draft (posted to the team's chat for approval) and follow its job."""

from __future__ import annotations

import re
from typing import Annotated

from arq.jobs import Job
from fastapi import APIRouter, Path, Request

from bot.api.deps import Caller, Ctx, KeyActor, base_url, draft_of, main_chat
from bot.api.draft_views import API, load_summary
from bot.api.problems import ApiProblem, problem_docs
from bot.api.schemas import GenerateRequest, GenerateResult, TaskOut
from handlers.drafts import generation_job_id, start_draft
from handlers.parsing import DEFAULT_DURATION_S, DEFAULT_PLATFORMS, DEFAULT_TONE
from handlers.port import Reply
from services.brands import find_brand
from services.content import Brief
from services.models import Draft, DraftState
from services.queue import JOBS_QUEUE
from services.scheduling import format_when

router = APIRouter(prefix="/content", tags=["content"])
TASK_ID = r"(generate|publish):([0-9]{1,18})(?::[0-9A-Za-z:]{1,60})?"
_TASK = re.compile(TASK_ID)


@router.post("/generate", status_code=202, responses=problem_docs(401, 403, 409, 422, 429))
async def generate(
    body: GenerateRequest, ctx: Ctx, caller: Caller, request: Request
) -> GenerateResult:
    """Ask for a draft, as /draft does; its preview comes to the team's chat for approval."""
    actor = caller.actor
    await _check_brand(ctx, caller, body.brand)
    chat = await main_chat(ctx, actor.workspace)
    text, brief = _request_of(body)
    draft, reply = await start_draft(ctx.app, actor, chat, text, brief=brief)
    await ctx.app.chat.send(chat, Reply(f"🔌 {actor.member.display_name}: {reply.text}"))
    base = base_url(ctx, request)
    async with ctx.app.sessions() as session:
        summary = await load_summary(session, draft.id, base)
    task = await _task(ctx, caller, generation_job_id(draft), base)
    return GenerateResult(message=reply.text, draft=summary, task=task)


@router.get("/task/{task_id}", responses=problem_docs(401, 404, 422, 429))
async def task(
    task_id: Annotated[str, Path(pattern=f"^{TASK_ID}$", max_length=100)],
    ctx: Ctx,
    caller: Caller,
    request: Request,
) -> TaskOut:
    """A job's queue status and stage (ids come from generate, approve and schedule)."""
    return await _task(ctx, caller, task_id, base_url(ctx, request))


def _request_of(body: GenerateRequest) -> tuple[str, Brief | None]:
    """The request as a member would type it, and its brief when given as parts."""
    if body.request is not None:
        return body.request, None
    assert body.topic is not None
    stated = {
        "platforms": body.platforms is not None,
        "duration": body.duration is not None,
        "tone": body.tone is not None,
    }
    brief = Brief(
        topic=" ".join(body.topic.split()),
        platforms=tuple(dict.fromkeys(body.platforms or DEFAULT_PLATFORMS)),
        duration_s=body.duration or DEFAULT_DURATION_S,
        tone=(body.tone or DEFAULT_TONE).lower(),
        stated=frozenset(name for name, said in stated.items() if said),
    )
    text = f"template:{body.template} {brief.topic}" if body.template else brief.topic
    return text, brief


async def _check_brand(ctx: Ctx, caller: KeyActor, name: str | None) -> None:
    """A request naming a brand must name the key's own (a key works for one brand)."""
    workspace = caller.actor.workspace
    if name is None or name.strip().casefold() == workspace.name.casefold():
        return
    async with ctx.app.sessions() as session:
        other = await find_brand(session, workspace.team, name)
    if other is None:
        raise ApiProblem(
            422,
            f"This team has no brand called “{name[:60]}”; leave brand out to use “"
            f"{workspace.name}”, this key's brand.",
        )
    raise ApiProblem(
        403,
        f"This key works for “{workspace.name}” only. For “{other.name}”, an owner makes a "
        f"key with /apikey new <name> brand: {other.name}.",
    )


async def _task(ctx: Ctx, caller: KeyActor, task_id: str, base: str) -> TaskOut:
    match = _TASK.fullmatch(task_id)
    if match is None:
        raise ApiProblem(404, f"There is no task {task_id[:100]}.")
    kind, draft_id = match.group(1), int(match.group(2))
    draft = await draft_of(ctx, caller, draft_id)
    status = await Job(task_id, ctx.app.queue, _queue_name=JOBS_QUEUE).status()
    version = _version_of(task_id) if kind == "generate" else None
    return TaskOut(
        id=task_id,
        kind=kind,
        status=status.value,
        stage=_stage(kind, draft, version, caller),
        draft_id=draft.id,
        draft_state=draft.state,
        version=version,
        error=draft.error,
        url=f"{base}{API}/content/task/{task_id}",
    )


def _version_of(task_id: str) -> int | None:
    parts = task_id.split(":")
    return int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else None


def _stage(kind: str, draft: Draft, version: int | None, caller: KeyActor) -> str:
    """Where the work stands, in words, from the draft's state."""
    state = DraftState(draft.state)
    if kind == "generate":
        if version is not None and draft.current_version >= version:
            return f"done: v{version} is made" + (
                ", waiting for approval in the chat" if state is DraftState.READY else ""
            )
        return {
            DraftState.REQUESTED: "waiting for a worker",
            DraftState.GENERATING: f"making v{version}: script, voice, video",
            DraftState.FAILED: "failed",
        }.get(state, f"not made; the draft is {state.value}")
    if state is DraftState.SCHEDULED and draft.scheduled_at is not None:
        return f"scheduled for {format_when(draft.scheduled_at, caller.actor.workspace.timezone)}"
    return {
        DraftState.APPROVED: "waiting for a worker",
        DraftState.PUBLISHING: "publishing",
        DraftState.PUBLISHED: "done: published",
        DraftState.PARTIALLY_PUBLISHED: "done: some posts failed",
        DraftState.FAILED: "failed",
    }.get(state, f"not publishing; the draft is {state.value}")
