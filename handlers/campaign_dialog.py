"""`/campaign new` alone: the campaign's settings asked one question at a time.

Name, cadence, template, platforms, topics, auto-publish. Each answer is read by the same
parsers as the one-line form (services.cadence, services.campaign_spec, services.templates) and
kept as that form's text, so the last answer builds the one line and hands it to
`handlers.campaigns.campaign_command`: the campaign is checked, made and confirmed exactly as
if the line had been typed. The answers so far live in Redis per chat and member, and expire
when the dialog is left alone; `/cancel` ends it.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from enum import StrEnum

from handlers.actor import Actor, Refusal
from handlers.app import App
from handlers.campaigns import campaign_command, require_manager
from handlers.port import Incoming, Reply
from services.cadence import CadenceError, parse_cadence
from services.campaign_spec import (
    EXAMPLE,
    CampaignSpec,
    SpecError,
    TopicSource,
    check_name,
    parse_spec,
)
from services.campaigns import find_campaign
from services.content import Platform
from services.models import CampaignState
from services.templates import TemplateError, find_template, list_templates
from services.templates import check_name as check_template_name

TTL = timedelta(minutes=15)  # since the last answer; a dialog left alone is forgotten
STOPPED = "Stopped; nothing was made."
_OPENING_QUOTES = "\"'“«„"
_CLOSING_QUOTES = "\"'”»“"
_FEED = re.compile(r"feed\b\s*:?\s*(.*)", re.IGNORECASE | re.DOTALL)


class Step(StrEnum):
    """The questions, in the order they are asked."""

    NAME = "name"
    CADENCE = "cadence"
    TEMPLATE = "template"
    PLATFORMS = "platforms"
    TOPICS = "topics"
    AUTO = "auto"


STEPS = tuple(Step)


def opens_dialog(args: str) -> bool:
    """Whether `/campaign <args>` is `/campaign new` with nothing after it."""
    verb, _, rest = args.strip().partition(" ")
    return verb.lower() == "new" and not rest.strip()


async def start_dialog(app: App, actor: Actor, chat_ref: str) -> Reply:
    """Open (or start over) the member's dialog in this chat and ask the first question."""
    require_manager(actor)
    await _save(app, _key(chat_ref, actor), Step.NAME, {})
    first = await _question(app, actor, Step.NAME, {})
    return Reply(
        "📅 A new campaign in six questions; answer each in a message of its own (in a group, "
        f"as a reply to mine). One line works too, e.g. {EXAMPLE}\n{first}"
    )


async def cancel_dialog(app: App, actor: Actor, chat_ref: str) -> Reply:
    """`/cancel`: end the member's open dialog in this chat, if any."""
    if await app.queue.delete(_key(chat_ref, actor)):
        return Reply(STOPPED)
    return Reply("There is nothing to stop: no questions of mine are waiting for you here.")


async def answer_dialog(app: App, actor: Actor, incoming: Incoming) -> Reply | None:
    """Take a plain message as the answer to the member's open dialog; None if none is open."""
    key = _key(incoming.chat_ref, actor)
    state = await _load(app, key)
    if state is None:
        return None
    step, parts = state
    try:
        parts[step], noted = await _check(app, actor, step, incoming.text)
    except (SpecError, CadenceError, TemplateError) as exc:
        await _save(app, key, step, parts)  # an answer, even a wrong one, keeps it open
        return Reply(f"⚠️ {exc}\n{await _question(app, actor, step, parts)}")
    if step is STEPS[-1]:
        return await _finish(app, actor, incoming.chat_ref, key, parts)
    following = STEPS[STEPS.index(step) + 1]
    await _save(app, key, following, parts)
    return Reply(f"✓ {noted}\n{await _question(app, actor, following, parts)}")


def spec_line(parts: dict[str, str]) -> str:
    """The answers as the one-line form's text after `/campaign new` (topics before auto)."""
    return " ".join(
        text for text in (f'"{parts[Step.NAME]}"', *(parts[step] for step in STEPS[1:])) if text
    )


async def _finish(app: App, actor: Actor, chat_ref: str, key: str, parts: dict[str, str]) -> Reply:
    line = spec_line(parts)
    try:
        require_manager(actor)  # again: the member's role may have changed since the start
    except Refusal:
        await app.queue.delete(key)
        raise
    try:
        made = await campaign_command(app, actor, f"new {line}", chat_ref)
    except Refusal as exc:
        await app.queue.delete(key)
        raise Refusal(
            f"{exc}\nNothing was made. To try again, change and send: /campaign new {line}"
        ) from None
    # Only once the campaign is made: after an outage the last answer can simply be sent again.
    await app.queue.delete(key)
    return made


