"""Templates: a draft's format saved under a name, and how it combines with a request.

A `TemplateSpec` is the format: platforms, duration, tone, aspect ratios, the script's
structure (services.structure), caption and hashtag style, fixed hashtags, voice and music.
A request that names a template gets the template's value for every field the request did not
state itself (field by field). The draft keeps a snapshot of the template (name and spec), so
its regenerations and edits follow the format it was made with, whatever happens to the
template later.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.caption_style import MAX_STYLE_CHARS, normalise_hashtag
from services.content import (
    MAX_DURATION_S,
    MAX_SCENES,
    MIN_DURATION_S,
    MIN_SCENES,
    Brief,
    Platform,
    PlatformMeta,
)
from services.models import Draft, DraftVersion, Template
from services.structure import CALL_TO_ACTION, HOOK, StructureError, body_sections, complete

NAME_MAX_CHARS = 40
NAME_RULES = f"lower-case letters, digits and hyphens, up to {NAME_MAX_CHARS} characters"
_NAME = re.compile(rf"[a-z0-9][a-z0-9-]{{0,{NAME_MAX_CHARS - 1}}}")
_VOICE_ID = r"[A-Za-z0-9_-]{1,100}"
ASPECTS = ("9:16", "1:1", "16:9")
MAX_FIXED_HASHTAGS = 10
# The fields a request can state itself; the template fills the ones it leaves out.
REQUEST_FIELDS = ("platforms", "duration", "tone", "aspects")


class TemplateError(ValueError):
    """A template name or spec that can't be used; the message says why."""


def check_name(raw: str) -> str:
    """`raw` as a template name (lower-cased); raises `TemplateError` naming the rules."""
    name = raw.strip().lower()
    if not _NAME.fullmatch(name):
        shown = raw.strip()[:50] or "(nothing)"
        raise TemplateError(f"“{shown}” can't be a template name: use {NAME_RULES}.")
    return name


