"""Templates from the chat: /template save|show|delete, /templates, and requests naming one.

A request names a template as `template:weekly-tips` anywhere in it, or in a closing clause:
"…, weekly-tips template" or "… using the weekly-tips template". `request_template` finds it
(refusing, with the workspace's templates, a name it doesn't know) and `apply_to_request`
lets what the request states win over the template, field by field.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.exc import IntegrityError

from handlers.actor import Actor, Refusal
from handlers.app import App
from handlers.port import Reply
from services.caption_style import normalise_hashtag
from services.content import Brief
from services.drafts import current_version, get_draft
from services.models import MediaItem, Member, Role, Template, utcnow
from services.structure import StructureError, describe, parse_structure
from services.templates import (
    NAME_RULES,
    TemplateError,
    TemplateSpec,
    apply_template,
    check_name,
    find_template,
    list_templates,
    make_spec,
    snapshot,
    spec_from_draft,
    spec_of,
)
from services.workspaces import at_least, audit

USAGE = (
    "/template save <name> <draft number> — keep a draft's format (platforms, length, tone, "
    "script structure, caption and hashtag style, voice, music) under a name; add "
    "“; structure: hook, 3 tips, call to action”, “; caption: short, question first”, "
    "“; hashtags: #coffee #tips”, “; hashtag style: 5 hashtags”, “; voice: <id>” or "
    "“; music: <media number>” to set those.\n"
    "/templates — the list; /template show <name>; /template delete <name>\n"
    "Use one: /draft template:weekly-tips cold brew, or end a request with “…, weekly-tips "
    "template”. What the request says (platforms, length, tone, square or landscape) wins."
)
_EXPLICIT = re.compile(r"(?<![\w-])template\s?:\s*(?P<name>[^\s,;]*)", re.IGNORECASE)
_CLOSING = re.compile(
    r"(?:\s*[,;]\s*(?:(?:using|with|from|per|in)\s+)?|\s+(?:using|with|from|per)\s+)"
    r"(?:(?:the|our|my)\s+)?(?P<name>[\w-]{1,60})\s+template\s*[.!]?\s*\Z",
    re.IGNORECASE,
)
_NOT_NAMES = frozenset(("the", "our", "my", "a", "an", "this", "that", "same", "usual"))
_SAVE = re.compile(r"(?P<name>\S+)\s+#?(?P<draft>[0-9]{1,18})(?:\s*;?\s*(?P<rest>.*))?", re.S)
_VOICE_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
_SAVE_KEYS = {
    "structure": "structure",
    "sections": "structure",
    "caption": "caption_style",
    "caption style": "caption_style",
    "hashtags": "hashtags",
    "tags": "hashtags",
    "hashtag style": "hashtag_style",
    "tags style": "hashtag_style",
    "voice": "voice_id",
    "music": "music",
}


@dataclass(frozen=True)
class Chosen:
    """A template a request named: its name and spec."""

    name: str
    spec: TemplateSpec


def split_template(text: str) -> tuple[str, str | None]:
    """`text` without its template reference, and the name it gives (None if it gives none)."""
    names = [m.group("name") for m in _EXPLICIT.finditer(text)]
    if names:
        if len({n.lower() for n in names}) > 1:
            raise Refusal("That request names more than one template; name one.")
        rest = _EXPLICIT.sub(" ", text)
        rest = re.sub(r"\s*([,;])(?:\s*[,;])+", r"\1", rest)  # "cold brew, , for tiktok"
        return " ".join(rest.split()).strip(" ,;"), names[0]
    if match := _CLOSING.search(text):
        return text[: match.start()].rstrip(" ,;"), match.group("name")
    return text, None


def _unknown(raw: str, names: Sequence[str]) -> Refusal:
    shown = raw[:50] or "(no name)"
    if not names:
        return Refusal(
            f"There's no template called “{shown}”: this workspace has no templates yet. "
            "Save one from a draft with /template save <name> <draft number>."
        )
    return Refusal(
        f"There's no template called “{shown}”. Templates here: {', '.join(names)}. "
        f"Name one as template:{names[0]}, or see /templates."
    )


async def request_template(app: App, actor: Actor, raw: str) -> Chosen:
    """The template a request named; a refusal listing the workspace's templates if unknown."""
    try:
        name = None if raw.lower() in _NOT_NAMES else check_name(raw)
    except TemplateError:
        name = None
    async with app.sessions() as session:
        found = await find_template(session, actor.workspace.id, name) if name else None
        if found is None:
            names = [t.name for t in await list_templates(session, actor.workspace.id)]
    if found is None:
        raise _unknown(raw, names)
    return Chosen(found.name, spec_of(found))


