"""Script writers: the `Writer` protocol and an offline, deterministic template writer.

`OfflineWriter` needs no network or model: it fills the phrase banks of `services.phrases`,
chosen by tone and varied by a seed derived from the topic (SHA-256, so stable across runs and
processes), and sizes the narration to the requested duration at `WORDS_PER_SECOND`. Its
scripts are labelled `writer="offline"`. The same brief (and brand) always gives the same
script. A model writer (`services.model_writer`) fills the same `Script` model.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Protocol

from services.caption_style import CaptionStyle, HashtagStyle, styled_caption, styled_hashtags
from services.content import MAX_SCENES as MAX_SCENES
from services.content import MIN_SCENES as MIN_SCENES
from services.content import Brand, Brief, Platform, PlatformMeta, Scene, Script
from services.idea_writing import Idea, IdeaBasis, offline_ideas
from services.phrases import (
    ANGLE_PRIORITY,
    ANGLES,
    CAN_EDIT,
    FALLBACK_CTAS,
    FALLBACK_SUBJECT,
    MAX_SUBJECT_CHARS,
    STYLES,
    Avoid,
    Style,
    cap,
    clean,
    fill,
    mentions,
    read_edit,
    spoken_subject,
    tidy,
    unquote,
    word_count,
)
from services.phrases import KNOWN_TONES as KNOWN_TONES
from services.phrases import TONES as TONES
from services.platforms import ELLIPSIS, RULES, fit_text, hashtags_for
from services.structure import angle_for, body_sections, describe, labels_for
from services.usage import UsageLog

WORDS_PER_SECOND = 2.6  # ~155 words a minute, a brisk but clear voice-over
ON_SCREEN_MAX_WORDS = 6
_WORDS_PER_SCENE = 12  # aim for 8-16 words a scene where the duration allows it
_TITLE_MAX = 100
_TITLE_TOPIC_MAX = 60  # longer topics are titled by their short spoken form
_BANK_FIELDS = ("hooks", "leads", "extras", "micro", "ctas", "titles")  # filtered by `Avoid`


class WriterError(Exception):
    """The writer could not do it; the message says why and what to do (shown in chat)."""


class EditUnsupported(WriterError):
    """An edit this writer cannot make; the message lists what it can do."""


class RequestProblem(ValueError):
    """A free-form request a model read but the bot can't act on; the message is the reply."""


class Writer(Protocol):
    """Anything that writes, revises and describes scripts: "offline" or "openai:<model>"."""

    name: str

    async def write(
        self,
        brief: Brief,
        *,
        take: int = 1,
        brand: Brand | None = None,
        usage: UsageLog | None = None,
    ) -> Script:
        """Write the script for `brief`; another `take` is another attempt at the same brief."""
        ...

    async def revise(
        self,
        brief: Brief,
        script: Script,
        instruction: str,
        *,
        brand: Brand | None = None,
        usage: UsageLog | None = None,
    ) -> Script:
        """A new version of `script` changed as `instruction` says; raises `WriterError`."""
        ...

    async def metadata(
        self,
        brief: Brief,
        script: Script,
        *,
        brand: Brand | None = None,
        usage: UsageLog | None = None,
    ) -> tuple[PlatformMeta, ...]:
        """Title, caption and hashtags for each platform of `brief`, in the brief's order."""
        ...

    async def ideas(
        self, basis: IdeaBasis, *, count: int, usage: UsageLog | None = None
    ) -> tuple[Idea, ...]:
        """Up to `count` topic ideas from a workspace's figures and brand voice, each with why."""
        ...


class RequestReader(Protocol):
    """Reads a free-form chat request into a brief (a model; without one, the rule parser)."""

    async def read_request(self, text: str, *, usage: UsageLog | None = None) -> Brief:
        """The brief `text` asks for; raises `RequestProblem` with a reply to show."""
        ...


def target_words(duration_s: float) -> int:
    """How many narration words fill `duration_s` seconds at `WORDS_PER_SECOND`."""
    return max(1, round(duration_s * WORDS_PER_SECOND))


def on_screen_text(narration: str) -> str:
    """Short on-screen text for a scene: its first words, up to the end of the first clause."""
    words = narration.split()[:ON_SCREEN_MAX_WORDS]
    end = next((i for i, w in enumerate(words[1:-1], 2) if w[-1] in ",;:.!?"), len(words))
    return " ".join(words[:end]).rstrip(",;:.-\u2013\u2014") or " ".join(words)


