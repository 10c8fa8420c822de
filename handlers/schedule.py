"""`/schedule` and the Schedule button; the scheduled publish's wake-up job and the reconciler.

The rules (what can be scheduled when, and what a move or a cancel does) are described in
`services.scheduling`. Who may: the draft's requester or an approver/owner may set or clear
the time of a draft that is not yet approved (it still needs its approvals); moving an
approved, scheduled draft takes someone who could approve it; cancelling a schedule (which
withdraws the approval) is open to the requester and approvers, like rejecting.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import structlog
from arq import Retry
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.actor import Actor, Forbidden, Refusal
from handlers.app import App
from handlers.buttons import Verb, draft_buttons, encode
from handlers.drafts import PUBLISH_JOB, describe_state, requeue_generation
from handlers.port import Button, Reply
from handlers.publish import publish_draft
from services.drafts import get_draft
from services.models import Draft, DraftState, Role, Workspace, utcnow
from services.scheduling import (
    BEFORE_APPROVAL,
    PRESET_LABELS,
    STALLED_AFTER,
    STALLED_GENERATION,
    Claim,
    Preset,
    ScheduleError,
    approved,
    available_presets,
    claim_due,
    due,
    enqueue_wake,
    examples,
    format_when,
    known_zone,
    parse_when,
    preset_time,
    set_time,
    stalled_generation,
    stalled_publishing,
    unschedule,
    upcoming,
)
from services.workspaces import at_least, audit

log = structlog.get_logger(__name__)

RECONCILE_JOB = "reconcile_schedules"
PRESET_VERBS = {
    Verb.AT_HOUR: Preset.IN_AN_HOUR,
    Verb.AT_TODAY_EVENING: Preset.TODAY_EVENING,
    Verb.AT_TOMORROW_MORNING: Preset.TOMORROW_MORNING,
    Verb.AT_TOMORROW_EVENING: Preset.TOMORROW_EVENING,
    Verb.AT_MONDAY_MORNING: Preset.MONDAY_MORNING,
}
VERB_OF_PRESET = {preset: verb for verb, preset in PRESET_VERBS.items()}
SCHEDULE_VERBS = frozenset({Verb.SCHEDULE, Verb.UNSCHEDULE, *PRESET_VERBS})
CANCEL_WORDS = frozenset({"cancel", "off", "clear", "none", "unschedule"})
USAGE = (
    "Use /schedule <draft> <when>, e.g. /schedule 3 tomorrow 9am or /schedule 3 fri 18:30; "
    "/schedule cancel 3 to cancel; /schedule alone lists what's coming; "
    "/schedule zone Europe/Berlin sets the time zone (owners)."
)
_NUMBER = re.compile(r"#?([1-9][0-9]{0,17})")


async def schedule_command(app: App, actor: Actor, args: str) -> Reply:
    """`/schedule`, `/schedule <draft> <when>`, `/schedule cancel <draft>`, `/schedule <draft>`."""
    parts = args.split()
    if not parts:
        return await list_upcoming(app, actor)
    if parts[0].lower() in ("zone", "timezone", "tz"):
        return await zone_command(app, actor, " ".join(parts[1:]))
    if parts[0].lower() in CANCEL_WORDS:
        if len(parts) != 2:
            raise Refusal(USAGE)
        return await cancel_schedule(app, actor, _draft_number(parts[1]))
    draft_id = _draft_number(parts[0])
    rest = " ".join(parts[1:])
    if not rest:
        return await schedule_options(app, actor, draft_id)
    if rest.lower() in CANCEL_WORDS:
        return await cancel_schedule(app, actor, draft_id)
    try:
        at = parse_when(rest, actor.workspace.timezone, utcnow())
    except ScheduleError as exc:
        raise Refusal(str(exc)) from None
    return await schedule_at(app, actor, draft_id, at)


async def schedule_press(app: App, actor: Actor, verb: Verb, draft_id: int) -> Reply:
    """The Schedule button, a preset under it, or Unschedule: checked like the typed command."""
    if verb is Verb.SCHEDULE:
        return await schedule_options(app, actor, draft_id)
    if verb is Verb.UNSCHEDULE:
        return await cancel_schedule(app, actor, draft_id)
    try:
        at = preset_time(PRESET_VERBS[verb], actor.workspace.timezone, utcnow())
    except ScheduleError as exc:
        raise Refusal(f"{exc} Press Schedule again for the current choices.") from None
    return await schedule_at(app, actor, draft_id, at)


def _draft_number(text: str) -> int:
    match = _NUMBER.fullmatch(text)
    if match is None:
        raise Refusal(f"“{text[:40]}” is not a draft number. {USAGE}")
    return int(match.group(1))


async def _find(session: AsyncSession, actor: Actor, draft_id: int) -> Draft:
    draft = await get_draft(session, actor.workspace.id, draft_id)
    if draft is None:
        raise Refusal(f"I can't find draft #{draft_id} in this workspace. See /drafts.")
    return draft


def _own(actor: Actor, draft: Draft) -> bool:
    return draft.requested_by == actor.member.id and actor.role != Role.VIEWER


def _check_may_propose(actor: Actor, draft: Draft, action: str) -> None:
    """Before approval (and for cancelling): the requester, or an approver or owner."""
    if not (_own(actor, draft) or at_least(actor.role, Role.APPROVER)):
        raise Forbidden(
            f"{actor.member.display_name}, your role ({actor.role}) can't {action} "
            "someone else's draft."
        )


def _check_may_move(actor: Actor, draft: Draft) -> None:
    """An approved draft's time is part of what was approved: only an approver may move it."""
    self_approves = actor.role == Role.CREATOR and actor.workspace.allow_self_approval
    if not (at_least(actor.role, Role.APPROVER) or (self_approves and _own(actor, draft))):
        raise Forbidden(
            f"{actor.member.display_name}, your role ({actor.role}) can't move an approved "
            "draft; an approver or owner can."
        )


