"""Script writers: the `Writer` protocol and an offline, deterministic template writer.

`OfflineWriter` needs no network or model: it fills small phrase banks, chosen by tone and
varied by a seed derived from the topic (SHA-256, so stable across runs and processes), and
sizes the narration to the requested duration at `WORDS_PER_SECOND`. Its scripts are labelled
`writer="offline"`. The same brief always gives the same script.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from types import MappingProxyType
from typing import ClassVar, Protocol

from services.content import Brief, Platform, PlatformMeta, Scene, Script
from services.platforms import ELLIPSIS, RULES, STOPWORDS, fit_text, hashtags_for

WORDS_PER_SECOND = 2.6  # ~155 words a minute, a brisk but clear voice-over
MIN_SCENES, MAX_SCENES = 3, 6
_WORDS_PER_SCENE = 12  # aim for 8-16 words a scene where the duration allows it
_MAX_SUBJECT_WORDS = 6
_MAX_SUBJECT_CHARS = 40
_FALLBACK_SUBJECT = "something new"
_TITLE_MAX = 100


# The phrase banks. "[tone NAME]" and "[angle NAME]" start a section; each line is a field name
# and its options separated by "|"; indented lines continue the field above. In sentences, {s}
# is the topic as spoken ({S} capitalised) and {d} the duration in seconds; in titles, {t}/{T}
# is the topic as written. A tone's "aliases" are other words for it; its "mark" ends on-screen
# labels and the hook of tiny videos.
_PHRASES = """
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


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


def _sections(text: str) -> dict[str, dict[str, tuple[str, ...]]]:
    """Parse `_PHRASES` into {"tone neutral": {"hooks": (...), ...}, ...}."""
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


_BANKS = _sections(_PHRASES)
_Style = Mapping[str, tuple[str, ...]]  # hooks, leads, extras, micro, ctas, titles[, aliases, mark]
_STYLES: Mapping[str, _Style] = MappingProxyType(
    {name[5:]: bank for name, bank in _BANKS.items() if name.startswith("tone ")}
)
# Angle name -> (on-screen labels, body sentences), in the order scenes use them.
_ANGLES: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = MappingProxyType(
    {name[6:]: (b["labels"], b["lines"]) for name, b in _BANKS.items() if name[:6] == "angle "}
)

TONES: Mapping[str, str] = MappingProxyType(
    {word: name for name, bank in _STYLES.items() for word in (name, *bank.get("aliases", ()))}
)
"""Every tone word the offline writer knows, mapped to the style it uses."""
KNOWN_TONES: frozenset[str] = frozenset(TONES)

_ANGLE_PRIORITY = ("intro", "why", "how", "detail", "feel", "recap")  # kept in shorter videos
_LOWER_FIRST = _wordset("A An All Its My New Our Some That The Their These This Those Your")
_CLAUSE_BREAK = re.compile(
    r"[,;:()\[\]\u2013\u2014]|\s-\s"
    r"|\b(?:with|and|that|which|featuring|including|because|where|who|while)\b",
    re.IGNORECASE,
)
_PLACEHOLDER = re.compile(r"\{([SsTtd])\}")
_EDGE_PUNCT = " \t,.;:!?-\u2013\u2014/"
_OPEN_QUOTES = "\"'\u201c\u2018\u00ab"
_CLOSE_QUOTES = "\"'\u201d\u2019\u00bb"
_NOT_SPOKEN = frozenset("*_`~<>|#@\\{}[]^\ufe0e\ufe0f")
_TITLE_TOPIC_MAX = 60  # longer topics are titled by their short spoken form


def target_words(duration_s: float) -> int:
    """How many narration words fill `duration_s` seconds at `WORDS_PER_SECOND`."""
    return max(1, round(duration_s * WORDS_PER_SECOND))


def _words(text: str) -> int:
    return len(text.split())


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


def _clean(text: str) -> str:
    """`text` on one line without control characters, lone surrogates, `<` or `>`."""
    kept = (ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cs") and ch not in "<>")
    return " ".join("".join(ch if not ch.isspace() else " " for ch in kept).split())


def _tidy(text: str) -> str:
    text = " ".join(text.split()).strip(_EDGE_PUNCT)
    if len(text) >= 2 and text[0] in _OPEN_QUOTES and text[-1] in _CLOSE_QUOTES:
        text = text[1:-1].strip(_EDGE_PUNCT)
    return text


def _lower_first(text: str) -> str:
    first, space, rest = text.partition(" ")
    return first.lower() + space + rest if first in _LOWER_FIRST else text


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:] if text[:1].islower() else text


