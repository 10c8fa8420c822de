"""Reading a campaign's settings from one line of chat, for `/campaign new` and `/campaign edit`.

    "Monday tips" every mon,thu 9:00 template:weekly-tips topics: grinder care; milk foam

The name comes first (in quotes, or the words before "every"). Then, in any order: the
cadence ("every …", services.cadence), `template:<name>` (`template:none` clears it),
`platforms: tiktok, youtube` (`platforms: default` clears them), where topics come from
(`topics: a; b; c`, `feed: <url>` or `ideas`), and `auto 2h` / `auto off` (publish unless
someone rejects within that time, or wait for approval). `topics:` takes the rest of the line
up to the next `key:` (or a final `auto …`), so it goes last.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NoReturn

from services.cadence import Cadence, CadenceError, parse_cadence
from services.content import Platform

NAME_CHARS = 60
TOPIC_CHARS = 200
MAX_TOPICS = 200
MIN_AUTO_S = 10 * 60
MAX_AUTO_S = 7 * 24 * 3600
EXAMPLE = (
    '/campaign new "Monday tips" every mon,thu 9:00 template:weekly-tips '
    "topics: grinder care; milk foam; latte art"
)
SOURCES_HELP = "topics: a; b; c (a list), feed: <RSS or Atom URL>, or ideas (the writer suggests)"
_QUOTES = {'"': '"', "“": "”", "«": "»", "'": "'", "„": "“"}
_KEY = re.compile(r"(?<!\S)(template|platforms|topics|feed|auto)\s*:\s*", re.IGNORECASE)
_SPAN_WORDS = r"(?:\d+\s*(?:days?|d|hours?|hrs?|h|minutes?|mins?|m)(?![a-z])\s*)+"
_AUTO_VALUE = re.compile(rf"(off|no|none|never|{_SPAN_WORDS})(?!\S)", re.IGNORECASE)
_TRAILING_AUTO = re.compile(
    rf"(?<!\S)auto\s*:?\s+(?:off|no|none|never|{_SPAN_WORDS})\s*$", re.IGNORECASE
)
_AUTO = re.compile(r"(?<!\S)auto\s+(\S+(?:\s+\S+)?)", re.IGNORECASE)
_IDEAS = re.compile(r"(?<!\S)ideas(?!\S)", re.IGNORECASE)
_SPAN = re.compile(r"(\d+)\s*(d|days?|h|hrs?|hours?|m|mins?|minutes?)", re.IGNORECASE)
_PLATFORM_NAMES = {
    **{p.value: (p,) for p in Platform},
    **dict.fromkeys(("yt", "shorts"), (Platform.YOUTUBE,)),
    **dict.fromkeys(("ig", "insta", "reels"), (Platform.INSTAGRAM,)),
    **dict.fromkeys(("fb",), (Platform.FACEBOOK,)),
    "all": tuple(Platform),
}


class SpecError(ValueError):
    """Settings that can't be read; the message says what works."""


class TopicSource(StrEnum):
    """Where a campaign's topics come from."""

    LIST = "list"
    FEED = "feed"
    IDEAS = "ideas"


@dataclass(frozen=True)
class CampaignSpec:
    """What one line set; `given` names the fields it set (None in a given field clears it)."""

    cadence: Cadence | None = None
    template: str | None = None
    platforms: tuple[Platform, ...] | None = None
    source: TopicSource | None = None
    topics: tuple[str, ...] = ()
    feed_url: str | None = None
    auto_publish_after_s: int | None = None
    given: frozenset[str] = field(default=frozenset())


def split_name(text: str) -> tuple[str, str]:
    """The campaign name at the start of `text` (quoted, or the words before "every" or the
    first `key:`), and the rest."""
    text = text.strip()
    close = _QUOTES.get(text[:1])
    if close is not None:
        end = text.find(close, 1)
        if end < 0:
            raise SpecError(f"The name's closing quote is missing: e.g. {EXAMPLE}")
        return check_name(text[1:end]), text[end + 1 :].strip()
    stop = re.search(r"(?<!\S)every(?!\S)|" + _KEY.pattern, text, re.IGNORECASE)
    name, rest = (text[: stop.start()], text[stop.start() :]) if stop else (text, "")
    return check_name(name), rest.strip()


def check_name(raw: str) -> str:
    """`raw` as a campaign name, on one line; `SpecError` if empty or too long."""
    name = " ".join(raw.split())
    if not name:
        raise SpecError(f"Give the campaign a name in quotes, e.g. {EXAMPLE}")
    if len(name) > NAME_CHARS or any(ch in name for ch in '<>"“”'):
        raise SpecError(f"Keep the name under {NAME_CHARS} characters, without quotes or < >.")
    return name


