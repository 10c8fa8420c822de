"""A loopback fake of the Telegram Bot API, for the real python-telegram-bot (v22) to talk to.

Point PTB at it with `ApplicationBuilder().token(tg.token).base_url(f"{tg.base_url}/bot")
.base_file_url(f"{tg.base_url}/file/bot")`. It speaks the wire protocol: `POST /bot{token}/{method}`
with a form-encoded, JSON or multipart body, answered `{"ok": true, "result": ...}` or with
Telegram's error shape and HTTP status. Tests play the users (`send_text`, `press`, `send_file`),
which queues updates for `getUpdates`; in webhook mode tests post them with `deliver_webhook` (or
set `push_to_webhook=True`). Then they look at what the bot did (`messages`, `calls`,
`callback_answers`, `commands`, `webhook`).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import mimetypes
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Sequence
from types import EllipsisType, TracebackType
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from tests.fakes.loopback import start_app
from tests.fakes.telegram_models import (
    _DESCRIPTIONS,
    JSON,
    MB,
    ApiError,
    Call,
    CallbackAnswer,
    Chat,
    Edit,
    SentMessage,
    StoredFile,
    Upload,
    User,
    Webhook,
    auto_entities,
)
from tests.fakes.telegram_wire import BotApi

__all__ = [
    "JSON", "MB", "ApiError", "BotApi", "Call", "CallbackAnswer", "Chat", "Edit", "FakeTelegram",
    "SentMessage", "StoredFile", "Upload", "User", "Webhook", "auto_entities",
]  # fmt: skip

T = TypeVar("T")
Handler = Callable[[JSON, "dict[str, Upload]"], Awaitable[Any]]


class FakeTelegram(BotApi):
    """`async with FakeTelegram() as tg:` serves the Bot API at `tg.base_url` for `tg.token`."""

    def __init__(
        self,
        *,
        token: str = "123:ABC",
        bot_username: str = "socialbot_test_bot",
        upload_limit: int = 50 * MB,
        download_limit: int = 20 * MB,
        push_to_webhook: bool = False,
    ):
        self.token, self.upload_limit, self.download_limit = token, upload_limit, download_limit
        self.push_to_webhook = push_to_webhook  # injected updates are POSTed as Telegram would
        bot_id = token.split(":")[0]
        self.bot_user = User(int(bot_id) if bot_id.isdigit() else 1, "Test Bot", bot_username, True)
        self.base_url = ""
        self.calls: list[Call] = []
        self.callback_answers: list[CallbackAnswer] = []
        self.webhook: Webhook | None = None
        self.deliveries: list[tuple[int, int]] = []  # webhook (update_id, status; 0: unreachable)
        self.updates: list[JSON] = []  # every injected update, in order
        self.downloads: list[str] = []  # file paths fetched from /file/bot{token}/
        self._commands: dict[str, list[JSON]] = {}
        self._pending: list[JSON] = []  # not yet confirmed (getUpdates offset, webhook 2xx)
        self._chats: dict[int, Chat] = {}
        self._raw: dict[tuple[int, int], JSON] = {}  # every message by (chat_id, message_id)
        self._sent: dict[int, list[SentMessage]] = defaultdict(list)
        self._files: dict[str, StoredFile] = {}
        self._faults: dict[str, deque[ApiError]] = defaultdict(deque)
        self._open_queries: set[str] = set()
        self._ids = itertools.count(1)
        self._message_ids: dict[int, Any] = defaultdict(lambda: itertools.count(1))
        self._poll_generation = 0
        self._changed = asyncio.Event()  # replaced by a fresh one on every change
        self._closing = False
        self._tasks: set[asyncio.Task[int]] = set()
        self._runner: web.AppRunner | None = None
        names = "getMe deleteWebhook setWebhook getUpdates sendMessage sendChatAction getFile"
        names += " editMessageText editMessageCaption editMessageReplyMarkup answerCallbackQuery"
        names += " setMyCommands getMyCommands deleteMessage"
        self._methods: dict[str, Handler] = {
            n.lower(): getattr(self, f"_m_{n}") for n in names.split()
        }
        for kind in ("video", "document", "photo"):
            self._methods[f"send{kind}"] = functools.partial(self._send_media, kind)

    async def __aenter__(self) -> FakeTelegram:
        app = web.Application(client_max_size=10 * MB)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner, origin = await start_app(app)
        self.base_url = origin
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing = True
        self._touch()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()

    # ---- the test side: people and what they do ----------------------------------------------

    def user(
        self, id: int | None = None, username: str | None = None, first_name: str = ""
    ) -> User:
        """A person (ids auto-assigned from 1001 up)."""
        uid = id if id is not None else 1000 + next(self._ids)
        return User(uid, first_name or username or f"User{uid}", username, language_code="en")

    def group_chat(self, id: int | None = None, title: str = "Test group") -> Chat:
        """A group the bot is in: a supergroup when the id starts with -100."""
        cid = id if id is not None else -1001000000000 - next(self._ids)
        kind = "supergroup" if str(cid).startswith("-100") else "group"
        return self._chats.setdefault(cid, Chat(cid, kind, title=title))

    def private_chat(self, user: User) -> Chat:
        """The private chat between `user` and the bot."""
        chat = Chat(user.id, "private", username=user.username, first_name=user.first_name)
        return self._chats.setdefault(user.id, chat)

    def send_text(
        self,
        chat: Chat,
        user: User,
        text: str,
        *,
        reply_to_message_id: int | None = None,
        entities: Sequence[JSON] | None = None,
    ) -> JSON:
        """`user` writes `text` in `chat`; returns the update. `entities` None: auto_entities."""
        message = self._user_message(chat, user, reply_to_message_id)
        message["text"] = text
        if found := list(auto_entities(text) if entities is None else entities):
            message["entities"] = found
        return self._push({"message": message})

    def send_file(
        self,
        chat: Chat,
        user: User,
        *,
        kind: str = "document",
        data: bytes,
        filename: str = "file.bin",
        caption: str | None = None,
        mime_type: str | None = None,
        duration: int = 5,
        width: int = 720,
        height: int = 1280,
        reply_to_message_id: int | None = None,
    ) -> JSON:
        """`user` sends a video, photo or document (getFile-able); returns the update."""
        mime = mime_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        stored = self._store(kind, data, filename, mime)
        message = self._user_message(chat, user, reply_to_message_id)
        size = {"duration": duration, "width": width, "height": height}
        message[kind] = self._media_object(kind, stored, size, None)
        if caption:
            message["caption"] = caption
            if found := auto_entities(caption):
                message["caption_entities"] = found
        return self._push({"message": message})

    def press(
        self,
        chat: Chat,
        user: User,
        message_id: int,
        callback_data: str | None = None,
        *,
        label: str | None = None,
        check: bool = True,
    ) -> JSON:
        """`user` presses a button (by its data, or `label`) on bot message `message_id`.

        Returns the callback_query update. With `check` the button must be on the message's
        current keyboard (ValueError otherwise); a missing or deleted message is a LookupError.
        """
        sent = next((m for m in self.messages(chat) if m.message_id == message_id), None)
        if sent is None:
            raise LookupError(f"no bot message {message_id} in chat {chat.id}")
        data = sent.button_data(label) if label is not None else callback_data
        if check and data not in [b.get("callback_data") for b in sent.buttons]:
            raise ValueError(f"no button with data {data!r} on message {message_id}")
        query_id = str(4_000_000_000 + next(self._ids))
        self._open_queries.add(query_id)
        query = {"id": query_id, "from": user.to_api(), "message": dict(sent.raw), "data": data}
        return self._push({"callback_query": query | {"chat_instance": str(-chat.id * 31)}})

    async def deliver_webhook(
        self, update: JSON, *, secret: str | EllipsisType | None = ..., url: str | None = None
    ) -> int:
        """POST `update` to the webhook (or `url`); returns the HTTP status (0 if unreachable).

        `secret`: `...` sends the registered secret_token, None sends no secret header.
        """
        target = url or (self.webhook.url if self.webhook else None)
        if not target:
            raise RuntimeError("no webhook is set")
        if secret is ...:
            secret = self.webhook.secret_token if self.webhook else None
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.post(target, json=update, headers=headers) as response,
            ):
                status = response.status
        except aiohttp.ClientError:
            status = 0
        self.deliveries.append((int(update.get("update_id", 0)), status))
        if 200 <= status < 300:
            self._pending = [u for u in self._pending if u is not update]
        self._touch()
        return status

    def fail_next(
        self,
        method: str,
        status: int = 400,
        description: str | None = None,
        *,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` calls of `method` with an error (429: retry_after, default 1)."""
        if status == 429:
            retry_after = 1 if retry_after is None else retry_after
            description = description or f"Too Many Requests: retry after {retry_after}"
        error = ApiError(status, description or _DESCRIPTIONS.get(status, "Error"), retry_after)
        self._faults[method.lower()].extend([error] * times)

    # ---- the test side: what the bot did -----------------------------------------------------

    def messages(self, chat: Chat | int, *, include_deleted: bool = False) -> list[SentMessage]:
        """The bot's messages in `chat`, oldest first."""
        chat_id = chat.id if isinstance(chat, Chat) else chat
        return [m for m in self._sent[chat_id] if include_deleted or not m.deleted]

    def calls_to(self, method: str) -> list[Call]:
        """The calls of one API method (case-insensitive)."""
        return [c for c in self.calls if c.method.lower() == method.lower()]

    def file(self, file_id: str) -> StoredFile:
        """A stored file by file_id (KeyError if unknown)."""
        return self._files[file_id]

    @property
    def commands(self) -> list[JSON]:
        """The default-scope commands from setMyCommands ({"command", "description"} dicts)."""
        return self._commands.get(self._scope({}), [])

    @property
    def pending_updates(self) -> list[JSON]:
        """Injected updates the bot has not confirmed yet."""
        return list(self._pending)

    async def wait_for(self, predicate: Callable[[], T | None], timeout: float = 5.0) -> T:
        """Wait until `predicate()` is truthy (checked after every API call and injection)."""
        try:
            async with asyncio.timeout(timeout):
                while not (result := predicate()):
                    await self._changed.wait()
                return result
        except TimeoutError:
            recent = [f"{c.method}:{c.status}" for c in self.calls[-8:]]
            raise TimeoutError(f"not met within {timeout}s; last calls: {recent}") from None

    async def wait_for_message(
        self,
        chat: Chat | int,
        where: Callable[[SentMessage], bool] | None = None,
        *,
        timeout: float = 5.0,
    ) -> SentMessage:
        """The first bot message in `chat` that matches `where`, waiting for it if need be."""
        found = lambda: next((m for m in self.messages(chat) if not where or where(m)), None)  # noqa: E731
        return await self.wait_for(found, timeout)

    # ---- internals ---------------------------------------------------------------------------

    def _touch(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _push(self, body: JSON) -> JSON:
        update = {"update_id": next(self._ids), **body}
        self.updates.append(update)
        self._pending.append(update)
        if self.webhook is not None and self.push_to_webhook:
            task = asyncio.get_running_loop().create_task(self.deliver_webhook(update))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._touch()
        return update

    def _user_message(self, chat: Chat, user: User, reply_to: int | None) -> JSON:
        self._chats.setdefault(chat.id, chat)
        mid = next(self._message_ids[chat.id])
        message = {"message_id": mid, "from": user.to_api(), "chat": chat.to_api()}
        message["date"] = int(time.time())
        if reply_to is not None:
            message["reply_to_message"] = self._quoted(chat.id, reply_to)
        self._raw[(chat.id, mid)] = message
        return message

    def _quoted(self, chat_id: int, message_id: int) -> JSON:
        if (chat_id, message_id) not in self._raw:
            raise LookupError(f"no message {message_id} in chat {chat_id}")
        quoted = self._raw[(chat_id, message_id)]
        return {k: v for k, v in quoted.items() if k != "reply_to_message"}

    def _store(self, kind: str, data: bytes, filename: str | None, mime: str) -> StoredFile:
        n = next(self._ids)
        ext = filename.rpartition(".")[2] if filename and "." in filename else "bin"
        path = f"{kind}s/file_{n}.{ext}"
        stored = StoredFile(f"{kind}-{n}-FAKE", f"U{n}", path, data, filename, mime)
        self._files[stored.file_id] = stored
        return stored

    def _media_object(
        self, kind: str, stored: StoredFile, p: JSON, thumb: StoredFile | None
    ) -> Any:
        ids: JSON = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        ids["file_size"] = stored.size
        width, height = int(p.get("width", 0)), int(p.get("height", 0))
        if kind == "photo":  # Telegram sends sizes: a small one and the original
            small: JSON = ids | {
                "file_id": stored.file_id + "-s",
                "file_unique_id": stored.file_unique_id + "s",
            }
            self._files[small["file_id"]] = stored
            scale = min(1.0, 320 / max(width, height, 1))
            small |= {"width": int(width * scale), "height": int(height * scale)}
            return [small, ids | {"width": width, "height": height}]
        obj = ids | {"mime_type": stored.mime_type}
        if stored.filename:
            obj["file_name"] = stored.filename
        if kind == "video":
            obj |= {"duration": int(p.get("duration", 0)), "width": width, "height": height}
        if thumb is not None:
            obj["thumbnail"] = {"file_id": thumb.file_id, "file_unique_id": thumb.file_unique_id}
            obj["thumbnail"] |= {"file_size": thumb.size, "width": 320, "height": 320}
        return obj
