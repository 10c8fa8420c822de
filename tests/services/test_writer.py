"""The offline template writer: valid, sized, deterministic scripts and in-limit metadata."""

from __future__ import annotations

import asyncio
import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.content import Brand, Brief, Platform, PlatformMeta, Scene, Script
from services.platforms import RULES, check_metadata
from services.writer import (
    KNOWN_TONES,
    TONES,
    WORDS_PER_SECOND,
    EditUnsupported,
    OfflineWriter,
    Writer,
    WriterError,
)

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


# --- brand voice ----------------------------------------------------------------------------------

BRIEF = Brief("our autumn menu", (Platform.TIKTOK, Platform.YOUTUBE), 30, "upbeat")


def _brand_write(brief: Brief, brand: Brand) -> tuple[Script, tuple[PlatformMeta, ...]]:
    async def both() -> tuple[Script, tuple[PlatformMeta, ...]]:
        writer = OfflineWriter()
        script = await writer.write(brief, brand=brand)
        return script, await writer.metadata(brief, script, brand=brand)

    return asyncio.run(both())


def _uses(word: str, text: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text, re.IGNORECASE) is not None


def _all_text(script: Script, metadata: tuple[PlatformMeta, ...]) -> str:
    parts = [script.title, script.narration(), *(s.on_screen for s in script.scenes)]
    parts += [f"{m.title} {m.caption} {' '.join(t[1:] for t in m.hashtags)}" for m in metadata]
    return "\n".join(parts)


def test_an_empty_brand_changes_nothing() -> None:
    assert _brand_write(BRIEF, Brand()) == _write(BRIEF)


def test_the_brand_call_to_action_replaces_the_writers() -> None:
    brand = Brand(call_to_action="Visit us this weekend!")
    script, metadata = _brand_write(BRIEF, brand)
    assert script.call_to_action == "Visit us this weekend!"
    _check(BRIEF, script)  # still sized to the duration
    assert all("Visit us this weekend!" in m.caption for m in metadata)
    assert _brand_write(BRIEF, brand)[0] == script  # deterministic


@pytest.mark.parametrize("tone", STYLE_TONES)
@pytest.mark.parametrize("duration", [5, 30, 90, 180])
def test_avoided_words_stay_out(tone: str, duration: int) -> None:
    avoid = ("follow", "Love", "it's", "more", "here's", "let's go", "reels")
    brief = Brief("cold brew", ALL, duration, tone)
    script, metadata = _brand_write(brief, Brand(avoid=avoid))
    _check(brief, script)
    text = _all_text(script, metadata)
    assert not [word for word in avoid if _uses(word, text)]
    assert "#reels" not in {t for m in metadata for t in m.hashtags}
    assert "#fyp" in metadata[1].hashtags  # other generic tags stay


def test_avoided_words_in_the_topic_are_kept() -> None:
    brief = Brief("the fun run", ALL, 30, "funny")
    script, metadata = _brand_write(brief, Brand(avoid=("fun", "follow")))
    assert "fun run" in script.hook.lower()
    assert script.scenes[0].on_screen == "The fun run"
    assert "#funrun" in metadata[0].hashtags
    assert not _uses("follow", _all_text(script, metadata))


@settings(max_examples=60, deadline=None)
@given(
    topic=st.text(min_size=1, max_size=60),
    duration=st.integers(min_value=5, max_value=180),
    tone=st.sampled_from(STYLE_TONES),
    avoid=st.lists(
        st.sampled_from(["follow", "the", "take", "look", "this", "for", "a", "you", "it", "is"]),
        max_size=6,
    ),
)
def test_any_avoid_list_is_honoured(topic: str, duration: int, tone: str, avoid: list[str]) -> None:
    brief = Brief(topic, ALL, duration, tone)
    script, metadata = _brand_write(brief, Brand(avoid=tuple(avoid)))
    assert Script.model_validate(script.model_dump()) == script
    for scene in script.scenes:
        assert 1 <= len(scene.on_screen.split()) <= 6
    text = _all_text(script, metadata)
    assert not [w for w in avoid if not _uses(w, topic) and _uses(w, text)]
    for meta in metadata:
        assert check_metadata(meta) == []


# --- edits ----------------------------------------------------------------------------------------


