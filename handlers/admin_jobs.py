"""Retry and Cancel on the jobs monitor: owners act on their own drafts' jobs.

Retry takes the path the chat takes: a failed generation is the preview's Regenerate
(handlers.drafts.press), failed posts are `/publish <draft>` (handlers.publish.publish_again),
with their role checks, state checks and audit entries. Cancel takes a generation off the
queue (or aborts it on its worker) and puts the draft back where it was before (its last
version up for review, or failed when it had none); a scheduled post's wake-up is
`/schedule cancel <draft>`. A publish already on its way is not called back: a post may be
half-uploaded. Each action is audited as the monitor's, and the draft's chat is told.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.actor import Actor, Refusal
from handlers.app import App
from handlers.buttons import Verb, draft_buttons
from handlers.drafts import GENERATE_JOB, PUBLISH_JOB, describe_state, press
from handlers.generate import making_key
from handlers.job_records import draft_of
from handlers.port import Reply
from handlers.publish import publish_again
from handlers.schedule import cancel_schedule
from services.arq_jobs import JobRecord, JobState, abort, find_job, withdraw
from services.drafts import transition
from services.health import FAILED_JOBS_KEPT, failed_jobs
from services.models import Draft, DraftState, Publication, Role, utcnow
from services.queue import JOBS_QUEUE
from services.scheduling import PUBLISH_AT_JOB
from services.workspaces import audit

ABORT_WAIT_S = 10.0  # how long Cancel waits for a worker to stop a running job
PUBLISH_KINDS = (PUBLISH_JOB, PUBLISH_AT_JOB)
VIA = "from the jobs monitor"


@dataclass(frozen=True)
class DraftInfo:
    """What the monitor needs of a draft: where it is, and its current version's posts."""

    id: int
    state: DraftState
    current_version: int
    error: str | None
    chat_ref: str
    posts: tuple[tuple[str, str], ...] = ()  # (platform, publication state)
    making: str | None = None  # the stage of the version being made (writing the script, …)


async def own_drafts(app: App, actor: Actor, ids: Iterable[int]) -> dict[int, DraftInfo]:
    """The drafts among `ids` that belong to the actor's workspace (others' are left out)."""
    wanted = set(ids)
    if not wanted:
        return {}
    async with app.sessions() as session:
        drafts = (
            await session.scalars(
                select(Draft).where(Draft.id.in_(wanted), Draft.workspace_id == actor.workspace.id)
            )
        ).all()
        posts = (
            await session.execute(
                select(Publication.draft_id, Publication.platform, Publication.state)
                .where(Publication.draft_id.in_([d.id for d in drafts]))
                .order_by(Publication.id)
            )
        ).all()
    found = {
        d.id: DraftInfo(d.id, DraftState(d.state), d.current_version, d.error, d.chat_ref)
        for d in drafts
    }
    for info in list(found.values()):
        if info.state == DraftState.GENERATING:
            stage = await app.queue.get(making_key(info.id))
            making = stage.decode() if isinstance(stage, bytes) else stage
            found[info.id] = dataclasses.replace(info, making=making)
    for draft_id, platform, state in posts:  # a later version's posts replace earlier ones
        info = found[draft_id]
        mine = dict(info.posts) | {platform: state}
        found[draft_id] = dataclasses.replace(info, posts=tuple(mine.items()))
    return found


def retryable(kind: str, draft: DraftInfo) -> bool:
    """Whether a failed job of `kind` can be tried again with the draft as it is now."""
    if kind == GENERATE_JOB:
        first_failed = draft.state == DraftState.FAILED and draft.current_version == 0
        return first_failed or (draft.state == DraftState.READY and bool(draft.error))
    if kind in PUBLISH_KINDS:
        again = (DraftState.FAILED, DraftState.PARTIALLY_PUBLISHED)
        return draft.state in again and draft.current_version > 0
    return False


def cancellable(kind: str, state: JobState, draft: DraftInfo) -> bool:
    """Whether a queued or running job of `kind` can be cancelled from the monitor."""
    if kind == GENERATE_JOB:
        making = draft.state in (DraftState.REQUESTED, DraftState.GENERATING)
        return making and state in (JobState.QUEUED, JobState.DEFERRED, JobState.RUNNING)
    if kind == PUBLISH_AT_JOB:
        return state == JobState.DEFERRED and draft.state == DraftState.SCHEDULED
    return False


def _require_owner(actor: Actor) -> None:
    if actor.role != Role.OWNER:
        raise Refusal(f"Only an owner can retry or cancel jobs; your role is {actor.role}.")


async def find(app: App, job_id: str) -> JobRecord:
    """A job as arq knows it; a failure whose arq record has expired, from the failed list."""
    job = await find_job(app.queue, JOBS_QUEUE, job_id, now=utcnow())
    if job.state is not JobState.GONE:
        return job
    for failed in await failed_jobs(app.queue, limit=FAILED_JOBS_KEPT):
        if failed.job_id == job_id:
            args = (failed.draft_id,) if failed.draft_id is not None else ()
            return JobRecord(job_id, failed.kind, args, JobState.DONE, success=False)
    return job


def failed(job: JobRecord) -> bool:
    """Whether a job ended in failure (raised, or returned "failed"), cancelled included."""
    return job.state is JobState.DONE and (not job.success or job.result == "failed")