def parse_spec(text: str) -> CampaignSpec:
    """The settings in `text` (everything after the name); `SpecError` saying what works."""
    values: dict[str, object] = {}
    loose: list[str] = []
    matches = list(_KEY.finditer(text))
    loose.append(text[: matches[0].start()] if matches else text)
    following_keys: list[re.Match[str] | None] = [*matches[1:], None] if matches else []
    for match, following in zip(matches, following_keys, strict=True):
        key = match[1].lower()
        value = text[match.end() : following.start() if following else len(text)].strip()
        if key in values:
            raise SpecError(f"“{key}:” is given twice; give it once.")
        if key == "topics":
            # "topics: a; b auto 2h": a trailing auto setting is not part of the last topic.
            if (trailing := _TRAILING_AUTO.search(value)) is not None:
                loose.append(value[trailing.start() :])
                value = value[: trailing.start()]
            values["topics"] = _topics(value)
            continue
        head, _, tail = value.partition(" ")
        if key == "platforms":
            values[key], tail = _platforms(value)
        elif key == "template":
            values[key] = _template(head)
        elif key == "feed":
            values[key] = head or _missing("feed:", "a feed's URL")
        else:
            values[key], tail = _auto_at_start(value)
        loose.append(tail)
    rest = " ".join(" ".join(loose).split())
    if (auto := _AUTO.search(rest)) is not None:
        if "auto" in values:
            raise SpecError("“auto” is given twice; give it once.")
        values["auto"], after = _auto_at_start(rest[auto.start(1) :])
        rest = f"{rest[: auto.start()]} {after}".strip()
    if (ideas := _IDEAS.search(rest)) is not None:
        values["ideas"] = True
        rest = (rest[: ideas.start()] + rest[ideas.end() :]).strip()
    cadence = None
    if rest:
        if not rest.lower().startswith("every"):
            shown = rest if len(rest) <= 40 else rest[:39] + "…"
            raise SpecError(
                f"I don't know what “{shown}” means here. The settings are: every <days> <time>, "
                f"template:<name>, platforms: <list>, {SOURCES_HELP}, auto <time> or auto off."
            )
        try:
            cadence = parse_cadence(rest)
        except CadenceError as exc:
            raise SpecError(str(exc)) from None
    return _spec(values, cadence)


def _spec(values: dict[str, object], cadence: Cadence | None) -> CampaignSpec:
    sources = [key for key in ("topics", "feed", "ideas") if key in values]
    if len(sources) > 1:
        raise SpecError(f"Choose one source of topics: {SOURCES_HELP}.")
    given: set[str] = {name for name in ("template", "platforms") if name in values}
    given |= {"auto"} if "auto" in values else set()
    given |= {"cadence"} if cadence is not None else set()
    source = None
    if sources:
        given.add("source")
        source = {"topics": TopicSource.LIST, "feed": TopicSource.FEED}.get(
            sources[0], TopicSource.IDEAS
        )
    topics = values.get("topics", ())
    return CampaignSpec(
        cadence=cadence,
        template=values.get("template"),  # type: ignore[arg-type]
        platforms=values.get("platforms"),  # type: ignore[arg-type]
        source=source,
        topics=topics,  # type: ignore[arg-type]
        feed_url=values.get("feed"),  # type: ignore[arg-type]
        auto_publish_after_s=values.get("auto"),  # type: ignore[arg-type]
        given=frozenset(given),
    )


def _missing(key: str, what: str) -> NoReturn:
    raise SpecError(f"Give {what} after “{key}”.")


def _topics(value: str) -> tuple[str, ...]:
    topics = []
    for raw in re.split(r"[;\n]", value):
        topic = " ".join(raw.split()).strip(" ,.")
        if not topic:
            continue
        if len(topic) > TOPIC_CHARS:
            raise SpecError(f"Keep each topic under {TOPIC_CHARS} characters.")
        topics.append(topic)
    if not topics:
        raise SpecError("List the topics after “topics:”, separated by semicolons: a; b; c.")
    if len(topics) > MAX_TOPICS:
        raise SpecError(f"That is {len(topics)} topics; give at most {MAX_TOPICS} at a time.")
    return tuple(topics)


def _template(name: str) -> str | None:
    name = name.strip().lower()
    if not name:
        _missing("template:", "the template's name (or none)")
    return None if name in ("none", "off") else name


def _platforms(value: str) -> tuple[tuple[Platform, ...] | None, str]:
    """The platforms listed at the start of `value`, and the text after the list."""
    words = re.split(r"(\s*(?:,|/|&|\band\b|\s)\s*)", value.strip())
    found: list[Platform] = []
    used = 0
    for index, word in enumerate(words):
        if index % 2:  # a separator
            continue
        key = word.lower()
        if key in ("default", "none") and not found:
            return None, "".join(words[index + 1 :])
        if key not in _PLATFORM_NAMES:
            break
        found += [p for p in _PLATFORM_NAMES[key] if p not in found]
        used = index + 1
    if not found:
        valid = ", ".join(p.value for p in Platform)
        raise SpecError(f"Name the platforms after “platforms:”: {valid} (or default).")
    return tuple(found), "".join(words[used:])


def _auto_at_start(text: str) -> tuple[int | None, str]:
    """The auto-publish time at the start of `text` (None: off), and the text after it."""
    match = _AUTO_VALUE.match(text.strip())
    if match is None:
        shown = " ".join(text.split()[:2])[:20]
        raise SpecError(
            f"“auto {shown}”: give how long people have to reject a draft before it publishes "
            "by itself, e.g. auto 2h, auto 90m or auto 1d; or auto off."
        )
    return _auto(match[1]), text.strip()[match.end() :]


def _auto(text: str) -> int | None:
    said = text.strip().lower()
    if said in ("off", "no", "none", "never"):
        return None
    spans = list(_SPAN.finditer(said.replace(" ", "")))
    seconds = 0
    for span in spans:
        unit = span[2][0]
        seconds += int(span[1]) * {"d": 86400, "h": 3600, "m": 60}[unit]
    if not MIN_AUTO_S <= seconds <= MAX_AUTO_S:
        raise SpecError("Give between 10 minutes and 7 days for auto-publishing, e.g. auto 2h.")
    return seconds


def describe_span(seconds: int) -> str:
    """“2 h”, “90 min”, “1 day 6 h”."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days} day{'s' if days != 1 else ''}"] if days else []
    if hours and minutes and not days:
        return f"{hours * 60 + minutes} min"
    parts += [f"{hours} h"] if hours else []
    parts += [f"{minutes} min"] if minutes else []
    return " ".join(parts) or "0 min"
