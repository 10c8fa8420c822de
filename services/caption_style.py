"""A template's caption and hashtag style, read from free text into what the writers act on.

People describe a caption style in their own words ("short, question first, 2 emojis"). The
model writer gets those words in its prompt; the offline writer acts on the parts it can read:
a length ("short", "about 20 words", "long"), a question first, a number of emojis, no call to
action. A hashtag style gives a count ("5 hashtags") or "only these" (the template's own tags).
Whatever the style, the template's fixed hashtags come first.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from services.phrases import TONES, cap, clean, word_count
from services.platforms import ELLIPSIS, hashtag_problem

SHORT_WORDS = 15
MAX_STYLE_CHARS = 200
_SMALL = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
_COUNT = r"[0-9]{1,2}|a|an|one|two|three|four|five|six"
_WORDS_RE = re.compile(r"(?<![\w.])([0-9]{1,3})\s*(?:-\s*)?words?\b", re.IGNORECASE)
_SHORT_RE = re.compile(r"\b(short|brief|one[- ]liner|one line|punchy|snappy|concise)\b", re.I)
_LONG_RE = re.compile(r"\b(long|detailed|full|storytelling|in depth|in-depth)\b", re.I)
_QUESTION_RE = re.compile(r"\bquestions?\b", re.IGNORECASE)
_NO_EMOJI_RE = re.compile(r"\bno emojis?\b|\bwithout emojis?\b", re.IGNORECASE)
_EMOJI_RE = re.compile(rf"\b(?:({_COUNT})\s+)?(emojis?)\b", re.IGNORECASE)
_NO_CTA_RE = re.compile(r"\bno (?:cta|call to action)\b", re.IGNORECASE)
_TAG_COUNT_RE = re.compile(r"(?<![\w.])([0-9]{1,2})\s*(?:hash)?tags?\b", re.IGNORECASE)
_NO_TAGS_RE = re.compile(r"\bno (?:hash)?tags\b|\bnone\b", re.IGNORECASE)
_ONLY_RE = re.compile(r"\b(only|just)\b.*\b(these|fixed|ours|ones?)\b|\bfixed only\b", re.I)
_EMOJIS = {
    "neutral": "👉✨💬",
    "upbeat": "🔥✨🎉",
    "calm": "🌿☕🌙",
    "professional": "📈✅💡",
    "funny": "😂🙃🤪",
    "inspiring": "🌟💪🚀",
    "informative": "💡📌🧠",
}
_QUESTIONS = ("Ever wondered about {s}?", "Want to know more about {s}?", "Have you tried {s}?")


@dataclass(frozen=True)
class CaptionStyle:
    """What the offline writer reads from a caption style."""

    max_words: int | None = None
    long: bool = False  # every scene's narration, not only the hook
    question_first: bool = False
    emojis: int = 0
    call_to_action: bool = True

    @classmethod
    def read(cls, text: str | None) -> CaptionStyle:
        """The knobs `text` sets; words it doesn't know change nothing."""
        if not text:
            return cls()
        words = _WORDS_RE.search(text)
        max_words = int(words.group(1)) if words else None
        if max_words is None and _SHORT_RE.search(text):
            max_words = SHORT_WORDS
        emojis = 0
        if not _NO_EMOJI_RE.search(text) and (found := _EMOJI_RE.search(text)):
            count, noun = found.group(1), found.group(2).lower()
            if count:
                emojis = int(count) if count.isdigit() else _SMALL[count.lower()]
            else:
                emojis = 2 if noun.endswith("s") else 1
        return cls(
            max_words=max(3, max_words) if max_words else None,
            long=max_words is None and bool(_LONG_RE.search(text)),
            question_first=bool(_QUESTION_RE.search(text)),
            emojis=min(emojis, 6),
            call_to_action=not _NO_CTA_RE.search(text),
        )


@dataclass(frozen=True)
class HashtagStyle:
    """What the writers read from a hashtag style: how many tags, and whether only the fixed."""

    count: int | None = None
    only_fixed: bool = False

    @classmethod
    def read(cls, text: str | None) -> HashtagStyle:
        """The count and "only these" that `text` states, if any."""
        if not text:
            return cls()
        if _NO_TAGS_RE.search(text):
            return cls(count=0)
        found = _TAG_COUNT_RE.search(text)
        return cls(
            count=int(found.group(1)) if found else None, only_fixed=bool(_ONLY_RE.search(text))
        )


def normalise_hashtag(tag: str) -> str:
    """`tag` as a hashtag: "#" then lower-case letters, digits or _; raises ValueError."""
    body = tag.strip().removeprefix("#").lower()
    result = f"#{body}"
    if problem := hashtag_problem(result):
        raise ValueError(f"{tag[:40]!r} {problem}")
    if len(body) > 30:
        raise ValueError(f"{tag[:40]!r} is longer than 30 characters")
    return result


def styled_hashtags(
    fixed: Sequence[str], generated: Sequence[str], style: HashtagStyle, limit: int
) -> tuple[str, ...]:
    """The fixed tags first, then generated ones, up to the style's count and `limit`."""
    extra = () if style.only_fixed or style.count == 0 else generated
    tags = tuple(dict.fromkeys([*fixed, *extra]))
    wanted = limit if style.count is None else min(limit, max(style.count, len(fixed)))
    return tags[:wanted]


def _cut(text: str, max_words: int) -> str:
    """Whole sentences of `text` up to `max_words` words, or its first words and an ellipsis."""
    sentences = re.split(r"(?<=[.!?])\s+", text)
    kept: list[str] = []
    for sentence in sentences:
        if word_count(" ".join([*kept, sentence])) > max_words:
            break
        kept.append(sentence)
    if kept:
        return " ".join(kept)
    return " ".join(text.split()[:max_words]).rstrip(",;:.-") + ELLIPSIS


def emojis_for(tone: str, count: int) -> str:
    """`count` emojis that suit `tone` (its style's set, repeated if need be)."""
    words = re.findall(r"[^\W_]+", tone.lower())
    name = TONES.get(" ".join(words)) or next((TONES[w] for w in words if w in TONES), "neutral")
    chars = _EMOJIS.get(name, _EMOJIS["neutral"])
    return "".join(chars[i % len(chars)] for i in range(count))


def styled_caption(
    style: CaptionStyle,
    *,
    hook: str,
    scenes: Sequence[str],
    call_to_action: str,
    subject: str,
    tone: str,
    summary: bool,
) -> str:
    """A caption from the script's parts, shaped by `style` (`summary`: add the first scene)."""
    parts = [hook]
    if style.long:
        parts += scenes
    elif summary and style.max_words is None and scenes:
        parts.append(scenes[0])
    if style.call_to_action:
        parts.append(call_to_action)
    if style.question_first:
        seed = hashlib.sha256(subject.encode("utf-8", "surrogatepass")).digest()[0]
        parts.insert(0, cap(_QUESTIONS[seed % len(_QUESTIONS)].format(s=subject)))
    text = clean(" ".join(p.strip() for p in parts if p.strip()))
    if style.max_words is not None:
        text = _cut(text, style.max_words)
    if style.emojis:
        text = f"{text} {emojis_for(tone, style.emojis)}"
    return text
