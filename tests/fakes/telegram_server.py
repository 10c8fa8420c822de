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
import contextlib
import functools
import itertools
import json
import mimetypes
import re
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from types import EllipsisType, TracebackType
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web

T = TypeVar("T")
JSON = dict[str, Any]
Handler = Callable[[JSON, "dict[str, Upload]"], Awaitable[Any]]
MB = 1024 * 1024
_INT = {"chat_id", "message_id", "offset", "limit", "timeout", "reply_to_message_id", "duration"}
_INT |= {"width", "height", "max_connections", "cache_time", "message_thread_id"}
_BOOL = {"show_alert", "drop_pending_updates", "disable_notification", "supports_streaming"}
_BOOL |= {"has_spoiler", "protect_content"}
_JSON = {"reply_markup", "entities", "caption_entities", "allowed_updates", "commands", "scope"}
_JSON |= {"reply_parameters", "link_preview_options"}
_ENTITIES = {"text": "entities", "caption": "caption_entities"}
_COMMAND = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")
_MENTION = re.compile(r"(?<![\w@])@[A-Za-z0-9_]{5,32}")
_CONFLICT = "Conflict: terminated by other getUpdates request; make sure that only one bot instance"
_DESCRIPTIONS = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 500: "Internal Error"}
_DESCRIPTIONS |= {403: "Forbidden: bot was blocked by the user", 409: _CONFLICT + " is running"}
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the"
    " same as a current content and reply markup of the message"
)


class ApiError(Exception):
    """An error answer: `{"ok": false, "error_code": status, "description": ...}`."""

    def __init__(self, status: int, description: str, retry_after: int | None = None):
        super().__init__(description)
        self.status, self.description, self.retry_after = status, description, retry_after

    def payload(self) -> JSON:
        """The JSON body Telegram sends for this error."""
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


class _ApiObject:
    def to_api(self) -> JSON:
        """The Bot API object (fields that are None left out)."""
        return {k: v for k, v in asdict(self).items() if v is not None}  # type: ignore[call-overload]


@dataclass(frozen=True)
class User(_ApiObject):
    """A Telegram user (the bot is one too)."""

    id: int
    first_name: str
    username: str | None = None
    is_bot: bool = False
    language_code: str | None = None


@dataclass(frozen=True)
class Chat(_ApiObject):
    """A chat: "private" (its id is the user's), "group" or "supergroup" (id -100…)."""

    id: int
    type: str
    title: str | None = None
    username: str | None = None
    first_name: str | None = None


@dataclass(frozen=True)
class Upload:
    """One file part of a multipart request."""

    filename: str | None
    content_type: str
    data: bytes


@dataclass(frozen=True)
class StoredFile:
    """A file the fake holds (uploaded by the bot or sent by a user): getFile-able by file_id."""

    file_id: str
    file_unique_id: str
    file_path: str  # downloadable at {base_url}/file/bot{token}/{file_path}
    data: bytes
    filename: str | None
    mime_type: str

    @property
    def size(self) -> int:
        """The size in bytes."""
        return len(self.data)


@dataclass(frozen=True)
class Edit:
    """One edit of a bot message: the method and the message's state after it."""

    method: str
    text: str | None
    caption: str | None
    reply_markup: list[list[JSON]]


@dataclass
class SentMessage:
    """A message the bot sent, in its current state, with its edit history."""

    message_id: int
    chat_id: int
    raw: JSON  # the Message object, as the bot last got it
    text: str | None = None
    caption: str | None = None
    reply_markup: list[list[JSON]] = field(default_factory=list)  # inline keyboard rows
    media: str | None = None  # "video" | "photo" | "document"
    file: StoredFile | None = None  # the media file (its data, filename, size)
    thumbnail: StoredFile | None = None
    reply_to_message_id: int | None = None
    edits: list[Edit] = field(default_factory=list)
    deleted: bool = False

    @property
    def buttons(self) -> list[JSON]:
        """The inline keyboard's buttons, row by row."""
        return [button for row in self.reply_markup for button in row]

    def button_data(self, label: str) -> str:
        """The callback_data of the button labelled `label` (KeyError if there is none)."""
        for button in self.buttons:
            if button.get("text") == label and "callback_data" in button:
                return str(button["callback_data"])
        raise KeyError(f"no button {label!r} on message {self.message_id}: {self.buttons}")


@dataclass(frozen=True, eq=False)
class Call:
    """One Bot API request (`params` decoded to ints, bools and JSON objects) and its answer."""

    method: str
    params: JSON
    files: dict[str, Upload]  # by parameter name, attach:// references resolved
    encoding: str  # "form" | "json" | "multipart" | "none"
    at: float  # time.monotonic() on arrival
    answer: JSON = field(default_factory=dict)  # {} while pending

    @property
    def status(self) -> int:
        """The HTTP status answered (0 while pending)."""
        return 200 if self.answer.get("ok") else int(self.answer.get("error_code", 0))