def apply_to_request(
    brief: Brief, aspects: list[str], chosen: Chosen | None
) -> tuple[Brief, list[str], dict[str, Any] | None]:
    """The brief and aspect ratios with the template filling what the request left out, and
    the snapshot the draft keeps (None without a template)."""
    if chosen is None:
        return brief, aspects, None
    combined, aspects, overridden = apply_template(brief, aspects, chosen.spec)
    return combined, aspects, snapshot(chosen.name, chosen.spec, overridden)


def without_template_words(brief: Brief) -> Brief:
    """A brief a model read, its topic without a template reference it may have kept."""
    topic, named = split_template(brief.topic)
    return replace(brief, topic=topic) if named and topic else brief


def describe_use(data: dict[str, Any] | None) -> str:
    """What a draft's queued reply says about its template, if it has one."""
    if not data:
        return ""
    spec = TemplateSpec.model_validate(data["spec"])
    overridden = [str(field) for field in data.get("overridden") or ()]
    said = f"; your request set its {', '.join(overridden)}" if overridden else ""
    return f", with the {data['name']} template ({describe(spec.structure)}{said})"


# --- commands ------------------------------------------------------------------------------------


async def templates_command(app: App, actor: Actor, args: str) -> Reply:
    """`/template save|show|delete …`; `/templates` and `/template` alone list them."""
    verb, _, rest = args.strip().partition(" ")
    match verb.lower():
        case "" | "list":
            return await _list(app, actor)
        case "save":
            return await _save(app, actor, rest.strip())
        case "show":
            return await _show(app, actor, rest.strip())
        case "delete" | "remove":
            return await _delete(app, actor, rest.strip())
        case _:
            raise Refusal(USAGE)


async def _list(app: App, actor: Actor) -> Reply:
    async with app.sessions() as session:
        found = await list_templates(session, actor.workspace.id)
    if not found:
        return Reply("No templates yet.\n" + USAGE)
    lines = ["Templates:"]
    for template in found:
        spec = spec_of(template)
        lines.append(
            f"• {template.name} — {describe(spec.structure)} · {spec.duration_s} s · "
            f"{spec.tone} · {', '.join(spec.platforms)}"
        )
    lines.append("Use one: /draft template:<name> <topic>. /template show <name> for details.")
    return Reply("\n".join(lines))


def _name(raw: str, verb: str) -> str:
    if not raw:
        raise Refusal(f"Which template? Use /template {verb} <name> (see /templates).")
    try:
        return check_name(raw.split()[0])
    except TemplateError as exc:
        raise Refusal(str(exc)) from None


def _details(name: str, spec: TemplateSpec, by: str | None) -> str:
    tags = " ".join(spec.hashtags) or "none fixed"
    if spec.hashtag_style:
        tags += f" ({spec.hashtag_style})"
    lines = [
        f"Template “{name}”" + (f", saved by {by}:" if by else ":"),
        f"• platforms: {', '.join(spec.platforms)}",
        f"• length: {spec.duration_s} s · tone: {spec.tone} · "
        f"aspect ratios: {', '.join(spec.aspects)}",
        f"• structure: {describe(spec.structure)}",
        f"• caption style: {spec.caption_style or 'as the writer sees fit'}",
        f"• hashtags: {tags}",
        f"• voice: {spec.voice_id or 'the workspace voice (/voice)'}",
        f"• music: {f'media #{spec.music}' if spec.music else 'the newest audio in /media'}",
    ]
    return "\n".join(lines)


async def _show(app: App, actor: Actor, args: str) -> Reply:
    name = _name(args, "show")
    async with app.sessions() as session:
        template = await find_template(session, actor.workspace.id, name)
        if template is None:
            names = [t.name for t in await list_templates(session, actor.workspace.id)]
            raise _unknown(name, names)
        author = await session.get(Member, template.created_by) if template.created_by else None
    by = author.display_name if author else None
    return Reply(
        _details(template.name, spec_of(template), by)
        + f"\nUse it: /draft template:{template.name} <topic>"
    )


def _may_change(actor: Actor, template: Template) -> bool:
    if at_least(actor.role, Role.APPROVER):
        return True
    return at_least(actor.role, Role.CREATOR) and template.created_by == actor.member.id


async def _delete(app: App, actor: Actor, args: str) -> Reply:
    name = _name(args, "delete")
    if not at_least(actor.role, Role.CREATOR):
        raise Refusal("Viewers can't delete templates.")
    async with app.sessions.begin() as session:
        template = await find_template(session, actor.workspace.id, name)
        if template is None:
            names = [t.name for t in await list_templates(session, actor.workspace.id)]
            raise _unknown(name, names)
        if not _may_change(actor, template):
            raise Refusal(f"Only approvers, owners and whoever saved “{name}” can delete it.")
        await session.delete(template)
        await audit(
            session, actor.workspace.id, actor.member.id, "template.delete", f"template:{name}"
        )
    return Reply(f"🗑 Template “{name}” deleted. Drafts already made with it keep its format.")


