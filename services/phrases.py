"""The offline writer's phrase banks, the tones they know, and the brand's words to avoid.

`STYLES` maps a tone to its phrase bank (hooks, leads, extras, micro, ctas, titles, and
optionally aliases and mark); `ANGLES` maps a scene angle to its on-screen labels and body
sentences; `TONES` maps every tone word to its style. `Avoid` keeps a brand's words to avoid out
of generated text, except words the topic itself uses.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from services.platforms import ELLIPSIS, STOPWORDS, fit_text

# The phrase banks. "[tone NAME]" and "[angle NAME]" start a section; each line is a field name
# and its options separated by "|"; indented lines continue the field above. In sentences, {s}
# is the topic as spoken ({S} capitalised) and {d} the duration in seconds; in titles, {t}/{T}
# is the topic as written. A tone's "aliases" are other words for it; its "mark" ends on-screen
# labels and the hook of tiny videos.
PHRASES = """
[tone neutral]
aliases friendly | casual
hooks  Here's {s} in {d} seconds. | Let's talk about {s}. | {S}: here's what to know.
leads  Next. | Here's another thing. | Moving on. | One more thing.
extras It's worth a closer look. | There's more to it than meets the eye. |
       It's straightforward, and that's the point. | Clear, simple, and useful. |
       That's a good place to start.
micro  Take a look. | Worth knowing. | Simple. | Here's why.
ctas   Follow for more. | Follow us for more like this. | Want more? Follow along.
titles {T} | {T}: a quick look
[tone upbeat]
aliases energetic | excited | exciting | fun | hype | cheerful | happy
hooks  Stop scrolling, it's time for {s}! | Ready? Let's talk {s}! | You're going to love {s}! |
       {S}, let's go!
leads  Okay, here we go! | Now this is fun. | Wait, it gets better! | And here's the best part! |
       Let's keep it rolling! | Ready for more?
extras Honestly, we can't get enough of it. | It's a total mood. |
       This is where it gets exciting! | Yes, it's as good as it sounds. | Big energy, zero fuss.
micro  So good! | Love it! | Don't miss it! | Let's go!
ctas   Follow for more good stuff! | Hit follow and come along! | Follow for more!
titles {T}: let's go! | You'll love {t}
mark   !
[tone calm]
aliases relaxed | chill | soothing | cozy | cosy
hooks  Take a breath. Let's talk about {s}. | Here's a gentle look at {s}. |
       Slow down for a moment: {s}.
leads  Take your time with this. | Now, gently. | There's no rush. | Let that settle for a moment.
extras Sometimes the simple things matter most. | No noise, just what matters. |
       It's quiet, steady, and easy to enjoy. | It's calm by design. |
       Let it unfold at its own pace.
micro  Breathe. | Slow down. | Just enjoy. | Simple.
ctas   Follow along for more calm moments. | Stay a while, and follow for more. | Follow for more.
titles A calm look at {t} | {T}, slowly
[tone professional]
aliases formal | serious | corporate
hooks  Here's what you need to know about {s}. | A quick briefing on {s}. |
       {S}: the essentials in {d} seconds.
leads  Next point. | Here's the key takeaway. | Moving on. | Another important point.
extras The goal is clarity and consistency. | It's designed to deliver real value. |
       Every decision is grounded in what works. | The result is simple to use and easy to trust. |
       It reflects a clear set of priorities.
micro  Clear value. | Key point. | Built to last. | Worth noting.
ctas   Follow us for more updates. | Learn more on our page. | Follow for more insights.
titles {T}: what you need to know | {T}: an overview
[tone funny]
aliases playful | humorous | witty | silly
hooks  Plot twist: this video is about {s}. | Nobody asked, but here's {s}. |
       Warning: {s} may cause excitement. | Okay, {s}. Brace yourself.
leads  Stay with me here. | Okay, hear me out. | No, seriously. | It gets better, we promise. |
       Plot twist incoming.
extras Yes, we checked. Twice. | Our group chat has opinions about this. |
       It's a little bit brilliant, not gonna lie. | Zero drama, maximum fun. |
       We may have gotten slightly carried away.
micro  Seriously. | No notes. | Chef's kiss. | Trust us.
ctas   Follow for more, we're fun at parties. | Follow before it gets weird. |
       Follow for more nonsense.
titles {T}, but make it fun | Nobody warned us about {t}
[tone inspiring]
aliases motivational | inspirational | uplifting | heartfelt
hooks  What if {s} could change your day? | Here's why {s} matters. |
       Every big story starts small, like {s}. | This is {s}, and it's just the beginning.
leads  Here's the thing. | And that's only the start. | Think bigger. | Now imagine this.
extras Great things begin with a single step. | Believe in what you're building. |
       It's proof that small ideas can grow. | Progress starts the moment you begin. |
       The best part is where it can take you.
