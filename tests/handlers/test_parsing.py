"""Parsing chat text into commands and briefs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.parsing import Command, RequestError, parse_command, parse_request
from services.content import MAX_DURATION_S, MAX_TOPIC_CHARS, MIN_DURATION_S, Brief, Platform

YT, TT, IG, FB = Platform.YOUTUBE, Platform.TIKTOK, Platform.INSTAGRAM, Platform.FACEBOOK
ALL = (YT, TT, IG, FB)
VALID_LIST = "youtube, tiktok, instagram, facebook"


def _error(text: str) -> str:
    with pytest.raises(RequestError) as caught:
        parse_request(text)
    return str(caught.value)


def test_the_example() -> None:
    brief = parse_request(
        "make a 30 second short about our autumn menu for TikTok and YouTube, upbeat"
    )
    assert brief == Brief("our autumn menu", (TT, YT), 30, "upbeat")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s tiktok about cold brew, funny", Brief("cold brew", (TT,), 30, "funny")),
        ("a calm 45 second reel on Q3 hiring for instagram", Brief("Q3 hiring", (IG,), 45, "calm")),
        ("cold brew", Brief("cold brew", ALL, 30, "upbeat")),
        ("make a 1.5 min video about Q3 hiring everywhere", Brief("Q3 hiring", ALL, 90, "upbeat")),
        (
            "90-second reel about the new espresso machine for ig, professional",
            Brief("the new espresso machine", (IG,), 90, "professional"),
        ),
        ("video on cold brew on tik tok and insta", Brief("cold brew", (TT, IG), 30, "upbeat")),
        (
            "make a youtube short and an instagram reel about our new menu",
            Brief("our new menu", (YT, IG), 30, "upbeat"),
        ),
        (
            "can you make a 30s tiktok cold brew funny please",
            Brief("cold brew", (TT,), 30, "funny"),
        ),
        ("about cold brew in a calm tone", Brief("cold brew", ALL, 30, "calm")),
        ("about cold brew, make it playful", Brief("cold brew", ALL, 30, "playful")),
        ("make a video about coffee for all platforms", Brief("coffee", ALL, 30, "upbeat")),
        (
            "make a short about a day in the life of a barista for reels and shorts",
            Brief("a day in the life of a barista", (IG, YT), 30, "upbeat"),
        ),
        (
            "make a 30 second video about cold brew for tiktok, ig and fb in an inspiring tone",
            Brief("cold brew", (TT, IG, FB), 30, "inspiring"),
        ),
        (
            "make a video about cold brew for tiktok upbeat 45 seconds",
            Brief("cold brew", (TT,), 45, "upbeat"),
        ),
        (
            "/draft@MyBot make a video about \u201ccold brew\u201d please",
            Brief("cold brew", ALL, 30, "upbeat"),
        ),
        ("make a serious video about layoffs", Brief("layoffs", ALL, 30, "serious")),
        ("create an upbeat 20 sec clip about C++ tips", Brief("C++ tips", ALL, 20, "upbeat")),
        ("make a video about \U0001f383 for fb", Brief("\U0001f383", (FB,), 30, "upbeat")),
    ],
)
def test_requests(text: str, expected: Brief) -> None:
    assert parse_request(text) == expected


@pytest.mark.parametrize(
    ("phrase", "seconds"),
    [
        ("30s", 30),
        ("30 sec", 30),
        ("30 seconds", 30),
        ("1 minute", 60),
        ("1 min", 60),
        ("90-second", 90),
        ("1.5 min", 90),
        ("45secs", 45),
        ("2 minutes", 120),
        ("1m30s", 90),
        ("thirty second", 30),
        ("forty-five seconds", 45),
        ("a minute", 60),
        ("half a minute", 30),
        ("a minute and a half", 90),
        ("2,5 min", 150),
        ("7.5 seconds", 8),
    ],
)
def test_durations(phrase: str, seconds: int) -> None:
    assert parse_request(f"make a {phrase} video about cold brew").duration_s == seconds


@pytest.mark.parametrize(
    ("alias", "platform"),
    [
        ("yt", YT),
        ("youtube", YT),
        ("YouTube Shorts", YT),
        ("shorts", YT),
        ("ig", IG),
        ("insta", IG),
        ("Instagram", IG),
        ("reels", IG),
        ("instagram reels", IG),
        ("fb", FB),
        ("facebook", FB),
        ("tiktok", TT),
        ("tik tok", TT),
        ("TikTok", TT),
        ("tik-tok", TT),
    ],
)
def test_platform_aliases(alias: str, platform: Platform) -> None:
    assert parse_request(f"a short about cold brew for {alias}").platforms == (platform,)


@pytest.mark.parametrize(
    "text",
    [
        "a short about cold brew for all platforms",
        "a short about cold brew everywhere",
        "platforms: all topic: cold brew",
        "a short about cold brew for every platform",
    ],
)
def test_all_platforms(text: str) -> None:
    assert parse_request(text).platforms == ALL


@pytest.mark.parametrize(
    "tone", ["upbeat", "calm", "professional", "funny", "inspiring", "informative", "playful"]
)
def test_tone_words(tone: str) -> None:
    assert parse_request(f"a {tone} short about cold brew").tone == tone
    assert parse_request(f"a short about cold brew, {tone}").tone == tone
    assert parse_request(f"about cold brew tone: {tone.upper()}").tone == tone


def test_explicit_tone_may_be_any_short_phrase() -> None:
    assert parse_request("about cold brew tone: dry and witty").tone == "dry and witty"


def test_key_value_form() -> None:
    brief = parse_request("cold brew platforms: tiktok, ig duration: 45 tone: calm")
    assert brief == Brief("cold brew", (TT, IG), 45, "calm")
    brief = parse_request("platforms: yt duration: 1:30 topic: the Q3 hiring plan")
    assert brief == Brief("the Q3 hiring plan", (YT,), 90, "upbeat")
    brief = parse_request("on: fb, youtube shorts tone: funny about: cold brew")
    assert brief == Brief("cold brew", (FB, YT), 30, "funny")


def test_explicit_values_win_over_free_text() -> None:
    brief = parse_request("a 20s calm short about cold brew for tiktok duration: 40 tone: funny")
    assert (brief.duration_s, brief.tone, brief.platforms) == (40, "funny", (TT,))


def test_text_after_an_explicit_platform_list_is_still_read() -> None:
    brief = parse_request("platforms: tiktok make a video about cold brew")
    assert brief == Brief("cold brew", (TT,), 30, "upbeat")


def test_defaults() -> None:
    assert parse_request("make a video about cold brew") == Brief("cold brew", ALL, 30, "upbeat")


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("make a video about tips for tiktok creators", "tips for tiktok creators"),
        ("make a video about gifts for mom", "gifts for mom"),
        ("make a short about staying calm", "staying calm"),
        ("make a short about how to be funny", "how to be funny"),
        ("happy hour specials for tiktok", "happy hour specials"),
        ("professional development tips", "professional development tips"),
        ("about our 90s throwback night for ig", "our 90s throwback night"),
        ("make a video about the 80s for fb", "the 80s"),
        ("make a video about our youtube channel growth", "our youtube channel growth"),
        ("make a video about apps on twitter", "apps on twitter"),
        ("a short on how we brew", "how we brew"),
    ],
)
def test_topic_words_are_not_taken_for_settings(text: str, topic: str) -> None:
    assert parse_request(text).topic == topic


def test_empty_request() -> None:
    message = (
        "Tell me what the video is about, e.g. /draft a 30 second short about our autumn menu "
        "for TikTok"
    )
    for text in ("", "   ", "\n\t", "/draft", "/draft@MyBot   "):
        assert _error(text) == message


def test_request_without_a_topic() -> None:
    message = _error("make a 30 second short for tiktok")
    assert "what the video is about" in message
    assert "/draft" in message


def test_topic_too_long() -> None:
    message = _error("make a video about " + "x" * (MAX_TOPIC_CHARS + 5))
    assert str(MAX_TOPIC_CHARS) in message
    assert str(MAX_TOPIC_CHARS + 5) in message
    assert parse_request("about " + "y" * MAX_TOPIC_CHARS).topic == "y" * MAX_TOPIC_CHARS


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("make a video about cold brew for myspace", "myspace"),
        ("make a video about cold brew for Twitter, upbeat", "twitter"),
        ("make a video about cold brew for tiktok and myspce", "myspce"),
        ("make a short for snapchat about cold brew", "snapchat"),
        ("cold brew platforms: tiktok, myspace", "myspace"),
        ("on: vimeo about: cold brew", "vimeo"),
    ],
)
def test_unknown_platform(text: str, name: str) -> None:
    message = _error(text)
    assert f"\u201c{name}\u201d" in message
    assert message.endswith(f"I can make drafts for: {VALID_LIST}.")


def test_empty_platform_list() -> None:
    assert VALID_LIST in _error("cold brew platforms:")


@pytest.mark.parametrize(
    ("text", "asked"),
    [
        ("make a 10 minute short about cold brew", "600"),
        ("make a 3 second short about cold brew", "3"),
        ("about cold brew duration: 600", "600"),
        ("about cold brew duration: 0", "0"),
        ("make a 2 hour video about cold brew", "7200"),
    ],
)
def test_duration_out_of_range(text: str, asked: str) -> None:
    assert _error(text) == (
        f"Duration must be between {MIN_DURATION_S} and {MAX_DURATION_S} seconds; "
        f"you asked for {asked}."
    )


def test_unreadable_explicit_duration() -> None:
    message = _error("about cold brew duration: banana")
    assert "banana" in message
    assert "30s" in message


def test_over_long_explicit_tone() -> None:
    assert "tone" in _error("about cold brew tone: " + "very " * 20 + "calm")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Under re.IGNORECASE "\u017f" (long s) and "\u212a" (Kelvin) match "s" and "k".
        ("make a \u017fix \u017fecond video about x", Brief("x", ALL, 6, "upbeat")),
        ("about x \u017ftyle: funny", Brief("x", ALL, 30, "funny")),
        ("a \u017ferious short about x for ti\u212atok", Brief("x", (TT,), 30, "serious")),
        ("make a 30 \u017fec video about x", Brief("x", ALL, 30, "upbeat")),
    ],
)
def test_case_insensitive_lookalikes(text: str, expected: Brief) -> None:
    assert parse_request(text) == expected


def test_large_input_is_linear() -> None:
    text = "make a short about " + "cold brew for tiktok and the 90s, calm " * 5000
    assert "characters long" in _error(text)


def test_request_error_is_a_value_error() -> None:
    assert issubclass(RequestError, ValueError)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/draft@MyBot foo bar", Command("draft", "foo bar")),
        ("   /Draft  foo  ", Command("draft", "foo")),
        ("/DRAFTS", Command("drafts", "")),
        ("/status 12", Command("status", "12")),
        ("/draft@MyBot", Command("draft", "")),
        ("/draft\nline one\nline two", Command("draft", "line one\nline two")),
        ("make a video", Command("", "make a video")),
        ("", Command("", "")),
        ("/", Command("", "/")),
        ("/ draft", Command("", "/ draft")),
        ("/draft-it now", Command("", "/draft-it now")),
    ],
)
def test_parse_command(text: str, expected: Command) -> None:
    assert parse_command(text) == expected


def _check_outcome(text: str) -> None:
    try:
        brief = parse_request(text)
    except RequestError as exc:
        assert str(exc)
        return
    assert isinstance(brief, Brief)
    assert 1 <= len(brief.platforms) <= 4
    assert len(set(brief.platforms)) == len(brief.platforms)
    assert all(isinstance(p, Platform) for p in brief.platforms)
    assert MIN_DURATION_S <= brief.duration_s <= MAX_DURATION_S
    assert brief.topic.strip() == brief.topic != ""
    assert len(brief.topic) <= MAX_TOPIC_CHARS
    assert brief.tone


@given(st.text())
def test_any_text_gives_a_brief_or_a_request_error(text: str) -> None:
    _check_outcome(text)


_VOCAB = [
    "make",
    "a",
    "30",
    "second",
    "30s",
    "1.5",
    "min",
    "minute",
    "short",
    "about",
    "on",
    "for",
    "tiktok",
    "tik",
    "tok",
    "yt",
    "youtube",
    "shorts",
    "ig",
    "insta",
    "reels",
    "fb",
    "and",
    ",",
    "upbeat",
    "calm",
    "happy",
    "tone:",
    "platforms:",
    "duration:",
    "topic:",
    "on:",
    "myspace",
    "everywhere",
    "all",
    "platforms",
    "the",
    "90s",
    "\U0001f383",
    "half",
    "one",
    "thirty",
    "-",
    "in",
    "an",
    "please",
    "/draft",
    ":",
    "1:30",
    "cold",
    "brew",
    "\u201c",
    "'",
    "x" * 120,
]


@settings(max_examples=300)
@given(st.lists(st.sampled_from(_VOCAB), max_size=30), st.sampled_from([" ", "", ", "]))
def test_request_like_text_gives_a_brief_or_a_request_error(words: list[str], sep: str) -> None:
    _check_outcome(sep.join(words))


@given(st.text())
def test_parse_command_never_raises(text: str) -> None:
    command = parse_command(text)
    assert command.name == command.name.lower()
    if command.name:
        assert text.lstrip().startswith("/")
    else:
        assert command.args == text
