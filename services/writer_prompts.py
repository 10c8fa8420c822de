"""The instructions the model writer sends: script, metadata, request-reading and idea rules."""

from __future__ import annotations

from services.content import Brand, Brief
from services.platforms import DISPLAY_NAMES, RULES
from services.structure import body_sections, labels_for
from services.writer import (
    MAX_SCENES,
    MIN_SCENES,
    ON_SCREEN_MAX_WORDS,
    WORDS_PER_SECOND,
    target_words,
)

TITLE_MAX = 100


def scenes_rule(brief: Brief) -> str:
    """How many scenes to write: the template's sections, one scene each, or 3 to 6."""
    sections = body_sections(brief.structure)
    if not sections:
        return f"{MIN_SCENES} to {MAX_SCENES} scenes"
    shown = "; ".join(f"{i}. {label}" for i, label in enumerate(labels_for(sections), 1))
    return (
        f"exactly {len(sections)} scenes, one per section of the structure, in this order "
        f"({shown}), each clearly being that section"
    )


def structure_line(brief: Brief) -> str:
    if not brief.structure:
        return ""
    return f"\nStructure (a template the team chose; follow it): {', '.join(brief.structure)}."


def script_rules(brief: Brief) -> str:
    platforms = ", ".join(DISPLAY_NAMES[p] for p in dict.fromkeys(brief.platforms))
    return (
        "You write scripts for short vertical videos. A script has:\n"
        f"- title: a short title, at most {TITLE_MAX} characters;\n"
        "- hook: one short opening sentence that makes people stop scrolling;\n"
        f"- scenes: {scenes_rule(brief)}, each with narration (what the voice says)"
        f" and on_screen (text shown on screen, at most {ON_SCREEN_MAX_WORDS} words);\n"
        "- call_to_action: one closing sentence telling viewers what to do next.\n"
        f"Hook, scene narrations and call to action together: about "
        f"{target_words(brief.duration_s)} words, to fill {brief.duration_s} seconds at "
        f"{WORDS_PER_SECOND} words a second.\n"
        f"Tone: {brief.tone}. Platforms: {platforms}.\n"
        "Narration is read aloud: plain sentences; no emoji, hashtags, markdown, stage directions."
        + structure_line(brief)
    )


def brand_voice(brand: Brand | None, *, cta: str = "use exactly") -> str:
    if brand is None or brand.is_empty():
        return ""
    lines = ["\n\nBrand voice of this workspace:"]
    if brand.tone:
        lines.append(f"- Brand tone: {brand.tone}")
    if brand.audience:
        lines.append(f"- Audience: {brand.audience}")
    if brand.avoid:
        lines.append(f"- Never use these words: {', '.join(brand.avoid)}")
    if brand.call_to_action:
        lines.append(f"- Call to action: {cta} \u201c{brand.call_to_action}\u201d")
    return "\n".join(lines)


def about(brief: Brief) -> str:
    platforms = ", ".join(p.value for p in dict.fromkeys(brief.platforms))
    structure = f"\nStructure: {', '.join(brief.structure)}" if brief.structure else ""
    return (
        f"Topic: {brief.topic}\nDuration: {brief.duration_s} seconds\n"
        f"Tone: {brief.tone}\nPlatforms: {platforms}{structure}"
    )


def metadata_style(brief: Brief) -> str:
    """The template's caption and hashtag style, for the metadata prompt."""
    lines = []
    if brief.caption_style:
        lines.append(f"- Caption style: {brief.caption_style}")
    if brief.hashtags:
        lines.append(f"- Every platform's hashtags include: {' '.join(brief.hashtags)}")
    if brief.hashtag_style:
        lines.append(f"- Hashtag style: {brief.hashtag_style}")
    return "\n\nThe team's template for this video:\n" + "\n".join(lines) if lines else ""


METADATA_RULES = "\n".join(
    [
        "You write the title, caption and hashtags of a short video for each platform asked for,"
        " from its script. Limits (characters; hashtags count towards the caption):",
        *(
            f"- {p.value}: title {r.title_max}, caption {r.caption_max}, "
            f"at most {r.hashtags_max} hashtags"
            for p, r in RULES.items()
        ),
        "Hashtags are # followed by letters or digits only. No < or > anywhere.",
    ]
)
READ_RULES = (
    "You read a chat message sent to a bot that makes short vertical videos, and say what it "
    "asks for.\n"
    "- is_video_request: false if the message does not ask for a video; then say why in problem.\n"
    "- topic: what the video is about, in the sender's words, without platforms, length or tone.\n"
    "- platforms: the platforms named, lower case: youtube (also Shorts), tiktok, instagram "
    "(also Reels, IG), facebook (also FB); other platforms as written; empty if none named.\n"
    "- duration_s: the length asked for in seconds (a minute is 60), or null if none.\n"
    "- tone: the tone asked for in a word or two (e.g. upbeat, calm, professional), or null.\n"
    "- problem: null when it is a video request."
)


IDEA_RULES = (
    "You suggest topics for a team's next short vertical videos, from how their posts did.\n"
    "- Build on the best posts and on what did better; never repeat a recent topic.\n"
    "- topic: what the video is about, in a few words (under 120 characters), no quotes.\n"
    "- why: one sentence naming the post or figure the idea builds on, with its number; if "
    "there are no figures, say that the idea is not based on figures yet.\n"
    "- Give exactly as many ideas as asked for, each different."
)
