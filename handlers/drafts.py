"""Draft use cases: request, approve, reject, regenerate, list and show."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.app import App
from handlers.buttons import Verb
from handlers.parsing import parse_request
from handlers.port import Reply
from services.drafts import get_draft, transition
from services.models import Approval, Draft, DraftState, Member, Publication, Role, Workspace
from services.workspaces import at_least, audit

log = structlog.get_logger(__name__)

GENERATE_JOB = "generate_draft"
PUBLISH_JOB = "publish_draft"


class Refusal(Exception):
    """A request that cannot be done; the message says why and what to do instead."""


@dataclass(frozen=True)
class Actor:
    """Who is acting, in which workspace."""

    workspace: Workspace
    member: Member


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


async def enqueue_generation(app: App, draft: Draft) -> None:
    """Queue the job that makes the draft's next version; one job id per attempt."""
    version = draft.current_version + 1
    await app.queue.enqueue_job(
        GENERATE_JOB, draft.id, version, _job_id=f"generate:{draft.id}:{version}:{draft.attempts}"
    )


async def request_draft(app: App, actor: Actor, chat_ref: str, text: str) -> Reply:
    """`/draft <request>`: parse, store a draft and queue its generation."""
    if not at_least(actor.member.role, Role.CREATOR):
        raise Refusal("Viewers can't request drafts. Ask an owner for the creator role.")
    brief = parse_request(text)
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
        )
        session.add(draft)
        await session.flush()
        await audit(
            session, actor.workspace.id, actor.member.id, "draft.request", f"draft:{draft.id}"
        )
    await enqueue_generation(app, draft)
    platforms = ", ".join(p.value for p in brief.platforms)
    return Reply(
        f"Draft #{draft.id} queued: “{brief.topic}”, {brief.duration_s} s, {brief.tone}, "
        f"for {platforms}. I'll post progress here."
    )


async def press(app: App, actor: Actor, verb: Verb, draft_id: int) -> Reply:
    """A button press on a draft: the role and the draft's state are checked anew."""
    async with app.sessions.begin() as session:
        draft = await get_draft(session, actor.workspace.id, draft_id)
        if draft is None:
            raise Refusal(f"I can't find draft #{draft_id} in this workspace.")
        if verb is Verb.APPROVE:
            reply, approved = await _approve(session, actor, draft)
        elif verb is Verb.REJECT:
            reply, approved = await _reject(session, actor, draft), False
        else:
            reply, approved = await _regenerate(session, actor, draft), False
    # Jobs are queued only after the transition committed, and only by the press that won it.
    if approved:
        await app.queue.enqueue_job(PUBLISH_JOB, draft.id, _job_id=f"publish:{draft.id}")
    elif verb is Verb.REGENERATE:
        await enqueue_generation(app, draft)
    return reply


def _can_approve(actor: Actor, draft: Draft) -> bool:
    if at_least(actor.member.role, Role.APPROVER):
        return True
    own = draft.requested_by == actor.member.id
    return actor.member.role == Role.CREATOR and own and actor.workspace.allow_self_approval


async def _approve(session: AsyncSession, actor: Actor, draft: Draft) -> tuple[Reply, bool]:
    if not _can_approve(actor, draft):
        raise Refusal(
            f"{actor.member.display_name}, your role ({actor.member.role}) can't approve drafts. "
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
        return Reply(
            f"{actor.member.display_name} approved draft #{draft.id} ({count}/{needed}). "
            f"Waiting for {needed - count} more."
        ), False
    if not await transition(session, draft.id, expected=DraftState.READY, to=DraftState.APPROVED):
        await session.refresh(draft)
        raise Refusal(describe_state(draft))
    return Reply(
        f"✅ Draft #{draft.id} approved by {actor.member.display_name}. Publishing to "
        f"{', '.join(draft.platforms)}…"
    ), True


def _require_requester_or_approver(actor: Actor, draft: Draft, action: str) -> None:
    """Approvers and owners may act on any draft; creators on their own."""
    own = draft.requested_by == actor.member.id and actor.member.role != Role.VIEWER
    if not (own or at_least(actor.member.role, Role.APPROVER)):
        raise Refusal(
            f"{actor.member.display_name}, your role ({actor.member.role}) can't {action} "
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
    return Reply(f"❌ Draft #{draft.id} rejected by {actor.member.display_name}.")


async def _regenerate(session: AsyncSession, actor: Actor, draft: Draft) -> Reply:
    _require_requester_or_approver(actor, draft, "regenerate")
    expected = (DraftState.READY, DraftState.FAILED)
    attempts = draft.attempts + 1
    if not await transition(
        session, draft.id, expected=expected, to=DraftState.GENERATING, attempts=attempts
    ):
        raise Refusal(describe_state(draft))
    draft.attempts = attempts
    await audit(
        session, actor.workspace.id, actor.member.id, "draft.regenerate", f"draft:{draft.id}"
    )
    return Reply(f"🔄 Making a new version of draft #{draft.id}…")


async def list_drafts(app: App, actor: Actor) -> Reply:
    """`/drafts`: the workspace's latest drafts and their states."""
    async with app.sessions() as session:
        drafts = (
            (
                await session.execute(
                    select(Draft)
                    .where(Draft.workspace_id == actor.workspace.id)
                    .order_by(Draft.id.desc())
                    .limit(10)
                )
            )
            .scalars()
            .all()
        )
    if not drafts:
        return Reply("No drafts yet. Try /draft a 30 second short about our autumn menu")
    lines = ["Latest drafts:"]
    lines += [
        f"#{d.id} [{d.state}] {d.topic} ({', '.join(d.platforms)}, {d.duration_s} s)"
        for d in drafts
    ]
    return Reply("\n".join(lines))


async def draft_status(app: App, actor: Actor, args: str) -> Reply:
    """`/status <draft>`: a draft's state, versions and publications."""
    raw = args.strip().removeprefix("#")
    if not raw.isdigit() or len(raw) > 18:
        raise Refusal("Which draft? Use /status <number>, e.g. /status 3 (see /drafts).")
    async with app.sessions() as session:
        draft = await get_draft(session, actor.workspace.id, int(raw))
        if draft is None:
            raise Refusal(f"I can't find draft #{raw} in this workspace. See /drafts.")
        publications = (
            (
                await session.execute(
                    select(Publication)
                    .where(Publication.draft_id == draft.id)
                    .order_by(Publication.id)
                )
            )
            .scalars()
            .all()
        )
    lines = [
        f"Draft #{draft.id}: {draft.topic}",
        f"State: {draft.state} · version {draft.current_version} · "
        f"{', '.join(draft.platforms)} · {draft.duration_s} s · {draft.tone}",
    ]
    if draft.error:
        lines.append(f"Last error: {draft.error}")
    for pub in publications:
        where = pub.url or pub.error or ""
        lines.append(f"• {pub.platform}: {pub.state} {where}".rstrip())
    return Reply("\n".join(lines))
