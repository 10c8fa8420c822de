"""/template and /templates from the chat, and requests that name a template, end to end."""

from __future__ import annotations

import io
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.console import ConsoleChat
from bot.runtime import Runtime, open_runtime
from handlers.actor import Actor
from handlers.app import App
from handlers.buttons import Verb, encode
from handlers.drafts import request_draft
from handlers.generate import _start
from handlers.port import Attachment, Incoming
from handlers.router import HELP, handle
from services.content import Brand, PlatformMeta, Script
from services.drafts import brief_of
from services.models import AuditEntry, Draft, DraftVersion, Member, Template, Workspace
from services.structure import parse_structure
from services.templates import TemplateSpec
from tests.conftest import make_settings, run_jobs
from tests.fakes.elevenlabs_server import API_KEY as ELEVEN_KEY
from tests.fakes.elevenlabs_server import FakeElevenLabs
from tests.fakes.openai_server import FakeOpenAI

CHAT = "console:team"
TIPS_SAVE = (
    "/template save weekly-tips 1; structure: hook, 3 tips, call to action; "
    "caption: short, question first, 2 emojis; hashtags: #coffee #tips; hashtag style: 5 hashtags"
)


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    async with open_runtime(make_settings(tmp_path / "media")) as rt:
        yield rt


async def say(
    app: App, text: str, *, user: str = "olga", files: tuple[Attachment, ...] = ()
) -> str:
    replies = await handle(
        app, Incoming(CHAT, f"console:{user}", user, text=text, attachments=files)
    )
    assert len(replies) == 1
    return replies[0].text


async def drain(runtime: Runtime) -> None:
    await run_jobs(runtime, ConsoleChat(out=io.StringIO(), chat_ref=CHAT))


async def draft_row(app: App, draft_id: int) -> Draft:
    async with app.sessions() as session:
        draft = await session.get(Draft, draft_id)
    assert draft is not None
    return draft


async def script_of(app: App, draft_id: int, number: int) -> tuple[Script, list[PlatformMeta]]:
    async with app.sessions() as session:
        version = (
            await session.execute(
                select(DraftVersion).where(
                    DraftVersion.draft_id == draft_id, DraftVersion.number == number
                )
            )
        ).scalar_one()
    metas = [PlatformMeta.model_validate(m) for m in version.metadata_json]
    return Script.model_validate(version.script), metas


async def written(app: App, draft_id: int) -> tuple[Script, tuple[PlatformMeta, ...]]:
    """What the generation job's writer makes of a draft (its brief comes from the row)."""
    brief = brief_of(await draft_row(app, draft_id))
    script = await app.writer.write(brief, take=1, brand=Brand())
    return script, await app.writer.metadata(brief, script, brand=Brand())


async def role(app: App, user: str, name: str) -> None:
    await say(app, "hi", user=user)
    assert f"is now {name}" in await say(app, f"/role {user} {name}")


async def test_save_show_and_draft_from_a_template(runtime: Runtime) -> None:
    app = runtime.app
    await say(app, "/start")
    await say(app, "/draft a 6 second reel about cold brew for tiktok, calm")
    await drain(runtime)

    saved = await say(app, TIPS_SAVE)
    assert "Template “weekly-tips” saved from draft #1 v1" in saved
    assert "structure: hook, 3 tips, call to action" in saved
    listed = await say(app, "/templates")
    assert "weekly-tips — hook, 3 tips, call to action · 6 s · calm · tiktok" in listed
    shown = await say(app, "/template show Weekly-Tips")
    assert "Template “weekly-tips”, saved by olga" in shown
    assert "caption style: short, question first, 2 emojis" in shown
    assert "hashtags: #coffee #tips (5 hashtags)" in shown

    # The template fills what the request leaves out ...
    queued = await say(app, "/draft template:weekly-tips iced latte")
    assert "Draft #2 queued: “iced latte”, 6 s, calm, for tiktok, with the weekly-tips" in queued
    # ... and what the request states wins, field by field.
    queued = await say(
        app, "make a tips reel about oat milk for youtube, 15 seconds, weekly-tips template"
    )
    assert "Draft #3 queued: “oat milk”, 15 s, calm, for youtube" in queued
    assert "your request set its platforms, duration" in queued
    third = await draft_row(app, 3)
    assert third.template is not None and third.template["name"] == "weekly-tips"
    assert third.template["overridden"] == ["platforms", "duration"]
    assert "Template: weekly-tips" in await say(app, "/status 3")

    # The generation job writes from `brief_of(draft)`: what it would write, without
    # rendering (test_the_model_writer_follows_the_template renders one through the job).
    for draft_id in (2, 3):
        script, metas = await written(app, draft_id)
        assert [s.section for s in script.scenes] == ["tip", "tip", "tip"]
        assert [s.on_screen for s in script.scenes] == ["Tip 1", "Tip 2", "Tip 3"]
        assert script.narration().endswith(script.call_to_action)
        assert all(m.hashtags[:2] == ("#coffee", "#tips") for m in metas)

    # A regeneration follows the draft's template too, even once the template has changed.
    assert "replaced" in await say(app, "/template save weekly-tips 1; structure: 4 facts")
    await handle(app, Incoming(CHAT, "console:olga", "olga", button=encode(Verb.REGENERATE, 2)))
    script, _ = await written(app, 2)
    assert [s.section for s in script.scenes] == ["tip", "tip", "tip"]
    # New requests get the new format.
    await say(app, "/draft template:weekly-tips flat white")
    assert (await draft_row(app, 4)).template["spec"]["structure"][1:-1] == ["fact"] * 4  # type: ignore[index]


