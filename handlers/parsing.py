"""Turn chat text into commands and briefs.

A request is free text ("make a 30 second short about our autumn menu for TikTok and YouTube,
upbeat"), optionally with explicit `key: value` parts ("platforms: tiktok, ig duration: 45
tone: calm"). The text is split into tokens (durations, platform lists, tone words, filler,
separators and plain words). The topic is the run of plain words after "about" (or "on"), or,
without such a marker, the run of plain words left once the recognised parts are set aside.
Recognised parts *inside* that run stay part of the topic, so "tips for tiktok creators" keeps
its "tiktok" and "the 90s" stays a decade.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import NamedTuple

from services.content import MAX_DURATION_S, MAX_TOPIC_CHARS, MIN_DURATION_S, Brief, Platform
from services.writer import KNOWN_TONES

DEFAULT_PLATFORMS: tuple[Platform, ...] = tuple(Platform)
DEFAULT_DURATION_S = 30
DEFAULT_TONE = "upbeat"
EXAMPLE = "/draft a 30 second short about our autumn menu for TikTok"
_VALID = ", ".join(p.value for p in Platform)


class RequestError(ValueError):
    """A request the bot can't act on; the message is the reply to show the person."""


@dataclass(frozen=True)
class Command:
    """A chat command: "/draft@MyBot foo" is Command("draft", "foo"); other text has name ""."""

    name: str
    args: str


_COMMAND = re.compile(r"\s*/([A-Za-z0-9_]+)(?:@[A-Za-z0-9_]+)?(?:\s+(.*))?\s*\Z", re.DOTALL)


def parse_command(text: str) -> Command:
    """Split "/name@Bot args" into a lower-case name and its arguments; never raises."""
    match = _COMMAND.match(text)
    if match is None:
        return Command("", text)
    return Command(match.group(1).lower(), (match.group(2) or "").strip())


# --- vocabulary ----------------------------------------------------------------------------------


def _vocab(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Under re.IGNORECASE these also match ASCII letters; fold them so matched words look up cleanly.
_ODD_CASES = str.maketrans({"\u017f": "s", "\u212a": "k", "\u0130": "i", "\u0131": "i"})


def _fold(text: str) -> str:
    return text.translate(_ODD_CASES).lower()


_ORDERED_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty "
    "sixty seventy eighty ninety"
)

_PLATFORM_PATTERNS: dict[Platform, str] = {
    Platform.YOUTUBE: r"you\s?tube(?:\sshorts?)?|yt(?:\s?shorts?)?|shorts",
    Platform.TIKTOK: r"tik\s?-?\s?toks?",
    Platform.INSTAGRAM: r"insta(?:gram)?(?:\sreels?)?|ig(?:\s?reels?)?|reels",
    Platform.FACEBOOK: r"face\s?book(?:\sreels?)?|fb(?:\s?reels?)?",
}
_ALL_PATTERN = (
    r"all(?:\s(?:four|4|the))?\s(?:platforms|channels|socials|networks)"
    r"|every\s(?:platform|channel)|all\sof\sthem|all\sfour|everywhere"
)
_ALIAS = rf"(?:{_ALL_PATTERN}|{'|'.join(_PLATFORM_PATTERNS.values())})(?!\w)"
_LIST_SEP = r"(?:\s?[,/&+]\s?(?:and\s|&\s)?|\s(?:and|or|plus|&)\s|\s)"
_PREPS = ("for", "on", "to", "onto", "across", "via", "in")
_FOR_PREPS = ("for", "to", "onto", "across")  # "apps on twitter" is a topic; "for twitter" isn't
_PLATFORM_RE = re.compile(
    rf"(?P<prep>(?:{'|'.join(_PREPS)})\s)?(?:both\s|all\sof\s)?"
    rf"(?P<list>{_ALIAS}(?:{_LIST_SEP}{_ALIAS})*)",
    re.IGNORECASE,
)
_ALIAS_RE = re.compile(_ALIAS, re.IGNORECASE)
_ALL_RE = re.compile(_ALL_PATTERN, re.IGNORECASE)
_PLATFORM_RES = {p: re.compile(pattern, re.IGNORECASE) for p, pattern in _PLATFORM_PATTERNS.items()}
_LIST_SKIP_RE = re.compile(r"(?:[\s,;/&+]|(?:and|or|plus|both)(?!\w))+", re.IGNORECASE)
_LIST_ITEM_RE = re.compile(rf"all(?!\w)|{_ALIAS}", re.IGNORECASE)
_LIST_OTHER_RE = re.compile(r"[^\s,;/&+]+")
_OTHER_PLATFORMS = _vocab(
    "myspace twitter x.com snapchat linkedin pinterest threads vimeo twitch reddit tumblr bluesky "
    "mastodon vine whatsapp telegram discord wechat weibo douyin kuaishou rumble dailymotion "
    "bereal lemon8"
)