def _refuse_state(draft: Draft) -> Refusal:
    """Why a draft in this state cannot be scheduled, moved or cancelled."""
    state = DraftState(draft.state)
    if state is DraftState.APPROVED:
        return Refusal(
            f"Draft #{draft.id} is approved and being published now; it can't be scheduled."
        )
    if state in (DraftState.REJECTED, DraftState.FAILED):
        return Refusal(describe_state(draft))
    return Refusal(
        f"{describe_state(draft)} Publishing has started, so its time can't be set, moved "
        "or cancelled any more."
    )


async def schedule_at(app: App, actor: Actor, draft_id: int, at: datetime) -> Reply:
    """Set the time of a draft awaiting approval, or move a scheduled one."""
    tz = actor.workspace.timezone
    async with app.sessions.begin() as session:
        draft = await _find(session, actor, draft_id)
        state = DraftState(draft.state)
        before = draft.scheduled_at
        if state in BEFORE_APPROVAL:
            _check_may_propose(actor, draft, "schedule")
        elif state is DraftState.SCHEDULED:
            _check_may_move(actor, draft)
        else:
            raise _refuse_state(draft)
        if not await set_time(session, draft.id, at, expected=state):
            await session.refresh(draft)
            raise Refusal(f"{describe_state(draft)} Nothing was changed; try again.")
        action = "draft.reschedule" if before is not None else "draft.schedule"
        await audit(
            session,
            actor.workspace.id,
            actor.member.id,
            action,
            f"draft:{draft.id}",
            at=at.isoformat(),
            before=before.isoformat() if before else None,
        )
    when = format_when(at, tz)
    if state is DraftState.SCHEDULED:
        # The new wake-up is queued; the old one will find a different time and do nothing.
        await enqueue_wake(app.queue, draft.id, at)
        return Reply(
            f"🗓 Draft #{draft.id} moved to {when}; it publishes then to "
            f"{', '.join(draft.platforms)}."
        )
    waiting = "is approved" if state is DraftState.READY else "is ready and approved"
    return Reply(
        f"🗓 Draft #{draft.id} will publish at {when} once it {waiting} "
        f"({', '.join(draft.platforms)})."
    )


