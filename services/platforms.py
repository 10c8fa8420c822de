"""Per-platform publishing limits, text fitting and metadata checks.

Figures are the platforms' published limits for short vertical video, taken conservatively:

- YouTube Shorts: title 100 characters, description 5,000, up to 3 minutes. YouTube ignores
  *every* hashtag on a video that has more than 60; we keep at most 15. `<` and `>` are
  rejected in titles and descriptions.
- TikTok: caption 2,200 characters (hashtags count towards it), 3 s to 10 minutes. There is
  no fixed hashtag cap; we keep at most 10.
- Instagram Reels: caption 2,200 characters, at most 30 hashtags, 3 s to 15 minutes.
- Facebook Reels: caption 2,200 characters is taken as the conservative limit, 3 s to 90 s;
  we keep at most 10 hashtags.

TikTok, Instagram and Facebook have no separate video title field in the same sense as YouTube;
the 100-character title cap there is ours, so a title works as a label on any of them.
Lengths are counted in Python characters (code points).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from services.content import Platform, PlatformMeta

ELLIPSIS = "…"
# What is dropped from the end of a cut before the ellipsis.
_TRIM_AT_CUT = " \t\r\n,;:.-\u2013\u2014/"


@dataclass(frozen=True)
class PlatformRules:
    """The limits one platform puts on a short video and its metadata."""

    title_max: int
    caption_max: int
    hashtags_max: int
    min_duration_s: int
    max_duration_s: int
    aspect: str


RULES: Mapping[Platform, PlatformRules] = MappingProxyType(
    {
        Platform.YOUTUBE: PlatformRules(
            title_max=100,
            caption_max=5000,
            hashtags_max=15,
            min_duration_s=1,
            max_duration_s=180,
            aspect="9:16",
        ),
        Platform.TIKTOK: PlatformRules(
            title_max=100,
            caption_max=2200,
            hashtags_max=10,
            min_duration_s=3,
            max_duration_s=600,
            aspect="9:16",
        ),
        Platform.INSTAGRAM: PlatformRules(
            title_max=100,
            caption_max=2200,
            hashtags_max=30,
            min_duration_s=3,
            max_duration_s=900,
            aspect="9:16",
        ),
        Platform.FACEBOOK: PlatformRules(
            title_max=100,
            caption_max=2200,
            hashtags_max=10,
            min_duration_s=3,
            max_duration_s=90,
            aspect="9:16",
        ),
    }
)

DISPLAY_NAMES: Mapping[Platform, str] = MappingProxyType(
    {
        Platform.YOUTUBE: "YouTube",
        Platform.TIKTOK: "TikTok",
        Platform.INSTAGRAM: "Instagram",
        Platform.FACEBOOK: "Facebook",
    }
)


GENERIC_HASHTAGS: Mapping[Platform, tuple[str, ...]] = MappingProxyType(
    {
        Platform.YOUTUBE: ("#shorts", "#youtubeshorts"),
        Platform.TIKTOK: ("#fyp", "#foryou"),
        Platform.INSTAGRAM: ("#reels", "#instagramreels"),
        Platform.FACEBOOK: ("#reels", "#facebookreels"),
    }
)
STOPWORDS = frozenset(
    (
        "a",
        "about",
        "all",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "featuring",
        "for",
        "from",
        "how",
        "in",
        "including",
        "into",
        "is",
        "it",
        "its",
        "just",
        "lot",
        "more",
        "my",
        "new",
        "of",
        "on",
        "or",
        "our",
        "plus",
        "so",
        "some",
        "that",
        "the",
        "their",
        "this",
        "to",
        "us",
        "we",
        "what",
        "when",
        "whole",
        "why",
        "with",
        "you",
        "your",
    )
)
"""Words too common to make a hashtag of."""
_HASHTAG_MAX_CHARS = 30


def fit_text(text: str, limit: int) -> str:
    """Return `text` cut at a word boundary with an ellipsis so it is at most `limit` long."""
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    if limit == 1:
        return ELLIPSIS
    head = text[: limit - 1]
    if not text[limit - 1].isspace():
        # The cut falls inside a word: go back to the last whitespace, if there is one.
        boundary = max((i for i, ch in enumerate(head) if ch.isspace()), default=-1)
        if boundary > 0:
            head = head[:boundary]
    trimmed = head.rstrip(_TRIM_AT_CUT)
    if not trimmed:  # nothing but separators before the boundary: cut inside the word
        trimmed = text[: limit - 1].rstrip() or text[: limit - 1]
    return trimmed + ELLIPSIS


def hashtag_problem(tag: str) -> str | None:
    """Why `tag` is not a usable hashtag (`#` then letters, digits or `_`), or None if it is."""
    body = tag[1:]
    if not tag.startswith("#") or not body:
        return "must start with # followed by at least one letter or digit"
    if not all(ch.isalnum() or ch == "_" for ch in body):
        return "may contain only letters, digits and _ after the #"
    return None


def check_metadata(meta: PlatformMeta) -> list[str]:
    """Human-readable problems with `meta` against its platform's rules; empty if it is fine."""
    rules = RULES[meta.platform]
    name = DISPLAY_NAMES[meta.platform]
    problems: list[str] = []
    if meta.platform is Platform.YOUTUBE and not meta.title.strip():
        problems.append("YouTube needs a title; it is empty.")
    if len(meta.title) > rules.title_max:
        problems.append(
            f"{name} title is {len(meta.title)} characters; the limit is {rules.title_max}."
        )
    if len(meta.caption) > rules.caption_max:
        problems.append(
            f"{name} caption is {len(meta.caption)} characters; the limit is {rules.caption_max}."
        )
    else:
        combined = len(meta.caption) + sum(len(tag) + 1 for tag in meta.hashtags)
        if combined > rules.caption_max:
            problems.append(
                f"{name} caption with its hashtags is {combined} characters; "
                f"the limit is {rules.caption_max}."
            )
    if len(meta.hashtags) > rules.hashtags_max:
        problems.append(
            f"{name} allows at most {rules.hashtags_max} hashtags; there are {len(meta.hashtags)}."
        )
    seen: set[str] = set()
    for tag in meta.hashtags:
        problem = hashtag_problem(tag)
        if problem is not None:
            problems.append(f"{name} hashtag {tag!r} {problem}.")
        elif tag.casefold() in seen:
            problems.append(f"{name} hashtag {tag!r} appears more than once.")
        seen.add(tag.casefold())
    if meta.platform is Platform.YOUTUBE:
        for field, value in (("title", meta.title), ("description", meta.caption)):
            if "<" in value or ">" in value:
                problems.append(f"YouTube does not allow < or > in the {field}.")
    return problems


