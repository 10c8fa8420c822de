"""The chat port: what every frontend turns its input into, and what it must render."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol


class MediaKind(StrEnum):
    """What a media attachment is, so each frontend can send it natively."""

    VIDEO = "video"
    PHOTO = "photo"
    DOCUMENT = "document"


@dataclass(frozen=True)
class Media:
    """A file to show in the chat."""

    kind: MediaKind
    path: Path
    caption: str = ""
    thumbnail: Path | None = None


@dataclass(frozen=True)
class Button:
    """A button: the label people see and the short id it sends back (`d:<verb>:<id>`)."""

    label: str
    id: str


@dataclass(frozen=True)
class Reply:
    """One message to show: text, buttons, media; `edit_key` edits an earlier one in place."""

    text: str
    buttons: tuple[Button, ...] = ()
    media: tuple[Media, ...] = ()
    edit_key: str | None = None
    alert: bool = False  # a refusal: frontends may show it only to the person who acted
    settles: bool = False  # a decision on the pressed preview: its buttons are now spent

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe form, for the chat queue."""
        return {
            "text": self.text,
            "buttons": [[b.label, b.id] for b in self.buttons],
            "media": [
                [m.kind.value, str(m.path), m.caption, str(m.thumbnail) if m.thumbnail else None]
                for m in self.media
            ],
            "edit_key": self.edit_key,
            "alert": self.alert,
            "settles": self.settles,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reply:
        """The inverse of `to_dict`."""
        return cls(
            text=str(data["text"]),
            buttons=tuple(Button(str(label), str(id_)) for label, id_ in data["buttons"]),
            media=tuple(
                Media(MediaKind(k), Path(p), str(c), Path(t) if t else None)
                for k, p, c, t in data["media"]
            ),
            edit_key=data.get("edit_key"),
            alert=bool(data.get("alert", False)),
            settles=bool(data.get("settles", False)),
        )


@dataclass(frozen=True)
class Attachment:
    """A file a person sent with a message, already saved locally by the frontend."""

    path: Path
    filename: str


@dataclass(frozen=True)
class Incoming:
    """One thing a person did in a chat: a message or a button press."""

    chat_ref: str
    user_ref: str
    user_name: str
    text: str = ""
    button: str | None = None
    attachments: tuple[Attachment, ...] = field(default=())
    groups: tuple[str, ...] = ()  # the user's roles in the chat service (e.g. Discord roles)
    reply_to_user_ref: str | None = None  # the author of the message this one replies to
    reply_to_user_name: str | None = None
    private: bool = False  # a one-to-one chat with the bot, which nobody else reads


class ChatSender(Protocol):
    """Sends a reply to a chat from outside a request (progress, previews, results)."""

    async def send(self, chat_ref: str, reply: Reply) -> None:
        """Deliver `reply` to the chat, in order with earlier sends to it."""


class RenderError(Exception):
    """A frontend cannot render part of a reply; raised, never silently dropped."""
