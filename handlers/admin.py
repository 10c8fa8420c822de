"""/admin: the deployment's own state, for owners: `/admin status`."""

from __future__ import annotations

import dataclasses

from sqlalchemy import select

from handlers.actor import Actor, Refusal
from handlers.admin_login import monitor_line
from handlers.app import App
from handlers.drafts import GENERATE_JOB, PUBLISH_JOB
from handlers.port import Incoming, Reply
from handlers.private import private_owner, split_brand
from services.models import Draft, Role
from services.scheduling import PUBLISH_AT_JOB
from services.status import RunningJob, SystemStatus, status_text, system_status

USAGE = "Use /admin status: queues, running and failed jobs, workers and the outside services."


IN_PRIVATE = (
    "Jobs monitor on the web: send /admin status to me in a private chat for a one-time "
    "sign-in link (a link posted here could be used by anyone in this chat)."
)


async def admin_command(app: App, actor: Actor, args: str, *, private: bool = False) -> Reply:
    """`/admin status`: what `socialbot status` prints, in the chat; owners only. In a
    private chat it ends with a one-time sign-in link to the web jobs monitor."""
    if actor.role != Role.OWNER:
        raise Refusal(f"Only an owner can see the bot's status; your role is {actor.role}.")
    verb = args.strip().lower()
    if verb != "status":
        raise Refusal(USAGE)
    status = await system_status(app.sessions, app.queue, store=app.store)
    text = status_text(await _own_jobs_only(app, actor, status))
    return Reply(f"{text}\n\n{await monitor_line(app, actor) if private else IN_PRIVATE}")


async def private_admin_command(app: App, incoming: Incoming, args: str) -> Reply:
    """`/admin status` in a private chat, about the brand that chat names (see handlers.private)."""
    args, brand = split_brand(args)
    async with app.sessions() as session:
        owner = await private_owner(session, incoming, brand, doing="see the bot's status")
    actor = Actor(owner.workspace, owner.member, incoming.groups)
    return await admin_command(app, actor, args, private=True)


DRAFT_JOBS = (GENERATE_JOB, PUBLISH_JOB, PUBLISH_AT_JOB)  # their first argument is a draft id


async def _own_jobs_only(app: App, actor: Actor, status: SystemStatus) -> SystemStatus:
    """The status with other workspaces' draft jobs left out (a deployment may serve several
    teams; an owner sees their own drafts' jobs, and the jobs that belong to no draft)."""
    running = {j: _draft_of(j) for j in status.running}
    drafts = {d for d in [*running.values(), *(f.draft_id for f in status.failed)] if d}
    async with app.sessions() as session:
        own = set(
            (
                await session.scalars(
                    select(Draft.id).where(
                        Draft.id.in_(drafts), Draft.workspace_id == actor.workspace.id
                    )
                )
            ).all()
        )
    return dataclasses.replace(
        status,
        running=tuple(j for j, d in running.items() if d is None or d in own),
        failed=tuple(f for f in status.failed if f.draft_id is None or f.draft_id in own),
    )


def _draft_of(job: RunningJob) -> int | None:
    if job.function in DRAFT_JOBS and job.args and isinstance(job.args[0], int):
        return job.args[0]
    return None
