"""`/digest`: the period's figures with a chart, on demand and on each chat's schedule."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import delete, select

from handlers.actor import Actor, Refusal
from handlers.app import App
from handlers.metrics import collect_workspace_metrics
from handlers.port import Media, MediaKind, Reply
from services.digest import compute_digest, render_chart
from services.digest_schedule import (
    EXAMPLES,
    DigestSchedule,
    DigestScheduleError,
    claim_slot,
    latest_slot,
    next_slot,
    parse_schedule,
    release_slot,
    set_schedule,
)
from services.metrics.collect import Problem, ProblemKind
from services.models import ChatBinding, Role, Workspace, utcnow
from services.scheduling import format_when
from services.workspaces import at_least, audit

log = structlog.get_logger(__name__)

DIGEST = "digest"
DIGEST_CRON_JOB = "post_due_digests"
USAGE = (
    "Use /digest or /digest <days> (1 to 365) for a digest now; "
    "/digest schedule daily 09:00, /digest schedule weekly mon 09:00 or /digest schedule off "
    "for this chat's regular digest; /digest channel <chat> [daily 09:00] sends digests to "
    "another channel too; /digest channel lists where they go; /digest channel off stops that."
)
_CHAT_REF = re.compile(r"[a-z]+:-?[0-9]{1,20}")


async def digest_command(app: App, actor: Actor, args: str, chat_ref: str) -> Reply:
    """Post a digest (here and to the digest channels), or say where and when digests go."""
    words = args.split()
    if words[:1] == ["channel"]:
        if len(words) == 1:
            return await _where_digests_go(app, actor, chat_ref)
        return await _bind(app, actor, words[1:], chat_ref)
    if words[:1] == ["schedule"]:
        return await _schedule(app, actor, words[1:], chat_ref)
    raw = words[0] if words else "7"
    if len(words) > 1 or not raw.isdigit() or not 1 <= int(raw) <= 365:
        raise Refusal(USAGE)
    until = utcnow()
    async with app.sessions() as session:
        channels = (
            await session.scalars(
                select(ChatBinding.chat_ref).where(
                    ChatBinding.workspace_id == actor.workspace.id, ChatBinding.purpose == DIGEST
                )
            )
        ).all()
    name = f"{until:%Y%m%dT%H%M%S}-{raw}d.png"
    reply = await make_digest(
        app, actor.workspace.id, actor.workspace.timezone, days=int(raw), until=until, name=name
    )
    for channel in channels:
        if channel != chat_ref:
            await app.chat.send(channel, reply)
    return reply


async def make_digest(
    app: App,
    workspace_id: int,
    timezone: str,
    *,
    days: int,
    until: datetime,
    name: str,
    failures: Mapping[str, str] | None = None,
) -> Reply:
    """The digest of the `days` up to `until` as a reply: the summary and its chart."""
    async with app.sessions() as session:
        digest = await compute_digest(
            session,
            workspace_id,
            since=until - timedelta(days=days),
            until=until,
            timezone=timezone,
            failures=failures,
        )
    chart = await asyncio.to_thread(
        render_chart, digest, app.digests_dir / str(workspace_id) / name
    )
    await app.store.save(chart)  # the bot that sends it may be on another machine
    return Reply(digest.summary(), media=(Media(MediaKind.PHOTO, chart, "Digest"),))


async def _bind(app: App, actor: Actor, words: list[str], chat_ref: str) -> Reply:
    if not at_least(actor.role, Role.APPROVER):
        raise Refusal("Only approvers and owners can choose where digests go.")
    if words == ["off"]:
        async with app.sessions.begin() as session:
            await session.execute(
                delete(ChatBinding).where(
                    ChatBinding.workspace_id == actor.workspace.id, ChatBinding.purpose == DIGEST
                )
            )
            await audit(session, actor.workspace.id, actor.member.id, "digest.unbind", "all")
        return Reply("Digests now go only to the chat that asks for them.")
    target = words[0]
    if not _CHAT_REF.fullmatch(target) or target.split(":")[0] != chat_ref.split(":")[0]:
        raise Refusal(USAGE)
    if target == chat_ref:
        return Reply("Digests already post in this chat.")
    if len(words) > 1:
        return await _schedule(app, actor, words, chat_ref)
    async with app.sessions.begin() as session:
        taken = await session.scalar(select(ChatBinding).where(ChatBinding.chat_ref == target))
        if taken is not None:
            raise Refusal("That channel already belongs to a workspace or gets its digests.")
        session.add(ChatBinding(workspace_id=actor.workspace.id, chat_ref=target, purpose=DIGEST))
        await audit(session, actor.workspace.id, actor.member.id, "digest.bind", target)
    return Reply(
        "Digests will be posted in that channel too (try /digest). For a regular one there: "
        f"/digest schedule {target} daily 09:00."
    )


async def _schedule(app: App, actor: Actor, words: list[str], chat_ref: str) -> Reply:
    """`/digest schedule [<chat>] daily HH:MM | weekly <day> HH:MM | off`."""
    if not at_least(actor.role, Role.APPROVER):
        raise Refusal("Only approvers and owners can schedule digests.")
    target = chat_ref
    if words and _CHAT_REF.fullmatch(words[0]):
        target, words = words[0], words[1:]
        if target.split(":")[0] != chat_ref.split(":")[0]:
            raise Refusal("That chat is on another service; schedule it from a chat there.")
    if not words:
        raise Refusal(f"Which schedule? Use /digest schedule {EXAMPLES}.")
    try:
        schedule = None if [w.lower() for w in words] == ["off"] else parse_schedule(words)
    except DigestScheduleError as exc:
        raise Refusal(str(exc)) from None
    tz, now = actor.workspace.timezone, utcnow()
    where = "here" if target == chat_ref else "in that channel"
    async with app.sessions.begin() as session:
        binding = await session.scalar(select(ChatBinding).where(ChatBinding.chat_ref == target))
        if binding is None and schedule is not None:
            binding = ChatBinding(workspace_id=actor.workspace.id, chat_ref=target, purpose=DIGEST)
            session.add(binding)
            await audit(session, actor.workspace.id, actor.member.id, "digest.bind", target)
        elif binding is None or binding.workspace_id != actor.workspace.id:
            raise Refusal(
                "That channel doesn't get this workspace's digests; see /digest channel."
                if binding is None
                else "That channel belongs to another workspace."
            )
        await set_schedule(session, binding, schedule, timezone=tz, now=now)
        await audit(
            session,
            actor.workspace.id,
            actor.member.id,
            "digest.schedule",
            target,
            schedule=schedule.describe() if schedule else "off",
        )
    if schedule is None:
        return Reply(f"No more regular digests {where}; /digest still posts one when asked.")
    first = format_when(next_slot(schedule, tz, now), tz, now=now, zone=False)
    return Reply(
        f"A digest of the last {schedule.days} day{'s' if schedule.days > 1 else ''} will be "
        f"posted {where} {schedule.describe()} {tz}, the first on {first}."
    )


async def _where_digests_go(app: App, actor: Actor, chat_ref: str) -> Reply:
    """`/digest channel`: each of the workspace's chats and its digest schedule."""
    tz, now = actor.workspace.timezone, utcnow()
    async with app.sessions() as session:
        bindings = (
            await session.scalars(
                select(ChatBinding)
                .where(ChatBinding.workspace_id == actor.workspace.id)
                .order_by(ChatBinding.id)
            )
        ).all()
    lines = [f"Where digests go (times in {tz}):"]
    for binding in bindings:
        name = (
            f"{binding.chat_ref} (this chat)" if binding.chat_ref == chat_ref else binding.chat_ref
        )
        schedule = DigestSchedule.stored(binding)
        if schedule is not None:
            upcoming = format_when(next_slot(schedule, tz, now), tz, now=now, zone=False)
            lines.append(f"• {name}: {schedule.describe()}, next {upcoming}")
        elif binding.purpose == DIGEST:
            lines.append(f"• {name}: a copy of each /digest")
        else:
            lines.append(f"• {name}: when someone sends /digest")
    lines.append(
        f"Change with /digest schedule [<chat>] {EXAMPLES}; /digest channel <chat> adds one."
    )
    return Reply("\n".join(lines))


