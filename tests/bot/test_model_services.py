"""The flow with the real openai and elevenlabs clients, configured by settings, on loopback."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.console import ConsoleChat
from bot.runtime import Runtime, open_runtime
from handlers.port import Incoming, Reply
from handlers.router import handle
from services.model_writer import OpenAIWriter
from services.models import Draft, DraftVersion, UsageRecord
from tests.conftest import make_settings, run_jobs
from tests.fakes.elevenlabs_server import API_KEY as ELEVEN_KEY
from tests.fakes.elevenlabs_server import FakeElevenLabs
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.openai_server import Reply as Answer

pytestmark = pytest.mark.slow
CHAT = "console:team"


class Services:
    """Both fakes and a runtime configured to use them through settings."""

    def __init__(self, openai: FakeOpenAI, eleven: FakeElevenLabs, runtime: Runtime) -> None:
        self.openai, self.eleven, self.runtime = openai, eleven, runtime
        self.console = ConsoleChat(out=io.StringIO(), chat_ref=CHAT)

    async def say(self, text: str, user: str = "olga") -> list[Reply]:
        return await handle(self.runtime.app, Incoming(CHAT, f"console:{user}", user, text=text))

    async def drain(self) -> None:
        await run_jobs(self.runtime, self.console)


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
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
            assert isinstance(runtime.app.writer, OpenAIWriter)
            yield Services(openai, eleven, runtime)


async def test_model_writer_and_elevenlabs_make_the_draft(services: Services) -> None:
    await services.say("/start")
    await services.say("/brand audience: night-shift nurses; cta: Come by after your shift")
    await services.say("/draft a 6 second clip about cold brew for tiktok")
    await services.drain()
    app = services.runtime.app
    async with app.sessions() as session:
        draft = (await session.execute(select(Draft))).scalar_one()
        version = (await session.execute(select(DraftVersion))).scalar_one()
        usage = (await session.execute(select(UsageRecord))).scalars().all()
    assert draft.state == "ready"
    assert version.script["writer"] == "openai:gpt-test"
    assert version.script["call_to_action"] == "Come by after your shift"
    assert "night-shift nurses" in services.openai.requests[0].prompt()
    assert [r.path for r in services.eleven.tts_requests()] == [
        "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM/with-timestamps"
    ]
    kinds = {(u.kind, u.provider) for u in usage}
    assert ("llm_input_tokens", "openai:gpt-test") in kinds
    assert ("voice_chars", "elevenlabs:eleven_multilingual_v2") in kinds
    chars = next(u for u in usage if u.kind == "voice_chars")
    assert chars.cost_usd == pytest.approx(chars.quantity / 1000 * 0.30)
    assert any(r.buttons and r.media for r in services.console.replies)


async def test_model_failure_marks_the_draft_failed(services: Services) -> None:
    services.openai.always = Answer.error(500, "The server had an error.")
    await services.say("/start")
    await services.say("/draft a 6 second clip about cold brew for tiktok")
    await services.drain()
    app = services.runtime.app
    async with app.sessions() as session:
        draft = (await session.execute(select(Draft))).scalar_one()
    assert draft.state == "failed" and "500" in (draft.error or "")
    last = services.console.replies[-1].text
    assert "could not be made" in last and "500" in last
    assert [p for p in app.drafts_dir.rglob("*") if p.is_file()] == []
    assert services.eleven.tts_requests() == []


async def test_voice_failure_marks_the_draft_failed(services: Services) -> None:
    services.eleven.fail_next(401, times=None)
    await services.say("/start")
    await services.say("/draft a 6 second clip about cold brew for tiktok")
    await services.drain()
    app = services.runtime.app
    async with app.sessions() as session:
        draft = (await session.execute(select(Draft))).scalar_one()
    assert draft.state == "failed" and "ELEVENLABS_API_KEY" in (draft.error or "")
    assert "ELEVENLABS_API_KEY" in services.console.replies[-1].text
    assert [p for p in app.drafts_dir.rglob("*") if p.is_file()] == []


async def test_free_text_request_read_by_the_model(services: Services) -> None:
    await services.say("/start")
    services.openai.queue(
        Answer.json(
            {
                "is_video_request": True,
                "problem": None,
                "topic": "the new oat latte",
                "platforms": ["instagram"],
                "duration_s": 15,
                "tone": "calm",
            }
        )
    )
    replies = await services.say("could you make us something calm about the new oat latte?")
    assert "Draft #1 queued: “the new oat latte”, 15 s, calm, for instagram" in replies[0].text
    services.openai.queue(
        Answer.json(
            {
                "is_video_request": False,
                "problem": "That is a question about opening hours.",
                "topic": "",
                "platforms": [],
                "duration_s": None,
                "tone": None,
            }
        )
    )
    replies = await services.say("when do you open tomorrow?")
    assert "opening hours" in replies[0].text and "/help" in replies[0].text
    async with services.runtime.app.sessions() as session:
        drafts = (await session.execute(select(Draft))).scalars().all()
        usage = (await session.execute(select(UsageRecord))).scalars().all()
    assert len(drafts) == 1
    assert sum(u.kind == "llm_input_tokens" for u in usage) == 2