class _Dice:
    """Deterministic choices seeded by SHA-256 of the topic (not `hash()`, which is salted)."""

    def __init__(self, topic: str, take: int = 1) -> None:
        seed_text = topic if take <= 1 else f"{topic}\x00take {take}"
        self._seed = hashlib.sha256(seed_text.encode("utf-8", "surrogatepass")).digest()

    def _key(self, salt: str, item: str = "") -> bytes:
        data = f"{salt}\x00{item}".encode("utf-8", "surrogatepass")
        return hashlib.sha256(self._seed + data).digest()

    def order(self, items: Iterable[str], salt: str) -> list[str]:
        return sorted(items, key=lambda item: self._key(salt, item))

    def pick(self, items: Sequence[str], salt: str) -> str:
        return items[int.from_bytes(self._key(salt)[:8], "big") % len(items)]


def _fitting(options: Sequence[str], max_words: int, dice: _Dice, salt: str) -> str:
    """The first option (in seeded order) with at most `max_words` words, else the shortest."""
    ordered = dice.order(options, salt)
    return next((o for o in ordered if word_count(o) <= max_words), min(ordered, key=word_count))


def _narration(
    candidates: Sequence[str],
    budget: float,
    used: set[str],
    filler: Callable[[str], str],
    *,
    may_mention: bool,
) -> str:
    """Greedily pick unused sentences totalling about `budget` words, naming the topic once."""
    chosen: list[str] = []
    count = 0
    for template in candidates:
        if template in used or (mentions(template) and not may_mention):
            continue
        sentence = filler(template)
        size = word_count(sentence)
        if count + size <= budget + 2 or (not chosen and size <= budget + 6):
            chosen.append(sentence)
            used.add(template)
            count += size
            may_mention = may_mention and not mentions(template)
        if count >= budget - 2:
            break
    if not chosen:
        unused = (c for c in candidates if c not in used)
        fallback = min(unused, key=word_count, default="Take a look.")
        used.add(fallback)
        chosen.append(filler(fallback))
    return " ".join(chosen)


def _style(tone: str, avoid: Avoid) -> Style:
    """The style for `tone` (exact match, else its first known word, else neutral), less the
    options that use an avoided word."""
    words = re.findall(r"[^\W_]+", tone.lower())
    name = TONES.get(" ".join(words)) or next((TONES[w] for w in words if w in TONES), "neutral")
    style = STYLES[name]
    if not avoid.words:
        return style
    return {**style, **{key: avoid.options(style[key]) for key in _BANK_FIELDS}}


def _any_style(field: str, avoid: Avoid, extra: Sequence[str] = ()) -> tuple[str, ...]:
    """Every style's `field` options (and `extra`) that use no avoided word."""
    return avoid.options([*(o for s in STYLES.values() for o in s[field]), *extra])


