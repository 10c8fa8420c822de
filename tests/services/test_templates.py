"""Templates: structures, specs, how a template and a request combine, and the writers."""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from sqlalchemy.exc import IntegrityError

from handlers.parsing import parse_request
from services.caption_style import CaptionStyle, HashtagStyle
from services.content import Brief, Platform, Scene, Script
from services.db import SessionFactory
from services.drafts import brief_of
from services.model_writer import OpenAIWriter
from services.models import Draft, DraftVersion, Member, Template, Workspace
from services.structure import StructureError, describe, parse_structure
from services.templates import (
    TemplateError,
    TemplateSpec,
    apply_template,
    check_name,
    find_template,
    make_spec,
    snapshot,
    spec_from_draft,
)
from services.writer import OfflineWriter, WriterError
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.openai_server import Reply as Answer

TIPS = ("hook", "tip", "tip", "tip", "call to action")
SPEC = TemplateSpec(
    platforms=(Platform.TIKTOK, Platform.INSTAGRAM),
    duration_s=40,
    tone="calm",
    aspects=("9:16", "1:1"),
    structure=TIPS,
    caption_style="short, question first, 2 emojis",
    hashtags=("#Coffee", "tips"),
    hashtag_style="5 hashtags",
)
TIPS_BRIEF = Brief(
    "cold brew at home",
    (Platform.TIKTOK, Platform.YOUTUBE),
    30,
    "upbeat",
    structure=TIPS,
    caption_style="short, question first, 2 emojis",
    hashtags=("#coffee", "#tips"),
    hashtag_style="5 hashtags",
)


# --- structures ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "sections"),
    [
        ("hook, 3 tips, call to action", TIPS),
        ("3 tips", TIPS),  # the hook and call to action every script has are added
        ("Hook -> three tips -> CTA", TIPS),
        ("tip x3", TIPS),
        (
            "hook; problem; solution; 2 quick steps; recap; cta",
            (
                "hook",
                "problem",
                "solution",
                "quick step",
                "quick step",
                "recap",
                "call to action",
            ),
        ),
        ("2 stories, 1 fact", ("hook", "story", "story", "fact", "call to action")),
    ],
)
def test_parse_structure(text: str, sections: tuple[str, ...]) -> None:
    assert parse_structure(text) == sections


def test_describe_structure_reads_back() -> None:
    assert describe(TIPS) == "hook, 3 tips, call to action"
    assert (
        describe(parse_structure("2 stories, summary"))
        == "hook, 2 stories, summary, call to action"
    )


@pytest.mark.parametrize(
    "text", ["", " , ", "tip, call to action, tip", "tip, hook, tip", "9 tips", "tip, !!!"]
)
def test_unusable_structures_are_refused(text: str) -> None:
    with pytest.raises(StructureError):
        parse_structure(text)


def test_spec_checks_its_fields() -> None:
    assert SPEC.hashtags == ("#coffee", "#tips")
    assert SPEC.structure == TIPS
    with pytest.raises(TemplateError, match="3 to 6 sections; this structure has 2"):
        make_spec(**(SPEC.model_dump() | {"structure": ("tip", "tip")}))
    with pytest.raises(TemplateError, match="aspect ratios"):
        make_spec(**(SPEC.model_dump() | {"aspects": ("4:3",)}))
    with pytest.raises(TemplateError, match="hashtags"):
        make_spec(**(SPEC.model_dump() | {"hashtags": ("#no spaces",)}))
    with pytest.raises(TemplateError, match="duration"):
        make_spec(**(SPEC.model_dump() | {"duration_s": 900}))


@pytest.mark.parametrize("name", ["weekly-tips", "Weekly-Tips", "a", "x" * 40, "2024-recap"])
def test_template_names(name: str) -> None:
    assert check_name(name) == name.lower()


