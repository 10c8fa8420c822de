"""Workspace settings from the chat: /brand, /voice, /budget, /value; and the budget check."""

from __future__ import annotations

import re

from handlers.actor import Actor, Refusal
from handlers.app import App
from handlers.port import Reply
from services.content import Brand
from services.models import Role, Workspace, utcnow
from services.roi import Values
from services.usage import spent_this_month
from services.workspaces import at_least, audit

BRAND_USAGE = (
    "Use /brand tone: warm and witty; audience: busy parents; avoid: cheap, discount; "
    "cta: Book a table today — any of the four, separated by semicolons. /brand clear resets."
)
_BRAND_KEYS = {
    "tone": "tone",
    "audience": "audience",
    "avoid": "avoid",
    "words to avoid": "avoid",
    "cta": "call_to_action",
    "call to action": "call_to_action",
}
_FIELD_LIMIT = 200
_VOICE_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")


def brand_of(workspace: Workspace) -> Brand:
    """The workspace's brand voice as the writer takes it."""
    data = workspace.brand or {}
    return Brand(
        tone=data.get("tone"),
        audience=data.get("audience"),
        avoid=tuple(data.get("avoid", ())),
        call_to_action=data.get("call_to_action"),
    )


def describe_brand(brand: Brand) -> str:
    """The brand voice as a few lines of text."""
    if brand.is_empty():
        return "No brand voice set. " + BRAND_USAGE
    lines = ["Brand voice:"]
    lines += [f"• tone: {brand.tone}"] if brand.tone else []
    lines += [f"• audience: {brand.audience}"] if brand.audience else []
    lines += [f"• avoid: {', '.join(brand.avoid)}"] if brand.avoid else []
    lines += [f"• call to action: {brand.call_to_action}"] if brand.call_to_action else []
    return "\n".join(lines)


def parse_brand(text: str) -> dict[str, object]:
    """`tone: x; avoid: a, b` → fields to set; raises Refusal with the usage otherwise."""
    fields: dict[str, object] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, sep, value = part.partition(":")
        name = _BRAND_KEYS.get(key.strip().lower())
        value = " ".join(value.split())
        if not sep or name is None:
            raise Refusal(f"I don't understand “{part[:60]}”. {BRAND_USAGE}")
        if len(value) > _FIELD_LIMIT:
            raise Refusal(
                f"{key.strip()} is {len(value)} characters; keep it under {_FIELD_LIMIT}."
            )
        if name == "avoid":
            fields[name] = [w.strip() for w in value.split(",") if w.strip()][:30]
        else:
            fields[name] = value or None
    if not fields:
        raise Refusal(BRAND_USAGE)
    return fields


async def brand_command(app: App, actor: Actor, args: str) -> Reply:
    """`/brand` shows the brand voice; `/brand <fields>` or `/brand clear` changes it."""
    if not args.strip():
        return Reply(describe_brand(brand_of(actor.workspace)))
    if not at_least(actor.role, Role.APPROVER):
        raise Refusal("Only approvers and owners can change the brand voice.")
    clear = args.strip().lower() == "clear"
    changes = {} if clear else parse_brand(args)
    async with app.sessions.begin() as session:
        workspace = await session.get(Workspace, actor.workspace.id)
        assert workspace is not None
        workspace.brand = {} if clear else {**(workspace.brand or {}), **changes}
        await audit(session, workspace.id, actor.member.id, "workspace.brand", "brand", **changes)
    return Reply("Brand voice saved.\n" + describe_brand(brand_of(workspace)))


async def voice_command(app: App, actor: Actor, args: str) -> Reply:
    """`/voice` shows the workspace's voice; `/voice <id>` or `/voice default` sets it."""
    choice = args.strip()
    if not choice:
        current = actor.workspace.voice_id or "the default voice"
        return Reply(
            f"Voice: {current} ({app.voice_name}). Set one with /voice <voice id> "
            "(ElevenLabs voice ids are in your voice library), or /voice default."
        )
    if not at_least(actor.role, Role.APPROVER):
        raise Refusal("Only approvers and owners can change the voice.")
    if choice.lower() != "default" and not _VOICE_ID.fullmatch(choice):
        raise Refusal(
            "A voice id is letters, digits, - and _ (up to 100), e.g. /voice 21m00Tcm4TlvDq8ikWAM."
        )
    voice_id = None if choice.lower() == "default" else choice
    async with app.sessions.begin() as session:
        workspace = await session.get(Workspace, actor.workspace.id)
        assert workspace is not None
        workspace.voice_id = voice_id
        await audit(session, workspace.id, actor.member.id, "workspace.voice", str(voice_id))
    return Reply(f"Voice set to {voice_id or 'the default voice'}; new versions will use it.")


