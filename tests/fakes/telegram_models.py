"""The Telegram Bot API objects of the fake (`telegram_server.FakeTelegram`): users, chats, files,
the bot's messages, the calls it made and their answers; `auto_entities` for users' messages."""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any

JSON = dict[str, Any]
MB = 1024 * 1024
_COMMAND = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")
_MENTION = re.compile(r"(?<![\w@])@[A-Za-z0-9_]{5,32}")
_CONFLICT = "Conflict: terminated by other getUpdates request; make sure that only one bot instance"
_DESCRIPTIONS = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 500: "Internal Error"}
_DESCRIPTIONS |= {403: "Forbidden: bot was blocked by the user", 409: _CONFLICT + " is running"}


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
    sent_at: float = field(default_factory=time.monotonic)  # when the bot's call arrived

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
    at: float = field(default_factory=time.monotonic)  # when the bot's answer arrived


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
