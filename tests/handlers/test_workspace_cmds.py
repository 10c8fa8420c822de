"""/brand, /voice, /budget and /media: settings from the chat, checked and audited."""

from __future__ import annotations

import dataclasses
import wave
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from bot.runtime import Runtime, open_runtime
from handlers.app import App
from handlers.port import Attachment, Incoming
from handlers.router import handle
from services.models import Draft, MediaItem, UsageRecord, Workspace, utcnow
from services.usage import Prices
from tests.conftest import make_settings

CHAT = "console:team"


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    async with open_runtime(make_settings(tmp_path / "media")) as rt:
        yield rt


async def say(
    app: App, text: str, *, user: str = "olga", files: tuple[Attachment, ...] = ()
) -> str:
    incoming = Incoming(CHAT, f"console:{user}", user, text=text, attachments=files)
    replies = await handle(app, incoming)
    assert len(replies) == 1
    return replies[0].text


async def workspace(app: App) -> Workspace:
    async with app.sessions() as session:
        found = (await session.execute(select(Workspace))).scalar_one()
    return found


async def test_brand_set_show_and_clear(runtime: Runtime) -> None:
    app = runtime.app
    await say(app, "/start")
    assert "No brand voice set" in await say(app, "/brand")
    reply = await say(app, "/brand tone: warm; audience: busy parents; avoid: cheap, discount")
    assert "Brand voice saved" in reply and "avoid: cheap, discount" in reply
    await say(app, "/brand cta: Book a table today")
    assert (await workspace(app)).brand == {
        "tone": "warm",
        "audience": "busy parents",
        "avoid": ["cheap", "discount"],
        "call_to_action": "Book a table today",
    }
    assert "I don't understand" in await say(app, "/brand colour: red")
    assert "keep it under 200" in await say(app, "/brand tone: " + "x" * 300)
    await say(app, "hi", user="cris")
    assert "Only approvers" in await say(app, "/brand tone: loud", user="cris")
    assert (await workspace(app)).brand["tone"] == "warm"
    await say(app, "/brand clear")
    assert (await workspace(app)).brand == {}


async def test_voice(runtime: Runtime) -> None:
    app = runtime.app
    await say(app, "/start")
    assert "the default voice" in await say(app, "/voice")
    assert "Voice set to abc_123" in await say(app, "/voice abc_123")
    assert (await workspace(app)).voice_id == "abc_123"
    assert "A voice id is" in await say(app, "/voice ../../etc/passwd")
    await say(app, "/voice default")
    assert (await workspace(app)).voice_id is None


async def test_budget_refuses_with_figures(runtime: Runtime) -> None:
    app = runtime.app
    await say(app, "/start")
    assert "no budget set" in await say(app, "/budget")
    assert "Monthly budget set to $1.00" in await say(app, "/budget 1")
    assert "Use /budget" in await say(app, "/budget lots")
    ws = await workspace(app)
    async with app.sessions.begin() as session:
        session.add_all(
            [
                UsageRecord(
                    workspace_id=ws.id,
                    kind="llm_output_tokens",
                    provider="openai:m",
                    quantity=1000,
                    cost_usd=0.99,
                ),
                # last month's spend does not count
                UsageRecord(
                    workspace_id=ws.id,
                    kind="voice_chars",
                    provider="elevenlabs:m",
                    quantity=1000,
                    cost_usd=50.0,
                    created_at=utcnow() - timedelta(days=40),
                ),
            ]
        )
    assert "Spent this month: $0.99 of the $1.00" in await say(app, "/budget")
    priced = dataclasses.replace(app, prices=Prices(0.15, 0.60, 0.30))
    reply = await say(priced, "/draft a 60 second short about cold brew")
    assert "would cost about $0.31" in reply and "spent $0.99 of its $1.00" in reply
    async with app.sessions() as session:
        assert (await session.execute(select(Draft))).first() is None
    # With the offline writer and voice nothing costs money, so it is allowed.
    assert "queued" in await say(app, "/draft a 60 second short about cold brew")


async def test_media_checks_content_not_names(runtime: Runtime, tmp_path: Path) -> None:
    app = runtime.app
    await say(app, "/start")
    fake = tmp_path / "clip.mp4"
    fake.write_text("this is not a video")
    photo = tmp_path / "renamed.mp4"
    Image.new("RGB", (64, 48), "orange").save(photo, format="PNG")

    refused = await say(app, "/media", files=(Attachment(fake, "clip.mp4"),))
    assert "clip.mp4 is not a video, image or audio I can use" in refused
    async with app.sessions() as session:
        assert (await session.execute(select(MediaItem))).first() is None

    added = await say(app, "/media", files=(Attachment(photo, "../../evil name.mp4"),))
    assert "evil name.mp4 (image, 64x48)" in added
    song = tmp_path / "song.bin"
    with wave.open(str(song), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x10" * 8000)
    assert "song.bin (audio, 1.0 s)" in await say(
        app, "/media", files=(Attachment(song, "song.bin"),)
    )
    async with app.sessions() as session:
        item = (
            await session.execute(select(MediaItem).where(MediaItem.kind == "image"))
        ).scalar_one()
    assert item.path.startswith(f"library/{item.workspace_id}/")  # a reference, not a path
    stored = app.store.path(item.path)
    assert stored.parent == app.media_dir.resolve() / "library" / str(item.workspace_id)
    assert stored.suffix == ".png" and stored.read_bytes() == photo.read_bytes()
    assert "#1 evil name.mp4" in await say(app, "/media list")
    assert "Removed #2 (song.bin)" in await say(app, "/media remove 2")
    await say(app, "hi", user="cris")
    assert "Only approvers" in await say(app, "/media remove 1", user="cris")
    assert "Removed #1" in await say(app, "/media remove 1")
    assert not stored.exists()
    assert "empty" in await say(app, "/media")


async def test_media_size_limit(runtime: Runtime, tmp_path: Path) -> None:
    app = dataclasses.replace(runtime.app, max_upload_bytes=1024)
    await say(app, "/start")
    big = tmp_path / "big.png"
    Image.effect_noise((200, 200), 50).convert("RGB").save(big)
    assert "the limit is" in await say(app, "/media", files=(Attachment(big, "big.png"),))