micro  Dream big. | Start today. | Keep going. | Believe it.
ctas   Follow for more inspiration. | Follow along and start today. | Follow and keep going.
titles Why {t} matters | {T}: start something good
[tone informative]
aliases educational | explanatory
hooks  Here's {s}, explained in {d} seconds. | Quick explainer: {s}. | Let's break down {s}.
leads  Here's a useful fact. | Worth knowing. | Now the practical part. | Here's how it works.
extras Knowing the basics saves a lot of time. | Context makes everything clearer. |
       The key is understanding how the pieces connect. |
       It helps to start with the fundamentals. | Here's a detail that often gets overlooked.
micro  Good to know. | Key fact. | Quick tip. | Remember this.
ctas   Follow for more quick explainers. | Save this and follow for more. | Follow to learn more.
titles {T}, explained | {T} in {d} seconds
[angle intro]
labels Here's the idea | The quick version
lines  Here's a quick look at {s}. | Let's talk about {s}. | This one is all about {s}. |
       If you haven't seen {s} yet, you're in the right place. | Here's what you need to know. |
       We've been looking forward to sharing this. | Short on time? Here's the quick version. |
       Let's start with the big picture. | It's simpler than you might think. |
       Stick around, this won't take long.
[angle why]
labels Why it matters | The big reason
lines  So why should you care about {s}? | It's about making your day a little easier. |
       The details make all the difference. | This is the part most people miss. |
       It's built around what people actually need. | And it fits right into real life. |
       There's a good reason we're excited about {s}. | That's what makes it worth your time. |
       It takes something ordinary and makes it better. | Good things rarely happen by accident.
[angle detail]
labels The details | Look closer
lines  Look closer and you'll notice the little things. | Here's what stands out the most. |
       Every piece has been thought through. | Small choices add up to something you can feel. |
       We sweated the details so you don't have to. | Take a closer look at {s}. |
       Notice how it all fits together. | Nothing here is an accident. |
       The care shows in every step. | It's the kind of detail you remember.
[angle feel]
labels Picture this | How it feels
lines  Imagine what {s} could add to your week. | That's the moment it clicks. |
       Picture it: less hassle, more of what you enjoy. | You'll know it when you see it. |
       It's the kind of thing you'll want to share. | Once you notice it, you can't unsee it. |
       It feels different, in the best way. | Think of it as a small upgrade to your routine. |
       It's easy to see why people come back.
[angle how]
labels How to start | Try it
lines  Getting started with {s} is easy. | Here's how to make the most of it. |
       Start small, then see where it takes you. | It only takes a minute to try. |
       No complicated steps, just the good part. | Try it once and you'll see what we mean. |
       Come and see it for yourself. | Pick what suits you and go from there. |
       Bring a friend and compare notes. | Everything you need is right here.
[angle recap]
labels Quick recap | In short
lines  So that's {s} in a nutshell. | Quick recap: simple, thoughtful, and made for you. |
       That's the short version. | Keep {s} in mind next time. | And that's just the start. |
       Now you know what makes it special. | There's more where that came from. |
       Save this so you don't forget. | Tell us what you think in the comments.
"""


def _sections(text: str) -> dict[str, dict[str, tuple[str, ...]]]:
    """Parse `PHRASES` into {"tone neutral": {"hooks": (...), ...}, ...}."""
    raw: dict[str, dict[str, str]] = {}
    fields: dict[str, str] = {}
    key = ""
    for line in text.strip().splitlines():
        if line.startswith("["):
            fields = raw.setdefault(line.strip("[]"), {})
        elif line.startswith(" "):
            fields[key] += " " + line.strip()
        else:
            key, _, rest = line.partition(" ")
            fields[key] = rest.strip()
    return {
        name: {k: tuple(part.strip() for part in v.split("|")) for k, v in section.items()}
        for name, section in raw.items()
    }


_BANKS = _sections(PHRASES)
Style = Mapping[str, tuple[str, ...]]  # hooks, leads, extras, micro, ctas, titles[, aliases, mark]
STYLES: Mapping[str, Style] = MappingProxyType(
    {name[5:]: bank for name, bank in _BANKS.items() if name.startswith("tone ")}
)
"""Each tone's phrase bank, by style name."""
ANGLES: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = MappingProxyType(
    {name[6:]: (b["labels"], b["lines"]) for name, b in _BANKS.items() if name[:6] == "angle "}
)
"""Angle name -> (on-screen labels, body sentences), in the order scenes use them."""
ANGLE_PRIORITY = ("intro", "why", "how", "detail", "feel", "recap")  # kept in shorter videos