async def cancel_schedule(app: App, actor: Actor, draft_id: int) -> Reply:
    """Clear a draft's time; a scheduled draft goes back to review with its approvals withdrawn."""
    async with app.sessions.begin() as session:
        draft = await _find(session, actor, draft_id)
        state = DraftState(draft.state)
        if state not in (*BEFORE_APPROVAL, DraftState.SCHEDULED):
            raise _refuse_state(draft)
        _check_may_propose(actor, draft, "cancel the schedule of")
        if draft.scheduled_at is None:
            raise Refusal(f"Draft #{draft.id} isn't scheduled.")
        before = draft.scheduled_at
        if state is DraftState.SCHEDULED:
            changed = await unschedule(session, draft.id, draft.current_version)
        else:
            changed = await set_time(session, draft.id, None, expected=state)
        if not changed:
            await session.refresh(draft)
            raise Refusal(f"{describe_state(draft)} Nothing was changed.")
        await audit(
            session,
            actor.workspace.id,
            actor.member.id,
            "draft.unschedule",
            f"draft:{draft.id}",
            before=before.isoformat(),
        )
    if state is DraftState.SCHEDULED:
        return Reply(
            f"🗓 Draft #{draft.id} is no longer scheduled ({actor.member.display_name} "
            "cancelled it) and is back up for review; its approval was withdrawn. Approve it "
            "to publish now, or schedule it again.",
            buttons=draft_buttons(draft.id),
        )
    return Reply(
        f"🗓 Draft #{draft.id} no longer has a time; once approved it publishes right away."
    )


async def schedule_options(app: App, actor: Actor, draft_id: int) -> Reply:
    """The preset times as buttons (and Unschedule), plus how to type any other time."""
    tz = actor.workspace.timezone
    async with app.sessions() as session:
        draft = await _find(session, actor, draft_id)
    state = DraftState(draft.state)
    if state is DraftState.SCHEDULED:
        _check_may_move(actor, draft)
    elif state in BEFORE_APPROVAL:
        _check_may_propose(actor, draft, "schedule")
    else:
        raise _refuse_state(draft)
    now = utcnow()
    buttons = [
        Button(PRESET_LABELS[preset], encode(VERB_OF_PRESET[preset], draft.id))
        for preset, _ in available_presets(tz, now)
    ]
    lines = [f"🗓 When should draft #{draft.id} publish? Times are in {tz}."]
    if draft.scheduled_at is not None:
        lines.append(f"Now set for {format_when(draft.scheduled_at, tz, now=now)}.")
        buttons.append(Button("Unschedule", encode(Verb.UNSCHEDULE, draft.id)))
    if state is not DraftState.SCHEDULED:
        lines.append("It publishes at that time once it is approved.")
    lines.append(f"Another time: /schedule {draft.id} <when>, e.g. {examples(tz, now)}.")
    return Reply("\n".join(lines), buttons=tuple(buttons))


async def zone_command(app: App, actor: Actor, name: str) -> Reply:
    """`/schedule zone [Area/City]`: the workspace's time zone for reading and showing times."""
    current = actor.workspace.timezone
    if not name:
        return Reply(
            f"Times are read and shown in {current}. An owner can change that with "
            "/schedule zone <Area/City>, e.g. /schedule zone Europe/Berlin."
        )
    if actor.role != Role.OWNER:
        raise Refusal("Only an owner can change the workspace's time zone.")
    zone = known_zone(name)
    if zone is None:
        raise Refusal(
            f"“{name[:60]}” is not a time zone I know. Use an IANA name such as "
            "Europe/Berlin, America/New_York or Asia/Tokyo."
        )
    async with app.sessions.begin() as session:
        workspace = await session.get(Workspace, actor.workspace.id)
        assert workspace is not None
        workspace.timezone = zone
        await audit(
            session,
            actor.workspace.id,
            actor.member.id,
            "workspace.timezone",
            f"workspace:{workspace.id}",
            before=current,
            after=zone,
        )
    return Reply(
        f"🗓 Times are now read and shown in {zone} (it is {format_when(utcnow(), zone)}). "
        "Scheduled posts keep their moment in time."
    )


