"""The real python-telegram-bot, started as `socialbot run` starts it, against a fake Bot API."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.serve import serve
from services.db import make_engine, make_sessions
from services.models import Publication
from tests.conftest import make_settings
from tests.fakes.telegram_server import FakeTelegram, SentMessage

pytestmark = pytest.mark.slow
REQUEST = "a 6 second clip about cold brew for tiktok and youtube"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Running:
    tg: FakeTelegram
    media: Path
    port: int


@contextlib.asynccontextmanager
async def running_bot(tmp_path: Path, **values: object) -> AsyncIterator[Running]:
    """`socialbot run` with Telegram configured, against the fake; stopped afterwards."""
    async with FakeTelegram() as tg:
        port = free_port()
        settings = make_settings(
            tmp_path / "media",
            TELEGRAM_BOT_TOKEN=tg.token,
            TELEGRAM_API_BASE_URL=tg.base_url,
            WEB_PORT=port,
            **{k: (v.format(port=port) if isinstance(v, str) else v) for k, v in values.items()},
        )
        stop = asyncio.Event()
        task = asyncio.create_task(serve(settings, stop=stop))
        try:
            await tg.wait_for(lambda: tg.commands or task.done(), timeout=30)
            if task.done():
                await task
            yield Running(tg, tmp_path / "media", port)
        finally:
            stop.set()
            await asyncio.wait_for(task, 60)


def is_preview(message: SentMessage) -> bool:
    return message.media == "video" and any(
        b.get("callback_data", "").startswith("d:approve:") for b in message.buttons
    )


async def publications(media: Path) -> int:
    engine = make_engine(f"sqlite+aiosqlite:///{(media / 'socialbot.db').resolve()}")
    try:
        async with make_sessions(engine)() as session:
            return int(
                (await session.execute(select(func.count()).select_from(Publication))).scalar_one()
            )
    finally:
        await engine.dispose()


async def test_whole_flow_in_a_group(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        tg = bot.tg
        group, olga, cris = tg.group_chat(), tg.user(username="olga"), tg.user(username="cris")
        assert {c["command"] for c in tg.commands} >= {"draft", "drafts", "status", "role"}

        tg.send_text(group, olga, "/start")
        await tg.wait_for_message(group, lambda m: "owner" in (m.text or ""))
        tg.send_text(group, cris, "hello everyone")  # not addressed to the bot: ignored
        tg.send_text(group, cris, "@socialbot_test_bot /drafts")
        await tg.wait_for_message(group, lambda m: "No drafts yet" in (m.text or ""))

        tg.fail_next("sendVideo", 429, retry_after=1)
        tg.send_text(group, olga, f"/draft@socialbot_test_bot {REQUEST}")
        preview = await tg.wait_for_message(group, is_preview, timeout=120)
        assert preview.file is not None and preview.file.size > 10_000
        assert preview.thumbnail is not None
        assert [c.status for c in tg.calls_to("sendVideo")] == [429, 200]
        progress = [m for m in tg.messages(group) if (m.text or "").startswith("Draft #1 v1")]
        assert len(progress) == 1 and len(progress[0].edits) == 3
        assert "ready" in (progress[0].text or "")

        # A creator's press is refused to them alone; nothing happens.
        tg.press(group, cris, preview.message_id, label="Approve")
        await tg.wait_for(lambda: tg.callback_answers)
        refusal = tg.callback_answers[-1]
        assert refusal.show_alert and "can't approve" in (refusal.text or "")

        # Two presses at once publish once.
        tg.press(group, olga, preview.message_id, label="Approve")
        tg.press(group, olga, preview.message_id, label="Approve")
        result = await tg.wait_for_message(
            group, lambda m: (m.text or "").startswith("📣 Draft #1 v1: published"), timeout=60
        )
        assert "tiktok" in (result.text or "") and "youtube" in (result.text or "")
        await tg.wait_for(lambda: len(tg.callback_answers) == 3)
        second = tg.callback_answers[-1].text or ""
        assert any(
            s in second for s in ("already approved", "being published", "already published")
        )
        assert await publications(bot.media) == 2
        manifests = list((bot.media / "outbox").glob("*/*/manifest.json"))
        assert len(manifests) == 2
        settled = next(m for m in tg.messages(group) if m.message_id == preview.message_id)
        assert settled.buttons == [] and "approved by olga" in (settled.caption or "")


async def test_media_and_roles_by_reply(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        tg = bot.tg
        group, olga, sam = tg.group_chat(), tg.user(username="olga"), tg.user(username="sam")
        tg.send_text(group, olga, "/start")
        said = tg.send_text(group, sam, "@socialbot_test_bot hi")
        await tg.wait_for(lambda: len(tg.messages(group)) >= 2)
        tg.send_text(
            group, olga, "/role approver", reply_to_message_id=said["message"]["message_id"]
        )
        await tg.wait_for_message(group, lambda m: "sam is now approver" in (m.text or ""))

        tg.send_file(
            group, sam, kind="document", data=b"not a video", filename="clip.mp4", caption="/media"
        )
        await tg.wait_for_message(group, lambda m: "not a video, image or audio" in (m.text or ""))
        assert not list((bot.media / "library").rglob("*.*"))


async def test_webhook_checks_the_secret(tmp_path: Path) -> None:
    async with running_bot(
        tmp_path, PUBLIC_URL="http://127.0.0.1:{port}", TELEGRAM_WEBHOOK_SECRET="s3cret"
    ) as bot:
        tg = bot.tg
        await tg.wait_for(lambda: tg.webhook is not None)
        assert tg.webhook is not None
        assert tg.webhook.url == f"http://127.0.0.1:{bot.port}/telegram/webhook"
        group, olga = tg.group_chat(), tg.user(username="olga")
        update = tg.send_text(group, olga, "/start")
        await tg.wait_for(lambda: True)
        assert await tg.deliver_webhook(update, secret=None) == 403
        assert await tg.deliver_webhook(update, secret="wrong") == 403
        assert tg.messages(group) == []
        assert await tg.deliver_webhook(update) == 200
        await tg.wait_for_message(group, lambda m: "owner" in (m.text or ""))


async def test_long_text_is_split_and_big_videos_become_links(tmp_path: Path) -> None:
    from bot.adapter import split_text
    from bot.runtime import open_runtime
    from bot.telegram import TelegramFrontend
    from handlers.port import Media, MediaKind, Reply
    from services.links import MediaLinks
    from services.signing import Signer

    assert split_text("a" * 5000, 4096) == ["a" * 4096, "a" * 904]
    parts = split_text("line\n" * 1000, 4096)
    assert parts[0].endswith("line") and len(parts) == 2
    async with FakeTelegram() as tg:
        settings = make_settings(tmp_path / "media", PUBLIC_URL="https://bot.example.com")
        async with open_runtime(settings) as runtime:
            links = MediaLinks(
                signer=Signer(key=b"k", purpose="media"),
                store=runtime.app.store,
                public_url=settings.public_url,
            )
            frontend = TelegramFrontend(
                app=runtime.app, token=tg.token, api_base_url=tg.base_url, media_link=links.url_for
            )
            await frontend.application.initialize()
            try:
                group = tg.group_chat()
                await frontend.render(f"telegram:{group.id}", Reply("word " * 1500))
                parts = [m.text or "" for m in tg.messages(group)]
                assert len(parts) == 2 and all(len(p) <= 4096 for p in parts)
                assert " ".join(parts).split() == ("word " * 1500).split()

                video = settings.media_dir / "drafts" / "1" / "v1" / "video.mp4"
                video.parent.mkdir(parents=True)
                video.write_bytes(b"\0" * 5000)
                frontend.upload_limit = 4000
                await frontend.render(
                    f"telegram:{group.id}",
                    Reply("Preview", media=(Media(MediaKind.VIDEO, video, "t"),)),
                )
                last = tg.messages(group)[-1]
                assert last.media is None and "over Telegram's upload limit" in (last.text or "")
                url = (last.text or "").split(": ", 1)[1]
                assert url.startswith("https://bot.example.com/media/")
                assert await links.resolve(url.rsplit("/", 1)[1]) == video.resolve()
                assert tg.calls_to("sendVideo") == []
            finally:
                await frontend.application.shutdown()


async def test_a_storm_of_429s_delays_but_loses_and_reorders_nothing(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        tg = bot.tg
        people = [tg.user(username=name) for name in ("ana", "ben", "cai")]
        chats = [tg.private_chat(person) for person in people]
        for chat, person in zip(chats, people, strict=True):
            tg.send_text(chat, person, "/start")
        await tg.wait_for(lambda: all(tg.messages(c) for c in chats), timeout=30)

        tg.fail_next("sendMessage", 429, retry_after=1, times=8)  # Telegram's flood control
        numbers = range(101, 106)
        for n in numbers:
            for chat, person in zip(chats, people, strict=True):
                tg.send_text(chat, person, f"/status {n}")

        def answered() -> bool:
            return all(
                sum("can't find draft" in (m.text or "") for m in tg.messages(c)) == len(numbers)
                for c in chats
            )

        await tg.wait_for(answered, timeout=90)
        assert sum(c.status == 429 for c in tg.calls_to("sendMessage")) == 8
        for chat in chats:
            replies = [
                m.text or "" for m in tg.messages(chat) if "can't find draft" in (m.text or "")
            ]
            assert [int(r.split("#")[1].split()[0]) for r in replies] == list(numbers)