TONES: Mapping[str, str] = MappingProxyType(
    {word: name for name, bank in STYLES.items() for word in (name, *bank.get("aliases", ()))}
)
"""Every tone word the offline writer knows, mapped to the style it uses."""
KNOWN_TONES: frozenset[str] = frozenset(TONES)

FALLBACK_CTAS = ("Learn more on our page.", "Share this with a friend.", "Tell us what you think.")
"""Calls to action for when a brand avoids words every style's own ones use."""

_TIDY_GAPS = re.compile(r"\s+([,.;:!?])|\s{2,}|^[\s,.;:!?-]+")


def _compact(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


@dataclass(frozen=True)
class Avoid:
    """A brand's words to avoid, as whole words in any case; words the topic uses are exempt."""

    words: tuple[str, ...] = ()

    @classmethod
    def of(cls, words: Iterable[str], topic: str = "") -> Avoid:
        """The non-blank `words`, less those the topic itself uses (the topic is kept as is)."""
        kept = (" ".join(w.split()) for w in words)
        return cls(tuple(dict.fromkeys(w for w in kept if w and not _pattern((w,)).search(topic))))

    def allows(self, text: str) -> bool:
        """Whether `text` uses none of the words."""
        return not self.words or not _pattern(self.words).search(text)

    def allows_tag(self, tag: str) -> bool:
        """Whether hashtag `tag` neither is nor contains (as part of a run-together tag) a word."""
        body = _compact(tag)
        return self.allows(tag[1:]) and not any(
            len(c) >= 3 and c in body for c in map(_compact, self.words)
        )

    def options(self, options: Sequence[str]) -> tuple[str, ...]:
        """The `options` that use none of the words (possibly none)."""
        return tuple(o for o in options if self.allows(PLACEHOLDER.sub(" ", o)))

    def scrub(self, text: str) -> str:
        """`text` with the words cut out and the gaps closed: the last resort."""
        if not self.words:
            return text
        cut = _pattern(self.words).sub("", text)
        tidy = _TIDY_GAPS.sub(lambda m: m.group(1) or (" " if m.start() else ""), cut).strip()
        return tidy[:1].upper() + tidy[1:] if text[:1].isupper() else tidy


def _pattern(words: Sequence[str]) -> re.Pattern[str]:
    """Any of `words` as a whole word or phrase (not inside a longer word), ignoring case."""
    ordered = sorted(words, key=len, reverse=True)
    body = "|".join(r"\s+".join(map(re.escape, w.split())) for w in ordered)
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.IGNORECASE)


def _vocab(words: str) -> frozenset[str]:
    return frozenset(words.split())


_MAX_SUBJECT_WORDS = 6
MAX_SUBJECT_CHARS = 40
FALLBACK_SUBJECT = "something new"
_LOWER_FIRST = _vocab("A An All Its My New Our Some That The Their These This Those Your")
_CLAUSE_BREAK = re.compile(
    r"[,;:()\[\]\u2013\u2014]|\s-\s"
    r"|\b(?:with|and|that|which|featuring|including|because|where|who|while)\b",
    re.IGNORECASE,
)
PLACEHOLDER = re.compile(r"\{([SsTtd])\}")
_EDGE_PUNCT = " \t,.;:!?-\u2013\u2014/"
_OPEN_QUOTES = "\"'\u201c\u2018\u00ab"
_CLOSE_QUOTES = "\"'\u201d\u2019\u00bb"
_NOT_SPOKEN = frozenset("*_`~<>|#@\\{}[]^\ufe0e\ufe0f")


def word_count(text: str) -> int:
    """How many words `text` has."""
    return len(text.split())


