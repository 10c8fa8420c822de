"""Job functions: a failing stage marks the draft failed, tells the chat, leaves no files."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.console import ConsoleChat
from bot.runtime import Runtime, open_runtime
from handlers.buttons import Verb, encode
from handlers.port import Incoming
from handlers.router import handle
from services.content import Voiceover
from services.models import Draft, DraftVersion
from tests.conftest import make_settings, run_jobs


class BrokenVoice:
    """A voice whose engine fails after writing half a file, like a crash mid-synthesis."""

    async def speak(self, text: str, out_path: Path, **_: object) -> Voiceover:
        out_path.write_bytes(b"RIFF half a wav")
        raise RuntimeError("the voice engine crashed")


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    async with open_runtime(make_settings(tmp_path / "media")) as rt:
        yield rt


async def run_workers(runtime: Runtime, console: ConsoleChat) -> None:
    await run_jobs(runtime, console)


async def test_failed_generation_is_reported_and_cleaned_up(runtime: Runtime) -> None:
    broken = Runtime(dataclasses.replace(runtime.app, voice=BrokenVoice()), runtime.redis)
    console = ConsoleChat(out=io.StringIO(), chat_ref="console:t")
    for text in ("/start", "/draft a 10 second reel about tea"):
        await handle(broken.app, Incoming("console:t", "console:u", "u", text=text))
    await run_workers(broken, console)

    async with broken.app.sessions() as session:
        draft = (await session.execute(select(Draft))).scalar_one()
        versions = (await session.execute(select(DraftVersion))).scalars().all()
    assert draft.state == "failed" and "voice engine crashed" in (draft.error or "")
    assert versions == []
    last = console.replies[-1]
    assert "could not be made" in last.text and "voice engine crashed" in last.text
    assert encode(Verb.REGENERATE, draft.id) in {b.id for b in last.buttons}
    leftovers = [p for p in broken.app.drafts_dir.rglob("*") if p.is_file()]
    assert leftovers == []

    # Regenerate with a working voice makes version 1 after all.
    regen = await handle(
        runtime.app, Incoming("console:t", "console:u", "u", button=encode(Verb.REGENERATE, 1))
    )
    assert "new version" in regen[0].text
    await run_workers(runtime, console)
    async with runtime.app.sessions() as session:
        draft = (await session.execute(select(Draft))).scalar_one()
    assert (draft.state, draft.current_version) == ("ready", 1)
    assert sorted(p.name for p in (runtime.app.drafts_dir / "1").iterdir()) == ["v1"]