def _spoken_char(ch: str) -> str:
    """`ch` as the voice should get it: spaces for whitespace, nothing for emoji or markup."""
    if ch.isspace():
        return " "
    category = unicodedata.category(ch)
    return "" if category[0] == "C" or category in ("So", "Sk") or ch in _NOT_SPOKEN else ch


def _subject(topic: str) -> str:
    """The topic as the voice says it: no emoji or markup, at most a few words."""
    spoken = _tidy("".join(_spoken_char(ch) for ch in topic))
    if not any(ch.isalnum() for ch in spoken):
        return _FALLBACK_SUBJECT
    if _words(spoken) > _MAX_SUBJECT_WORDS:
        short = " ".join(spoken.split()[:_MAX_SUBJECT_WORDS])
        for match in _CLAUSE_BREAK.finditer(spoken):
            if 2 <= _words(spoken[: match.start()]) <= _MAX_SUBJECT_WORDS:
                short = spoken[: match.start()]
                break
        words = short.split()
        while len(words) > 1 and words[-1].lower().strip(_EDGE_PUNCT) in STOPWORDS:
            words.pop()
        spoken = _tidy(" ".join(words)) or _FALLBACK_SUBJECT
    if len(spoken) > _MAX_SUBJECT_CHARS:  # a very long word: the voice reads only its start
        spoken = _tidy(fit_text(spoken, _MAX_SUBJECT_CHARS).removesuffix(ELLIPSIS)) or "this"
    return _lower_first(spoken)


def _fill(template: str, subject: str, duration_s: int, topic: str = "") -> str:
    """Fill `{s}`/`{S}` (subject), `{t}`/`{T}` (topic as written) and `{d}` in one pass."""
    values = {"s": subject, "S": _cap(subject), "t": _lower_first(topic), "T": _cap(topic)}
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), str(duration_s)), template)


def _mentions(template: str) -> bool:
    return "{s}" in template or "{S}" in template


def _fitting(options: Sequence[str], max_words: int, dice: _Dice, salt: str) -> str:
    """The first option (in seeded order) with at most `max_words` words, else the shortest."""
    ordered = dice.order(options, salt)
    return next((o for o in ordered if _words(o) <= max_words), min(ordered, key=_words))


def _narration(
    candidates: Sequence[str],
    budget: float,
    used: set[str],
    fill: Callable[[str], str],
    *,
    may_mention: bool,
) -> str:
    """Greedily pick unused sentences totalling about `budget` words, naming the topic once."""
    chosen: list[str] = []
    count = 0
    for template in candidates:
        if template in used or (_mentions(template) and not may_mention):
            continue
        sentence = fill(template)
        size = _words(sentence)
        if count + size <= budget + 2 or (not chosen and size <= budget + 6):
            chosen.append(sentence)
            used.add(template)
            count += size
            may_mention = may_mention and not _mentions(template)
        if count >= budget - 2:
            break
    if not chosen:
        fallback = min((c for c in candidates if c not in used), key=_words, default="Take a look.")
        used.add(fallback)
        chosen.append(fill(fallback))
    return " ".join(chosen)


def _style(tone: str) -> _Style:
    """The style for `tone`: an exact match, else its first known word, else neutral."""
    words = re.findall(r"[^\W_]+", tone.lower())
    name = TONES.get(" ".join(words)) or next((TONES[w] for w in words if w in TONES), "neutral")
    return _STYLES[name]


