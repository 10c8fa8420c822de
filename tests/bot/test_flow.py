"""The whole flow through the console adapter, on real Redis and real databases."""

from __future__ import annotations

import asyncio
import io
import json
import re
import wave
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from bot.console import ConsoleChat
from bot.runtime import Runtime, open_runtime
from handlers.buttons import Verb, encode
from handlers.port import Incoming, MediaKind, Reply
from handlers.router import handle
from services.models import Draft, DraftVersion, Publication
from services.video import frame_at, probe_media
from tests.conftest import make_settings, postgres_database, redis_server_database, run_jobs

pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite+embedded", "sqlite+server", "postgres+server"])
async def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Runtime]:
    """The application on each combination of database and Redis the product supports."""
    values: dict[str, object] = {}
    async with AsyncExitStack() as stack:
        if request.param.endswith("+server"):
            values["REDIS_URL"] = await stack.enter_async_context(redis_server_database())
        if request.param.startswith("postgres"):
            values["DATABASE_URL"] = await stack.enter_async_context(postgres_database())
        settings = make_settings(tmp_path / "media", **values)
        yield await stack.enter_async_context(open_runtime(settings, apply_migrations=True))


class Chat:
    """A console chat driven by the test, with workers run to completion between steps."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.out = io.StringIO()
        self.console = ConsoleChat(out=self.out, chat_ref="console:team")

    async def say(self, text: str, *, user: str = "olga") -> list[Reply]:
        incoming = Incoming(self.console.chat_ref, f"console:{user}", user, text=text)
        return await self._handle(incoming)

    async def press(self, verb: Verb, draft_id: int, *, user: str = "olga") -> list[Reply]:
        incoming = Incoming(
            self.console.chat_ref, f"console:{user}", user, button=encode(verb, draft_id)
        )
        return await self._handle(incoming)

    async def _handle(self, incoming: Incoming) -> list[Reply]:
        replies = await handle(self.runtime.app, incoming)
        for reply in replies:
            await self.console.render(self.console.chat_ref, reply)
        return replies

    async def drain(self) -> None:
        """Run queued jobs, then deliver what they sent to the chat."""
        await run_jobs(self.runtime, self.console)


async def _new_draft(chat: Chat, request: str) -> int:
    replies = await chat.say(f"/draft {request}")
    match = re.search(r"Draft #(\d+) queued", replies[0].text)
    assert match, replies[0].text
    return int(match.group(1))


async def test_whole_flow(runtime: Runtime) -> None:
    chat = Chat(runtime)
    assert "owner" in (await chat.say("/start"))[0].text
    draft_id = await _new_draft(
        chat, "a 10 second short about cold brew for TikTok and YouTube, calm"
    )
    await chat.drain()

    previews = [r for r in chat.console.replies if r.media and r.buttons]
    assert len(previews) == 1
    assert {b.id for b in previews[0].buttons} >= {encode(Verb.APPROVE, draft_id)}
    progress = [r for r in chat.console.replies if r.edit_key == f"progress:{draft_id}:1"]
    assert len(progress) == 4 and progress[-1].text.startswith(f"Draft #{draft_id} v1: ready")

    async with runtime.app.sessions() as session:
        version = (await session.execute(select(DraftVersion))).scalar_one()
    video = runtime.app.store.path(version.video_path)
    info = await probe_media(video)
    assert (info.width, info.height, info.audio_streams) == (1080, 1920, 1)
    with wave.open(str(runtime.app.store.path(version.audio_path))) as voice:
        voice_s = voice.getnframes() / voice.getframerate()
    assert abs(info.duration_s - voice_s) <= 0.5
    # Caption pixels: near-white text in the caption band while a word is spoken.
    word, start, end = version.words[len(version.words) // 2]
    frame = await frame_at(video, (start + end) / 2)
    band = frame[frame.shape[0] // 2 :, :, :]
    assert int(np.all(band > 230, axis=2).sum()) > 50, f"no caption for {word!r}"

    approved = await chat.press(Verb.APPROVE, draft_id)
    assert "approved" in approved[0].text
    await chat.drain()
    result = chat.console.replies[-1].text
    assert result.startswith(f"📣 Draft #{draft_id} v1: published")

    outbox = runtime.app.media_dir / "outbox"
    manifests = sorted(outbox.glob("*/*/manifest.json"))
    assert [m.parent.parent.name for m in manifests] == ["tiktok", "youtube"]
    for manifest_path in manifests:
        manifest = json.loads(manifest_path.read_text())
        assert manifest["draft_id"] == draft_id and manifest["version"] == 1
        assert manifest["title"] and manifest["hashtags"]
        assert (manifest_path.parent / "video.mp4").stat().st_size == video.stat().st_size
        assert (manifest_path.parent / "thumbnail.png").is_file()

    # A second press, and a re-run of the publish job, change nothing.
    again = await chat.press(Verb.APPROVE, draft_id)
    assert "already published" in again[0].text
    await runtime.app.queue.enqueue_job("publish_draft", draft_id, _job_id="publish-again")
    await chat.drain()
    assert sorted(outbox.glob("*/*/manifest.json")) == manifests

    digest = await chat.say("/digest")
    assert "Posts published: 2" in digest[0].text
    chart = digest[0].media[0]
    assert chart.kind is MediaKind.PHOTO
    assert chart.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


async def test_two_concurrent_approvals_publish_once(runtime: Runtime) -> None:
    chat = Chat(runtime)
    await chat.say("/start")
    await chat.say("hello", user="ann")
    await chat.say("/role @ann approver")
    draft_id = await _new_draft(chat, "a 6 second clip about latte art for instagram")
    await chat.drain()

    first, second = await asyncio.gather(
        chat.press(Verb.APPROVE, draft_id), chat.press(Verb.APPROVE, draft_id, user="ann")
    )
    texts = sorted([first[0].text, second[0].text])
    assert sum("Publishing" in t for t in texts) == 1, texts
    await chat.drain()
    async with runtime.app.sessions() as session:
        count = (await session.execute(select(func.count()).select_from(Publication))).scalar_one()
        draft = await session.get(Draft, draft_id)
    assert count == 1
    assert draft is not None and draft.state == "published"
    assert len(list((runtime.app.media_dir / "outbox").glob("*/*/manifest.json"))) == 1
