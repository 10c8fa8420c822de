"""The offline template writer: valid, sized, deterministic scripts and in-limit metadata."""

from __future__ import annotations

import asyncio
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.content import Brief, Platform, PlatformMeta, Script
from services.platforms import RULES, check_metadata
from services.writer import KNOWN_TONES, TONES, WORDS_PER_SECOND, OfflineWriter, Writer

LONG_TOPIC = (
    "Our new seasonal menu featuring pumpkin spice lattes, maple pecan pie, roasted squash soup "
    "and a whole lot of cozy autumn vibes for everyone who loves the colder months, plus a few "
    "surprises from the kitchen team that we have been working on since the summer, all served "
    "in our newly renovated dining room downtown near the old station every day until late"
)[:300]
TOPICS = [
    "our autumn menu",
    "cold brew",
    "Q3 hiring",
    "Café déjà vu ☕️ 冷萃咖啡",
    "🎃🍂✨",
    "Our new <b>launch</b> & more!!!",
    LONG_TOPIC,
    "x" * 300,
]
STYLE_TONES = ["upbeat", "calm", "professional", "funny", "inspiring", "informative", "neutral"]
TONE_CASES = [*STYLE_TONES, "zany"]
ALL = tuple(Platform)


def _write(brief: Brief) -> tuple[Script, tuple[PlatformMeta, ...]]:
    async def both() -> tuple[Script, tuple[PlatformMeta, ...]]:
        writer = OfflineWriter()
        script = await writer.write(brief)
        return script, await writer.metadata(brief, script)

    return asyncio.run(both())


def _check(brief: Brief, script: Script) -> None:
    assert Script.model_validate(script.model_dump()) == script
    assert script.writer == "offline"
    assert 3 <= len(script.scenes) <= 6
    for scene in script.scenes:
        assert 1 <= len(scene.on_screen.split()) <= 6
        assert scene.narration.strip()
    if brief.duration_s >= 15:
        target = brief.duration_s * WORDS_PER_SECOND
        words = len(script.narration().split())
        assert abs(words - target) <= 0.25 * target, (words, target)


def test_offline_writer_is_a_writer() -> None:
    writer: Writer = OfflineWriter()
    assert isinstance(writer, OfflineWriter)


def test_known_tones_cover_the_styles() -> None:
    assert set(STYLE_TONES) <= KNOWN_TONES
    assert TONES["playful"] == "funny"
    assert TONES["energetic"] == "upbeat"


@pytest.mark.parametrize("topic", TOPICS, ids=range(len(TOPICS)))
@pytest.mark.parametrize("tone", TONE_CASES)
@pytest.mark.parametrize("duration", [5, 30, 180])
async def test_scripts_and_metadata_are_valid(topic: str, tone: str, duration: int) -> None:
    brief = Brief(topic=topic, platforms=ALL, duration_s=duration, tone=tone)
    writer = OfflineWriter()
    script = await writer.write(brief)
    _check(brief, script)
    assert await writer.write(brief) == script  # deterministic
    metadata = await writer.metadata(brief, script)
    assert [m.platform for m in metadata] == list(ALL)
    for meta in metadata:
        assert check_metadata(meta) == [], meta
        assert meta.title and meta.caption


@pytest.mark.parametrize("duration", range(15, 181, 5))
def test_narration_fills_every_duration(duration: int) -> None:
    for tone in STYLE_TONES:
        brief = Brief("our autumn menu", ALL, duration, tone)
        _check(brief, _write(brief)[0])


def test_short_videos_stay_short() -> None:
    script, _ = _write(Brief("cold brew", ALL, 5, "upbeat"))
    assert len(script.scenes) == 3
    assert len(script.narration().split()) <= 20


def test_scene_count_grows_with_duration() -> None:
    counts = [len(_write(Brief("cold brew", ALL, d, "calm"))[0].scenes) for d in (15, 30, 60)]
    assert counts == sorted(counts)
    assert counts[0] == 3
    assert counts[-1] == 6


def test_reads_naturally_for_the_example() -> None:
    brief = Brief("our autumn menu", (Platform.TIKTOK, Platform.YOUTUBE), 30, "upbeat")
    script, metadata = _write(brief)
    assert "our autumn menu" in script.hook
    assert script.scenes[0].on_screen == "Our autumn menu"
    assert script.title.startswith("Our autumn menu") or "our autumn menu" in script.title
    assert "{" not in script.narration()
    assert [m.platform for m in metadata] == [Platform.TIKTOK, Platform.YOUTUBE]