async def test_unknown_template_is_refused_with_the_list(runtime: Runtime) -> None:
    app = runtime.app
    await say(app, "/start")
    refused = await say(app, "/draft template:weekly-tips cold brew")
    assert "no template called “weekly-tips”" in refused and "no templates yet" in refused
    async with app.sessions.begin() as session:
        workspace = (await session.execute(select(Workspace))).scalar_one()
        spec = TemplateSpec(
            platforms=("tiktok",), duration_s=20, tone="calm", structure=("tip", "tip", "tip")
        )
        for name in ("promo", "weekly-tips"):
            session.add(Template(workspace_id=workspace.id, name=name, spec=spec.model_dump()))
    refused = await say(app, "/draft cold brew, using the monthly-recap template")
    assert "no template called “monthly-recap”. Templates here: promo, weekly-tips" in refused
    refused = await say(app, "/draft cold brew template:Bad_Name!")
    assert "Templates here: promo, weekly-tips" in refused
    async with app.sessions() as session:
        assert (await session.execute(select(Draft))).first() is None
    # A topic that merely mentions templates is a topic.
    queued = await say(app, "/draft a video about our email template for sales")
    assert "“our email template for sales”" in queued


async def test_campaigns_request_drafts_with_a_template(runtime: Runtime) -> None:
    """The same path other features use: `request_draft` with `template:<name>` in the text."""
    app = runtime.app
    await say(app, "/start")
    async with app.sessions.begin() as session:
        workspace = (await session.execute(select(Workspace))).scalar_one()
        member = (await session.execute(select(Member))).scalar_one()
        spec = TemplateSpec(
            platforms=("instagram",), duration_s=25, tone="funny", structure=("tip",) * 3
        )
        session.add(Template(workspace_id=workspace.id, name="weekly-tips", spec=spec.model_dump()))
    reply = await request_draft(
        app, Actor(workspace, member), CHAT, "grinder care for tiktok template:weekly-tips"
    )
    assert "“grinder care”, 25 s, funny, for tiktok" in reply.text
    draft = await draft_row(app, 1)
    assert draft.template is not None and draft.template["spec"]["structure"][1] == "tip"


async def test_roles_delete_and_audit(runtime: Runtime) -> None:
    app = runtime.app
    await say(app, "/start")
    await say(app, "/draft a 6 second clip about cold brew for tiktok")
    await drain(runtime)
    await role(app, "vera", "viewer")
    await role(app, "cris", "creator")
    await role(app, "ana", "approver")

    assert "Viewers can't save templates" in await say(app, TIPS_SAVE, user="vera")
    assert "saved from draft #1" in await say(app, TIPS_SAVE, user="cris")
    assert "weekly-tips" in await say(app, "/templates", user="vera")  # viewers can look
    assert "Viewers can't delete" in await say(app, "/template delete weekly-tips", user="vera")
    assert "Viewers can't request" in await say(app, "/draft template:weekly-tips x", user="vera")
    await say(app, "/template save promo 1", user="ana")
    refused = await say(app, "/template delete promo", user="cris")
    assert "Only approvers, owners and whoever saved “promo” can delete it" in refused
    refused = await say(app, "/template save promo 1; structure: 3 facts", user="cris")
    assert "saved by someone else" in refused
    assert "“weekly-tips” deleted" in await say(app, "/template delete weekly-tips", user="cris")
    assert "“promo” deleted" in await say(app, "/template delete promo")
    assert "No templates yet" in await say(app, "/templates")
    async with app.sessions() as session:
        entries = (
            await session.execute(
                select(AuditEntry.action, AuditEntry.target).where(
                    AuditEntry.action.startswith("template.")
                )
            )
        ).all()
    assert [tuple(e) for e in entries] == [
        ("template.save", "template:weekly-tips"),
        ("template.save", "template:promo"),
        ("template.delete", "template:weekly-tips"),
        ("template.delete", "template:promo"),
    ]