@pytest.mark.parametrize("name", ["", "weekly tips", "weekly_tips", "-tips", "x" * 41, "tips!"])
def test_bad_template_names(name: str) -> None:
    with pytest.raises(TemplateError, match="lower-case letters, digits and hyphens"):
        check_name(name)


# --- a template and a request --------------------------------------------------------------------


def test_the_template_fills_what_the_request_leaves_out() -> None:
    brief, aspects, overridden = apply_template(parse_request("/draft cold brew"), ["9:16"], SPEC)
    assert (brief.platforms, brief.duration_s, brief.tone) == (SPEC.platforms, 40, "calm")
    assert aspects == ["9:16", "1:1"] and overridden == []
    assert brief.structure == TIPS and brief.hashtags == ("#coffee", "#tips")
    assert brief.caption_style == SPEC.caption_style and brief.topic == "cold brew"


def test_what_the_request_states_wins_field_by_field() -> None:
    request = parse_request("/draft a 15 second video about cold brew for youtube")
    brief, aspects, overridden = apply_template(request, ["9:16"], SPEC)
    assert brief.platforms == (Platform.YOUTUBE,) and brief.duration_s == 15
    assert brief.tone == "calm"  # not stated: the template's
    assert overridden == ["platforms", "duration"] and aspects == ["9:16", "1:1"]

    request = parse_request("/draft cold brew, funny")
    brief, aspects, overridden = apply_template(request, ["9:16", "16:9"], SPEC)
    assert (brief.tone, brief.duration_s, aspects) == ("funny", 40, ["9:16", "16:9"])
    assert overridden == ["tone", "aspects"]


def test_the_model_readers_brief_says_what_was_stated() -> None:
    from services.model_writer import RequestIntent, _brief

    intent = RequestIntent(
        is_video_request=True,
        problem=None,
        topic="cold brew",
        platforms=["youtube"],
        duration_s=None,
        tone=None,
    )
    assert _brief(intent).stated == {"platforms"}


# --- the offline writer --------------------------------------------------------------------------


async def test_offline_script_follows_hook_three_tips_call_to_action() -> None:
    script = await OfflineWriter().write(TIPS_BRIEF)
    assert [s.section for s in script.scenes] == ["tip", "tip", "tip"]
    assert [s.on_screen for s in script.scenes] == ["Tip 1", "Tip 2", "Tip 3"]
    for number, scene in enumerate(script.scenes, 1):
        assert scene.narration.startswith(f"Tip {number}. ")
    assert script.narration().startswith(script.hook)
    assert script.narration().endswith(script.call_to_action)  # the call to action is last
    again = await OfflineWriter().write(TIPS_BRIEF)
    assert again == script  # still deterministic


@pytest.mark.parametrize("duration", [6, 30, 90])
async def test_the_structure_fixes_the_scenes_at_any_length(duration: int) -> None:
    five = parse_structure("hook, problem, 3 steps, recap, call to action")
    brief = replace(TIPS_BRIEF, duration_s=duration, structure=five)
    script = await OfflineWriter().write(brief)
    assert [s.section for s in script.scenes] == ["problem", "step", "step", "step", "recap"]
    assert [s.on_screen for s in script.scenes] == [
        "Problem",
        "Step 1",
        "Step 2",
        "Step 3",
        "Recap",
    ]
    plain = await OfflineWriter().write(replace(brief, structure=()))
    assert all(s.section for s in plain.scenes)  # its own plan, named by angle
    assert [s.section for s in plain.scenes] != [s.section for s in script.scenes]


async def test_offline_metadata_follows_caption_style_and_hashtags() -> None:
    writer = OfflineWriter()
    script = await writer.write(TIPS_BRIEF)
    for meta in await writer.metadata(TIPS_BRIEF, script):
        first_sentence = meta.caption.split("?")[0]
        assert "." not in first_sentence and "!" not in first_sentence  # a question first
        emojis = [ch for ch in meta.caption if unicodedata.category(ch) == "So"]
        assert len(emojis) == 2
        assert len(meta.caption.split()) <= 15 + 1  # short: 15 words, then the emojis
        assert meta.hashtags[:2] == ("#coffee", "#tips") and len(meta.hashtags) == 5
    plain = replace(TIPS_BRIEF, caption_style=None, hashtags=(), hashtag_style=None)
    for meta in await writer.metadata(plain, script):
        assert "#coffee" not in meta.hashtags
        assert not any(unicodedata.category(ch) == "So" for ch in meta.caption)