async def list_upcoming(app: App, actor: Actor) -> Reply:
    """`/schedule`: what is coming, soonest first, in the workspace's zone."""
    tz = actor.workspace.timezone
    async with app.sessions() as session:
        drafts = await upcoming(session, actor.workspace.id)
    if not drafts:
        return Reply(
            "Nothing is scheduled. Use /schedule <draft> <when>, e.g. /schedule 3 tomorrow 9am, "
            "or the Schedule button under a preview."
        )
    now = utcnow()
    lines = [f"🗓 Coming up (times in {tz}):"]
    for draft in drafts:
        assert draft.scheduled_at is not None
        when = format_when(draft.scheduled_at, tz, now=now, zone=False)
        if draft.state != DraftState.SCHEDULED:
            note = (
                " · time passed; publishes once approved"
                if draft.scheduled_at <= now
                else " · awaiting approval"
            )
        elif draft.scheduled_at <= now:
            note = " · due now"
        else:
            note = ""
        lines.append(f"#{draft.id} {when} · “{draft.topic}” · {', '.join(draft.platforms)}{note}")
    lines.append("Move: /schedule <draft> <when> · cancel: /schedule cancel <draft>")
    return Reply("\n".join(lines))


# -- jobs ------------------------------------------------------------------------------------


async def publish_scheduled(ctx: dict[str, Any], draft_id: int, at_iso: str) -> str:
    """The wake-up for a scheduled draft: publish it if it is still scheduled for this time.

    When the publish job asks to be retried (a busy platform), arq re-runs this job: the
    re-run finds the draft publishing for this same time and resumes it.
    """
    app: App = ctx["app"]
    at = datetime.fromisoformat(at_iso)
    now = utcnow()
    async with app.sessions.begin() as session:
        claim = await claim_due(session, draft_id, at, now, retry=ctx.get("job_try", 1) > 1)
    if claim is Claim.EARLY:
        # This worker's clock is behind the one that queued the wake-up: come back then.
        raise Retry(defer=at - now)
    if claim is Claim.STALE:
        log.info("schedule.stale_wakeup", draft_id=draft_id, at=at_iso)
        return "nothing to do: moved, cancelled or already published"
    return await publish_draft(ctx, draft_id)


async def reconcile_schedules(ctx: dict[str, Any]) -> str:
    """Re-queue what the queue may have lost: due wake-ups, approved drafts' publish jobs, and
    publishing that has not moved for STALLED_AFTER.

    Job ids are the ones the handlers use, so a job that is still queued is not doubled.
    """
    app: App = ctx["app"]
    async with app.sessions() as session:
        wakes = await due(session, utcnow())
        now_ids = await approved(session)
        stalled = await stalled_publishing(session, utcnow() - STALLED_AFTER)
        making = await stalled_generation(session, utcnow() - STALLED_GENERATION)
    requeued = 0
    for draft_id, at in wakes:
        requeued += await enqueue_wake(app.queue, draft_id, at)
    for draft_id in now_ids:
        job = await app.queue.enqueue_job(PUBLISH_JOB, draft_id, _job_id=f"publish:{draft_id}")
        requeued += job is not None
    # publishing that stopped (its job lost with Redis, or a worker gone): every publication
    # is leased in the database, so a second run never posts what the first is posting
    bucket = int(utcnow().timestamp() // 3600)
    for draft_id in stalled:
        job = await app.queue.enqueue_job(
            PUBLISH_JOB, draft_id, _job_id=f"publish:{draft_id}:recover:{bucket}"
        )
        requeued += job is not None
    # generation whose job was lost: the same job id (so one still queued or running is not
    # doubled), the edit's instruction from the draft
    for draft in making:
        requeued += await requeue_generation(app, draft)
    if requeued:
        log.info("schedule.requeued", count=requeued)
    return f"{requeued} re-queued"
