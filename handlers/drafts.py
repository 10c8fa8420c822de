"""Draft use cases: request, approve, reject, regenerate, list and show."""

from __future__ import annotations

import re
from datetime import datetime

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.actor import Actor, Forbidden, Refusal
from handlers.app import App
from handlers.buttons import Verb
from handlers.limits import check_generation_rate
from handlers.parsing import parse_request, requested_aspects
from handlers.port import Reply
from handlers.templates import (
    apply_to_request,
    describe_use,
    request_template,
    split_template,
    without_template_words,
)
from handlers.views import all_captions
from handlers.workspace_cmds import check_budget
from services.content import Brief, PlatformMeta
from services.drafts import current_version, get_draft, transition
from services.models import Approval, Draft, DraftState, Role, utcnow
from services.publishing import describe_problems, problems_for
from services.scheduling import enqueue_wake, format_when, hold_for_schedule
from services.storage import MediaMissing
from services.workspaces import at_least, audit

log = structlog.get_logger(__name__)

GENERATE_JOB = "generate_draft"
PUBLISH_JOB = "publish_draft"


_STATE_SENTENCES = {
    DraftState.REQUESTED: "is waiting for a worker to start on it",
    DraftState.GENERATING: "is being made right now",
    DraftState.APPROVED: "is already approved",
    DraftState.SCHEDULED: "is already approved and scheduled",
    DraftState.PUBLISHING: "is being published right now",
    DraftState.PUBLISHED: "is already published",
    DraftState.PARTIALLY_PUBLISHED: "is already published (to some platforms)",
    DraftState.REJECTED: "was rejected",
    DraftState.FAILED: "failed to generate; press Regenerate to try again",
    DraftState.READY: "is ready for review",
}


def describe_state(draft: Draft) -> str:
    """A sentence about where a draft is, for replies to presses that come too late."""
    return f"Draft #{draft.id} {_STATE_SENTENCES[DraftState(draft.state)]}."


async def enqueue_generation(app: App, draft: Draft, instruction: str | None = None) -> None:
    """Queue the job that makes the draft's next version; one job id per attempt.

    The instruction of an edit is kept on the draft too, so that a job lost with the queue can
    be queued again from the database (handlers.schedule.reconcile_schedules)."""
    async with app.sessions.begin() as session:
        await session.execute(
            update(Draft).where(Draft.id == draft.id).values(pending_instruction=instruction)
        )
    await _enqueue(app, draft, instruction)


async def requeue_generation(app: App, draft: Draft) -> bool:
    """Queue a stalled draft's generation job again (same id: never a second copy of a job
    still queued or running); whether it was queued."""
    return await _enqueue(app, draft, draft.pending_instruction)


def generation_job_id(draft: Draft) -> str:
    """The id of the job that makes the draft's next version (one per attempt)."""
    return f"generate:{draft.id}:{draft.current_version + 1}:{draft.attempts}"


async def _enqueue(app: App, draft: Draft, instruction: str | None) -> bool:
    job = await app.queue.enqueue_job(
        GENERATE_JOB,
        draft.id,
        draft.current_version + 1,
        instruction,
        _job_id=generation_job_id(draft),
    )
    return job is not None


async def request_draft(
    app: App,
    actor: Actor,
    chat_ref: str,
    text: str,
    *,
    brief: Brief | None = None,
    campaign_id: int | None = None,
) -> Reply:
    """`/draft <request>`: parse (unless already read), store a draft and queue its generation.

    A template the request names (template:<name>, "…, <name> template") fills what the
    request leaves out; the draft keeps a snapshot of it."""
    _, reply = await start_draft(app, actor, chat_ref, text, brief=brief, campaign_id=campaign_id)
    return reply


async def start_draft(
    app: App,
    actor: Actor,
    chat_ref: str,
    text: str,
    *,
    brief: Brief | None = None,
    campaign_id: int | None = None,
) -> tuple[Draft, Reply]:
    """What `request_draft` does, also returning the draft (for callers that need its id)."""
    if not at_least(actor.role, Role.CREATOR):
        raise Forbidden("Viewers can't request drafts. Ask an owner for the creator role.")
    request, named = split_template(text)
    chosen = await request_template(app, actor, named) if named is not None else None
    if brief is None:
        brief = parse_request(request)
    elif named is not None:
        brief = without_template_words(brief)
    brief, aspects, template = apply_to_request(brief, requested_aspects(request), chosen)
    await check_budget(app, actor.workspace, brief.duration_s)
    await check_generation_rate(app, actor)
    async with app.sessions.begin() as session:
        draft = Draft(
            workspace_id=actor.workspace.id,
            chat_ref=chat_ref,
            requested_by=actor.member.id,
            request_text=text,
            topic=brief.topic,
            platforms=[p.value for p in brief.platforms],
            duration_s=brief.duration_s,
            tone=brief.tone,
            aspects=aspects,
            template=template,
            campaign_id=campaign_id,  # a campaign's run (handlers.campaign_runs)
        )
        session.add(draft)
        await session.flush()
        await audit(
            session, actor.workspace.id, actor.member.id, "draft.request", f"draft:{draft.id}"
        )
    await enqueue_generation(app, draft)
    platforms = ", ".join(p.value for p in brief.platforms)
    return draft, Reply(
        f"Draft #{draft.id} queued: “{brief.topic}”, {brief.duration_s} s, {brief.tone}, "
        f"for {platforms}{describe_use(template)}. I'll post progress here."
    )