_ONES = tuple(_ORDERED_WORDS.split()[:20])  # zero ... nineteen
_TENS = tuple(_ORDERED_WORDS.split()[20:])  # twenty ... ninety
_NUMBER_WORDS = {w: i for i, w in enumerate(_ONES)} | {w: 20 + 10 * i for i, w in enumerate(_TENS)}
_NUM = r"[0-9]+(?:\.[0-9]+|,[0-9]{1,2}(?![0-9]))?"
_UNIT = r"seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h"
_DURATION_RE = re.compile(
    rf"(?<![\w.,])(?:"
    rf"(?P<mm>{_NUM})\s?(?:m|mins?|minutes?)\s?(?:and\s)?(?P<ss>{_NUM})\s?(?:s|secs?|seconds?)"
    rf"|(?P<num>{_NUM})(?P<gap>\s?-?\s?)(?P<unit>{_UNIT})"
    rf"|(?P<words>(?:{'|'.join(_TENS)})(?:[\s-](?:{'|'.join(_ONES[1:10])}))?|{'|'.join(_ONES)})"
    rf"[\s-](?P<wunit>{_UNIT})"
    rf"|(?:an?|one)\s(?P<half1>and\sa\shalf\s)?(?:minutes?|mins?)(?P<half2>\sand\sa\shalf)?"
    rf"|(?P<halfmin>half\sa\s(?:minute|min))"
    rf")(?!\w)",
    re.IGNORECASE,
)
_DECADE_BEFORE = re.compile(r"(?:\b(?:the|early|late|mid)|['\u2019])\s?\Z", re.IGNORECASE)

_TONE_NOUNS = "tone|vibes?|style|feel|mood|energy"
_TONE_WORDS = "|".join(sorted(KNOWN_TONES, key=len, reverse=True))
_TONE_RE = re.compile(
    rf"(?P<pre>(?:in|with)\s(?:an?\s)?(?=(?:{_TONE_WORDS})\s(?:{_TONE_NOUNS})(?!\w))"
    rf"|(?:make|keep)\sit\s)?(?P<tone>{_TONE_WORDS})(?P<post>\s(?:{_TONE_NOUNS}))?(?!\w)",
    re.IGNORECASE,
)
_STRONG_TONES = _vocab(
    "upbeat funny inspiring informative energetic playful humorous witty motivational "
    "inspirational uplifting educational explanatory heartfelt hype"
)
_GRAMMAR = _vocab(
    "be being been is are was were stay staying stays feel feeling feels so very too more less "
    "most least not get getting gets look looking looks keep keeping sound sounds seem seems how "
    "really super remain remaining"
)
_CONN_RE = re.compile(r"(?:and|or|plus|also|then|&)(?!\w)", re.IGNORECASE)
_FILLER_RE = re.compile(
    r"(?:please|pls|plz|thanks|thank\syou|thx|videos?|short|clips?|reel|long|quick|a|an|for|with"
    r"|of|in|at|under|around|max|roughly|within|tone|vibe|style|duration|length)(?!\w)",
    re.IGNORECASE,
)
_LEAD_IN = _vocab(
    "hey hi hello ok okay can could would will you please pls i we want need like to let's lets "
    "make create generate produce draft write do give me us a an quick short video clip reel one "
    "some of for"
)
_SEP_CHARS = ",;:.!?\u2026-\u2013\u2014/&+()[]{}\"'\u201c\u201d\u2018\u2019\u00ab\u00bb*_~|"
_SEP_RE = re.compile(rf"[{re.escape(_SEP_CHARS)}]+(?!\w)|[,;]")
_WORD_RE = re.compile(r"[^\s,;]+")
_SIMPLE_KINDS = (("conn", _CONN_RE), ("filler", _FILLER_RE), ("sep", _SEP_RE), ("word", _WORD_RE))
_MARKERS = ("about", "regarding", "covering")
_KEYS = {  # "key: value" keys -> what they set
    alias: key
    for key, aliases in (
        ("platforms", "platforms platform channels channel on for"),
        ("duration", "duration length time"),
        ("tone", "tone style mood vibe"),
        ("topic", "topic about subject"),
    )
    for alias in aliases.split()
}
_KEY_RE = re.compile(rf"(?<![^\s,;])(?P<key>{'|'.join(_KEYS)})\s?:(?!/)", re.IGNORECASE)
_MATERIAL = frozenset(("duration", "platforms", "tone", "filler", "sep", "conn"))
_EDGE = " ,;:.!?\u2026-\u2013\u2014/"
_PAIRS = frozenset(zip("\"'\u201c\u2018\u00ab([*_", "\"'\u201d\u2019\u00bb)]*_", strict=True))