async def _question(app: App, actor: Actor, step: Step, parts: dict[str, str]) -> str:
    number = f"({STEPS.index(step) + 1}/{len(STEPS)})"
    name = parts.get(Step.NAME, "")
    match step:
        case Step.NAME:
            asked = (
                "What is the campaign called? A short name (e.g. Monday tips), "
                "up to 60 characters, without quotes or < >."
            )
        case Step.CADENCE:
            asked = (
                f"When should “{name}” make a draft? e.g. every mon,thu 9:00, every day 18:30 "
                "or every weekday 8:00 (several times: every weekend 10:00,16:00), "
                f"in this workspace's time zone, {actor.workspace.timezone}."
            )
        case Step.TEMPLATE:
            async with app.sessions() as session:
                names = [t.name for t in await list_templates(session, actor.workspace.id)]
            have = (
                f"A template's name (here: {', '.join(names)}; /templates shows them)"
                if names
                else "A template's name (there are none yet: /template save makes one)"
            )
            asked = f"Which format should its drafts follow? {have}, or none."
        case Step.PLATFORMS:
            valid = ", ".join(p.value for p in Platform)
            asked = (
                f"Where should they be published? e.g. tiktok, youtube (any of {valid}, "
                "or all), or default (the template's or the usual ones)."
            )
        case Step.TOPICS:
            asked = (
                "Where do the topics come from? A list separated by ; (e.g. grinder care; "
                "milk foam; latte art, used in order), feed <RSS or Atom URL> (the newest "
                "entry each time), or ideas (the writer suggests them)."
            )
        case Step.AUTO:
            asked = (
                "Publish without an approval? no (nothing is published until someone approves), "
                "or a delay like 2h, 90m or 1d (a draft nobody rejects within that time of its "
                "preview is published)."
            )
    return f"{number} {asked} /cancel stops."


async def _check(app: App, actor: Actor, step: Step, answer: str) -> tuple[str, str]:
    """The answer as the one-line form's text for `step`, and a short note of what was read."""
    said = answer.strip()
    if not said:
        raise SpecError("I need the answer in words.")
    if step is Step.NAME:
        if len(said) > 1 and said[0] in _OPENING_QUOTES and said[-1] in _CLOSING_QUOTES:
            said = said[1:-1]
        name = check_name(said)
        async with app.sessions() as session:
            existing = await find_campaign(session, actor.workspace.id, name)
        if existing is not None and existing.state != CampaignState.STOPPED:
            raise SpecError(f"There is already a campaign called “{existing.name}”.")
        return name, f"“{name}”"
    if step is Step.CADENCE:
        plain = " ".join(said.split())
        cadence = parse_cadence(plain if plain.lower().startswith("every") else f"every {plain}")
        return cadence.describe(), f"{cadence.describe()} ({actor.workspace.timezone})"
    if step is Step.TEMPLATE:
        wanted = re.sub(r"^template\s*:\s*", "", said, flags=re.IGNORECASE)
        if wanted.lower() in ("none", "no", "off"):
            return "", "no template"
        template = check_template_name(wanted)
        async with app.sessions() as session:
            if await find_template(session, actor.workspace.id, template) is None:
                raise TemplateError(f"There is no template “{template}”.")
        return f"template:{template}", f"template {template}"
    if step is Step.PLATFORMS:
        wanted = re.sub(r"^platforms\s*:\s*", "", said, flags=re.IGNORECASE)
        platforms = _only(parse_spec(f"platforms: {wanted}"), "platforms").platforms
        if not platforms:
            return "", "default platforms"
        listed = ", ".join(p.value for p in platforms)
        return f"platforms: {listed}", listed
    if step is Step.TOPICS:
        return _topics(said)
    delay = re.sub(r"^auto\s*:?\s*", "", said, flags=re.IGNORECASE)
    seconds = _only(parse_spec(f"auto {delay}"), "auto").auto_publish_after_s
    if seconds is None:
        return "", "nothing publishes without approval"
    span = f"{seconds // 3600}h" if seconds % 3600 == 0 else f"{seconds // 60}m"
    return f"auto {span}", f"auto-publish after {span}"


def _topics(said: str) -> tuple[str, str]:
    if said.lower().rstrip(".") == "ideas":
        fragment = "ideas"
    elif (feed := _FEED.match(said)) is not None and ";" not in said:
        fragment = f"feed: {feed[1]}"
    else:
        fragment = "topics: " + re.sub(r"^topics\s*:\s*", "", said, flags=re.IGNORECASE)
    spec = _only(parse_spec(fragment), "source")
    if spec.source is TopicSource.IDEAS:
        return "ideas", "ideas from the writer"
    if spec.source is TopicSource.FEED:
        return f"feed: {spec.feed_url}", f"the feed {spec.feed_url}"
    count = len(spec.topics)
    return "topics: " + "; ".join(spec.topics), f"{count} topic{'s' if count != 1 else ''}"


def _only(spec: CampaignSpec, field: str) -> CampaignSpec:
    """`spec`, if the answer set nothing but the setting asked for."""
    if spec.given != {field}:
        raise SpecError("Answer just this question; the other settings come next.")
    return spec


def _key(chat_ref: str, actor: Actor) -> str:
    return f"socialbot:dialog:campaign:{chat_ref}:{actor.member.id}"


async def _save(app: App, key: str, step: Step, parts: dict[str, str]) -> None:
    await app.queue.set(key, json.dumps({"step": step.value, "parts": parts}), px=TTL)


async def _load(app: App, key: str) -> tuple[Step, dict[str, str]] | None:
    raw = await app.queue.get(key)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        step = Step(data["step"])
        parts = {Step(k).value: str(v) for k, v in data["parts"].items()}
        if not all(earlier in parts for earlier in STEPS[: STEPS.index(step)]):
            raise ValueError("an answer is missing")
    except (ValueError, KeyError, TypeError, AttributeError):
        await app.queue.delete(key)  # unreadable (an older format): forget it
        return None
    return step, parts
