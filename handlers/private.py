"""Commands owners give in a private chat with the bot (API keys, the web monitor's sign-in
link), which must not be shown to a group. A private chat is usually not a workspace of its own:
the command is about the brand the chat is bound to if it is, else the one brand the owner
owns, else the brand named with `brand: <name>` at the end of the command."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.actor import Forbidden, Refusal
from handlers.port import Incoming
from services.brands import owned_brands
from services.models import Member, Role, Workspace
from services.workspaces import workspace_for_chat

_BRAND = re.compile(r"\s+brand\s*:\s*(?P<brand>.+)$", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class PrivateOwner:
    """The brand a command is about and the owner giving it."""

    workspace: Workspace
    member: Member


def split_brand(args: str) -> tuple[str, str | None]:
    match = _BRAND.search(" " + args)
    if match is None:
        return args, None
    return (" " + args)[: match.start()].strip(), match.group("brand").strip()


async def private_owner(
    session: AsyncSession, incoming: Incoming, brand: str | None, *, doing: str
) -> PrivateOwner:
    """The brand this private chat's command is about, and its owner who sent it."""
    if brand is not None:
        found = await owned_brands(session, incoming.user_ref, brand)
        if len(found) > 1:
            raise Refusal("Several of your teams have a brand by that name; rename one first.")
        workspace = found[0] if found else None
    else:
        workspace = await workspace_for_chat(session, incoming.chat_ref)
        if workspace is None:
            workspace = await _only_owned(session, incoming.user_ref)
    if workspace is None:
        raise Forbidden(
            f"You own no brand called “{brand[:60]}”. /brands in the team's chat lists them."
            if brand
            else f"Only an owner can {doing}, and you own no workspace (/start in a chat "
            "makes one)."
        )
    member = await session.scalar(
        select(Member).where(
            Member.workspace_id == workspace.id, Member.user_ref == incoming.user_ref
        )
    )
    if member is None or member.role != Role.OWNER:
        raise Forbidden(f"Only an owner of “{workspace.name}” can {doing}.")
    return PrivateOwner(workspace, member)


async def _only_owned(session: AsyncSession, user_ref: str) -> Workspace | None:
    query = (
        select(Workspace)
        .join(Member, Member.workspace_id == Workspace.id)
        .where(Member.user_ref == user_ref, Member.role == Role.OWNER)
        .order_by(Workspace.id)
    )
    owned = list((await session.scalars(query)).all())
    if len(owned) > 1:
        names = ", ".join(f"“{w.name}”" for w in owned)
        raise Refusal(
            f"You own several brands ({names}); say which one: end the command with "
            "brand: <brand name>."
        )
    return owned[0] if owned else None