@dataclass(frozen=True)
class _Due:
    binding_id: int
    chat_ref: str
    workspace_id: int
    timezone: str
    schedule: DigestSchedule
    slot: datetime
    previous: datetime | None


async def due_digests(app: App, now: datetime) -> list[_Due]:
    """The chats whose latest digest slot has come and has not been posted."""
    async with app.sessions() as session:
        rows = (
            await session.execute(
                select(ChatBinding, Workspace.timezone)
                .join(Workspace, Workspace.id == ChatBinding.workspace_id)
                .where(ChatBinding.digest_cadence.is_not(None))
                .order_by(ChatBinding.id)
            )
        ).all()
    found = []
    for binding, tz in rows:
        schedule = DigestSchedule.stored(binding)
        if schedule is None:
            log.warning("digest.bad_schedule", binding_id=binding.id)
            continue
        slot = latest_slot(schedule, tz, now)
        last = binding.digest_last_slot
        if last is None or last < slot:
            found.append(
                _Due(binding.id, binding.chat_ref, binding.workspace_id, tz, schedule, slot, last)
            )
    return found


async def post_due_digests(ctx: dict[str, Any]) -> str:
    """Post each chat's digest whose slot has come, once per slot (periodic job).

    The digest is made first and the slot claimed (compare-and-set) only then, right before
    sending: a failure to make it leaves the slot for the next run, and of two workers only
    the one whose claim lands sends.
    """
    return await post_digests(ctx["app"], now=utcnow())


