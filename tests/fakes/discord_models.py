"""The Discord API objects of the fake (`discord_server.FakeDiscord`): the guild, its roles,
channels and members, messages and their attachments, interactions and the bot's responses, REST
calls, gateway connections."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

JSON = dict[str, Any]
MB = 1024 * 1024
EPHEMERAL, LOADING = 1 << 6, 1 << 7  # message flags
GUILDS, GUILD_MEMBERS, GUILD_MESSAGES, MESSAGE_CONTENT = 1 << 0, 1 << 1, 1 << 9, 1 << 15
ADMINISTRATOR, ALL_PERMISSIONS = 1 << 3, (1 << 51) - 1
# add reactions, view channel, send messages, embed links, attach files, history, app commands
MEMBER_PERMISSIONS = sum(1 << bit for bit in (6, 10, 11, 14, 15, 16, 31))
Files = dict[str, "Upload"]  # multipart file parts by name ("files[0]", ...)
FileSpec = tuple[str, bytes, str]  # (filename, data, content_type; "" guesses it)


def _now() -> str:
    return datetime.now(UTC).isoformat()


class ApiError(Exception):
    """An error answer: `{"message": ..., "code": N}` with an HTTP status."""

    def __init__(self, status: int, message: str, code: int = 0):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


@dataclass(frozen=True)
class Guild:
    """The one guild the bot is in."""

    id: int
    name: str


@dataclass(frozen=True)
class Role:
    """A guild role (the @everyone role's id is the guild's)."""

    id: int
    name: str
    permissions: int = 0
    position: int = 1
    managed: bool = False

    def to_api(self) -> JSON:
        """The role object."""
        return {"id": str(self.id), "name": self.name, "position": self.position} | {
            "permissions": str(self.permissions), "managed": self.managed, "color": 0,
            "hoist": False, "mentionable": True, "flags": 0, "icon": None}  # fmt: skip


@dataclass(frozen=True)
class Channel:
    """A guild text channel."""

    id: int
    name: str
    guild_id: int
    position: int = 0

    def to_api(self) -> JSON:
        """The channel object."""
        return {"id": str(self.id), "name": self.name, "guild_id": str(self.guild_id)} | {
            "type": 0, "position": self.position, "permission_overwrites": [], "nsfw": False,
            "topic": None, "last_message_id": None, "parent_id": None,
            "rate_limit_per_user": 0, "flags": 0}  # fmt: skip


@dataclass(frozen=True)
class Member:
    """A guild member (the bot is one too); `roles` are role ids, @everyone left out."""

    id: int
    username: str
    roles: tuple[int, ...] = ()
    bot: bool = False
    joined_at: str = field(default_factory=_now)

    @property
    def mention(self) -> str:
        """`<@id>`."""
        return f"<@{self.id}>"

    def user_api(self) -> JSON:
        """The user object."""
        return {"id": str(self.id), "username": self.username, "discriminator": "0"} | {
            "global_name": None if self.bot else self.username.title(), "avatar": None,
            "bot": self.bot, "public_flags": 0}  # fmt: skip

    def to_api(self, permissions: int | None = None, *, user: bool = True) -> JSON:
        """The member object (interactions add `permissions`; messages leave out `user`)."""
        member: JSON = {"roles": [str(r) for r in self.roles], "joined_at": self.joined_at} | {
            "nick": None, "avatar": None, "deaf": False, "mute": False, "flags": 0,
            "pending": False, "premium_since": None,
            "communication_disabled_until": None}  # fmt: skip
        member |= {"user": self.user_api()} if user else {}
        return member if permissions is None else member | {"permissions": str(permissions)}


@dataclass(frozen=True)
class Attachment:
    """A file on a message (the bot's or a user's), downloadable at `url`."""

    id: int
    filename: str
    data: bytes
    content_type: str
    url: str
    description: str | None = None

    def to_api(self) -> JSON:
        """The attachment object."""
        return {"id": str(self.id), "filename": self.filename, "size": len(self.data)} | {
            "url": self.url, "proxy_url": self.url, "content_type": self.content_type,
            "description": self.description}  # fmt: skip


@dataclass(frozen=True)
class Edit:
    """A message's state after one edit."""

    content: str
    components: list[JSON]
    attachments: list[str]  # filenames
    flags: int
    at: float  # time.monotonic()