async def press(app: App, actor: Actor, verb: Verb, draft_id: int) -> Reply:
    """A button press on a draft: the role and the draft's state are checked anew."""
    if verb is Verb.CAPTIONS:
        return await all_captions(app, actor, draft_id)
    if verb is Verb.REGENERATE:
        async with app.sessions() as session:
            draft = await get_draft(session, actor.workspace.id, draft_id)
        if draft is not None:
            await check_budget(app, actor.workspace, draft.duration_s)
            await check_generation_rate(app, actor)
    if verb is Verb.APPROVE:
        await _check_fits(app, actor, draft_id)
    publish_at: datetime | None = None
    async with app.sessions.begin() as session:
        draft = await get_draft(session, actor.workspace.id, draft_id)
        if draft is None:
            raise Refusal(f"I can't find draft #{draft_id} in this workspace.")
        if verb is Verb.APPROVE:
            reply, approved, publish_at = await _approve(session, actor, draft)
        elif verb is Verb.REJECT:
            reply, approved = await _reject(session, actor, draft), False
        else:
            reply, approved = await _regenerate(session, actor, draft), False
    # Jobs are queued only after the transition committed, and only by the press that won it.
    if publish_at is not None:
        await enqueue_wake(app.queue, draft.id, publish_at)
    elif approved:
        await app.queue.enqueue_job(PUBLISH_JOB, draft.id, _job_id=f"publish:{draft.id}")
    elif verb is Verb.REGENERATE:
        await enqueue_generation(app, draft)
    return reply


async def _check_fits(app: App, actor: Actor, draft_id: int) -> None:
    """Refuse approval while the current version breaks a platform's rules, saying which."""
    async with app.sessions() as session:
        draft = await get_draft(session, actor.workspace.id, draft_id)
        version = await current_version(session, draft) if draft is not None else None
    if draft is None or version is None or draft.state != DraftState.READY:
        return  # the press itself says what is wrong
    metas = [PlatformMeta.model_validate(m) for m in version.metadata_json]
    try:
        video = await app.store.local(version.video_path)
    except MediaMissing:
        raise Refusal(
            f"The video of draft #{draft.id} v{version.number} is gone from the media store; "
            f"make it again with /edit {draft.id} <instruction> before approving."
        ) from None
    problems = await problems_for(video, metas, version.duration_s)
    if problems:
        names = ", ".join(p.value for p in problems)
        raise Refusal(
            f"Draft #{draft.id} v{version.number} can't be approved yet: "
            + " ".join(describe_problems(problems))
            + f" Use /edit {draft.id} shorter (or another change), or make the draft again "
            f"without {names}."
        )


def _can_approve(actor: Actor, draft: Draft) -> bool:
    if at_least(actor.role, Role.APPROVER):
        return True
    own = draft.requested_by == actor.member.id
    return actor.role == Role.CREATOR and own and actor.workspace.allow_self_approval


async def _approve(
    session: AsyncSession, actor: Actor, draft: Draft
) -> tuple[Reply, bool, datetime | None]:
    """Record an approval; the last one needed approves the draft (scheduled if it has a time)."""
    if not _can_approve(actor, draft):
        raise Forbidden(
            f"{actor.member.display_name}, your role ({actor.role}) can't approve drafts. "
            "An owner can make you an approver with /role."
        )
    if draft.state != DraftState.READY:
        raise Refusal(describe_state(draft))
    try:
        async with session.begin_nested():
            session.add(
                Approval(
                    draft_id=draft.id,
                    version=draft.current_version,
                    member_id=actor.member.id,
                    decision="approve",
                )
            )
    except IntegrityError:
        raise Refusal(f"You already approved draft #{draft.id} v{draft.current_version}.") from None
    count = (
        await session.execute(
            select(func.count()).where(
                Approval.draft_id == draft.id,
                Approval.version == draft.current_version,
                Approval.decision == "approve",
            )
        )
    ).scalar_one()
    target = f"draft:{draft.id}"
    await audit(session, actor.workspace.id, actor.member.id, "draft.approve", target)
    needed = actor.workspace.approvals_required
    if count < needed:
        return (
            Reply(
                f"{actor.member.display_name} approved draft #{draft.id} ({count}/{needed}). "
                f"Waiting for {needed - count} more."
            ),
            False,
            None,
        )
    if not await transition(session, draft.id, expected=DraftState.READY, to=DraftState.APPROVED):
        await session.refresh(draft)
        raise Refusal(describe_state(draft))
    publish_at = await hold_for_schedule(session, draft.id, utcnow())
    if publish_at is not None:
        when = format_when(publish_at, actor.workspace.timezone)
        return (
            Reply(
                f"✅ Draft #{draft.id} approved by {actor.member.display_name}. Scheduled for "
                f"{when} on {', '.join(draft.platforms)}.",
                settles=True,
            ),
            True,
            publish_at,
        )
    return (
        Reply(
            f"✅ Draft #{draft.id} approved by {actor.member.display_name}. Publishing to "
            f"{', '.join(draft.platforms)}…",
            settles=True,
        ),
        True,
        None,
    )