async def budget_command(app: App, actor: Actor, args: str) -> Reply:
    """`/budget` shows this month's spend; `/budget <usd>` or `/budget off` sets the limit."""
    async with app.sessions() as session:
        spent = await spent_this_month(session, actor.workspace.id, now=utcnow())
    choice = args.strip().lower().removeprefix("$")
    if not choice:
        limit = actor.workspace.monthly_budget_usd
        of = f" of the ${limit:.2f} monthly budget" if limit is not None else " (no budget set)"
        return Reply(f"Spent this month: ${spent:.2f}{of}. Owners set one with /budget <usd>.")
    if actor.role != Role.OWNER:
        raise Refusal("Only an owner can set the budget.")
    if choice == "off":
        limit_value = None
    else:
        try:
            limit_value = round(float(choice), 2)
        except ValueError:
            raise Refusal("Use /budget <usd>, e.g. /budget 25, or /budget off.") from None
        if not 0 <= limit_value <= 1_000_000:
            raise Refusal("A budget is between $0 and $1,000,000 a month.")
    async with app.sessions.begin() as session:
        workspace = await session.get(Workspace, actor.workspace.id)
        assert workspace is not None
        workspace.monthly_budget_usd = limit_value
        await audit(session, workspace.id, actor.member.id, "workspace.budget", str(limit_value))
    if limit_value is None:
        return Reply(f"Budget removed. Spent this month: ${spent:.2f}.")
    return Reply(f"Monthly budget set to ${limit_value:.2f}. Spent this month: ${spent:.2f}.")


async def check_budget(app: App, workspace: Workspace, duration_s: int) -> None:
    """Refuse, with the figures, a version that would take the workspace over its budget."""
    limit = workspace.monthly_budget_usd
    if limit is None:
        return
    estimate = app.prices.estimate_draft(duration_s)
    async with app.sessions() as session:
        spent = await spent_this_month(session, workspace.id, now=utcnow())
    if spent + estimate > limit:
        raise Refusal(
            f"This would cost about ${estimate:.2f}, and the workspace has spent ${spent:.2f} "
            f"of its ${limit:.2f} monthly budget. An owner can raise it with /budget <usd>."
        )


VALUE_USAGE = (
    "Use /value view <usd> and /value click <usd> to say what one view and one click "
    "(a like, comment or share) are worth, e.g. /value view 0.002; /value view off or "
    "/value click off unsets one, /value off both."
)
_VALUE_FIELDS = {"view": "value_per_view_usd", "click": "value_per_click_usd"}
MAX_VALUE_USD = 1000.0


def parse_value(args: str) -> dict[str, float | None]:
    """`view 0.002` / `click $0.05` / `view off` / `off` → the workspace fields to set."""
    words = args.lower().split()
    if words == ["off"]:
        return dict.fromkeys(_VALUE_FIELDS.values())
    if len(words) != 2 or words[0] not in _VALUE_FIELDS:
        raise Refusal(VALUE_USAGE)
    field, raw = _VALUE_FIELDS[words[0]], words[1].removeprefix("$")
    if raw == "off":
        return {field: None}
    try:
        amount = float(raw)
    except ValueError:
        raise Refusal(f"“{words[1][:20]}” is not an amount in USD. {VALUE_USAGE}") from None
    if not 0 <= amount <= MAX_VALUE_USD:  # also refuses nan and inf
        raise Refusal(f"A value is between $0 and ${MAX_VALUE_USD:,.0f}. {VALUE_USAGE}")
    return {field: amount}


async def value_command(app: App, actor: Actor, args: str) -> Reply:
    """`/value` shows what a view and a click are worth (for ROI); owners change it."""
    if not args.strip():
        values = Values(actor.workspace.value_per_view_usd, actor.workspace.value_per_click_usd)
        return Reply(f"Value for ROI: {values.describe()}. {VALUE_USAGE} (owners)")
    if actor.role != Role.OWNER:
        raise Refusal("Only an owner can set what views and clicks are worth.")
    changes = parse_value(args)
    async with app.sessions.begin() as session:
        workspace = await session.get(Workspace, actor.workspace.id)
        assert workspace is not None
        for name, amount in changes.items():
            setattr(workspace, name, amount)
        values = Values(workspace.value_per_view_usd, workspace.value_per_click_usd)
        await audit(
            session, workspace.id, actor.member.id, "workspace.value", "value", **changes
        )
    return Reply(
        f"Value for ROI: {values.describe()}. /stats and digests weigh the spend against it."
    )