class TemplateSpec(BaseModel):
    """A saved format: what a draft made from the template gets unless its request says."""

    model_config = ConfigDict(frozen=True)

    platforms: tuple[Platform, ...] = Field(min_length=1)
    duration_s: int = Field(ge=MIN_DURATION_S, le=MAX_DURATION_S)
    tone: str = Field(min_length=1, max_length=40)
    aspects: tuple[str, ...] = ("9:16",)
    structure: tuple[str, ...]
    caption_style: str | None = Field(default=None, max_length=MAX_STYLE_CHARS)
    hashtags: tuple[str, ...] = ()
    hashtag_style: str | None = Field(default=None, max_length=MAX_STYLE_CHARS)
    voice_id: str | None = Field(default=None, pattern=_VOICE_ID)
    music: int | None = Field(default=None, ge=1)  # a media-library item: its /media list number

    @field_validator("platforms")
    @classmethod
    def _distinct_platforms(cls, value: tuple[Platform, ...]) -> tuple[Platform, ...]:
        return tuple(dict.fromkeys(value))

    @field_validator("aspects")
    @classmethod
    def _known_aspects(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [a for a in value if a not in ASPECTS]
        if unknown or not value:
            raise ValueError(f"aspect ratios are {', '.join(ASPECTS)}")
        return tuple(dict.fromkeys(value))

    @field_validator("structure")
    @classmethod
    def _usable_structure(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        try:
            full = complete(value)
        except StructureError as exc:
            raise ValueError(str(exc)) from None
        scenes = len(body_sections(full))
        if not MIN_SCENES <= scenes <= MAX_SCENES:
            raise ValueError(
                f"between the hook and the call to action a script has {MIN_SCENES} to "
                f"{MAX_SCENES} sections; this structure has {scenes}"
            )
        return full

    @field_validator("hashtags")
    @classmethod
    def _usable_hashtags(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        tags = tuple(dict.fromkeys(normalise_hashtag(t) for t in value))
        if len(tags) > MAX_FIXED_HASHTAGS:
            raise ValueError(f"at most {MAX_FIXED_HASHTAGS} fixed hashtags")
        return tags

    @field_validator("caption_style", "hashtag_style", "voice_id")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return " ".join(value.split()) or None if value is not None else None


def spec_problem(exc: ValidationError) -> str:
    """The first problem pydantic found, as one sentence for the chat."""
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"] if not isinstance(p, int))
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where.replace('_', ' ')}: {message}" if where else message


def make_spec(**fields: Any) -> TemplateSpec:
    """A `TemplateSpec` from `fields`; raises `TemplateError` with the first problem."""
    try:
        return TemplateSpec.model_validate(fields)
    except ValidationError as exc:
        raise TemplateError(spec_problem(exc)) from None


async def find_template(session: AsyncSession, workspace_id: int, name: str) -> Template | None:
    """The workspace's template called `name` (any case), or None."""
    return (
        await session.execute(
            select(Template).where(
                Template.workspace_id == workspace_id, Template.name == name.strip().lower()
            )
        )
    ).scalar_one_or_none()


async def list_templates(session: AsyncSession, workspace_id: int) -> list[Template]:
    """The workspace's templates, by name."""
    return list(
        (
            await session.execute(
                select(Template)
                .where(Template.workspace_id == workspace_id)
                .order_by(Template.name)
            )
        ).scalars()
    )


def spec_of(template: Template) -> TemplateSpec:
    """A stored template's spec."""
    return TemplateSpec.model_validate(template.spec)


def _emoji_count(text: str) -> int:
    return sum(1 for ch in text if unicodedata.category(ch) == "So")


def caption_style_of(meta: PlatformMeta) -> str:
    """A caption style that describes `meta`'s caption: its length, a question first, emojis."""
    words = len([w for w in meta.caption.split() if any(ch.isalnum() for ch in w)])
    parts = [f"about {max(words, 3)} words"]
    first = re.split(r"(?<=[.!?])\s+", meta.caption.strip(), maxsplit=1)[0]
    if first.endswith("?"):
        parts.append("question first")
    if emojis := _emoji_count(meta.caption):
        parts.append(f"{emojis} emoji" + ("s" if emojis > 1 else ""))
    return ", ".join(parts)


def spec_from_draft(
    draft: Draft,
    version: DraftVersion,
    *,
    voice_id: str | None = None,
    music: int | None = None,
) -> TemplateSpec:
    """The format of `draft` as its `version` shows it.

    Platforms, duration, tone and aspect ratios are the draft's; the structure is the version's
    script's sections (scenes without a section name count as "scene"). Caption and hashtag
    style, fixed hashtags, voice and music are those of the template the draft was made with,
    if any; otherwise the caption style describes the version's first caption, the hashtag
    style its number of tags, and `voice_id` and `music` are taken as given.
    """
    script = version.script or {}
    scenes = script.get("scenes") or []
    structure = (HOOK, *(s.get("section") or "scene" for s in scenes), CALL_TO_ACTION)
    made_with = snapshot_spec(draft.template)
    fields: dict[str, Any] = {
        "platforms": draft.platforms,
        "duration_s": draft.duration_s,
        "tone": draft.tone,
        "aspects": draft.aspects or ["9:16"],
        "structure": structure,
        "voice_id": voice_id,
        "music": music,
    }
    if made_with is not None:
        fields |= made_with.model_dump(
            include={"caption_style", "hashtags", "hashtag_style", "voice_id", "music"}
        )
    elif version.metadata_json:
        first = PlatformMeta.model_validate(version.metadata_json[0])
        fields["caption_style"] = caption_style_of(first)
        fields["hashtag_style"] = f"{len(first.hashtags)} hashtags"
    return make_spec(**fields)


def snapshot(name: str, spec: TemplateSpec, overridden: Sequence[str] = ()) -> dict[str, Any]:
    """What a draft keeps of the template it was made with (JSON for `Draft.template`)."""
    return {
        "name": name,
        "spec": spec.model_dump(mode="json"),
        "overridden": list(overridden),
    }


def snapshot_spec(data: dict[str, Any] | None) -> TemplateSpec | None:
    """The spec a draft's template snapshot holds, or None (no template, or unreadable)."""
    if not data or not isinstance(data.get("spec"), dict):
        return None
    try:
        return TemplateSpec.model_validate(data["spec"])
    except ValidationError:
        return None


def template_fields(data: dict[str, Any] | None) -> dict[str, Any]:
    """The `Brief` fields a draft's template snapshot sets: structure, caption and hashtags."""
    spec = snapshot_spec(data)
    if spec is None:
        return {}
    return {
        "structure": spec.structure,
        "caption_style": spec.caption_style,
        "hashtags": spec.hashtags,
        "hashtag_style": spec.hashtag_style,
    }


def apply_template(
    brief: Brief, aspects: Sequence[str], spec: TemplateSpec
) -> tuple[Brief, list[str], list[str]]:
    """`brief` and `aspects` with the template filling what the request did not state.

    Returns the brief, the aspect ratios, and which fields the request overrode."""
    stated = set(brief.stated)
    if any(a != "9:16" for a in aspects):
        stated.add("aspects")
    overridden = [f for f in REQUEST_FIELDS if f in stated]
    combined = replace(
        brief,
        platforms=brief.platforms if "platforms" in stated else spec.platforms,
        duration_s=brief.duration_s if "duration" in stated else spec.duration_s,
        tone=brief.tone if "tone" in stated else spec.tone,
        structure=spec.structure,
        caption_style=spec.caption_style,
        hashtags=spec.hashtags,
        hashtag_style=spec.hashtag_style,
    )
    return combined, list(aspects) if "aspects" in stated else list(spec.aspects), overridden
