"""`/digest`: the period's figures with a chart, here and in the workspace's digest channels."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

from sqlalchemy import delete, select

from handlers.actor import Actor, Refusal
from handlers.app import App
from handlers.port import Media, MediaKind, Reply
from services.digest import compute_digest, render_chart
from services.models import ChatBinding, Role, utcnow
from services.workspaces import at_least, audit

DIGEST = "digest"
USAGE = (
    "Use /digest or /digest <days> (1 to 365); /digest channel <chat> sends digests to "
    "another channel too; /digest channel off stops that."
)
_CHAT_REF = re.compile(r"[a-z]+:-?[0-9]{1,20}")


async def digest_command(app: App, actor: Actor, args: str, chat_ref: str) -> Reply:
    """Post a digest (here and to the digest channels), or bind a digest channel."""
    words = args.split()
    if words[:1] == ["channel"]:
        return await _bind(app, actor, words[1:], chat_ref)
    raw = words[0] if words else "7"
    if len(words) > 1 or not raw.isdigit() or not 1 <= int(raw) <= 365:
        raise Refusal(USAGE)
    until = utcnow()
    async with app.sessions() as session:
        digest = await compute_digest(
            session, actor.workspace.id, since=until - timedelta(days=int(raw)), until=until
        )
        channels = (
            await session.scalars(
                select(ChatBinding.chat_ref).where(
                    ChatBinding.workspace_id == actor.workspace.id, ChatBinding.purpose == DIGEST
                )
            )
        ).all()
    chart = app.digests_dir / str(actor.workspace.id) / f"{until:%Y%m%dT%H%M%S}-{raw}d.png"
    await asyncio.to_thread(render_chart, digest, chart)
    reply = Reply(digest.summary(), media=(Media(MediaKind.PHOTO, chart, "Digest"),))
    for channel in channels:
        if channel != chat_ref:
            await app.chat.send(channel, reply)
    return reply


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
    target = words[0] if len(words) == 1 else ""
    if not _CHAT_REF.fullmatch(target) or target.split(":")[0] != chat_ref.split(":")[0]:
        raise Refusal(USAGE)
    if target == chat_ref:
        return Reply("Digests already post in this chat.")
    async with app.sessions.begin() as session:
        taken = await session.scalar(select(ChatBinding).where(ChatBinding.chat_ref == target))
        if taken is not None:
            raise Refusal("That channel already belongs to a workspace or gets its digests.")
        session.add(ChatBinding(workspace_id=actor.workspace.id, chat_ref=target, purpose=DIGEST))
        await audit(session, actor.workspace.id, actor.member.id, "digest.bind", target)
    return Reply("Digests will be posted in that channel too (try /digest).")