class _Token(NamedTuple):
    kind: str  # duration | platforms | tone | filler | sep | conn | word
    start: int
    end: int
    text: str
    platforms: tuple[Platform, ...] = ()
    seconds: float = 0.0
    tone: str = ""


@dataclass
class _Found:
    platforms: list[Platform] = field(default_factory=list)
    durations: list[tuple[float, str]] = field(default_factory=list)
    tones: list[str] = field(default_factory=list)

    def add(self, token: _Token) -> None:
        if token.kind == "platforms":
            self.platforms += [p for p in token.platforms if p not in self.platforms]
        elif token.kind == "duration":
            self.durations.append((token.seconds, token.text))
        elif token.kind == "tone":
            self.tones.append(token.tone)


# --- tokens --------------------------------------------------------------------------------------


def _platforms_in(text: str) -> tuple[Platform, ...]:
    found: list[Platform] = []
    for match in _ALIAS_RE.finditer(text):
        alias = match.group(0)
        if _ALL_RE.fullmatch(alias):
            return tuple(Platform)
        found += [p for p, rx in _PLATFORM_RES.items() if rx.fullmatch(alias) and p not in found]
    return tuple(found)


def _seconds(match: re.Match[str]) -> float:
    def number(text: str) -> float:
        return float(text.replace(",", "."))

    def scale(unit: str) -> float:
        return {"s": 1.0, "m": 60.0, "h": 3600.0}[_fold(unit[0])]

    if match.group("mm"):
        return number(match.group("mm")) * 60 + number(match.group("ss"))
    if match.group("num"):
        return number(match.group("num")) * scale(match.group("unit"))
    if match.group("words"):
        value = sum(_NUMBER_WORDS[w] for w in re.split(r"[\s-]", _fold(match.group("words"))))
        return value * scale(match.group("wunit"))
    if match.group("halfmin"):
        return 30.0
    return 90.0 if match.group("half1") or match.group("half2") else 60.0


def _tokens(text: str, topic_rules: bool, lead_material: bool = True) -> list[_Token]:
    """Split normalised text into tokens.

    With `topic_rules`, words that could belong to a topic ("calm", a bare "tiktok") count as
    tone or platform only next to other recognised parts; `lead_material` says whether the
    start of `text` counts as such a part.
    """
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        if text[pos] == " ":
            pos += 1
            continue
        prev = tokens[-1] if tokens else None
        loose = not topic_rules or (prev.kind in _MATERIAL if prev else lead_material)
        token: _Token | None = None
        if (m := _DURATION_RE.match(text, pos)) and not (
            m.group("unit")
            and _fold(m.group("unit")) == "s"
            and not m.group("gap")
            and (_DECADE_BEFORE.search(text[max(0, pos - 8) : pos]) or len(m.group("num")) == 4)
        ):
            token = _Token("duration", pos, m.end(), m.group(0), seconds=_seconds(m))
        elif (m := _PLATFORM_RE.match(text, pos)) and (
            m.group("prep")
            or loose
            or (
                _ALL_RE.fullmatch(m.group("list"))
                and (
                    _fold(m.group("list")) != "everywhere"
                    or prev is None
                    or _fold(prev.text) not in _GRAMMAR
                )
            )
        ):
            token = _Token(
                "platforms", pos, m.end(), m.group(0), platforms=_platforms_in(m.group("list"))
            )
        elif m := _TONE_RE.match(text, pos):
            word = _fold(m.group("tone"))
            strong = word in _STRONG_TONES and (prev is None or _fold(prev.text) not in _GRAMMAR)
            if m.group("pre") or m.group("post") or loose or strong:
                token = _Token("tone", pos, m.end(), m.group(0), tone=word)
        if token is None:
            for kind, regex in _SIMPLE_KINDS:
                if m := regex.match(text, pos):
                    token = _Token(kind, pos, m.end(), m.group(0))
                    break
        assert token is not None and token.end > pos  # _WORD_RE matches any non-space character
        if (
            prev
            and prev.kind == "tone"
            and topic_rules
            and token.kind == "word"
            and _fold(prev.text) == prev.tone
            and prev.tone not in _STRONG_TONES
        ):
            tokens[-1] = prev._replace(kind="word")  # "happy hour", "calm app": part of a topic
        tokens.append(token)
        pos = token.end
    return tokens