async def test_clear_refusals(runtime: Runtime) -> None:
    app = runtime.app
    await say(app, "/start")
    await say(app, "/draft a 6 second clip about cold brew for tiktok")  # not made yet
    assert "lower-case letters, digits and hyphens" in await say(app, "/template save Tips_1 1")
    assert "Use /template save <name> <draft number>" in await say(app, "/template save tips")
    assert "can't find draft #9" in await say(app, "/template save tips 9")
    assert "no finished version yet" in await say(app, "/template save tips 1")
    await drain(runtime)
    refused = await say(app, "/template save tips 1; structure: 9 tips")
    assert refused.startswith("⚠️ structure:") and "1 to 6 times" in refused
    assert "I don't understand “colour: red”" in await say(
        app, "/template save tips 1; colour: red"
    )
    assert "no audio #5" in await say(app, "/template save tips 1; music: 5")
    assert "no template called “nope”" in await say(app, "/template show nope")
    assert "/template save <name> <draft number> — keep" in await say(app, "/template rename a")
    assert "/template save <name> <number>" in HELP


async def test_template_voice_and_music_are_used(runtime: Runtime, tmp_path: Path) -> None:
    app = runtime.app
    await say(app, "/start")
    for name in ("first.wav", "second.wav"):
        song = tmp_path / name
        with wave.open(str(song), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(b"\x00\x10" * 8000)
        await say(app, "/media", files=(Attachment(song, name),))
    await say(app, "/voice workspace-voice")
    await say(app, "/draft a 6 second clip about cold brew for tiktok")
    await drain(runtime)
    saved = await say(app, "/template save tips 1; voice: template-voice; music: #1")
    assert "voice: template-voice" in saved and "music: media #1" in saved
    await say(app, "/draft template:tips flat white")
    await say(app, "/draft espresso")  # no template: the workspace's voice, the newest audio
    async with app.sessions() as session:
        spec = (await session.execute(select(Template.spec))).scalar_one()
    assert (spec["voice_id"], spec["music"]) == ("template-voice", 1)
    # What the generation job works from (it picks the voice and the music).
    job = await _start(app, 2, 1, None)
    plain = await _start(app, 3, 1, None)
    assert job is not None and plain is not None
    assert job.voice_id == "template-voice" and plain.voice_id == "workspace-voice"
    assert job.music is not None and plain.music is not None and job.music != plain.music


async def test_the_model_writer_follows_the_template(tmp_path: Path) -> None:
    async with FakeOpenAI() as openai, FakeElevenLabs() as eleven:
        settings = make_settings(
            tmp_path / "media",
            OPENAI_API_KEY=openai.api_key,
            OPENAI_BASE_URL=openai.base_url,
            OPENAI_MODEL="gpt-test",
            ELEVENLABS_API_KEY=ELEVEN_KEY,
            ELEVENLABS_BASE_URL=eleven.base_url,
            ELEVENLABS_VOICE_ID="21m00Tcm4TlvDq8ikWAM",
        )
        async with open_runtime(settings) as runtime:
            app = runtime.app
            await say(app, "/start")
            # Saved as /template save would (test_save_show_and_draft_from_a_template).
            spec = TemplateSpec(
                platforms=("tiktok",),
                duration_s=6,
                tone="upbeat",
                structure=parse_structure("hook, 3 tips, call to action"),
                caption_style="short, question first, 2 emojis",
                hashtags=("#coffee", "#tips"),
                hashtag_style="5 hashtags",
                voice_id="pNInz6obpgDQGcFmaJgB",
            )
            async with app.sessions.begin() as session:
                workspace = (await session.execute(select(Workspace))).scalar_one()
                session.add(
                    Template(
                        workspace_id=workspace.id,
                        name="weekly-tips",
                        spec=spec.model_dump(mode="json"),
                    )
                )
            # Free text, read by the model: the template's name is not part of the topic.
            queued = await say(app, "make a tips reel about oat milk, weekly-tips template")
            assert "Draft #1 queued: “oat milk”, 6 s" in queued
            await drain(runtime)
            script, metas = await script_of(app, 1, 1)
    prompt = openai.requests[-2].prompt()  # the script's request; then the metadata's
    assert "Structure: hook, tip, tip, tip, call to action" in prompt
    assert "Caption style: short, question first, 2 emojis" in openai.requests[-1].prompt()
    assert [s.section for s in script.scenes] == ["tip", "tip", "tip"]
    assert metas[0].hashtags[:2] == ("#coffee", "#tips")
    assert (
        eleven.tts_requests()[-1].path == "/v1/text-to-speech/pNInz6obpgDQGcFmaJgB/with-timestamps"
    )