def _compose(brief: Brief, take: int = 1) -> Script:
    style = _style(brief.tone)
    mark = style.get("mark", (".",))[0]
    dice = _Dice(brief.topic, take)
    subject = _subject(brief.topic)
    duration = brief.duration_s
    target = target_words(duration)
    cta = _fitting(style["ctas"], max(3, round(target * 0.12)), dice, "cta")
    if target < 25:  # a few seconds: name the topic and go
        hook = _cap(subject) + mark
    else:
        hook = _fitting(
            [_fill(h, subject, duration) for h in style["hooks"]],
            max(4, round(target * 0.18)),
            dice,
            "hook",
        )
    body = max(0, target - _words(hook) - _words(cta))
    count = min(MAX_SCENES, max(MIN_SCENES, round(body / _WORDS_PER_SCENE)))
    plan = [angle for angle in _ANGLES if angle in _ANGLE_PRIORITY[:count]]
    micro = body / count < 5
    used: set[str] = set()
    remaining = float(body)
    scenes: list[Scene] = []
    for index, angle in enumerate(plan):
        budget = remaining / (count - index)
        labels, pool = _ANGLES[angle]
        if micro:
            narration = next(
                (m for m in dice.order(style["micro"], "micro") if m not in used), style["micro"][0]
            )
            used.add(narration)
        else:
            extras = [x for x in dice.order(style["extras"], "extras") if x not in used]
            candidates = dice.order(pool, angle) + extras[: len(style["extras"]) // count + 1]
            candidates += [
                s for other in plan if other != angle for s in dice.order(_ANGLES[other][1], other)
            ]
            lead = ""
            if index > 0 and budget >= 14:
                lead = next((x for x in dice.order(style["leads"], "lead") if x not in used), "")
                used.add(lead)
            # The hook has just named the topic: the first scene doesn't repeat it.
            fill = partial(_fill, subject=subject, duration_s=duration)
            narration = _narration(
                candidates, budget - _words(lead), used, fill, may_mention=index > 0
            )
            narration = f"{lead} {narration}".strip()
        remaining -= _words(narration)
        if index == 0 and subject != _FALLBACK_SUBJECT:
            on_screen = fit_text(" ".join(_cap(subject).split()[:5]), _MAX_SUBJECT_CHARS)
        else:
            on_screen = dice.pick(labels, f"label:{angle}") + mark.strip(".")
        scenes.append(Scene(narration=narration, on_screen=on_screen))
    return Script(
        title=_title(brief, style, dice, subject),
        hook=hook,
        scenes=tuple(scenes),
        call_to_action=cta,
        writer=OfflineWriter.name,
    )


def _title(brief: Brief, style: _Style, dice: _Dice, subject: str) -> str:
    topic = _tidy(_clean(brief.topic))
    if not topic or len(topic) > _TITLE_TOPIC_MAX:
        topic = _cap(subject)
    template = dice.pick(style["titles"], "title")
    room = _TITLE_MAX - len(_fill(template, "", brief.duration_s))
    return fit_text(_fill(template, subject, brief.duration_s, fit_text(topic, room)), _TITLE_MAX)


def _meta(brief: Brief, script: Script, platform: Platform) -> PlatformMeta:
    rules = RULES[platform]
    hashtags = hashtags_for(brief.topic, platform, lead=_subject(brief.topic))
    summary = script.scenes[0].narration if platform is Platform.YOUTUBE else ""
    caption = _clean(" ".join((script.hook, summary, script.call_to_action)))
    title = _clean(script.title) or _tidy(_clean(brief.topic)) or "New video"
    room = rules.caption_max - sum(len(tag) + 1 for tag in hashtags)
    return PlatformMeta(
        platform=platform,
        title=fit_text(title, rules.title_max),
        caption=fit_text(caption, room),
        hashtags=hashtags,
    )


class Writer(Protocol):
    """Anything that turns a brief into a script and per-platform metadata."""

    async def write(self, brief: Brief, *, take: int = 1) -> Script:
        """Write the script for `brief`; another `take` is another attempt at the same brief."""
        ...

    async def metadata(self, brief: Brief, script: Script) -> tuple[PlatformMeta, ...]:
        """Title, caption and hashtags for each platform of `brief`, in the brief's order."""
        ...


class OfflineWriter:
    """A deterministic template writer that needs no network: same brief, same script."""

    name: ClassVar[str] = "offline"

    async def write(self, brief: Brief, *, take: int = 1) -> Script:
        """A script sized to the duration, in the tone; the same take gives the same script."""
        return _compose(brief, take)

    async def metadata(self, brief: Brief, script: Script) -> tuple[PlatformMeta, ...]:
        """Title, caption and hashtags for each distinct platform of `brief`, within limits."""
        return tuple(_meta(brief, script, p) for p in dict.fromkeys(brief.platforms))
