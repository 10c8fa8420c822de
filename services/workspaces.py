"""Workspaces, their chats and members, roles, and the audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.db import get_or_create
from services.models import AuditEntry, ChatBinding, Member, Role, Workspace

RANK = {Role.VIEWER: 0, Role.CREATOR: 1, Role.APPROVER: 2, Role.OWNER: 3}


def at_least(role: str, minimum: Role) -> bool:
    """Whether `role` includes everything `minimum` may do."""
    return RANK[Role(role)] >= RANK[minimum]


async def workspace_for_chat(session: AsyncSession, chat_ref: str) -> Workspace | None:
    """The workspace a chat is bound to, if any."""
    return (
        await session.execute(
            select(Workspace).join(ChatBinding).where(ChatBinding.chat_ref == chat_ref)
        )
    ).scalar_one_or_none()


async def create_workspace(
    session: AsyncSession, *, chat_ref: str, name: str, owner_ref: str, owner_name: str
) -> tuple[Workspace, Member] | None:
    """Create a workspace bound to this chat with its first owner; None if the chat is taken."""
    try:
        async with session.begin_nested():
            workspace = Workspace(name=name)
            session.add(workspace)
            await session.flush()
            session.add(ChatBinding(workspace_id=workspace.id, chat_ref=chat_ref))
            owner = Member(
                workspace_id=workspace.id,
                user_ref=owner_ref,
                display_name=owner_name,
                role=Role.OWNER,
            )
            session.add(owner)
            await session.flush()
    except IntegrityError:
        return None
    await audit(session, workspace.id, owner.id, "workspace.create", chat_ref)
    return workspace, owner


async def member_for(
    session: AsyncSession, workspace: Workspace, *, user_ref: str, user_name: str
) -> Member:
    """The member behind a chat user, joining them with the workspace's default role."""
    query = select(Member).where(Member.workspace_id == workspace.id, Member.user_ref == user_ref)
    member = await get_or_create(
        session,
        query,
        lambda: Member(
            workspace_id=workspace.id,
            user_ref=user_ref,
            display_name=user_name or user_ref,
            role=workspace.default_role,
        ),
    )
    if user_name and member.display_name != user_name:
        member.display_name = user_name
    return member


async def find_member(session: AsyncSession, workspace_id: int, handle: str) -> Member | None:
    """A member by `@name`, display name or user id, case-insensitively."""
    name = handle.strip().removeprefix("@").lower()
    if not name:
        return None
    members = (
        await session.execute(select(Member).where(Member.workspace_id == workspace_id))
    ).scalars()
    for member in members:
        user_id = member.user_ref.split(":", 1)[-1].lower()
        if name in (member.display_name.lower(), user_id, member.user_ref.lower()):
            return member
    return None


async def count_owners(session: AsyncSession, workspace_id: int) -> int:
    """How many people own a workspace (the last one cannot be demoted; API keys' member
    rows, user_ref "api:<id>", are not people)."""
    query = select(func.count()).where(
        Member.workspace_id == workspace_id,
        Member.role == Role.OWNER,
        Member.user_ref.not_like("api:%"),
    )
    return int((await session.execute(query)).scalar_one())


async def audit(
    session: AsyncSession,
    workspace_id: int,
    member_id: int | None,
    action: str,
    target: str,
    **detail: Any,
) -> None:
    """Record who did what, in the caller's transaction."""
    session.add(
        AuditEntry(
            workspace_id=workspace_id,
            member_id=member_id,
            action=action,
            target=target,
            detail=detail,
        )
    )
