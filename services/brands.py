"""A team's brands: each is a workspace of its own; a chat works on one brand at a time.

Everything scoped to a workspace (drafts, accounts, templates, campaigns, figures, brand
voice, budget, digest channels) is therefore scoped to a brand without further filters.
"""

from __future__ import annotations

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.models import ChatBinding, Draft, DraftState, Member, Role, Workspace

MAX_NAME = 60
BUSY_STATES = (DraftState.REQUESTED, DraftState.GENERATING, DraftState.PUBLISHING)
# What a new brand takes from the one it was made from; its voice, budget and accounts start
# empty, since they are what makes a brand a brand.
COPIED_SETTINGS = ("allow_self_approval", "approvals_required", "default_role", "timezone")


class BrandError(ValueError):
    """A brand cannot be made or used; the message says why and what to do."""


def clean_name(text: str) -> str:
    """A brand name as given, trimmed; BrandError when empty or too long."""
    name = " ".join(text.split()).strip("\"'“”")
    if not name:
        raise BrandError("Give the brand a name, e.g. /brand new Northside Bakery.")
    if len(name) > MAX_NAME:
        raise BrandError(f"A brand name is at most {MAX_NAME} characters.")
    return name


async def team_brands(session: AsyncSession, team: int) -> list[Workspace]:
    """The brands of a team, oldest first."""
    query = (
        select(Workspace)
        .where(or_(Workspace.id == team, Workspace.team_id == team))
        .order_by(Workspace.id)
    )
    return list((await session.scalars(query)).all())


async def find_brand(session: AsyncSession, team: int, name: str) -> Workspace | None:
    """A team's brand by name, case-insensitively."""
    query = select(Workspace).where(
        or_(Workspace.id == team, Workspace.team_id == team),
        func.lower(Workspace.name) == clean_name(name).lower(),
    )
    return (await session.scalars(query)).first()


async def create_brand(
    session: AsyncSession, source: Workspace, name: str
) -> tuple[Workspace, list[Member]]:
    """A new brand in `source`'s team, with its members and roles and its team settings."""
    name = clean_name(name)
    taken = await find_brand(session, source.team, name)
    if taken is not None:
        raise BrandError(f"This team already has a brand called “{taken.name}”. See /brands.")
    brand = Workspace(name=name, team_id=source.team, role_map=dict(source.role_map or {}))
    for setting in COPIED_SETTINGS:
        setattr(brand, setting, getattr(source, setting))
    session.add(brand)
    await session.flush()
    members = (
        await session.scalars(select(Member).where(Member.workspace_id == source.id))
    ).all()
    copies = [
        Member(
            workspace_id=brand.id,
            user_ref=m.user_ref,
            display_name=m.display_name,
            role=m.role,
        )
        for m in members
    ]
    session.add_all(copies)
    await session.flush()
    return brand, copies


async def busy_drafts(session: AsyncSession, workspace_id: int, chat_ref: str) -> list[int]:
    """Drafts of this brand that were asked for in this chat and are being worked on now."""
    query = select(Draft.id).where(
        Draft.workspace_id == workspace_id,
        Draft.chat_ref == chat_ref,
        Draft.state.in_([s.value for s in BUSY_STATES]),
    )
    return list((await session.scalars(query.order_by(Draft.id))).all())


async def bind_chat(session: AsyncSession, chat_ref: str, brand: Workspace) -> None:
    """Make the chat work on `brand` (its binding moves; an unbound chat gets one)."""
    moved = await session.execute(
        update(ChatBinding).where(ChatBinding.chat_ref == chat_ref).values(workspace_id=brand.id)
    )
    if not moved.rowcount:  # type: ignore[attr-defined]
        session.add(ChatBinding(workspace_id=brand.id, chat_ref=chat_ref))
        await session.flush()


async def owned_brands(session: AsyncSession, user_ref: str, name: str) -> list[Workspace]:
    """Brands called `name` in any team where this chat user is an owner (for a chat that
    is not bound yet, which has no team to look in)."""
    query = (
        select(Workspace)
        .join(Member, Member.workspace_id == Workspace.id)
        .where(
            Member.user_ref == user_ref,
            Member.role == Role.OWNER,
            func.lower(Workspace.name) == clean_name(name).lower(),
        )
    )
    return list((await session.scalars(query)).all())