def test_tone_changes_the_phrasing() -> None:
    upbeat = _write(Brief("cold brew", ALL, 30, "upbeat"))[0]
    calm = _write(Brief("cold brew", ALL, 30, "calm"))[0]
    assert upbeat.hook != calm.hook
    assert upbeat.call_to_action != calm.call_to_action


def test_topic_varies_the_phrasing() -> None:
    scripts = {_write(Brief(t, ALL, 30, "upbeat"))[0].narration() for t in TOPICS[:4]}
    assert len(scripts) == 4


def test_unknown_tone_falls_back_to_neutral() -> None:
    assert (
        _write(Brief("cold brew", ALL, 30, "zany"))[0]
        == _write(Brief("cold brew", ALL, 30, "neutral"))[0]
    )


def test_tone_aliases_and_phrases_use_their_style() -> None:
    funny = _write(Brief("cold brew", ALL, 30, "funny"))[0]
    assert _write(Brief("cold brew", ALL, 30, "Playful"))[0] == funny
    assert _write(Brief("cold brew", ALL, 30, "very funny, please"))[0] == funny


def test_narration_has_no_emoji_or_markup() -> None:
    script, _ = _write(Brief("🎃 *pumpkin* <b>latte</b> ☕️", ALL, 30, "upbeat"))
    text = script.narration()
    assert "pumpkin" in text
    for ch in text:
        assert unicodedata.category(ch) not in ("So", "Sk", "Cc"), ch
        assert ch not in "*<>"


def test_emoji_only_topic_still_reads() -> None:
    script, metadata = _write(Brief("🎃🍂", ALL, 30, "upbeat"))
    assert "something new" in script.narration()
    assert "🎃" in metadata[0].title


def test_long_topic_is_shortened_for_the_voice() -> None:
    script, metadata = _write(Brief(LONG_TOPIC, ALL, 30, "informative"))
    assert script.scenes[0].on_screen == "Our new seasonal menu"
    assert "our new seasonal menu" in script.hook
    for meta in metadata:
        assert len(meta.title) <= 100


def test_hashtags() -> None:
    brief = Brief("our autumn menu", ALL, 30, "upbeat")
    _, metadata = _write(brief)
    by_platform = {m.platform: m.hashtags for m in metadata}
    assert by_platform[Platform.YOUTUBE][:3] == ("#autumnmenu", "#autumn", "#menu")
    assert "#shorts" in by_platform[Platform.YOUTUBE]
    assert "#fyp" in by_platform[Platform.TIKTOK]
    assert "#reels" in by_platform[Platform.INSTAGRAM]
    assert "#reels" in by_platform[Platform.FACEBOOK]
    for platform, tags in by_platform.items():
        assert len(tags) == len(set(tags)) <= RULES[platform].hashtags_max
        assert all(t == t.lower() and t[0] == "#" and t[1:].isalnum() for t in tags)


def test_hashtags_are_deduplicated_and_skip_filler() -> None:
    _, metadata = _write(Brief("The shorts, the SHORTS and the 2024 shorts", ALL, 30, "calm"))
    tags = metadata[0].hashtags
    assert tags.count("#shorts") == 1
    assert "#the" not in tags
    assert "#2024" not in tags


def test_metadata_follows_the_brief_platforms_once_each() -> None:
    brief = Brief("cold brew", (Platform.FACEBOOK, Platform.TIKTOK, Platform.FACEBOOK), 30, "calm")
    _, metadata = _write(brief)
    assert [m.platform for m in metadata] == [Platform.FACEBOOK, Platform.TIKTOK]


def test_youtube_metadata_drops_angle_brackets() -> None:
    _, metadata = _write(Brief("<script>alert(1)</script> menu", (Platform.YOUTUBE,), 30, "calm"))
    meta = metadata[0]
    assert check_metadata(meta) == []


@settings(max_examples=150, deadline=None)
@given(
    topic=st.text(min_size=1, max_size=300),
    duration=st.integers(min_value=5, max_value=180),
    tone=st.sampled_from([*TONE_CASES, "", "Upbeat!", "very calm"]),
    platforms=st.lists(st.sampled_from(ALL), min_size=1, max_size=4, unique=True),
)
def test_any_brief_gives_a_valid_script(
    topic: str, duration: int, tone: str, platforms: list[Platform]
) -> None:
    brief = Brief(topic, tuple(platforms), duration, tone)
    script, metadata = _write(brief)
    _check(brief, script)
    assert len(metadata) == len(platforms)
    for meta in metadata:
        assert check_metadata(meta) == []