@dataclass(frozen=True)
class CallbackAnswer:
    """An answerCallbackQuery call."""

    callback_query_id: str
    text: str | None
    show_alert: bool


@dataclass(frozen=True)
class Webhook:
    """The webhook registered with setWebhook."""

    url: str
    secret_token: str | None
    allowed_updates: list[str] | None = None


def _u16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def auto_entities(text: str) -> list[JSON]:
    """The `bot_command` and `mention` entities Telegram attaches (offsets in UTF-16 units)."""
    spans = [(m, "bot_command") for m in _COMMAND.finditer(text)]
    spans += [(m, "mention") for m in _MENTION.finditer(text)]
    return [
        {"type": kind, "offset": _u16(text[: m.start()]), "length": _u16(m.group())}
        for m, kind in sorted(spans, key=lambda s: s[0].start())
    ]


def _decode(name: str, value: Any) -> Any:
    """A form value as Telegram reads it: JSON objects, ints and bools from their text."""
    if not isinstance(value, str):
        return value
    if name in _JSON:
        with contextlib.suppress(ValueError):
            return json.loads(value)
    if name in _INT and re.fullmatch(r"-?\d+", value):
        return int(value)
    return value == "true" if name in _BOOL else value


class FakeTelegram:
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
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, handler_cancellation=True)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
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

    async def _read(self, request: web.Request) -> tuple[JSON, dict[str, Upload], str]:
        fields: JSON = dict(request.query)
        if request.content_type != "multipart/form-data":
            body = await request.read()
            if request.content_type == "application/json" and body:
                fields.update(json.loads(body))
            else:
                fields.update(parse_qsl(body.decode(), keep_blank_values=True))
            encoding = "none" if not body else "json" if "json" in request.content_type else "form"
            return {k: _decode(k, v) for k, v in fields.items()}, {}, encoding
        parts: dict[str, Upload] = {}
        too_large = False
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
                continue
            if part.filename is None:
                fields[part.name] = await part.text()
                continue
            chunks, size = [], 0
            while chunk := await part.read_chunk(1 << 16):  # read it all, keep up to the limit
                size += len(chunk)
                too_large = too_large or size > self.upload_limit
                chunks.append(b"" if too_large else chunk)
            ctype = part.headers.get("Content-Type", "application/octet-stream")
            parts[part.name] = Upload(part.filename, ctype, b"".join(chunks))
        if too_large:
            raise ApiError(413, "Request Entity Too Large")
        files = {}
        for name, value in fields.items():  # a thumbnail comes as "attach://<part name>"
            if isinstance(value, str) and value.removeprefix("attach://") in parts:
                files[name] = parts.pop(value.removeprefix("attach://"))
        return {k: _decode(k, v) for k, v in fields.items()}, files | parts, "multipart"

    async def _api(self, request: web.Request) -> web.Response:
        method, error = request.match_info["method"], None
        try:
            params, files, encoding = await self._read(request)
        except ApiError as too_large:
            params, files, encoding, error = {}, {}, "multipart", too_large
        call = Call(method, params, files, encoding, time.monotonic())
        self.calls.append(call)
        self._touch()
        try:
            if error is not None:
                raise error
            if request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            if (handler := self._methods.get(method.lower())) is None:
                raise ApiError(404, "Not Found")
            if faults := self._faults.get(method.lower()):
                raise faults.popleft()
            call.answer.update(ok=True, result=await handler(params, files))
        except ApiError as failure:
            call.answer.update(failure.payload())
        self._touch()
        return web.json_response(call.answer, status=call.status)

    async def _download(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        stored = next((f for f in self._files.values() if f.file_path == path), None)
        if request.match_info["token"] != self.token or stored is None:
            return web.json_response(ApiError(404, "Not Found").payload(), status=404)
        self.downloads.append(path)
        self._touch()
        return web.Response(body=stored.data, content_type="application/octet-stream")

    # ---- the Bot API methods -----------------------------------------------------------------

    def _chat(self, p: JSON) -> Chat:
        chat_id = p.get("chat_id")
        if chat_id in (None, ""):
            raise _bad("chat_id is empty")
        by_name = {f"@{c.username}": c for c in self._chats.values() if c.username}
        if (chat := self._chats.get(chat_id) or by_name.get(chat_id)) is None:
            raise _bad("chat not found")
        return chat

    def _sent_message(self, p: JSON) -> SentMessage:
        if "inline_message_id" in p:
            raise _bad("inline messages are not supported by this fake")
        sent = [m for m in self.messages(self._chat(p)) if m.message_id == p.get("message_id")]
        if not sent:
            raise _bad("message to edit not found")
        return sent[0]

    @staticmethod
    def _markup(p: JSON) -> JSON | None:
        markup = p.get("reply_markup")
        if not isinstance(markup, dict) or "inline_keyboard" not in markup:
            return None  # reply keyboards are not part of the Message Telegram returns
        for button in (b for row in markup["inline_keyboard"] for b in row):
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise _bad("BUTTON_DATA_INVALID")
            if not button.get("text") or len(button) < 2:
                raise _bad("can't parse inline keyboard button: Text buttons are unallowed")
        return markup

    @staticmethod
    def _text(p: JSON, key: str, limit: int) -> str | None:
        text = str(p.get(key) or "")  # parse_mode markup is kept as sent, not parsed
        if key == "text" and not text.strip():
            raise _bad("message text is empty")
        if len(text) > limit:
            raise _bad("message is too long" if key == "text" else "message caption is too long")
        return text or None

    def _post(self, chat: Chat, p: JSON, key: str, value: str | None, media: Any = None) -> JSON:
        markup, reply = self._markup(p), p.get("reply_parameters") or {}
        reply_id = reply.get("message_id", p.get("reply_to_message_id"))
        quoted = None
        if reply_id is not None:
            try:
                quoted = self._quoted(chat.id, int(reply_id))
            except LookupError:
                if not reply.get("allow_sending_without_reply"):
                    raise _bad("message to be replied not found") from None
        mid = next(self._message_ids[chat.id])
        raw = {"message_id": mid, "from": self.bot_user.to_api(), "chat": chat.to_api()}
        raw["date"] = int(time.time())
        sent = SentMessage(mid, chat.id, raw)
        if quoted is not None:
            raw["reply_to_message"] = quoted
            sent.reply_to_message_id = quoted["message_id"]
        if media is not None:
            sent.media, sent.file, sent.thumbnail, raw[media[0]] = media
        self._apply(sent, key, value, p.get(_ENTITIES[key]), markup)
        self._raw[(chat.id, mid)] = raw
        self._sent[chat.id].append(sent)
        return raw

    @staticmethod
    def _apply(sent: SentMessage, key: str, value: str | None, entities: Any, markup: Any) -> None:
        for name in (key, _ENTITIES[key], "reply_markup"):
            sent.raw.pop(name, None)
        if value is not None:
            sent.raw[key] = value
            if entities:
                sent.raw[_ENTITIES[key]] = entities
        if markup is not None:
            sent.raw["reply_markup"] = markup
        setattr(sent, key, value)
        sent.reply_markup = markup["inline_keyboard"] if markup else []

    def _edit(self, method: str, sent: SentMessage, p: JSON, key: str, value: str | None) -> JSON:
        """Edits drop the inline keyboard unless `reply_markup` is sent again, as Telegram does."""
        markup = self._markup(p)
        if getattr(sent, key) == value and sent.raw.get("reply_markup") == markup:
            raise _bad(_NOT_MODIFIED)
        entities = p.get(_ENTITIES[key]) if key in p else sent.raw.get(_ENTITIES[key])
        self._apply(sent, key, value, entities, markup)
        sent.raw["edit_date"] = int(time.time())
        sent.edits.append(Edit(method, sent.text, sent.caption, sent.reply_markup))
        return sent.raw

    async def _m_getMe(self, p: JSON, f: dict[str, Upload]) -> JSON:
        flags = ("can_join_groups", "can_read_all_group_messages", "supports_inline_queries")
        return self.bot_user.to_api() | dict.fromkeys(flags, False) | {"can_join_groups": True}

    async def _m_setWebhook(self, p: JSON, f: dict[str, Upload]) -> bool:
        secret = p.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise _bad("secret token contains unallowed characters")
        if p.get("drop_pending_updates"):
            self._pending.clear()
        url = str(p.get("url") or "")
        self.webhook = Webhook(url, secret, p.get("allowed_updates")) if url else None
        return True

    async def _m_deleteWebhook(self, p: JSON, f: dict[str, Upload]) -> bool:
        return await self._m_setWebhook({"drop_pending_updates": p.get("drop_pending_updates")}, f)

    async def _m_getUpdates(self, p: JSON, f: dict[str, Upload]) -> list[JSON]:
        if self.webhook is not None:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active")
        offset, limit = int(p.get("offset", 0)), min(max(int(p.get("limit", 100)), 1), 100)
        if offset:  # confirms the updates before it; negative: keep only the last -offset
            keep = self._pending[offset:] if offset < 0 else []
            self._pending = keep or [u for u in self._pending if u["update_id"] >= offset]
        self._poll_generation += 1
        generation = self._poll_generation
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(float(p.get("timeout", 0)), 0)):
                while not self._pending and not self._closing:
                    await self._changed.wait()
                    if generation != self._poll_generation:
                        raise ApiError(409, _DESCRIPTIONS[409])
        return self._pending[:limit]

    async def _m_sendMessage(self, p: JSON, f: dict[str, Upload]) -> JSON:
        return self._post(self._chat(p), p, "text", self._text(p, "text", 4096))

    async def _m_sendChatAction(self, p: JSON, f: dict[str, Upload]) -> bool:
        return bool(self._chat(p))

    async def _send_media(self, kind: str, p: JSON, files: dict[str, Upload]) -> JSON:
        chat, caption, ref = self._chat(p), self._text(p, "caption", 1024), p.get(kind)
        if (upload := files.get(kind)) is not None:
            mime = upload.content_type
            if mime == "application/octet-stream":
                mime = mimetypes.guess_type(upload.filename or "")[0] or mime
            stored = self._store(kind, upload.data, upload.filename, mime)
        elif isinstance(ref, str) and ref in self._files:  # re-sending by file_id
            stored = self._files[ref]
        elif isinstance(ref, str) and ref.startswith(("http://", "https://")):
            stored = self._store(kind, b"", ref.rsplit("/", 1)[-1], "application/octet-stream")
        else:
            raise _bad("wrong file identifier/HTTP URL specified" if ref else f"no {kind} given")
        thumb = None
        if (t := files.get("thumbnail")) is not None:
            thumb = self._store("thumbnail", t.data, t.filename, t.content_type)
        media = (kind, stored, thumb, self._media_object(kind, stored, p, thumb))
        return self._post(chat, p, "caption", caption, media)

    async def _m_editMessageText(self, p: JSON, f: dict[str, Upload]) -> JSON:
        if (sent := self._sent_message(p)).media:
            raise _bad("there is no text in the message to edit")
        return self._edit("editMessageText", sent, p, "text", self._text(p, "text", 4096))

    async def _m_editMessageCaption(self, p: JSON, f: dict[str, Upload]) -> JSON:
        if not (sent := self._sent_message(p)).media:
            raise _bad("there is no caption in the message to edit")
        return self._edit("editMessageCaption", sent, p, "caption", self._text(p, "caption", 1024))

    async def _m_editMessageReplyMarkup(self, p: JSON, f: dict[str, Upload]) -> JSON:
        key = "caption" if (sent := self._sent_message(p)).media else "text"
        return self._edit("editMessageReplyMarkup", sent, p, key, getattr(sent, key))

    async def _m_deleteMessage(self, p: JSON, f: dict[str, Upload]) -> bool:
        chat, mid = self._chat(p), int(p.get("message_id") or 0)
        if self._raw.pop((chat.id, mid), None) is None:
            raise _bad("message to delete not found")
        for sent in self._sent[chat.id]:
            sent.deleted = sent.deleted or sent.message_id == mid
        return True

    async def _m_answerCallbackQuery(self, p: JSON, f: dict[str, Upload]) -> bool:
        query_id = str(p.get("callback_query_id", ""))
        if query_id not in self._open_queries:  # unknown, or answered already
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        self._open_queries.discard(query_id)
        answer = CallbackAnswer(query_id, p.get("text"), bool(p.get("show_alert")))
        self.callback_answers.append(answer)
        return True

    async def _m_getFile(self, p: JSON, f: dict[str, Upload]) -> JSON:
        if (stored := self._files.get(str(p.get("file_id")))) is None:
            raise _bad("invalid file_id")
        if stored.size > self.download_limit:
            raise _bad("file is too big")
        result = {"file_id": p["file_id"], "file_unique_id": stored.file_unique_id}
        return result | {"file_size": stored.size, "file_path": stored.file_path}

    @staticmethod
    def _scope(p: JSON) -> str:
        scope = json.dumps(p.get("scope") or {"type": "default"}, sort_keys=True)
        return f"{scope}/{p.get('language_code') or ''}"

    async def _m_setMyCommands(self, p: JSON, f: dict[str, Upload]) -> bool:
        for command in p.get("commands") or []:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command"))):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description") or "")) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        self._commands[self._scope(p)] = list(p.get("commands") or [])
        return True

    async def _m_getMyCommands(self, p: JSON, f: dict[str, Upload]) -> list[JSON]:
        return self._commands.get(self._scope(p), [])
