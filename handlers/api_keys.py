"""`/apikey new <name> [role]`, `/apikeys`, `/apikey revoke <name>`: keys for the HTTP API.

Owners only, and only in a private chat with the bot, so that a key is never shown to a
group. A private chat is usually not a workspace of its own: the key is for the brand the
chat is bound to if it is, else for the one brand the owner owns, else for the brand named
with `brand: <name>`. A key is shown once; only its hash is kept.
"""

from __future__ import annotations

import re

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.actor import Forbidden, Refusal
from handlers.app import App
from handlers.port import Incoming, Reply
from handlers.private import PrivateOwner, private_owner, split_brand
from services.api_tokens import active_key, active_keys, create_key, revoke_key
from services.models import Role
from services.web_models import ApiKey
from services.workspaces import RANK, audit

USAGE = (
    "Use /apikey new <name> [owner|approver|creator|viewer] to make a key (default role: "
    "creator), /apikeys to list them, /apikey revoke <name> to stop one. With several brands, "
    "end with brand: <brand name>."
)
PRIVATE_ONLY = (
    "API keys are made and managed only in a private chat with me, so that a key is never "
    "shown to a group: open a direct chat with me and send the command there."
)
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")


async def api_keys_command(app: App, incoming: Incoming, name: str, args: str) -> Reply:
    """`/apikey …` and `/apikeys`: make, list or revoke the HTTP API's keys."""
    if not incoming.private:
        raise Refusal(PRIVATE_ONLY)
    args, brand = split_brand(args)
    verb, _, rest = args.strip().partition(" ")
    verb = "list" if name == "apikeys" else verb.lower()
    async with app.sessions.begin() as session:
        owner = await private_owner(session, incoming, brand, doing="manage API keys")
        match verb:
            case "new" | "create":
                return await _new(session, owner, rest.split())
            case "" | "list":
                return await _list(session, owner)
            case "revoke" | "delete":
                return await _revoke(session, owner, rest.strip())
    raise Refusal(USAGE)


async def _new(session: AsyncSession, owner: PrivateOwner, words: list[str]) -> Reply:
    if not 1 <= len(words) <= 2:
        raise Refusal(USAGE)
    name = words[0].lower()
    if not _NAME.fullmatch(name):
        raise Refusal(
            f"“{words[0][:40]}” can't be a key's name: use lower-case letters, digits and "
            "hyphens, up to 40 (e.g. ci-bot)."
        )
    role = _role(words[1] if len(words) == 2 else Role.CREATOR.value, owner)
    if await active_key(session, owner.workspace.id, name) is not None:
        raise Refusal(
            f"“{owner.workspace.name}” already has a key called {name}; pick another name, "
            f"or /apikey revoke {name} first."
        )
    key, secret = await create_key(
        session,
        workspace_id=owner.workspace.id,
        name=name,
        role=role.value,
        created_by=owner.member.id,
    )
    await audit(
        session,
        owner.workspace.id,
        owner.member.id,
        "apikey.create",
        f"apikey:{key.id}",
        name=name,
        role=role.value,
    )
    return Reply(
        f"🔑 API key {name} for “{owner.workspace.name}”, role {role.value}:\n\n{secret}\n\n"
        "Copy it now: it is shown only this once, and I keep only a fingerprint of it. "
        "Exchange it for tokens at POST /api/v1/auth/token (see the README). Drafts it makes "
        f"come to the team's chat for approval. /apikey revoke {name} stops it."
    )


def _role(word: str, owner: PrivateOwner) -> Role:
    try:
        role = Role(word.lower())
    except ValueError:
        raise Refusal(f"“{word[:40]}” is not a role. {USAGE}") from None
    if RANK[role] > RANK[Role(owner.member.role)]:
        raise Forbidden(f"A key's role can be at most yours ({owner.member.role}).")
    return role


async def _list(session: AsyncSession, owner: PrivateOwner) -> Reply:
    keys = await active_keys(session, owner.workspace.id)
    if not keys:
        return Reply(f"“{owner.workspace.name}” has no API keys. {USAGE}")
    lines = [f"API keys of “{owner.workspace.name}”:"]
    lines += [_describe(key) for key in keys]
    lines.append("/apikey revoke <name> stops one at once.")
    return Reply("\n".join(lines))


def _describe(key: ApiKey) -> str:
    used = key.last_used_at.strftime("%d %b %Y %H:%M UTC") if key.last_used_at else "never"
    made = key.created_at.strftime("%d %b %Y")
    return f"• {key.name} ({key.prefix}…) — {key.role}, made {made}, last used {used}"


async def _revoke(session: AsyncSession, owner: PrivateOwner, name: str) -> Reply:
    if not name:
        raise Refusal(USAGE)
    key = await active_key(session, owner.workspace.id, name.lower())
    if key is None:
        raise Refusal(
            f"“{owner.workspace.name}” has no key called {name[:40]}; /apikeys lists them."
        )
    await revoke_key(session, key)
    await audit(
        session,
        owner.workspace.id,
        owner.member.id,
        "apikey.revoke",
        f"apikey:{key.id}",
        name=key.name,
    )
    return Reply(f"API key {key.name} is revoked: its tokens stop working now. What it made stays.")
