"""Platform rules, text fitting and metadata checks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.content import Platform, PlatformMeta
from services.platforms import (
    ELLIPSIS,
    RULES,
    PlatformRules,
    check_duration,
    check_metadata,
    fit_text,
    hashtag_problem,
)


def _meta(platform: Platform, **changes: object) -> PlatformMeta:
    fields: dict[str, object] = {
        "platform": platform,
        "title": "Our autumn menu",
        "caption": "Meet our autumn menu. Follow for more!",
        "hashtags": ("#autumnmenu", "#shorts"),
    }
    fields.update(changes)
    return PlatformMeta.model_validate(fields)


def test_every_platform_has_rules() -> None:
    assert set(RULES) == set(Platform)
    assert all(isinstance(r, PlatformRules) and r.aspect == "9:16" for r in RULES.values())


def test_published_figures() -> None:
    youtube, tiktok = RULES[Platform.YOUTUBE], RULES[Platform.TIKTOK]
    instagram, facebook = RULES[Platform.INSTAGRAM], RULES[Platform.FACEBOOK]
    assert (youtube.title_max, youtube.caption_max, youtube.hashtags_max) == (100, 5000, 15)
    assert youtube.max_duration_s == 180
    assert (tiktok.caption_max, tiktok.hashtags_max) == (2200, 10)
    assert (tiktok.min_duration_s, tiktok.max_duration_s) == (3, 600)
    assert (instagram.caption_max, instagram.hashtags_max, instagram.max_duration_s) == (
        2200,
        30,
        900,
    )
    assert (facebook.caption_max, facebook.min_duration_s, facebook.max_duration_s) == (2200, 3, 90)


def test_rules_are_read_only() -> None:
    with pytest.raises(TypeError):
        RULES[Platform.YOUTUBE] = RULES[Platform.TIKTOK]  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short enough", 20, "short enough"),
        ("exactly ten", 11, "exactly ten"),
        ("our autumn menu is here", 16, "our autumn menu…"),
        ("our autumn menu is here", 15, "our autumn…"),
        ("hello, world again", 14, "hello, world…"),
        ("supercalifragilistic", 8, "superca…"),
        ("anything", 1, ELLIPSIS),
        ("anything", 0, ""),
        ("anything", -3, ""),
        ("", 5, ""),
    ],
)
def test_fit_text_examples(text: str, limit: int, expected: str) -> None:
    assert fit_text(text, limit) == expected


def test_fit_text_cuts_at_a_word_boundary() -> None:
    result = fit_text("Stop scrolling, it's time for our autumn menu", 30)
    assert result == "Stop scrolling, it's time for…"
    assert " " not in result[-2:]


@given(st.text(), st.integers(min_value=-5, max_value=400))
def test_fit_text_never_exceeds_the_limit(text: str, limit: int) -> None:
    result = fit_text(text, limit)
    assert len(result) <= max(limit, 0)
    if len(text) <= limit:
        assert result == text
    elif limit > 0:
        assert result.endswith(ELLIPSIS)
        assert text.startswith(result[:-1])


def test_valid_metadata_has_no_problems() -> None:
    for platform in Platform:
        assert check_metadata(_meta(platform)) == []


def test_flags_an_over_long_caption() -> None:
    problems = check_metadata(_meta(Platform.TIKTOK, caption="x" * 2201))
    assert problems == ["TikTok caption is 2201 characters; the limit is 2200."]


def test_youtube_description_may_be_longer() -> None:
    assert check_metadata(_meta(Platform.YOUTUBE, caption="word " * 900)) == []
    assert check_metadata(_meta(Platform.YOUTUBE, caption="x" * 5001)) != []


def test_flags_caption_plus_hashtags_over_the_limit() -> None:
    problems = check_metadata(_meta(Platform.INSTAGRAM, caption="x" * 2190))
    assert len(problems) == 1
    assert "with its hashtags" in problems[0]


def test_flags_too_many_hashtags() -> None:
    tags = tuple(f"#tag{i}" for i in range(11))
    problems = check_metadata(_meta(Platform.TIKTOK, hashtags=tags))
    assert problems == ["TikTok allows at most 10 hashtags; there are 11."]
    assert check_metadata(_meta(Platform.INSTAGRAM, hashtags=tags)) == []
    many = tuple(f"#tag{i}" for i in range(16))
    assert any("at most 15" in p for p in check_metadata(_meta(Platform.YOUTUBE, hashtags=many)))


def test_flags_an_over_long_title() -> None:
    problems = check_metadata(_meta(Platform.YOUTUBE, title="t" * 101))
    assert problems == ["YouTube title is 101 characters; the limit is 100."]


def test_flags_bad_and_duplicate_hashtags() -> None:
    problems = check_metadata(
        _meta(Platform.FACEBOOK, hashtags=("#ok", "no_hash", "#two words", "#", "#OK"))
    )
    assert len(problems) == 4
    assert any("'#OK' appears more than once" in p for p in problems)


def test_youtube_needs_a_title_without_angle_brackets() -> None:
    assert check_metadata(_meta(Platform.YOUTUBE, title="  ")) == [
        "YouTube needs a title; it is empty."
    ]
    problems = check_metadata(_meta(Platform.YOUTUBE, title="a <b>", caption="c > d"))
    assert problems == [
        "YouTube does not allow < or > in the title.",
        "YouTube does not allow < or > in the description.",
    ]
    assert check_metadata(_meta(Platform.TIKTOK, title="a <b>")) == []


@pytest.mark.parametrize(
    ("tag", "ok"),
    [
        ("#coldbrew", True),
        ("#café", True),
        ("#冷萃", True),
        ("#q3_hiring", True),
        ("coldbrew", False),
        ("#", False),
        ("#cold brew", False),
        ("#a-b", False),
    ],
)
def test_hashtag_problem(tag: str, ok: bool) -> None:
    assert (hashtag_problem(tag) is None) is ok


def test_check_duration() -> None:
    assert check_duration(Platform.YOUTUBE, 180) == []
    assert check_duration(Platform.FACEBOOK, 90) == []
    assert check_duration(Platform.FACEBOOK, 120) == [
        "Facebook takes videos of 3 to 90 seconds; this one is 120 s."
    ]
    assert check_duration(Platform.TIKTOK, 2.5) != []


def test_video_rules_name_what_does_not_fit() -> None:
    from services.platforms import VideoFacts, check_video, fit_problems

    vertical = VideoFacts(duration_s=30.0, width=1080, height=1920, size_bytes=20 * 2**20)
    assert all(check_video(p, vertical) == [] for p in Platform)
    long_wide = VideoFacts(duration_s=95.0, width=1920, height=1080, size_bytes=400 * 2**20)
    facebook = " ".join(check_video(Platform.FACEBOOK, long_wide))
    assert "3 to 90 seconds" in facebook and "95 s" in facebook and "vertical 9:16" in facebook
    assert "300 MB" in " ".join(check_video(Platform.INSTAGRAM, long_wide))
    assert check_video(Platform.YOUTUBE, long_wide) == []  # a regular YouTube video
    small = VideoFacts(duration_s=10.0, width=360, height=640, size_bytes=2**20)
    assert "at least 540x960" in " ".join(check_video(Platform.FACEBOOK, small))
    meta = PlatformMeta(platform=Platform.TIKTOK, title="t", caption="c", hashtags=("#a",) * 11)
    problems = fit_problems([meta], long_wide)
    assert list(problems) == [Platform.TIKTOK]
    assert any("at most 10 hashtags" in p for p in problems[Platform.TIKTOK])