def _compose(brief: Brief, take: int = 1, brand: Brand | None = None) -> Script:
    avoid = Avoid.of(brand.avoid if brand else (), brief.topic)
    style = _style(brief.tone, avoid)
    mark = style.get("mark", (".",))[0]
    dice = _Dice(brief.topic, take)
    subject = spoken_subject(brief.topic)
    duration = brief.duration_s
    target = target_words(duration)
    brand_cta = clean(brand.call_to_action or "") if brand else ""
    ctas = style["ctas"] or _any_style("ctas", avoid, FALLBACK_CTAS) or FALLBACK_CTAS
    cta = brand_cta or _fitting(ctas, max(3, round(target * 0.12)), dice, "cta")
    if target < 25 or not style["hooks"]:  # a few seconds: name the topic and go
        hook = cap(subject) + mark
    else:
        hook = _fitting(
            [fill(h, subject, duration) for h in style["hooks"]],
            max(4, round(target * 0.18)),
            dice,
            "hook",
        )
    body = max(0, target - word_count(hook) - word_count(cta))
    # A template's structure fixes the scenes: one per section, headed by its label ("Tip 1.").
    sections = body_sections(brief.structure)
    if sections:
        count = len(sections)
        plan = [angle_for(section, i) for i, section in enumerate(sections)]
        headings = labels_for(sections)
    else:
        count = min(MAX_SCENES, max(MIN_SCENES, round(body / _WORDS_PER_SCENE)))
        plan = [angle for angle in ANGLES if angle in ANGLE_PRIORITY[:count]]
        sections, headings = tuple(plan), []
    others = list(ANGLES) if headings else plan  # repeated sections need more sentences
    micro = body / count < 5
    spare: list[str] = []  # when avoided words thin out the banks: plain extras, then any style's
    if avoid.words:
        plain = avoid.options((*STYLES["neutral"]["extras"], *STYLES["informative"]["extras"]))
        spare = dice.order(plain, "spare") + dice.order(_any_style("extras", avoid), "spare")
    micros = style["micro"] or _any_style("micro", avoid) or (cap(subject) + mark,)
    used: set[str] = set()
    remaining = float(body)
    scenes: list[Scene] = []
    for index, angle in enumerate(plan):
        budget = remaining / (count - index)
        labels, pool = (avoid.options(part) for part in ANGLES[angle])
        heading = f"{headings[index]}." if headings else ""
        if micro:
            narration = next((m for m in dice.order(micros, "micro") if m not in used), micros[0])
            used.add(narration)
        else:
            extras = [x for x in dice.order(style["extras"], "extras") if x not in used]
            candidates = dice.order(pool, angle) + extras[: len(style["extras"]) // count + 1]
            candidates += [
                s
                for other in others
                if other != angle
                for s in dice.order(avoid.options(ANGLES[other][1]), other)
            ]
            candidates += spare
            lead = ""
            if index > 0 and budget >= 14 and not heading:
                lead = next((x for x in dice.order(style["leads"], "lead") if x not in used), "")
                used.add(lead)
            # The hook has just named the topic: the first scene doesn't repeat it.
            filler = partial(fill, subject=subject, duration_s=duration)
            narration = _narration(
                candidates,
                budget - word_count(lead) - word_count(heading),
                used,
                filler,
                may_mention=index > 0,
            )
            narration = f"{lead} {narration}".strip()
        narration = f"{heading} {narration}".strip()
        remaining -= word_count(narration)
        if heading:
            on_screen = headings[index]
        elif index == 0 and subject != FALLBACK_SUBJECT:
            on_screen = fit_text(" ".join(cap(subject).split()[:5]), MAX_SUBJECT_CHARS)
        elif labels:
            on_screen = dice.pick(labels, f"label:{angle}") + mark.strip(".")
        else:
            on_screen = on_screen_text(narration)
        scenes.append(Scene(narration=narration, on_screen=on_screen, section=sections[index]))
    script = Script(
        title=_title(brief, style, dice, subject),
        hook=hook,
        scenes=tuple(scenes),
        call_to_action=cta,
        writer=OfflineWriter.name,
    )
    return _without(script, avoid) if avoid.words else script


def _without(script: Script, avoid: Avoid) -> Script:
    """`script` with any avoided word that got past the banks cut out: the last resort."""

    def cut(text: str) -> str:
        if avoid.allows(text):
            return text
        kept = avoid.scrub(text)
        return kept if any(ch.isalnum() for ch in kept) else ELLIPSIS

    return Script(
        title=cut(script.title),
        hook=cut(script.hook),
        scenes=tuple(
            Scene(narration=cut(s.narration), on_screen=cut(s.on_screen), section=s.section)
            for s in script.scenes
        ),
        call_to_action=cut(script.call_to_action),
        writer=script.writer,
    )


def _title(brief: Brief, style: Style, dice: _Dice, subject: str) -> str:
    topic = tidy(clean(brief.topic))
    if not topic or len(topic) > _TITLE_TOPIC_MAX:
        topic = cap(subject)
    template = dice.pick(style["titles"] or ("{T}",), "title")
    room = _TITLE_MAX - len(fill(template, "", brief.duration_s))
    return fit_text(fill(template, subject, brief.duration_s, fit_text(topic, room)), _TITLE_MAX)


def _meta(brief: Brief, script: Script, platform: Platform, avoid: Avoid) -> PlatformMeta:
    rules = RULES[platform]
    tags = hashtags_for(brief.topic, platform, lead=spoken_subject(brief.topic))
    hashtags = tuple(tag for tag in tags if avoid.allows_tag(tag))
    summary = script.scenes[0].narration if platform is Platform.YOUTUBE else ""
    caption = clean(" ".join((script.hook, summary, script.call_to_action)))
    if brief.hashtags or brief.hashtag_style:  # a template's: its own tags first
        fixed = [tag for tag in brief.hashtags if avoid.allows_tag(tag)]
        style = HashtagStyle.read(brief.hashtag_style)
        hashtags = styled_hashtags(fixed, hashtags, style, rules.hashtags_max)
    if brief.caption_style:
        caption = styled_caption(
            CaptionStyle.read(brief.caption_style),
            hook=script.hook,
            scenes=[s.narration for s in script.scenes],
            call_to_action=script.call_to_action,
            subject=spoken_subject(brief.topic),
            tone=brief.tone,
            summary=platform is Platform.YOUTUBE,
        )
    title = clean(script.title) or tidy(clean(brief.topic)) or "New video"
    room = rules.caption_max - sum(len(tag) + 1 for tag in hashtags)
    return PlatformMeta(
        platform=platform,
        title=fit_text(title, rules.title_max),
        caption=fit_text(caption, room),
        hashtags=hashtags,
    )


def _given(text: str, what: str) -> str:
    """The new text for `what` as the member wrote it, on one line, without wrapping quotes."""
    text = unquote(clean(text))
    if not any(ch.isalnum() for ch in text):
        raise WriterError(f"Give the new {what} after the colon, e.g. \u201c{what}: \u2026\u201d.")
    return text


def _revise(script: Script, instruction: str, structure: Sequence[str] = ()) -> Script:
    """`script` with the edit `instruction` asks for, if the offline writer can make it."""
    edit = read_edit(instruction)
    changes: dict[str, object] = {}
    if edit is None:
        shown = fit_text(clean(instruction), 80)
        raise EditUnsupported(f"The offline writer can't do \u201c{shown}\u201d.\n{CAN_EDIT}")
    if edit.part == "hook":
        changes["hook"] = _given(edit.text, "hook")
    elif edit.part == "call to action":
        changes["call_to_action"] = _given(edit.text, "call to action")
    elif edit.part == "scene":
        if not 1 <= edit.scene <= len(script.scenes):
            raise WriterError(
                f"This script has scenes 1 to {len(script.scenes)}; there is no scene {edit.scene}."
            )
        narration = _given(edit.text, f"scene {edit.scene}")
        scenes = list(script.scenes)
        section = scenes[edit.scene - 1].section
        scenes[edit.scene - 1] = Scene(
            narration=narration, on_screen=on_screen_text(narration), section=section
        )
        changes["scenes"] = tuple(scenes)
    elif structure:  # "shorter" would drop a section the template asks for
        raise EditUnsupported(
            f"This draft follows a template's structure ({describe(structure)}); the offline "
            "writer can't shorten it without dropping a section. Replace a scene's text "
            "instead (scene 2: …), or set OPENAI_API_KEY for a model that can."
        )
    elif len(script.scenes) <= MIN_SCENES:  # "shorter"
        raise EditUnsupported(
            f"The script already has only {MIN_SCENES} scenes, the fewest it can have. "
            "Shortening the wording needs a model: set OPENAI_API_KEY."
        )
    else:
        changes["scenes"] = script.scenes[:-1]
    return Script.model_validate({**script.model_dump(), **changes, "writer": OfflineWriter.name})


class OfflineWriter:
    """A deterministic template writer that needs no network: same brief, same script.

    The brand's call to action replaces the writer's own. The brand's words to avoid (whole
    words, any case) are kept out of the script and metadata: phrase options using them are
    dropped, and as a last resort the word is cut out. A word the topic itself uses is not
    avoided: the topic is kept as written. Text a member gives in an edit is used as written.
    The brand's tone and audience are the caller's to fold into the brief's tone.
    """

    name: str = "offline"

    async def write(
        self,
        brief: Brief,
        *,
        take: int = 1,
        brand: Brand | None = None,
        usage: UsageLog | None = None,
    ) -> Script:
        """A script sized to the duration, in the tone; the same take gives the same script."""
        return _compose(brief, take, brand)

    async def revise(
        self,
        brief: Brief,
        script: Script,
        instruction: str,
        *,
        brand: Brand | None = None,
        usage: UsageLog | None = None,
    ) -> Script:
        """Replace the hook, a scene or the call to action, or drop the last scene ("shorter");
        raises `EditUnsupported` saying what it can do for anything else."""
        return _revise(script, instruction, brief.structure)

    async def metadata(
        self,
        brief: Brief,
        script: Script,
        *,
        brand: Brand | None = None,
        usage: UsageLog | None = None,
    ) -> tuple[PlatformMeta, ...]:
        """Title, caption and hashtags for each distinct platform of `brief`, within limits."""
        avoid = Avoid.of(brand.avoid if brand else (), brief.topic)
        return tuple(_meta(brief, script, p, avoid) for p in dict.fromkeys(brief.platforms))

    async def ideas(
        self, basis: IdeaBasis, *, count: int, usage: UsageLog | None = None
    ) -> tuple[Idea, ...]:
        """Follow-ups and new angles on the best posts, each with its figures; from the brand
        voice, flagged as such, until a post has been out a week."""
        return offline_ideas(basis, count)