@dataclass(eq=False)
class Message:
    """A message in a channel, in its current state, with its edits."""

    id: int
    channel_id: int
    author: Member
    content: str = ""
    components: list[JSON] = field(default_factory=list)
    embeds: list[JSON] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    flags: int = 0
    kind: str = "channel"  # "channel" | "response" (to a callback) | "followup" | "user"
    interaction: Interaction | None = None  # the one it answers
    reference: int | None = None  # the message replied to
    nonce: str | None = None
    created: str = field(default_factory=_now)
    edited: str | None = None
    edits: list[Edit] = field(default_factory=list)
    deleted: bool = False

    @property
    def ephemeral(self) -> bool:
        """Whether only the interaction's user sees it (flag 64)."""
        return bool(self.flags & EPHEMERAL)

    @property
    def buttons(self) -> list[JSON]:
        """Every button (type 2) and select menu (3, 5-8), however nested, in order."""
        found, todo = [], list(self.components)
        while todo:
            item = todo.pop(0)
            found += [item] if item.get("type") in (2, 3, 5, 6, 7, 8) else []
            todo[:0] = [*item.get("components", []), *filter(None, [item.get("accessory")])]
        return found

    def custom_id(self, label: str) -> str:
        """The custom_id of the button labelled `label` (KeyError if there is none)."""
        for button in self.buttons:
            if button.get("label") == label and "custom_id" in button:
                return str(button["custom_id"])
        raise KeyError(f"no button {label!r} on message {self.id}: {self.buttons}")

    def to_api(self, guild_id: int, app_id: int) -> JSON:
        """The message object Discord sends."""
        raw: JSON = {"id": str(self.id), "channel_id": str(self.channel_id)} | {
            "guild_id": str(guild_id), "author": self.author.user_api(), "content": self.content,
            "timestamp": self.created, "edited_timestamp": self.edited, "tts": False,
            "mention_everyone": False, "mention_roles": [], "mentions": [], "pinned": False,
            "attachments": [a.to_api() for a in self.attachments], "embeds": self.embeds,
            "components": self.components, "flags": self.flags,
            "type": 19 if self.reference else 0}  # fmt: skip
        if self.nonce is not None:
            raw["nonce"] = self.nonce
        if self.reference is not None:
            raw["message_reference"] = {"message_id": str(self.reference)}
            raw["message_reference"] |= {"channel_id": raw["channel_id"], "guild_id": str(guild_id)}
        if (i := self.interaction) is not None:
            raw |= {"webhook_id": str(app_id), "application_id": str(app_id)}
            meta = {"id": str(i.id), "type": i.type, "user": i.member.user_api()}
            raw["interaction_metadata"] = meta | {"authorizing_integration_owners": {}}
            raw["type"] = 20 if i.type == 2 and self.kind == "response" else raw["type"]
        return raw


@dataclass(frozen=True)
class Response:
    """One thing the bot did for an interaction: its callback, a follow-up, an edit, a delete."""

    kind: str  # "callback" | "followup" | "edit" | "delete"
    type: int | None  # the callback type (4, 5, 6, 7, 8, 9); None for webhook calls
    payload: JSON  # the callback's `data`, or the webhook call's body
    message: Message | None  # the message created or edited
    after: float  # seconds from sending the interaction to this arriving

    @property
    def ephemeral(self) -> bool:
        """Whether the message (or the deferral) is ephemeral."""
        flags = self.message.flags if self.message else int(self.payload.get("flags") or 0)
        return bool(flags & EPHEMERAL)

    @property
    def content(self) -> str | None:
        """The content sent (None if none was)."""
        return self.payload.get("content")


@dataclass(eq=False)
class Interaction:
    """An interaction pushed to the bot: a slash command (type 2) or a component (3)."""

    id: int
    token: str
    type: int
    channel: Channel
    member: Member
    raw: JSON  # the INTERACTION_CREATE payload
    message: Message | None = None  # the message whose component was used
    sent_at: float = 0.0  # time.monotonic() when pushed
    acked_at: float | None = None
    ack_type: int | None = None
    original: Message | None = None  # what /messages/@original refers to
    responses: list[Response] = field(default_factory=list)

    @property
    def ack_delay(self) -> float | None:
        """Seconds from sending the interaction to its callback (None if not acknowledged)."""
        return None if self.acked_at is None else self.acked_at - self.sent_at


@dataclass(frozen=True)
class Upload:
    """One file part of a multipart request."""

    filename: str
    content_type: str
    data: bytes


@dataclass(eq=False)
class Call:
    """One REST request (JSON body, or multipart `payload_json` and `files[n]`) and its answer."""

    method: str
    path: str  # below /api/v10, e.g. "/channels/123/messages"
    query: dict[str, str]
    at: float  # time.monotonic() on arrival
    payload: Any = None
    files: dict[str, Upload] = field(default_factory=dict)  # by part name: "files[0]", ...
    encoding: str = "none"  # "json" | "multipart" | "none"
    status: int = 0  # 0 while pending
    answer: Any = None


@dataclass(eq=False)
class _Connection:
    ws: web.WebSocketResponse
    outbox: asyncio.Queue[tuple[JSON, asyncio.Future[None] | None]]
    session_id: str | None = None
    intents: int = 0
    seq: int = 0


@dataclass
class _Fault:
    method: str
    path: re.Pattern[str]
    status: int
    body: Any
    headers: dict[str, str]
    times: int
