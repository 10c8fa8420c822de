"""`/ideas [n]`: topic ideas from the team's best posts, each with a "Draft this" button."""

from __future__ import annotations

import structlog

from handlers.actor import Actor, Refusal
from handlers.app import App
from handlers.buttons import Verb, encode
from handlers.drafts import request_draft
from handlers.parsing import DEFAULT_DURATION_S, DEFAULT_PLATFORMS, DEFAULT_TONE
from handlers.port import Button, Reply
from handlers.workspace_cmds import brand_of
from services.content import Brief, Platform
from services.idea_writing import MAX_IDEAS, Idea, IdeaBasis, offline_ideas
from services.ideas import IDEA_TTL, IdeaStore, load_basis
from services.models import Role, utcnow
from services.usage import UsageLog, spent_this_month, usage_records
from services.workspaces import at_least
from services.writer import WriterError

log = structlog.get_logger(__name__)

DEFAULT_IDEAS = 5
USAGE = f"Use /ideas or /ideas <1 to {MAX_IDEAS}>, e.g. /ideas 3."


def parse_count(args: str) -> int:
    """How many ideas `/ideas <n>` asks for (default 5); raises Refusal with the usage."""
    words = args.split()
    if not words:
        return DEFAULT_IDEAS
    if len(words) > 1 or not words[0].isdigit() or not 1 <= int(words[0]) <= MAX_IDEAS:
        raise Refusal(USAGE)
    return int(words[0])


async def ideas_command(app: App, actor: Actor, args: str) -> Reply:
    """Suggest `n` topics from the workspace's figures and brand voice, each ready to draft."""
    if not at_least(actor.role, Role.CREATOR):
        raise Refusal(
            "Viewers can't ask for ideas (they become drafts). Ask an owner for the creator role."
        )
    count = parse_count(args)
    workspace = actor.workspace
    async with app.sessions() as session:
        basis = await load_basis(
            session,
            workspace.id,
            brand=brand_of(workspace),
            timezone=workspace.timezone,
            now=utcnow(),
        )
    ideas, note = await _write(app, actor, basis, count)
    store = IdeaStore(app.queue)
    lines = [_heading(basis, len(ideas))]
    buttons = []
    for number, idea in enumerate(ideas, 1):
        idea_id = await store.save(workspace.id, idea)
        lines += [f"{number}. {idea.topic}", f"   {idea.why}"]
        buttons.append(Button(f"Draft this ({number})", encode(Verb.DRAFT_IDEA, idea_id)))
    if note:
        lines.append(note)
    hours = round(IDEA_TTL.total_seconds() / 3600)
    lines.append(f"Press “Draft this (n)” to make idea n a draft; the buttons work for {hours} h.")
    return Reply("\n".join(lines), buttons=tuple(buttons))


async def _write(
    app: App, actor: Actor, basis: IdeaBasis, count: int
) -> tuple[tuple[Idea, ...], str]:
    """The writer's ideas, or the offline ones (with why) when the model can't or mustn't."""
    if app.writer.name == "offline":
        return offline_ideas(basis, count), ""
    limit = actor.workspace.monthly_budget_usd
    if limit is not None:
        async with app.sessions() as session:
            spent = await spent_this_month(session, actor.workspace.id, now=utcnow())
        if spent >= limit:
            return offline_ideas(basis, count), (
                f"(Written without the model: ${spent:.2f} of the ${limit:.2f} monthly budget "
                "is spent.)"
            )
    usage = UsageLog()
    try:
        return await app.writer.ideas(basis, count=count, usage=usage), ""
    except WriterError as exc:
        log.warning("ideas.model_failed", workspace_id=actor.workspace.id, error=str(exc))
        return offline_ideas(basis, count), f"(Written without the model, which failed: {exc})"
    finally:
        async with app.sessions.begin() as session:
            session.add_all(usage_records(actor.workspace.id, None, usage))


def _heading(basis: IdeaBasis, count: int) -> str:
    ideas = f"{count} idea{'s' if count != 1 else ''}"
    if basis.has_figures:
        voice = "" if basis.brand.is_empty() else " and your brand voice"
        return (
            f"💡 {ideas} from your best posts ({basis.posts} of the last {basis.lookback_days} "
            f"days that have been out a week, by their views then){voice}:"
        )
    younger = (
        f" ({basis.younger} post{'s are' if basis.younger != 1 else ' is'} younger)"
        if basis.younger
        else ""
    )
    return (
        f"💡 {ideas} from your brand voice, not based on figures yet: no post has been out a "
        f"week with figures{younger}. Once some have, /ideas builds on the best of them."
    )


async def draft_idea(app: App, actor: Actor, chat_ref: str, idea_id: int) -> Reply:
    """A "Draft this" press: the stored idea becomes a draft request, like /draft would make."""
    if not at_least(actor.role, Role.CREATOR):
        raise Refusal("Viewers can't request drafts. Ask an owner for the creator role.")
    store = IdeaStore(app.queue)
    idea = await store.get(actor.workspace.id, idea_id)
    if idea is None:
        hours = round(IDEA_TTL.total_seconds() / 3600)
        raise Refusal(
            f"That idea is gone: ideas keep for {hours} hours (or the button isn't one of this "
            "workspace's). Send /ideas for fresh ones."
        )
    if not await store.claim(actor.workspace.id, idea_id):
        raise Refusal(f"“{idea.topic}” has already been drafted; see /drafts.")
    platforms = tuple(Platform(p) for p in idea.platforms) or DEFAULT_PLATFORMS
    brief = Brief(
        topic=idea.topic,
        platforms=platforms,
        duration_s=idea.duration_s or DEFAULT_DURATION_S,
        tone=idea.tone or DEFAULT_TONE,
    )
    try:
        return await request_draft(
            app, actor, chat_ref, f"Idea from /ideas: {idea.topic}", brief=brief
        )
    except BaseException:
        await store.release(actor.workspace.id, idea_id)  # refused (budget, rate): try later
        raise