def check_duration(platform: Platform, duration_s: float) -> list[str]:
    """Human-readable problems with a video of `duration_s` seconds on `platform`; empty if ok."""
    rules = RULES[platform]
    if rules.min_duration_s <= duration_s <= rules.max_duration_s:
        return []
    return [
        f"{DISPLAY_NAMES[platform]} takes videos of {rules.min_duration_s} to "
        f"{rules.max_duration_s} seconds; this one is {duration_s:g} s."
    ]


# The largest file each platform's API takes for a short video (conservative where the
# platform documents several figures: Instagram's 300 MB is its Reels limit for API uploads).
MAX_FILE_BYTES: Mapping[Platform, int] = MappingProxyType(
    {
        Platform.YOUTUBE: 256 * 1024**3,
        Platform.TIKTOK: 4 * 1024**3,
        Platform.INSTAGRAM: 300 * 1024**2,
        Platform.FACEBOOK: 1024**3,
    }
)
VERTICAL_ONLY = frozenset({Platform.TIKTOK, Platform.INSTAGRAM, Platform.FACEBOOK})
MIN_SIZE: Mapping[Platform, tuple[int, int]] = MappingProxyType({Platform.FACEBOOK: (540, 960)})


@dataclass(frozen=True)
class VideoFacts:
    """What the platform rules look at in a rendered video."""

    duration_s: float
    width: int
    height: int
    size_bytes: int


def check_video(platform: Platform, video: VideoFacts) -> list[str]:
    """Human-readable problems with the video on `platform`: duration, aspect, size, file size."""
    name = DISPLAY_NAMES[platform]
    problems = check_duration(platform, round(video.duration_s, 1))
    if platform in VERTICAL_ONLY and video.width >= video.height:
        problems.append(
            f"{name} takes vertical 9:16 video; this one is {video.width}x{video.height}."
        )
    minimum = MIN_SIZE.get(platform)
    short, long = sorted((video.width, video.height))
    if minimum and (short < minimum[0] or long < minimum[1]):
        problems.append(
            f"{name} needs at least {minimum[0]}x{minimum[1]}; this one is "
            f"{video.width}x{video.height}."
        )
    if video.size_bytes > MAX_FILE_BYTES[platform]:
        problems.append(
            f"{name} takes files up to {MAX_FILE_BYTES[platform] / 1024**2:,.0f} MB; this one "
            f"is {video.size_bytes / 1024**2:,.0f} MB."
        )
    return problems


def fit_problems(metas: Sequence[PlatformMeta], video: VideoFacts) -> dict[Platform, list[str]]:
    """Per platform of the draft, what does not fit its rules (only platforms with problems)."""
    found = {m.platform: check_video(m.platform, video) + check_metadata(m) for m in metas}
    return {platform: problems for platform, problems in found.items() if problems}


def _tag_words(text: str) -> list[str]:
    words: list[str] = []
    for raw in re.findall(r"[^\W_]+", text.replace("'", "").replace("\u2019", "")):
        word = "".join(ch for ch in raw.lower() if ch.isalnum())
        if (
            2 <= len(word) <= _HASHTAG_MAX_CHARS
            and not word.isdigit()
            and word not in STOPWORDS
            and word not in words
        ):
            words.append(word)
    return words


def hashtags_for(
    topic: str, platform: Platform, *, lead: str = "", limit: int = 8
) -> tuple[str, ...]:
    """Hashtags for `topic` on `platform`: lowercase, letters and digits only, deduplicated.

    The words of `lead` (a short form of the topic) come first, joined into one tag when there
    are two or three of them, then the topic's other words, then the platform's generic tags;
    at most `limit` (and the platform's own maximum) in all.
    """
    limit = min(limit, RULES[platform].hashtags_max)
    generic = GENERIC_HASHTAGS[platform]
    short = _tag_words(lead or topic)
    tags = [f"#{w}" for w in dict.fromkeys(short + _tag_words(topic))]
    if 2 <= len(short) <= 3 and len("".join(short)) <= _HASHTAG_MAX_CHARS:
        tags.insert(0, "#" + "".join(short))
    chosen = list(dict.fromkeys([*tags[: max(limit - len(generic), 0)], *generic]))
    return tuple(chosen[:limit])
