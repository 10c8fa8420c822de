"""The fake Telegram Bot API, driven by the real python-telegram-bot (v22) and by raw HTTP."""

from __future__ import annotations

import asyncio
import datetime as dtm
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, InvalidToken, NetworkError, RetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.fakes.telegram_server import FakeTelegram, auto_entities

Context = ContextTypes.DEFAULT_TYPE
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    """A running fake."""
    async with FakeTelegram() as fake:
        yield fake


def build(tg: FakeTelegram, token: str | None = None) -> Application[Any, Any, Any, Any, Any, Any]:
    """A real PTB application pointed at the fake."""
    builder = ApplicationBuilder().token(token or tg.token)
    return builder.base_url(f"{tg.base_url}/bot").base_file_url(f"{tg.base_url}/file/bot").build()


@asynccontextmanager
async def polling(app: Application[Any, Any, Any, Any, Any, Any]) -> AsyncIterator[None]:
    """Run `app` with long polling, and stop it cleanly."""
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            yield
        finally:
            await app.updater.stop()
            await app.stop()


def keyboard(*labels: str) -> InlineKeyboardMarkup:
    """One row of buttons whose callback_data is `d:<label>`."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(x, callback_data=f"d:{x}") for x in labels]])


async def test_command_reaches_the_bot_and_it_replies(tg: FakeTelegram) -> None:
    app = build(tg)

    async def start(update: Update, context: Context) -> None:
        assert update.effective_message and update.effective_user
        await update.effective_message.reply_text(f"hi {update.effective_user.first_name}")

    app.add_handler(CommandHandler("start", start))
    group, alice = tg.group_chat(-1001234, "Team"), tg.user(7, "alice", "Alice")
    async with polling(app):
        first = tg.send_text(group, alice, "/start")
        tg.send_text(group, alice, "/start@someone_elses_bot")  # not for us: ignored
        tg.send_text(group, alice, "/start@socialbot_test_bot now")
        await tg.wait_for(lambda: len(tg.messages(group)) >= 2)
    replies = tg.messages(group)
    assert [m.text for m in replies] == ["hi Alice", "hi Alice"]
    assert [m.reply_to_message_id for m in replies] == [1, 3]  # quoted in groups
    assert first["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert tg.pending_updates == []  # the final getUpdates confirmed everything
    send = tg.calls_to("sendMessage")[0]
    assert send.encoding == "form" and send.params["chat_id"] == -1001234
    assert send.params["reply_parameters"]["message_id"] == 1
    assert [c.method for c in tg.calls[:2]] == ["getMe", "deleteWebhook"]


def test_entities_are_found_like_telegram_does() -> None:
    text = "🎬 @socialbot_test_bot make /draft@socialbot_test_bot x"
    assert auto_entities(text) == [
        {"type": "mention", "offset": 3, "length": 19},
        {"type": "bot_command", "offset": 28, "length": 25},
    ]
    assert auto_entities("mail me@example.com a/b") == []


async def test_a_button_press_is_answered_and_the_message_edited(tg: FakeTelegram) -> None:
    app = build(tg)

    async def pressed(update: Update, context: Context) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer(f"Got {query.data}", show_alert=True)
        await query.edit_message_text("Approved")

    app.add_handler(CallbackQueryHandler(pressed))
    chat, bob = tg.group_chat(), tg.user(username="bob")
    async with polling(app):
        sent = await app.bot.send_message(chat.id, "Draft 1", reply_markup=keyboard("ok", "no"))
        message = tg.messages(chat)[0]
        assert message.reply_markup == [
            [{"text": "ok", "callback_data": "d:ok"}, {"text": "no", "callback_data": "d:no"}]
        ]
        with pytest.raises(ValueError, match="no button"):
            tg.press(chat, bob, sent.message_id, "d:maybe")
        tg.press(chat, bob, sent.message_id, label="ok")
        await tg.wait_for(lambda: message.edits)
    assert [(a.text, a.show_alert) for a in tg.callback_answers] == [("Got d:ok", True)]
    assert message.text == "Approved" and message.reply_markup == []  # edits drop the keyboard
    assert [(e.method, e.text) for e in message.edits] == [("editMessageText", "Approved")]


async def test_send_video_uploads_are_recorded_and_downloadable(tg: FakeTelegram) -> None:
    chat = tg.group_chat()
    async with build(tg) as app:
        sent = await app.bot.send_video(
            chat.id, VIDEO, filename="clip.mp4", caption="Draft 1", thumbnail=b"\xff\xd8jpeg",
            width=1080, height=1920, reply_markup=keyboard("ok"),
        )  # fmt: skip
        assert sent.video is not None and sent.caption == "Draft 1"
        assert (sent.video.file_name, sent.video.file_size) == ("clip.mp4", len(VIDEO))
        assert (sent.video.width, sent.video.height) == (1080, 1920)
        file = await app.bot.get_file(sent.video.file_id)
        assert await file.download_as_bytearray() == VIDEO
    [message] = tg.messages(chat)
    assert message.media == "video" and message.file is not None
    assert (message.file.filename, message.file.size, message.file.data) == (
        "clip.mp4",
        2060,
        VIDEO,
    )
    assert message.thumbnail is not None and message.thumbnail.data == b"\xff\xd8jpeg"
    call = tg.calls_to("sendVideo")[0]
    assert call.encoding == "multipart" and set(call.files) == {"video", "thumbnail"}
    assert call.params["thumbnail"].startswith("attach://")  # PTB attaches thumbnails by name
    assert call.files["video"].filename == "clip.mp4" and call.params["width"] == 1080


async def test_files_people_send_can_be_fetched(tg: FakeTelegram) -> None:
    app = build(tg)

    async def photo(update: Update, context: Context) -> None:
        assert update.message is not None
        data = await (await update.message.photo[-1].get_file()).download_as_bytearray()
        await update.message.reply_text(f"{len(data)} bytes, caption {update.message.caption}")

    app.add_handler(MessageHandler(filters.PHOTO, photo))
    carol = tg.user(username="carol")
    chat = tg.private_chat(carol)
    async with polling(app):
        tg.send_file(
            chat, carol, kind="photo", data=b"\x89PNG" * 10, filename="a.png", caption="/m"
        )
        reply = await tg.wait_for_message(chat)
        doc = tg.send_file(chat, carol, data=b"%PDF-1.4", filename="brief.pdf")["message"]
        file = await app.bot.get_file(doc["document"]["file_id"])
        assert await file.download_as_bytearray() == b"%PDF-1.4"
    assert reply.text == "40 bytes, caption /m" and reply.reply_to_message_id is None
    assert doc["document"]["mime_type"] == "application/pdf"
    assert tg.downloads[0].startswith("photos/") and tg.downloads[0].endswith(".png")
    assert tg.downloads[1] == tg.file(doc["document"]["file_id"]).file_path
    with pytest.raises(LookupError):
        tg.press(chat, carol, 99, "x")


async def test_flood_control_raises_retry_after(
    tg: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bot opts in to PTB 22's timedelta periods (without it, building RetryAfter warns).
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    chat = tg.group_chat()
    tg.fail_next("sendMessage", status=429, retry_after=1, times=1)
    async with build(tg) as app:
        with pytest.raises(RetryAfter) as as_timedelta:
            await app.bot.send_message(chat.id, "hi")
        assert as_timedelta.value.retry_after == dtm.timedelta(seconds=1)
        await app.bot.send_message(chat.id, "hi")  # only the next call failed
    assert [c.status for c in tg.calls_to("sendMessage")] == [429, 200]
    assert tg.calls_to("sendMessage")[0].answer["parameters"] == {"retry_after": 1}


async def test_edits_are_recorded_and_checked(tg: FakeTelegram) -> None:
    chat = tg.group_chat()
    async with build(tg) as app:
        sent = await app.bot.send_message(chat.id, "Rendering…", reply_markup=keyboard("stop"))
        await app.bot.edit_message_text("Rendering 50%", chat.id, sent.message_id,
                                        reply_markup=keyboard("stop"))  # fmt: skip
        await app.bot.edit_message_reply_markup(chat.id, sent.message_id)
        with pytest.raises(BadRequest, match="Message is not modified"):
            await app.bot.edit_message_text("Rendering 50%", chat.id, sent.message_id)
        with pytest.raises(BadRequest, match="There is no caption"):
            await app.bot.edit_message_caption(chat.id, sent.message_id, caption="x")
        with pytest.raises(BadRequest, match="Message to edit not found"):
            await app.bot.edit_message_text("x", chat.id, 404)
        tg.fail_next("editMessageText", description="Bad Request: message is not modified")
        with pytest.raises(BadRequest, match="Message is not modified"):
            await app.bot.edit_message_text("Done", chat.id, sent.message_id)
        assert await app.bot.delete_message(chat.id, sent.message_id)
    [message] = tg.messages(chat, include_deleted=True)
    assert message.deleted and tg.messages(chat) == []
    assert [(e.method, e.text, len(e.reply_markup)) for e in message.edits] == [
        ("editMessageText", "Rendering 50%", 1),
        ("editMessageReplyMarkup", "Rendering 50%", 0),
    ]


async def test_limits_are_enforced() -> None:
    async with FakeTelegram(upload_limit=1000) as tg, build(tg) as app:
        chat = tg.group_chat()
        with pytest.raises(BadRequest, match="Message is too long"):
            await app.bot.send_message(chat.id, "x" * 4097)
        await app.bot.send_message(chat.id, "é" * 4096)
        with pytest.raises(BadRequest, match="Message caption is too long"):
            await app.bot.send_document(chat.id, b"x", filename="a.txt", caption="x" * 1025)
        with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
            await app.bot.send_message(chat.id, "hi", reply_markup=keyboard("x" * 63))
        with pytest.raises(NetworkError, match="Request Entity Too Large"):
            await app.bot.send_video(chat.id, b"v" * 1001, filename="big.mp4")
        with pytest.raises(BadRequest, match="Chat not found"):
            await app.bot.send_message(42, "hi")
        await app.bot.send_video(chat.id, b"v" * 1000, filename="ok.mp4")
    assert [c.status for c in tg.calls_to("sendVideo")] == [413, 200]
    assert [m.media or m.text for m in tg.messages(chat)] == ["é" * 4096, "video"]


async def test_commands_are_recorded(tg: FakeTelegram) -> None:
    async with build(tg) as app:
        await app.bot.set_my_commands([("draft", "Make a video"), BotCommand("help", "Help")])
        assert [c.command for c in await app.bot.get_my_commands()] == ["draft", "help"]
        with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
            await app.bot.set_my_commands([("Draft", "capitals are refused")])
    assert tg.commands == [
        {"command": "draft", "description": "Make a video"},
        {"command": "help", "description": "Help"},
    ]


async def test_a_wrong_token_is_refused(tg: FakeTelegram) -> None:
    app = build(tg, token="999:WRONG")
    with pytest.raises(InvalidToken):
        await app.initialize()
    await app.bot.shutdown()  # initialize() opened the HTTP pools before failing: close them
    assert tg.calls[0].status == 401 and tg.calls[0].answer["description"] == "Unauthorized"


async def test_raw_wire_protocol(tg: FakeTelegram) -> None:
    chat = tg.group_chat()
    api = f"{tg.base_url}/bot{tg.token}"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{api}/sendSticker", data={"chat_id": "1"}) as response:
            assert response.status == 404
            assert await response.json() == {
                "ok": False, "error_code": 404, "description": "Not Found"
            }  # fmt: skip
        async with http.post(f"{tg.base_url}/bot1:bad/getMe") as response:
            assert (response.status, (await response.json())["error_code"]) == (401, 401)
        body = {"chat_id": chat.id, "text": "json", "reply_markup": {"inline_keyboard": []}}
        async with http.post(f"{api}/sendMessage", json=body) as response:
            assert (await response.json())["result"]["text"] == "json"
        assert tg.calls[-1].encoding == "json" and tg.calls[-1].params["chat_id"] == chat.id

        async def get_updates(**params: int) -> list[dict[str, Any]]:
            async with http.post(f"{api}/getUpdates", data=params) as response:
                result: list[dict[str, Any]] = (await response.json())["result"]
                return result

        poll = asyncio.create_task(get_updates(timeout=5))
        await tg.wait_for(lambda: tg.calls_to("getUpdates"))
        started = time.monotonic()
        first = tg.send_text(chat, tg.user(), "one")
        assert [u["update_id"] for u in await poll] == [first["update_id"]]
        assert time.monotonic() - started < 1  # answered as soon as the update arrived
        second = tg.send_text(chat, tg.user(), "two")
        tg.send_text(chat, tg.user(), "three")
        assert len(await get_updates(timeout=0)) == 3
        offset = second["update_id"]
        assert [u["message"]["text"] for u in await get_updates(offset=offset, limit=1)] == ["two"]
        assert len(tg.pending_updates) == 2
        async with http.post(f"{api}/setWebhook", data={"url": "http://127.0.0.1:9/x"}) as r:
            assert (await r.json())["result"] is True
        async with http.post(f"{api}/getUpdates") as response:
            assert response.status == 409