async def _overrides(app: App, actor: Actor, text: str) -> dict[str, object]:
    """The fields `; key: value` parts set on a template being saved."""
    fields: dict[str, object] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, sep, value = part.partition(":")
        field = _SAVE_KEYS.get(" ".join(key.lower().split()))
        value = " ".join(value.split())
        if not sep or field is None:
            raise Refusal(
                f"I don't understand “{part[:60]}”. After the draft number you can set "
                "structure:, caption:, hashtags:, hashtag style:, voice: or music:, separated "
                "by semicolons."
            )
        try:
            fields[field] = await _override(app, actor, field, value)
        except (StructureError, ValueError) as exc:
            raise Refusal(f"{key.strip()}: {exc}") from None
    return fields


async def _override(app: App, actor: Actor, field: str, value: str) -> object:
    if field == "structure":
        return parse_structure(value)
    if field == "hashtags":
        return [normalise_hashtag(t) for t in re.split(r"[\s,]+", value) if t.strip("#")]
    if field == "voice_id":
        if value.lower() in ("", "default"):
            return None
        if not _VOICE_ID.fullmatch(value):
            raise ValueError("a voice id is letters, digits, - and _ (up to 100)")
        return value
    if field == "music":
        if value.lower() in ("", "none", "default", "newest"):
            return None
        number = value.removeprefix("#")
        if not number.isdigit() or len(number) > 18:
            raise ValueError("give the music's number from /media list, e.g. music: 7")
        async with app.sessions() as session:
            item = await session.get(MediaItem, int(number))
        if item is None or item.workspace_id != actor.workspace.id or item.kind != "audio":
            raise ValueError(f"there is no audio #{number} in the media library (/media list)")
        return int(number)
    return value or None


async def _save(app: App, actor: Actor, args: str) -> Reply:
    if not at_least(actor.role, Role.CREATOR):
        raise Refusal("Viewers can't save templates. Ask an owner for the creator role.")
    match = _SAVE.fullmatch(args)
    if match is None:
        raise Refusal(
            "Use /template save <name> <draft number>, e.g. /template save weekly-tips 3 "
            f"(names: {NAME_RULES})."
        )
    try:
        name = check_name(match.group("name"))
    except TemplateError as exc:
        raise Refusal(str(exc)) from None
    draft_id = int(match.group("draft"))
    overrides = await _overrides(app, actor, match.group("rest") or "")
    async with app.sessions.begin() as session:
        draft = await get_draft(session, actor.workspace.id, draft_id)
        if draft is None:
            raise Refusal(f"I can't find draft #{draft_id} in this workspace. See /drafts.")
        version = await current_version(session, draft)
        if version is None:
            raise Refusal(
                f"Draft #{draft_id} has no finished version yet; save it once its preview is up."
            )
        try:
            spec = spec_from_draft(draft, version, voice_id=actor.workspace.voice_id)
            spec = make_spec(**(spec.model_dump() | overrides))
        except TemplateError as exc:
            raise Refusal(f"I can't save that template: {exc}.") from None
        existing = await find_template(session, actor.workspace.id, name)
        if existing is not None and not _may_change(actor, existing):
            raise Refusal(
                f"There is already a template “{name}”, saved by someone else; only they, "
                "approvers and owners can replace it. Pick another name."
            )
        data = spec.model_dump(mode="json")
        if existing is not None:
            existing.spec = data
            existing.updated_at = utcnow()
        else:
            try:
                async with session.begin_nested():
                    session.add(
                        Template(
                            workspace_id=actor.workspace.id,
                            name=name,
                            spec=data,
                            created_by=actor.member.id,
                        )
                    )
            except IntegrityError:
                raise Refusal(
                    f"Someone saved a template “{name}” just now; try again to replace it."
                ) from None
        await audit(
            session,
            actor.workspace.id,
            actor.member.id,
            "template.save",
            f"template:{name}",
            draft=draft_id,
            version=version.number,
            replaced=existing is not None,
        )
    head = (
        f"💾 Template “{name}” replaced with the format of draft #{draft_id} "
        f"v{version.number} (saving under an existing name replaces it; drafts already made "
        "with it keep the old format)."
        if existing is not None
        else f"💾 Template “{name}” saved from draft #{draft_id} v{version.number}."
    )
    return Reply(
        f"{head}\n{_details(name, spec, None)}\n"
        f"Use it: /draft template:{name} <topic>, or end a request with “…, {name} template”. "
        "What a request states (platforms, length, tone, square or landscape) wins."
    )