def test_caption_and_hashtag_styles_are_read() -> None:
    assert CaptionStyle.read("short, question first, 2 emojis") == CaptionStyle(
        max_words=15, question_first=True, emojis=2
    )
    assert CaptionStyle.read("about 25 words, an emoji, no CTA") == CaptionStyle(
        max_words=25, emojis=1, call_to_action=False
    )
    assert CaptionStyle.read("long and detailed, no emojis").long
    assert CaptionStyle.read("whatever feels right") == CaptionStyle()
    assert HashtagStyle.read("5 hashtags") == HashtagStyle(count=5)
    assert HashtagStyle.read("only these") == HashtagStyle(only_fixed=True)
    assert HashtagStyle.read("no hashtags") == HashtagStyle(count=0)


async def test_offline_edits_keep_the_structure() -> None:
    writer = OfflineWriter()
    script = await writer.write(TIPS_BRIEF)
    revised = await writer.revise(TIPS_BRIEF, script, "scene 2: Grind coarse, always.")
    assert [s.section for s in revised.scenes] == ["tip", "tip", "tip"]
    five = replace(TIPS_BRIEF, structure=parse_structure("hook, 4 tips, cta"))
    longer = await writer.write(five)
    with pytest.raises(WriterError, match="template's structure"):
        await writer.revise(five, longer, "shorter")


# --- the model writer ----------------------------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(api_key="sk-test") as server:
        yield server


@pytest.fixture
async def model(fake: FakeOpenAI) -> AsyncIterator[OpenAIWriter]:
    writer = OpenAIWriter(
        api_key="sk-test",
        base_url=fake.base_url,
        model="gpt-test",
        price_input_per_mtok=0.15,
        price_output_per_mtok=0.60,
        timeout_s=5.0,
        max_retries=0,
    )
    yield writer
    await writer.aclose()


async def test_model_writer_sends_the_structure_and_checks_the_answer(
    model: OpenAIWriter, fake: FakeOpenAI
) -> None:
    script = await model.write(TIPS_BRIEF)
    (request,) = fake.requests
    (system,) = request.messages("system")
    assert "exactly 3 scenes, one per section of the structure" in system
    assert "1. Tip 1; 2. Tip 2; 3. Tip 3" in system
    assert "Structure: hook, tip, tip, tip, call to action" in request.messages("user")[0]
    assert [s.section for s in script.scenes] == ["tip", "tip", "tip"]

    metadata = await model.metadata(TIPS_BRIEF, script)
    system = fake.requests[-1].messages("system")[0]
    assert "Caption style: short, question first, 2 emojis" in system
    assert "hashtags include: #coffee #tips" in system and "Hashtag style: 5 hashtags" in system
    for meta in metadata:
        assert meta.hashtags[:2] == ("#coffee", "#tips") and len(meta.hashtags) <= 5

    four = {
        "title": "Cold brew",
        "hook": "Cold brew, better.",
        "scenes": [{"narration": f"Tip {i}.", "on_screen": f"Tip {i}"} for i in range(4)],
        "call_to_action": "Follow for more.",
    }
    fake.queue(Answer.json(four))
    with pytest.raises(WriterError, match="the template's structure has 3 sections"):
        await model.write(TIPS_BRIEF)


async def test_model_writer_without_a_template_is_unchanged(
    model: OpenAIWriter, fake: FakeOpenAI
) -> None:
    plain = Brief("cold brew", (Platform.TIKTOK,), 30, "upbeat")
    script = await model.write(plain)
    assert "Structure" not in fake.requests[0].prompt()
    assert "3 to 6 scenes" in fake.requests[0].messages("system")[0]
    assert all(s.section is None for s in script.scenes)