# --- request parsing -----------------------------------------------------------------------------


def _normalise(text: str) -> str:
    chars = (" " if unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in text)
    return " ".join("".join(chars).split())


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _unknown_platforms(names: list[str]) -> RequestError:
    shown = ", ".join(f"\u201c{_clip(n)}\u201d" for n in names)
    return RequestError(f"I can't post to {shown}. I can make drafts for: {_VALID}.")


def _check_unknown(tokens: list[_Token], index: int, mixed: bool) -> None:
    """Raise if the word at `index` names an unsupported platform ("for myspace"); with `mixed`,
    also any word listed with known platforms ("for tiktok and myspce")."""
    word = _fold(tokens[index].text).strip(_EDGE)
    prev = tokens[index - 1] if index > 0 else None
    after_prep = prev is not None and _fold(prev.text) in _PREPS
    if prev is not None and _fold(prev.text) in _FOR_PREPS and word in _OTHER_PLATFORMS:
        raise _unknown_platforms([word])
    if not mixed:
        return
    joined = prev is not None and prev.kind in ("conn", "sep")
    after_list = joined and index > 1 and tokens[index - 2].kind == "platforms"
    nxt = tokens[index + 1 : index + 3]
    before_list = (
        after_prep
        and len(nxt) == 2
        and nxt[0].kind in ("conn", "sep")
        and nxt[1].kind == "platforms"
    )
    if after_list or before_list:
        raise _unknown_platforms([word])


def _strip_pairs(text: str) -> str:
    text = text.strip(_EDGE)
    while len(text) >= 2 and (text[0], text[-1]) in _PAIRS:
        text = text[1:-1].strip(_EDGE)
    return text


def _parse_free(text: str, found: _Found) -> str:
    """Collect durations, platforms and tones from free text into `found`; return the topic."""
    scan = _tokens(text, topic_rules=False)
    words = [t for t in scan if t.kind == "word"]
    marker = next((t for t in words if _fold(t.text) in _MARKERS), None) or next(
        (t for t in words if _fold(t.text) == "on"), None
    )
    if marker is not None:
        prefix = _tokens(text[: marker.start], topic_rules=False)
        for index, token in enumerate(prefix):
            if token.kind == "word":
                _check_unknown(prefix, index, mixed=False)
            found.add(token)
        text = text[marker.end :].strip()
        tokens = _tokens(text, topic_rules=True, lead_material=False)
        first = next((i for i, t in enumerate(tokens) if t.kind not in ("sep", "conn")), None)
    else:
        tokens = _tokens(text, topic_rules=True)
        for index, token in enumerate(tokens):  # "can you make ...": lead-in words are filler
            if token.kind == "word" and _fold(token.text) not in _LEAD_IN:
                break
            if token.kind == "word":
                tokens[index] = token._replace(kind="filler")
        first = next((i for i, t in enumerate(tokens) if t.kind == "word"), None)
    last = next((i for i in range(len(tokens) - 1, -1, -1) if tokens[i].kind == "word"), None)
    if first is None or last is None or first > last:
        for token in tokens:
            found.add(token)
        return ""
    _check_unknown(tokens, last, mixed=True)
    for token in tokens[:first] + tokens[last + 1 :]:
        found.add(token)
    return _strip_pairs(text[tokens[first].start : tokens[last].end])


def _split_keys(text: str) -> tuple[str, dict[str, str]]:
    """Separate `key: value` parts from the free text before them."""
    matches = list(_KEY_RE.finditer(text))
    if not matches:
        return text, {}
    values: dict[str, str] = {}
    for match, following in zip(matches, [*matches[1:], None], strict=True):
        end = following.start() if following else len(text)
        key = _KEYS[_fold(match.group("key"))]
        values.setdefault(key, text[match.end() : end].strip(" ,;."))
    return text[: matches[0].start()], values