async def _job_of_own_draft(app: App, actor: Actor, job_id: str) -> tuple[JobRecord, DraftInfo]:
    job = await find(app, job_id)
    if job.state is JobState.GONE:
        raise Refusal(
            f"I know of no job {job_id} any more (a finished job's record is kept an hour)."
        )
    draft_id = draft_of(job.function, job.args)
    draft = (await own_drafts(app, actor, [draft_id])).get(draft_id) if draft_id else None
    if draft_id is not None and draft is None:
        raise Refusal(f"Job {job_id} is not about a draft of this workspace.")
    if draft is None:
        raise Refusal(
            f"Job {job_id} ({job.function}) belongs to no one draft: it runs on its own "
            "schedule, and only a draft's jobs can be retried or cancelled here."
        )
    return job, draft


async def _audit(
    session: AsyncSession, actor: Actor, action: str, job: JobRecord, draft: DraftInfo
) -> None:
    await audit(
        session,
        actor.workspace.id,
        actor.member.id,
        action,
        f"draft:{draft.id}",
        job_id=job.job_id,
        job=job.function,
    )


async def _record(app: App, actor: Actor, action: str, job: JobRecord, draft: DraftInfo) -> None:
    async with app.sessions.begin() as session:
        await _audit(session, actor, action, job, draft)


async def _tell(app: App, chat_ref: str, reply: Reply) -> None:
    """Post a reply in the draft's chat as a message of its own (no press to answer there)."""
    await app.chat.send(chat_ref, dataclasses.replace(reply, settles=False, alert=False))


async def retry_job(app: App, actor: Actor, job_id: str) -> str:
    """Try a failed job of one of the workspace's drafts again, the way the chat would."""
    _require_owner(actor)
    job, draft = await _job_of_own_draft(app, actor, job_id)
    if not failed(job):
        outcome = "succeeded" if job.state is JobState.DONE else f"is {job.state.value}"
        raise Refusal(f"Job {job_id} {outcome}, it did not fail: there is nothing to retry.")
    if not retryable(job.function, draft):
        raise Refusal(f"{_draft_sentence(draft)} Job {job_id} can't be tried again from here.")
    if job.function == GENERATE_JOB:
        reply = await press(app, actor, Verb.REGENERATE, draft.id)
    else:
        reply = await publish_again(app, actor, str(draft.id))
    await _record(app, actor, "job.retry", job, draft)
    await _tell(app, draft.chat_ref, dataclasses.replace(reply, text=f"{reply.text} ({VIA})"))
    return reply.text


async def cancel_job(app: App, actor: Actor, job_id: str) -> str:
    """Stop a queued or running job of one of the workspace's drafts (see the module)."""
    _require_owner(actor)
    job, draft = await _job_of_own_draft(app, actor, job_id)
    if job.state is JobState.DONE:
        raise Refusal(f"Job {job_id} has already ended: there is nothing to cancel.")
    if job.function == PUBLISH_AT_JOB and draft.state == DraftState.SCHEDULED:
        reply = await cancel_schedule(app, actor, draft.id)
        await withdraw(app.queue, JOBS_QUEUE, job_id)  # the wake-up would find nothing to do
        await _record(app, actor, "job.cancel", job, draft)
        await _tell(app, draft.chat_ref, reply)
        return reply.text
    if job.function in PUBLISH_KINDS:
        raise Refusal(
            f"Job {job_id} publishes draft #{draft.id}, which can't be called back: a post may "
            "already be on its way to a platform. Let it end; then remove a post on the "
            "platform if need be."
        )
    if not cancellable(job.function, job.state, draft):
        raise Refusal(f"{_draft_sentence(draft)} Job {job_id} can't be cancelled.")
    await _stop(app, job)
    return await _generation_cancelled(app, actor, job, draft)


async def _stop(app: App, job: JobRecord) -> None:
    """Take the job off the queue, or have its worker abort it; Refusal if neither worked."""
    if job.state is not JobState.RUNNING and await withdraw(app.queue, JOBS_QUEUE, job.job_id):
        return
    if not await abort(app.queue, job.job_id, timeout_s=ABORT_WAIT_S):
        raise Refusal(
            f"Job {job.job_id} did not stop within {ABORT_WAIT_S:.0f} s (it may just have "
            "ended, or its worker is busy). Nothing was changed; look again in a moment."
        )


async def _generation_cancelled(app: App, actor: Actor, job: JobRecord, draft: DraftInfo) -> str:
    """Back to the last version (up for review), or failed when there is none; chat told."""
    making: tuple[DraftState, ...]
    if draft.current_version:
        back, making = DraftState.READY, (DraftState.GENERATING,)
    else:
        back, making = DraftState.FAILED, (DraftState.REQUESTED, DraftState.GENERATING)
    who = actor.member.display_name
    async with app.sessions.begin() as session:
        moved = await transition(
            session,
            draft.id,
            expected=making,
            to=back,
            pending_instruction=None,
            error=f"cancelled by {who} {VIA}",
        )
        if moved:
            await _audit(session, actor, "job.cancel", job, draft)
    if not moved:
        now = (await own_drafts(app, actor, [draft.id]))[draft.id]
        return f"Job {job.job_id} was stopped. {_draft_sentence(now)}"
    if back is DraftState.READY:
        text = (
            f"⏹ {who} cancelled the new version of draft #{draft.id} {VIA}. "
            f"v{draft.current_version} is still up for review."
        )
    else:
        text = (
            f"⏹ {who} cancelled the making of draft #{draft.id} {VIA}. "
            "Press Regenerate to try again."
        )
    await _tell(app, draft.chat_ref, Reply(text, buttons=draft_buttons(draft.id)))
    return text


def _draft_sentence(draft: DraftInfo) -> str:
    """describe_state's sentence for the draft as the monitor read it."""
    return describe_state(Draft(id=draft.id, state=draft.state.value))