# --- stored templates and drafts -----------------------------------------------------------------


async def _workspace(sessions: SessionFactory) -> tuple[Workspace, Member]:
    async with sessions.begin() as session:
        workspace = Workspace(name="cafe")
        session.add(workspace)
        await session.flush()
        member = Member(
            workspace_id=workspace.id, user_ref="c:1", display_name="Olga", role="owner"
        )
        session.add(member)
        await session.flush()
    return workspace, member


async def test_spec_from_a_drafts_current_version(sessions: SessionFactory) -> None:
    workspace, member = await _workspace(sessions)
    script = Script(
        title="Cold brew",
        hook="Cold brew, but better.",
        scenes=(
            Scene(narration="Grind coarse.", on_screen="Tip 1", section="tip"),
            Scene(narration="Steep overnight.", on_screen="Tip 2", section="tip"),
            Scene(narration="Filter twice.", on_screen="Tip 3", section="tip"),
            Scene(narration="Serve over ice.", on_screen="Serve"),
        ),
        call_to_action="Follow for more!",
    )
    draft = Draft(
        workspace_id=workspace.id,
        chat_ref="c:team",
        requested_by=member.id,
        request_text="/draft cold brew",
        topic="cold brew",
        platforms=["tiktok", "youtube"],
        duration_s=20,
        tone="calm",
        aspects=["9:16", "1:1"],
        current_version=1,
    )
    version = DraftVersion(
        number=1,
        script=script.model_dump(mode="json"),
        metadata_json=[
            {
                "platform": "tiktok",
                "title": "Cold brew",
                "caption": "Ever tried cold brew? Grind coarse and wait. 🧊☕",
                "hashtags": ["#coldbrew", "#coffee", "#fyp"],
            }
        ],
        words=[],
        audio_path="a",
        video_path="v",
        thumbnail_path="t",
        duration_s=20.0,
    )
    spec = spec_from_draft(draft, version, voice_id="abc")
    assert spec.structure == ("hook", "tip", "tip", "tip", "scene", "call to action")
    assert (spec.platforms, spec.duration_s, spec.tone) == (
        (Platform.TIKTOK, Platform.YOUTUBE),
        20,
        "calm",
    )
    assert spec.aspects == ("9:16", "1:1") and spec.voice_id == "abc"
    assert spec.caption_style == "about 8 words, question first, 2 emojis"
    assert spec.hashtag_style == "3 hashtags" and spec.hashtags == ()  # topic tags don't carry

    # A draft made with a template keeps that template's caption, hashtags, voice and music.
    draft.template = snapshot("weekly-tips", SPEC)
    again = spec_from_draft(draft, version, voice_id="abc")
    assert again.caption_style == SPEC.caption_style and again.hashtags == SPEC.hashtags
    assert again.voice_id is None
    assert brief_of(draft).structure == TIPS  # generation follows the draft's snapshot
    assert brief_of(draft).hashtags == ("#coffee", "#tips")


async def test_templates_are_found_by_name_per_workspace(sessions: SessionFactory) -> None:
    workspace, member = await _workspace(sessions)
    other, _ = await _workspace(sessions)
    async with sessions.begin() as session:
        session.add(
            Template(
                workspace_id=workspace.id,
                name="weekly-tips",
                spec=SPEC.model_dump(mode="json"),
                created_by=member.id,
            )
        )
    async with sessions() as session:
        found = await find_template(session, workspace.id, "Weekly-Tips")
        assert found is not None and TemplateSpec.model_validate(found.spec) == SPEC
        assert await find_template(session, other.id, "weekly-tips") is None
    with pytest.raises(IntegrityError):
        async with sessions.begin() as session:
            session.add(Template(workspace_id=workspace.id, name="weekly-tips", spec={}))
