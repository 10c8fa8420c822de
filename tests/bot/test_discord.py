"""The real discord.py, started as `socialbot run` starts it, against a fake gateway and REST."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.serve import serve
from services.settings import Settings
from tests.bot.test_telegram import free_port, publications
from tests.conftest import make_settings
from tests.fakes.discord_server import FakeDiscord, Message

pytestmark = pytest.mark.slow


@contextlib.asynccontextmanager
async def running_bot(settings: Settings, dc: FakeDiscord) -> AsyncIterator[None]:
    """`socialbot run` with Discord configured; stopped afterwards."""
    stop = asyncio.Event()
    identified = len(dc.identifies)
    task = asyncio.create_task(serve(settings, stop=stop))
    try:
        await dc.wait_for(
            lambda: (len(dc.identifies) > identified and dc.connected) or task.done(), timeout=30
        )
        if task.done():
            await task
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


def is_preview(message: Message) -> bool:
    return bool(message.attachments) and any(
        str(b.get("custom_id", "")).startswith("d:approve:") for b in message.buttons
    )


async def test_slash_flow_roles_and_buttons_across_a_restart(tmp_path: Path) -> None:
    async with FakeDiscord() as dc:
        settings = make_settings(
            tmp_path / "media",
            DISCORD_BOT_TOKEN=dc.token,
            DISCORD_API_BASE_URL=dc.base_url,
            DISCORD_GATEWAY_URL=dc.ws_url,
            WEB_PORT=free_port(),
        )
        channel = dc.channel("general")
        olga, eddie = dc.member("olga"), dc.member("eddie", roles=["Editors"])
        async with running_bot(settings, dc):
            assert {c["name"] for c in dc.commands} >= {"draft", "drafts", "status", "role"}
            draft_options = next(c for c in dc.commands if c["name"] == "draft")["options"]
            duration = next(o for o in draft_options if o["name"] == "duration")
            assert (duration["type"], duration["min_value"], duration["max_value"]) == (4, 5, 180)

            start = await dc.slash(channel, olga, "start")
            first = await dc.wait_for_response(start)
            assert "owner" in (first.content or "") and first.after < 3

            draft = await dc.slash(
                channel, olga, "draft", {"topic": "cold brew", "platform": "tiktok", "duration": 6}
            )
            assert "queued" in ((await dc.wait_for_response(draft)).content or "")
            preview = await dc.wait_for_message(channel, is_preview, timeout=120)
            assert preview.attachments[0].filename == "video.mp4"
            assert len(preview.attachments[0].data) > 10_000
            progress = await dc.wait_for_message(
                channel, lambda m: m.content.startswith("Draft #1 v1")
            )
            assert len(progress.edits) >= 1

            refused = await dc.press(channel, eddie, preview, label="Approve")
            answer = await dc.wait_for_response(refused)
            assert answer.ephemeral and "can't approve" in (answer.content or "")

        # A new process: the old preview's buttons still work.
        async with running_bot(settings, dc):
            grant = await dc.slash(
                channel, olga, "role_group", {"server_role": dc.role("Editors"), "role": "approver"}
            )
            assert "at least approver" in ((await dc.wait_for_response(grant)).content or "")
            presses = await asyncio.gather(
                dc.press(channel, eddie, preview, label="Approve"),
                dc.press(channel, olga, preview, label="Approve", check=False),
            )
            for press in presses:
                assert (await dc.wait_for_response(press)).after < 3
            await dc.wait_for_message(
                channel, lambda m: m.content.startswith("📣 Draft #1 v1: published"), timeout=60
            )
            assert await publications(settings.media_dir) == 1
            settled = next(m for m in dc.messages(channel) if m.id == preview.id)
            assert settled.buttons == [] and "approved by" in settled.content


async def test_digest_channel(tmp_path: Path) -> None:
    async with FakeDiscord() as dc:
        settings = make_settings(
            tmp_path / "media",
            DISCORD_BOT_TOKEN=dc.token,
            DISCORD_API_BASE_URL=dc.base_url,
            DISCORD_GATEWAY_URL=dc.ws_url,
            WEB_PORT=free_port(),
        )
        team, news, olga = dc.channel("general"), dc.channel("news"), dc.member("olga")
        async with running_bot(settings, dc):
            await dc.wait_for_response(await dc.slash(team, olga, "start"))
            bind = await dc.slash(team, olga, "digest", {"channel": news})
            assert "that channel too" in ((await dc.wait_for_response(bind)).content or "")
            digest = await dc.slash(team, olga, "digest", {"days": 3})
            assert "Digest for the last 3 days" in (
                (await dc.wait_for_answer(digest, timeout=30)).content or ""
            )
            posted = await dc.wait_for_message(
                news, lambda m: m.content.startswith("Digest for the last 3 days"), timeout=30
            )
            assert posted.attachments and posted.attachments[0].data[:4] == b"\x89PNG"
            weekly = await dc.slash(
                team, olga, "digest", {"channel": news, "schedule": "weekly mon 09:00"}
            )
            assert "posted in that channel weekly on Monday at 09:00 UTC" in (
                (await dc.wait_for_response(weekly)).content or ""
            )
            stats = await dc.slash(team, olga, "stats", {"period": "30d", "platform": "tiktok"})
            assert "Stats for the last 30 days" in (
                (await dc.wait_for_answer(stats, timeout=30)).content or ""
            )


async def test_long_replies_are_split_not_cut(tmp_path: Path) -> None:
    from bot.discord import DiscordFrontend
    from bot.runtime import open_runtime
    from handlers.port import Reply

    async with open_runtime(make_settings(tmp_path / "media")) as runtime:
        frontend = DiscordFrontend(app=runtime.app, token="unused")
        try:
            parts, files, view = frontend._parts(Reply("word " * 1000))
        finally:
            await frontend.client.close()
    assert len(parts) == 3 and all(len(p) <= 2000 for p in parts)
    assert " ".join(parts).split() == ["word"] * 1000
    assert files == [] and view is None