def _explicit_platforms(value: str) -> tuple[tuple[Platform, ...], str]:
    """The platforms listed in `value`, and any text after the list (for the free text)."""
    platforms: list[Platform] = []
    unknown: list[str] = []
    pos, joined = 0, True
    while pos < len(value):
        if skip := _LIST_SKIP_RE.match(value, pos):
            joined = joined or skip.group(0).strip() != ""
            pos = skip.end()
            continue
        if item := _LIST_ITEM_RE.match(value, pos):
            named = _platforms_in(item.group(0)) or tuple(Platform)  # only "all" names none
            platforms += [p for p in named if p not in platforms]
        elif platforms and not joined:  # "tiktok make a video about ...": the list has ended
            break
        else:
            item = _LIST_OTHER_RE.match(value, pos)
            assert item is not None
            unknown.append(item.group(0))
        pos, joined = item.end(), False
    if unknown:
        raise _unknown_platforms(unknown)
    if not platforms:
        raise RequestError(f"Name at least one platform after \u201cplatforms:\u201d: {_VALID}.")
    return tuple(platforms), value[pos:]


def _explicit_duration(value: str) -> tuple[float, str]:
    if m := re.fullmatch(r"([0-9]{1,9})(?: ?(?:s|secs?|seconds?))?", value, re.IGNORECASE):
        return float(m.group(1)), value
    if m := re.fullmatch(r"([0-9]{1,6}):([0-5][0-9])", value):
        return int(m.group(1)) * 60.0 + int(m.group(2)), value
    if (m := _DURATION_RE.match(value)) and m.end() == len(value):
        return _seconds(m), value
    raise RequestError(
        f"I couldn't read the duration \u201c{_clip(value)}\u201d. "
        "Use seconds or minutes, e.g. 30s, 45 seconds or 1.5 min."
    )


def _checked_duration(seconds: float, raw: str) -> int:
    rounded = math.floor(seconds + 0.5) if math.isfinite(seconds) and seconds < 1e9 else None
    if rounded is None or not MIN_DURATION_S <= rounded <= MAX_DURATION_S:
        asked = str(rounded) if rounded is not None else _clip(raw)
        raise RequestError(
            f"Duration must be between {MIN_DURATION_S} and {MAX_DURATION_S} "
            f"seconds; you asked for {asked}."
        )
    return int(rounded)


def parse_request(text: str) -> Brief:
    """Parse a free-text video request into a Brief; raises RequestError with a reply to show."""
    command = parse_command(text)
    text = _normalise(command.args if command.name else text)
    if not text:
        raise RequestError(f"Tell me what the video is about, e.g. {EXAMPLE}")
    free, explicit = _split_keys(text)
    platforms: tuple[Platform, ...] = ()
    if "platforms" in explicit:
        platforms, more = _explicit_platforms(explicit["platforms"])
        free = f"{free} {more}".strip()
    found = _Found()
    topic = _parse_free(free, found) if free else ""
    if explicit.get("topic"):
        topic = _strip_pairs(explicit["topic"])
    if not topic:
        raise RequestError(
            f"I couldn't tell what the video is about. Name the topic, e.g. {EXAMPLE}"
        )
    if len(topic) > MAX_TOPIC_CHARS:
        raise RequestError(
            f"That topic is {len(topic)} characters long; the limit is "
            f"{MAX_TOPIC_CHARS}. Please shorten it and send the request again."
        )
    if "duration" in explicit:
        duration = _checked_duration(*_explicit_duration(explicit["duration"]))
    elif found.durations:
        duration = _checked_duration(*found.durations[0])
    else:
        duration = DEFAULT_DURATION_S
    tone = _strip_pairs(" ".join(explicit.get("tone", "").lower().split()))
    if len(tone) > 40:
        raise RequestError("Keep the tone to a word or two, e.g. upbeat, calm or professional.")
    stated = {
        "platforms": bool(platforms or found.platforms),
        "duration": "duration" in explicit or bool(found.durations),
        "tone": bool(tone or found.tones),
    }
    return Brief(
        topic=topic,
        platforms=platforms or tuple(found.platforms) or DEFAULT_PLATFORMS,
        duration_s=duration,
        tone=tone or next(iter(found.tones), DEFAULT_TONE),
        stated=frozenset(name for name, said in stated.items() if said),
    )


_ASPECT_WORDS = (
    (re.compile(r"\b(square|1\s*:\s*1)\b", re.IGNORECASE), "1:1"),
    (re.compile(r"\b(landscape|horizontal|widescreen|16\s*:\s*9)\b", re.IGNORECASE), "16:9"),
)


def requested_aspects(text: str) -> list[str]:
    """The aspect ratios a request asks for: always 9:16, plus square or landscape if named."""
    return ["9:16", *(aspect for pattern, aspect in _ASPECT_WORDS if pattern.search(text))]