def _revise(script: Script, instruction: str) -> Script:
    return asyncio.run(OfflineWriter().revise(BRIEF, script, instruction))


@pytest.fixture(scope="module")
def script() -> Script:
    return _write(Brief("our autumn menu", ALL, 60, "upbeat"))[0]


@pytest.mark.parametrize(
    "instruction",
    [
        "replace the hook with: Sweater weather is here!",
        "Replace the hook with Sweater weather is here!",
        "new hook: Sweater weather is here!",
        "change the hook to \u201cSweater weather is here!\u201d",
        "  Hook:   Sweater weather is here!  ",
    ],
)
def test_revise_replaces_the_hook(script: Script, instruction: str) -> None:
    revised = _revise(script, instruction)
    assert revised.hook == "Sweater weather is here!"
    assert revised.model_dump(exclude={"hook"}) == script.model_dump(exclude={"hook"})


@pytest.mark.parametrize(
    "instruction",
    [
        "change scene 2 to: Our pumpkin soup is back, and it's better than ever.",
        "scene 2: Our pumpkin soup is back, and it's better than ever.",
        "Scene two: Our pumpkin soup is back, and it's better than ever.",
        "replace scene #2 with 'Our pumpkin soup is back, and it's better than ever.'",
    ],
)
def test_revise_replaces_a_scene(script: Script, instruction: str) -> None:
    revised = _revise(script, instruction)
    new = Scene(
        narration="Our pumpkin soup is back, and it's better than ever.",
        on_screen="Our pumpkin soup is back",
        section=script.scenes[1].section,  # still the same part of the structure
    )
    assert revised.scenes == (script.scenes[0], new, *script.scenes[2:])
    assert revised.hook == script.hook and revised.call_to_action == script.call_to_action


def test_revise_names_the_scenes_there_are(script: Script) -> None:
    with pytest.raises(WriterError, match="scenes 1 to 6; there is no scene 9") as caught:
        _revise(script, "scene 9: Hello")
    assert not isinstance(caught.value, EditUnsupported)


@pytest.mark.parametrize(
    "instruction",
    [
        "call to action: Book a table tonight.",
        "replace the cta with Book a table tonight.",
        "Change the call-to-action to: Book a table tonight.",
        "new CTA: Book a table tonight.",
    ],
)
def test_revise_replaces_the_call_to_action(script: Script, instruction: str) -> None:
    revised = _revise(script, instruction)
    assert revised.call_to_action == "Book a table tonight."
    assert revised.scenes == script.scenes and revised.hook == script.hook


@pytest.mark.parametrize("instruction", ["shorter", "Make it shorter, please.", "shorten it"])
def test_revise_shorter_drops_the_last_scene(script: Script, instruction: str) -> None:
    assert _revise(script, instruction).scenes == script.scenes[:-1]


def test_shorter_stops_at_three_scenes(script: Script) -> None:
    for _ in range(3):
        script = _revise(script, "shorter")
    assert len(script.scenes) == 3
    with pytest.raises(EditUnsupported, match=r"only 3 scenes.*OPENAI_API_KEY"):
        _revise(script, "shorter")


@pytest.mark.parametrize(
    "instruction",
    ["make the hook punchier", "more upbeat please", "scene 2 should mention prices", "hook:"],
)
def test_other_edits_say_what_the_offline_writer_can_do(script: Script, instruction: str) -> None:
    with pytest.raises(EditUnsupported) as caught:
        _revise(script, instruction)
    message = str(caught.value)
    assert isinstance(caught.value, WriterError)
    assert message.startswith(f"The offline writer can't do \u201c{instruction}\u201d.")
    for hint in ("new hook:", "scene 2:", "call to action:", "shorter", "OPENAI_API_KEY"):
        assert hint in message


def test_an_edit_needs_some_text(script: Script) -> None:
    with pytest.raises(WriterError, match="Give the new hook after the colon"):
        _revise(script, "new hook: !!!")


def test_revise_is_deterministic_and_labels_the_writer(script: Script) -> None:
    first = _revise(script, "new hook: Hello!")
    assert first == _revise(script, "new hook: Hello!")
    assert first.writer == "offline"
    assert script.hook != "Hello!"  # the original is untouched
