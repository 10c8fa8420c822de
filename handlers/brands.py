"""`/brands`, `/brand new|use|rename`: several brands in one team, one brand per chat."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.actor import Actor, Refusal
from handlers.app import App
from handlers.port import Incoming, Reply
from services.brands import (
    BrandError,
    bind_chat,
    busy_drafts,
    clean_name,
    create_brand,
    find_brand,
    owned_brands,
    team_brands,
)
from services.models import Member, Role, Workspace
from services.workspaces import at_least, audit

SUBCOMMANDS = ("new", "use", "rename", "list")
USAGE = (
    "/brands lists this team's brands; /brand new <name> makes one (owners); "
    "/brand use <name> switches this chat to another brand; /brand rename <name>."
)


def is_brand_subcommand(args: str) -> bool:
    """Whether `/brand <args>` is about brands rather than the brand voice."""
    return (args.split(maxsplit=1) or [""])[0] in SUBCOMMANDS


async def brands_command(app: App, actor: Actor, args: str, chat_ref: str) -> Reply:
    """`/brand new|use|rename|list …` and `/brands`."""
    verb, _, rest = args.strip().partition(" ")
    try:
        match verb:
            case "" | "list":
                return await _list(app, actor)
            case "new":
                return await _new(app, actor, rest)
            case "use":
                return await _use(app, actor, rest, chat_ref)
            case "rename":
                return await _rename(app, actor, rest)
    except BrandError as exc:
        raise Refusal(str(exc)) from None
    raise Refusal(USAGE)


async def _list(app: App, actor: Actor) -> Reply:
    async with app.sessions() as session:
        brands = await team_brands(session, actor.workspace.team)
    lines = [
        f"• {b.name}" + (" ← this chat" if b.id == actor.workspace.id else "") for b in brands
    ]
    return Reply("This team's brands:\n" + "\n".join(lines) + "\n\n" + USAGE)


async def _new(app: App, actor: Actor, name: str) -> Reply:
    if actor.role != Role.OWNER:
        raise Refusal("Only owners can make a brand.")
    async with app.sessions.begin() as session:
        source = await session.get(Workspace, actor.workspace.id)
        assert source is not None
        brand, members = await create_brand(session, source, name)
        await audit(session, source.id, actor.member.id, "brand.create", f"workspace:{brand.id}")
        await audit(session, brand.id, None, "brand.create", f"workspace:{brand.id}")
    return Reply(
        f"Made the brand “{brand.name}” with this brand's {len(members)} members and their "
        f"roles. It starts with no brand voice, accounts, budget, templates or campaigns. "
        f"/brand use {brand.name} switches a chat to it."
    )


async def _use(app: App, actor: Actor, name: str, chat_ref: str) -> Reply:
    if not at_least(actor.role, Role.APPROVER):
        raise Refusal("Only approvers and owners can switch this chat to another brand.")
    async with app.sessions.begin() as session:
        brand = await find_brand(session, actor.workspace.team, name)
        if brand is None:
            names = ", ".join(b.name for b in await team_brands(session, actor.workspace.team))
            raise Refusal(f"This team has no brand “{clean_name(name)}”. Brands: {names}.")
        if brand.id == actor.workspace.id:
            return Reply(f"This chat already works on “{brand.name}”.")
        return await _switch(session, actor.member.user_ref, chat_ref, actor.workspace, brand)


async def use_unbound(app: App, incoming: Incoming, name: str) -> Reply:
    """`/brand use <name>` in a chat that is not set up: bind it to one of the brands this
    person owns (a new channel for an existing brand)."""
    try:
        async with app.sessions.begin() as session:
            found = await owned_brands(session, incoming.user_ref, name)
            if not found:
                raise Refusal(
                    f"You own no brand called “{clean_name(name)}”. Send /start to make this "
                    "chat a workspace of its own, or ask an owner of the brand."
                )
            if len(found) > 1:
                raise Refusal("Several of your teams have a brand by that name; rename one.")
            return await _switch(session, incoming.user_ref, incoming.chat_ref, None, found[0])
    except BrandError as exc:
        raise Refusal(str(exc)) from None


async def _switch(
    session: AsyncSession,
    user_ref: str,
    chat_ref: str,
    current: Workspace | None,
    brand: Workspace,
) -> Reply:
    member = await session.scalar(
        select(Member).where(Member.workspace_id == brand.id, Member.user_ref == user_ref)
    )
    if member is None or not at_least(member.role, Role.APPROVER):
        raise Refusal(
            f"You need to be an approver or owner of “{brand.name}” to bring it into this chat."
        )
    if current is not None:
        busy = await busy_drafts(session, current.id, chat_ref)
        if busy:
            listed = ", ".join(f"#{d}" for d in busy)
            raise Refusal(
                f"Drafts {listed} of “{current.name}” are being made or published from this "
                "chat; switch when they are done (see /drafts)."
            )
    await bind_chat(session, chat_ref, brand)
    await audit(session, brand.id, member.id, "brand.use", chat_ref)
    if current is not None:
        await audit(session, current.id, None, "brand.leave", chat_ref, to=brand.id)
    return Reply(
        f"This chat now works on “{brand.name}”: drafts, accounts, templates, campaigns and "
        "figures here are that brand's."
    )


async def _rename(app: App, actor: Actor, name: str) -> Reply:
    if actor.role != Role.OWNER:
        raise Refusal("Only owners can rename a brand.")
    async with app.sessions.begin() as session:
        name = clean_name(name)
        taken = await find_brand(session, actor.workspace.team, name)
        if taken is not None and taken.id != actor.workspace.id:
            raise Refusal(f"This team already has a brand called “{taken.name}”.")
        brand = await session.get(Workspace, actor.workspace.id)
        assert brand is not None
        before, brand.name = brand.name, name
        await audit(session, brand.id, actor.member.id, "brand.rename", before, after=name)
    return Reply(f"This brand is now called “{name}”.")