def _require_requester_or_approver(actor: Actor, draft: Draft, action: str) -> None:
    """Approvers and owners may act on any draft; creators on their own."""
    own = draft.requested_by == actor.member.id and actor.role != Role.VIEWER
    if not (own or at_least(actor.role, Role.APPROVER)):
        raise Forbidden(
            f"{actor.member.display_name}, your role ({actor.role}) can't {action} "
            "someone else's draft."
        )


async def _reject(session: AsyncSession, actor: Actor, draft: Draft) -> Reply:
    _require_requester_or_approver(actor, draft, "reject")
    expected = (DraftState.READY, DraftState.REQUESTED)
    if not await transition(session, draft.id, expected=expected, to=DraftState.REJECTED):
        raise Refusal(describe_state(draft))
    session.add(
        Approval(
            draft_id=draft.id,
            version=draft.current_version,
            member_id=actor.member.id,
            decision="reject",
        )
    )
    await audit(session, actor.workspace.id, actor.member.id, "draft.reject", f"draft:{draft.id}")
    return Reply(f"❌ Draft #{draft.id} rejected by {actor.member.display_name}.", settles=True)


async def _regenerate(session: AsyncSession, actor: Actor, draft: Draft) -> Reply:
    await _restart(session, actor, draft, "regenerate", (DraftState.READY, DraftState.FAILED))
    return Reply(
        f"🔄 {actor.member.display_name} asked for a new version of draft #{draft.id}…",
        settles=True,
    )


async def _restart(
    session: AsyncSession,
    actor: Actor,
    draft: Draft,
    action: str,
    expected: tuple[DraftState, ...],
    **detail: str,
) -> None:
    """Move a draft back to generating for a new version (regenerate or edit)."""
    _require_requester_or_approver(actor, draft, action)
    attempts = draft.attempts + 1
    if not await transition(
        session, draft.id, expected=expected, to=DraftState.GENERATING, attempts=attempts
    ):
        raise Refusal(describe_state(draft))
    draft.attempts = attempts
    await audit(
        session,
        actor.workspace.id,
        actor.member.id,
        f"draft.{action}",
        f"draft:{draft.id}",
        **detail,
    )


_EDIT_ARGS = re.compile(r"#?([1-9][0-9]{0,17})\s+(.+)", re.DOTALL)
MAX_INSTRUCTION_CHARS = 1000


async def edit_draft(app: App, actor: Actor, args: str) -> Reply:
    """`/edit <draft> <instruction>`: revise the script into a new version."""
    match = _EDIT_ARGS.fullmatch(args.strip())
    if match is None:
        raise Refusal(
            "Use /edit <draft> <instruction>, e.g. /edit 3 new hook: Autumn is here! "
            "(see /drafts for the numbers)."
        )
    draft_id, instruction = int(match.group(1)), " ".join(match.group(2).split())
    if len(instruction) > MAX_INSTRUCTION_CHARS:
        raise Refusal(
            f"That instruction is {len(instruction)} characters; keep it under "
            f"{MAX_INSTRUCTION_CHARS}."
        )
    async with app.sessions.begin() as session:
        draft = await get_draft(session, actor.workspace.id, draft_id)
        if draft is None:
            raise Refusal(f"I can't find draft #{draft_id} in this workspace. See /drafts.")
        await check_budget(app, actor.workspace, draft.duration_s)
        await check_generation_rate(app, actor)
        await _restart(session, actor, draft, "edit", (DraftState.READY,), instruction=instruction)
    await enqueue_generation(app, draft, instruction)
    return Reply(
        f"✏️ Revising draft #{draft.id} into v{draft.current_version + 1}: “{instruction}”…"
    )