async def post_digests(app: App, *, now: datetime) -> str:
    """Post the digests due at `now`; what `post_due_digests` does, with the clock given."""
    made: dict[tuple[int, int], Reply | None] = {}
    failures: dict[int, dict[str, str]] = {}
    posted = 0
    for due in await due_digests(app, now):
        if due.workspace_id not in failures:
            failures[due.workspace_id] = await _collect(app, due.workspace_id)
        key = (due.workspace_id, due.schedule.days)
        if key not in made:
            made[key] = await _made_or_logged(app, due, now, failures[due.workspace_id])
        reply = made[key]
        if reply is None:
            continue
        async with app.sessions.begin() as session:
            claimed = await claim_slot(session, due.binding_id, due.schedule, due.slot)
        if not claimed:
            continue
        try:
            await app.chat.send(due.chat_ref, reply)
        except BaseException:
            async with app.sessions.begin() as session:
                await release_slot(session, due.binding_id, due.slot, due.previous)
            raise
        posted += 1
        log.info("digest.posted", chat_ref=due.chat_ref, slot=due.slot.isoformat())
    return f"{posted} digest{'s' if posted != 1 else ''} posted"


async def _collect(app: App, workspace_id: int) -> dict[str, str]:
    """Bring the workspace's figures up to date; the platforms that failed, and why."""
    try:
        report = await collect_workspace_metrics(app, workspace_id)
    except Exception:  # stale figures, said so, beat no digest
        log.exception("digest.collect_failed", workspace_id=workspace_id)
        return {"all platforms": "collecting failed; these are the last figures stored"}
    return failures_by_platform(report.problems_in(workspace_id))


def failures_by_platform(problems: Sequence[Problem]) -> dict[str, str]:
    """Each failing platform with why, per account, and what to do where a person must act."""
    reasons: dict[str, list[str]] = {}
    for problem in problems:
        reason = f"{problem.account}: {problem.reason}" if problem.account else problem.reason
        if problem.kind is ProblemKind.RECONNECT:
            reason += f"; /connect {problem.platform} again"
        reasons.setdefault(problem.platform, []).append(reason)
    return {platform: "; ".join(found) for platform, found in sorted(reasons.items())}


async def _made_or_logged(
    app: App, due: _Due, now: datetime, failures: Mapping[str, str]
) -> Reply | None:
    """One workspace's digest; None (logged, tried again next run) if it could not be made."""
    try:
        return await make_digest(
            app,
            due.workspace_id,
            due.timezone,
            days=due.schedule.days,
            until=now,
            name=f"scheduled-{now:%Y%m%dT%H%M%S}-{due.schedule.days}d.png",
            failures=failures,
        )
    except Exception:  # one workspace's broken digest must not hold up the others
        log.exception("digest.failed", workspace_id=due.workspace_id)
        return None