def clean(text: str) -> str:
    """`text` on one line without control characters, lone surrogates, `<` or `>`."""
    kept = (ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cs") and ch not in "<>")
    return " ".join("".join(ch if not ch.isspace() else " " for ch in kept).split())


def tidy(text: str) -> str:
    """`text` on one line, without edge punctuation or one pair of surrounding quotes."""
    text = " ".join(text.split()).strip(_EDGE_PUNCT)
    if len(text) >= 2 and text[0] in _OPEN_QUOTES and text[-1] in _CLOSE_QUOTES:
        text = text[1:-1].strip(_EDGE_PUNCT)
    return text


def lower_first(text: str) -> str:
    """`text` with a leading article or determiner ("Our", "The") in lower case."""
    first, space, rest = text.partition(" ")
    return first.lower() + space + rest if first in _LOWER_FIRST else text


def cap(text: str) -> str:
    """`text` with its first letter in upper case."""
    return text[:1].upper() + text[1:] if text[:1].islower() else text


def _spoken_char(ch: str) -> str:
    """`ch` as the voice should get it: spaces for whitespace, nothing for emoji or markup."""
    if ch.isspace():
        return " "
    category = unicodedata.category(ch)
    return "" if category[0] == "C" or category in ("So", "Sk") or ch in _NOT_SPOKEN else ch


def spoken_subject(topic: str) -> str:
    """The topic as the voice says it: no emoji or markup, at most a few words."""
    spoken = tidy("".join(_spoken_char(ch) for ch in topic))
    if not any(ch.isalnum() for ch in spoken):
        return FALLBACK_SUBJECT
    if word_count(spoken) > _MAX_SUBJECT_WORDS:
        short = " ".join(spoken.split()[:_MAX_SUBJECT_WORDS])
        for match in _CLAUSE_BREAK.finditer(spoken):
            if 2 <= word_count(spoken[: match.start()]) <= _MAX_SUBJECT_WORDS:
                short = spoken[: match.start()]
                break
        words = short.split()
        while len(words) > 1 and words[-1].lower().strip(_EDGE_PUNCT) in STOPWORDS:
            words.pop()
        spoken = tidy(" ".join(words)) or FALLBACK_SUBJECT
    if len(spoken) > MAX_SUBJECT_CHARS:  # a very long word: the voice reads only its start
        spoken = tidy(fit_text(spoken, MAX_SUBJECT_CHARS).removesuffix(ELLIPSIS)) or "this"
    return lower_first(spoken)


def fill(template: str, subject: str, duration_s: int, topic: str = "") -> str:
    """Fill `{s}`/`{S}` (subject), `{t}`/`{T}` (topic as written) and `{d}` in one pass."""
    values = {"s": subject, "S": cap(subject), "t": lower_first(topic), "T": cap(topic)}
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), str(duration_s)), template)


def mentions(template: str) -> bool:
    """Whether `template` names the subject."""
    return "{s}" in template or "{S}" in template


@dataclass(frozen=True)
class Edit:
    """An edit the offline writer understands: the part to change, the new text, which scene."""

    part: str  # "hook", "scene", "call to action" or "shorter"
    text: str = ""
    scene: int = 0


def _edit(target: str) -> re.Pattern[str]:
    """Match "replace the TARGET with[:] TEXT", "change TARGET to TEXT" or "[new] TARGET: TEXT"."""
    return re.compile(
        rf"(?:(?:replace|change|swap|set|update|rewrite)\s+(?:the\s+)?{target}\s+(?:with|to)\b\s*:?"
        rf"|(?:the\s+)?(?:new\s+)?{target}\s*:)\s*(?P<text>\S.*)",
        re.IGNORECASE | re.DOTALL,
    )


_HOOK_EDIT = _edit("hook")
_SCENE_NUMBER = re.compile(r"(?<!\w)(?:[0-9]+|one|two|three|four|five|six)(?!\w)", re.IGNORECASE)
_SCENE_EDIT = _edit(rf"scene\s+(?:number\s+|no\.?\s*|#\s*)?{_SCENE_NUMBER.pattern}")
_CTA_EDIT = _edit(r"(?:cta|call[\s-]to[\s-]action)")
_SHORTER = re.compile(
    r"(?:please\s+)?(?:(?:make\s+(?:it|the\s+(?:video|script))\s+)?(?:a\s+(?:bit|little)\s+)?"
    r"shorter|shorten\s+it)"
    r"(?:,?\s+please)?[.!]*",
    re.IGNORECASE,
)
_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
_QUOTES = ("\"'\u201c\u2018\u00ab", "\"'\u201d\u2019\u00bb")
CAN_EDIT = (
    "The offline writer can:\n"
    "\u2022 replace the hook: \u201cnew hook: \u2026\u201d\n"
    "\u2022 replace a scene: \u201cscene 2: \u2026\u201d\n"
    "\u2022 replace the call to action: \u201ccall to action: \u2026\u201d\n"
    "\u2022 make it shorter: \u201cshorter\u201d (drops the last scene)\n"
    "Free-form edits need a model: set OPENAI_API_KEY."
)
"""What the offline writer can edit, and how to ask, for the chat."""


def unquote(text: str) -> str:
    """`text` without one pair of quotes around it."""
    if len(text) >= 2 and text[0] in _QUOTES[0] and text[-1] in _QUOTES[1]:
        return text[1:-1].strip()
    return text


def read_edit(instruction: str) -> Edit | None:
    """The edit `instruction` asks for, if it is one the offline writer can make."""
    said = instruction.strip()
    if match := _HOOK_EDIT.fullmatch(said):
        return Edit("hook", match["text"])
    if match := _CTA_EDIT.fullmatch(said):
        return Edit("call to action", match["text"])
    if match := _SCENE_EDIT.fullmatch(said):
        said_number = _SCENE_NUMBER.findall(said[: match.start("text")])[-1].lower()
        number = _NUMBERS.get(said_number) or int(said_number)
        return Edit("scene", match["text"], number)
    return Edit("shorter") if _SHORTER.fullmatch(said) else None
