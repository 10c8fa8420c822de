"""A loopback fake of Discord (REST API v10 and gateway), for the real discord.py (2.x) to talk to.

`async with FakeDiscord() as dc:` serves REST under `{dc.base_url}/api/v10`, the gateway websocket
at `dc.ws_url` and attachments at `{dc.base_url}/attachments/...`, and points discord.py at itself
(`patch_discord`, undone on exit). The bot logs in, IDENTIFYs, gets READY and a GUILD_CREATE for
`dc.guild` (channels, roles, members), syncs commands and answers interactions. Tests play the
users (`slash`, `press`, `say`), which push gateway events, then look at what the bot did
(`messages`, `responses`, `commands`, `calls`). Give the client `guild_ready_timeout=0.05`: it
otherwise waits 2 s after the last GUILD_CREATE before it is ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import mimetypes
import re
import secrets
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiohttp
import yarl
from aiohttp import web

T = TypeVar("T")
JSON = dict[str, Any]
MB = 1024 * 1024
EPHEMERAL, LOADING = 1 << 6, 1 << 7  # message flags
GUILDS, GUILD_MEMBERS, GUILD_MESSAGES, MESSAGE_CONTENT = 1 << 0, 1 << 1, 1 << 9, 1 << 15
ADMINISTRATOR, ALL_PERMISSIONS = 1 << 3, (1 << 51) - 1
# add reactions, view channel, send messages, embed links, attach files, history, app commands
MEMBER_PERMISSIONS = sum(1 << bit for bit in (6, 10, 11, 14, 15, 16, 31))
Files = dict[str, "Upload"]  # multipart file parts by name ("files[0]", ...)
FileSpec = tuple[str, bytes, str]  # (filename, data, content_type; "" guesses it)
_EPOCH_MS = 1420070400000
_MENTION = re.compile(r"<@!?(\d+)>")
_REASONS = {400: "400: Bad Request", 401: "401: Unauthorized", 403: "Missing Access"}
_REASONS |= {404: "404: Not Found", 429: "You are being rate limited.", 500: "Internal Error"}


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


class FakeDiscord:
    """`async with FakeDiscord() as dc:` serves Discord for the bot token `dc.token`."""

    def __init__(
        self,
        *,
        app_id: int = 1_300_000_000_000_000_001,
        bot_name: str = "socialbot",
        token: str = "fake-bot-token",
        guild_name: str = "Test guild",
        ack_deadline: float = 3.0,
        upload_limit: int = 25 * MB,
        heartbeat_interval: float = 41.25,
        patch: bool = True,
    ):
        self.app_id, self.token, self.ack_deadline = app_id, token, ack_deadline
        self.upload_limit, self.heartbeat_interval = upload_limit, heartbeat_interval
        self.patch = patch
        self.base_url = self.ws_url = ""
        self.calls: list[Call] = []
        self.identifies: list[JSON] = []  # every IDENTIFY's `d`
        self.heartbeats = 0  # op 1 frames received
        self.interactions: list[Interaction] = []
        self._ids = itertools.count(1)
        self._commands: dict[int | None, list[JSON]] = {}  # by guild id; None: global
        self._messages: dict[int, Message] = {}
        self._files: dict[int, Attachment] = {}
        self._faults: list[_Fault] = []
        self._connections: list[_Connection] = []
        self._sessions: dict[str, int] = {}  # session id: intents
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._patches = contextlib.ExitStack()
        self._routes = self._route_table()
        self.guild = Guild(self._snowflake(), guild_name)
        self._roles = {"@everyone": Role(self.guild.id, "@everyone", MEMBER_PERMISSIONS, 0)}
        bot_role = self.role(bot_name, permissions=MEMBER_PERMISSIONS | 1 << 13, managed=True)
        self.bot = Member(app_id, bot_name, (bot_role.id,), bot=True)
        self._members = {bot_name: self.bot}
        self._channels: dict[str, Channel] = {}
        self.channel("general")

    async def __aenter__(self) -> FakeDiscord:
        app = web.Application(client_max_size=self.upload_limit + MB)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/attachments/{channel}/{id}/{name}", self._download)
        app.router.add_route("*", r"/api/v{version:\d+}/{path:.*}", self._rest)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, handler_cancellation=True)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.base_url, self.ws_url = f"http://{host}:{port}", f"ws://{host}:{port}/gateway"
        if self.patch:
            self._patches.enter_context(self.patch_discord())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._patches.close()
        await self.drop_connections(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()

    @contextlib.contextmanager
    def patch_discord(self) -> Iterator[None]:
        """Point discord.py's REST base and default gateway URL here; restore them afterwards."""
        with warnings.catch_warnings():  # discord.py 2.7 imports audioop (deprecated in 3.11)
            warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
            from discord.gateway import DiscordWebSocket
            from discord.http import Route
        old = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
        Route.BASE = f"{self.base_url}/api/v10"  # after any _set_api_version(), which resets it
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.ws_url)
        try:
            yield
        finally:
            Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = old

    # ---- the test side: the guild and the people in it ---------------------------------------

    def channel(self, name: str) -> Channel:
        """The text channel `name`, created if new (and announced to a connected bot)."""
        if name not in self._channels:
            channel = Channel(self._snowflake(), name, self.guild.id, len(self._channels))
            self._channels[name] = channel
            self._announce("CHANNEL_CREATE", channel.to_api(), GUILDS)
        return self._channels[name]

    def role(self, name: str, *, permissions: int = 0, managed: bool = False) -> Role:
        """The role `name`, created if new with `permissions`."""
        if name not in self._roles:
            role = Role(self._snowflake(), name, permissions, len(self._roles), managed)
            self._roles[name] = role
            event = {"guild_id": str(self.guild.id), "role": role.to_api()}
            self._announce("GUILD_ROLE_CREATE", event, GUILDS)
        return self._roles[name]

    def member(self, username: str, roles: Sequence[str | Role] | None = None) -> Member:
        """The member `username`, created if new; `roles` (names or Roles) replace theirs."""
        old = self._members.get(username)
        if old is not None and roles is None:
            return old
        ids = tuple(r.id if isinstance(r, Role) else self.role(r).id for r in roles or ())
        member = Member(old.id if old else self._snowflake(), username, ids)
        self._members[username] = member
        event = "GUILD_MEMBER_UPDATE" if old else "GUILD_MEMBER_ADD"
        self._announce(event, member.to_api() | {"guild_id": str(self.guild.id)}, GUILD_MEMBERS)
        return member

    def permissions(self, member: Member) -> int:
        """The member's guild permissions (all of them with Administrator)."""
        perms = self._roles["@everyone"].permissions
        for role in self._roles.values():
            perms |= role.permissions if role.id in member.roles else 0
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    # ---- the test side: what people do -------------------------------------------------------

    async def slash(
        self,
        channel: Channel,
        member: Member,
        name: str,
        options: JSON | None = None,
        *,
        check: bool = True,
    ) -> Interaction:
        """`member` runs `/name` with `options` in `channel`; returns the pushed interaction.

        `name` may name subcommands ("group sub"). Option types come from the synced command
        (which with `check` must exist: LookupError), else from the values: str, int, bool,
        float, Member, Channel, Role, or a file `(filename, bytes, content_type)`.
        """
        command, *subs = name.split()
        found = next((c for c in self.guild_commands + self.commands if c["name"] == command), None)
        if found is None and check:
            raise LookupError(f"/{command} was not synced: {self.guild_commands + self.commands}")
        spec: JSON = found or {}
        nested: list[JSON] = []
        resolved: JSON = {}
        for sub in subs:
            spec = next((o for o in spec.get("options", []) if o["name"] == sub), {"type": 1})
            nested.append({"name": sub, "type": spec["type"], "options": []})
        typed = {o["name"]: o["type"] for o in spec.get("options", [])}
        values = [self._option(k, v, typed.get(k), resolved) for k, v in (options or {}).items()]
        for sub_option in reversed(nested):
            sub_option["options"], values = values, [sub_option]
        data: JSON = {"id": (found or {}).get("id", "0"), "name": command, "type": 1}
        data |= {"options": values} | ({"resolved": resolved} if resolved else {})
        data |= {"guild_id": found["guild_id"]} if found and "guild_id" in found else {}
        return await self._interact(2, channel, member, data)

    async def press(
        self,
        channel: Channel,
        member: Member,
        message: Message | int,
        custom_id: str | None = None,
        *,
        label: str | None = None,
        values: Sequence[str] | None = None,
        check: bool = True,
    ) -> Interaction:
        """`member` uses a component (by `custom_id`, or `label`) on the bot's `message`.

        `values` picks select menu options. With `check` the component must be on the message
        now (ValueError otherwise); an unknown or deleted message is a LookupError.
        """
        mid = message.id if isinstance(message, Message) else message
        found = self._messages.get(mid)
        if found is None or found.deleted or found.channel_id != channel.id:
            raise LookupError(f"no message {mid} in #{channel.name}")
        custom_id = found.custom_id(label) if label is not None else custom_id
        component = next((b for b in found.buttons if b.get("custom_id") == custom_id), None)
        if check and component is None:
            raise ValueError(f"no component {custom_id!r} on message {mid}: {found.buttons}")
        data: JSON = {"custom_id": custom_id, "component_type": (component or {"type": 2})["type"]}
        data |= {"values": list(values)} if values is not None else {}
        return await self._interact(3, channel, member, data, found)

    async def say(
        self,
        channel: Channel,
        member: Member,
        content: str = "",
        *,
        attachments: Sequence[FileSpec] = (),
        reply_to: Message | int | None = None,
    ) -> Message:
        """`member` posts in `channel`: MESSAGE_CREATE goes to a bot with the messages intent.

        As on Discord, without the message_content intent the bot gets no content, attachments
        or embeds, unless the message mentions it.
        """
        message = Message(self._snowflake(), channel.id, member, content, kind="user")
        message.attachments = [self._store(channel.id, *spec) for spec in attachments]
        message.reference = reply_to.id if isinstance(reply_to, Message) else reply_to
        self._messages[message.id] = message
        raw = self._event(message)
        mentioned = [m for m in self._members.values() if str(m.id) in _MENTION.findall(content)]
        raw["mentions"] = [m.user_api() | {"member": m.to_api(user=False)} for m in mentioned]
        blind = raw | {"content": "", "attachments": [], "embeds": [], "components": []}
        for conn in self._live():
            if conn.intents & GUILD_MESSAGES:
                sees = conn.intents & MESSAGE_CONTENT or self.bot in mentioned
                await self._enqueue(conn, "MESSAGE_CREATE", raw if sees else blind)
        self._touch()
        return message

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int = 500,
        json: Any = None,
        headers: dict[str, str] | None = None,
        *,
        retry_after: float = 0.05,
        times: int = 1,
    ) -> None:
        """Answer the next `times` REST calls of `method` ("*": any) whose path (below /api/v10)
        matches `path_regex` with `status`, `json` (default: Discord's error body) and `headers`.

        A 429 gets `retry_after` in its body and X-RateLimit headers, and `Via` (discord.py takes
        a 429 without `Via` for a Cloudflare ban and does not retry it).
        """
        body = json if json is not None else {"message": _REASONS.get(status, "Error"), "code": 0}
        extra = {}
        if status == 429:
            body |= {} if json is not None else {"retry_after": retry_after, "global": False}
            extra = {"Retry-After": str(max(1, round(retry_after))), "X-RateLimit-Limit": "5"}
            extra |= {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": str(retry_after)}
            extra |= {"X-RateLimit-Scope": "user", "Via": "1.1 google"}
        extra |= headers or {}
        self._faults.append(
            _Fault(method.upper(), re.compile(path_regex), status, body, extra, times)
        )

    async def drop_connections(self, code: int = 4000) -> None:
        """Close the gateway connections (with 4000 discord.py reconnects and RESUMEs)."""
        for conn in list(self._connections):
            await conn.ws.close(code=code, message=b"closed by the fake")

    # ---- the test side: what the bot did -----------------------------------------------------

    def messages(self, channel: Channel, *, include_deleted: bool = False) -> list[Message]:
        """The bot's messages in `channel` (posts, responses, follow-ups), oldest first."""
        everything = self._messages.values()
        mine = [m for m in everything if m.channel_id == channel.id and m.author == self.bot]
        return [m for m in mine if include_deleted or not m.deleted]

    def history(self, channel: Channel) -> list[Message]:
        """Every message in `channel` (users' too), oldest first, deleted ones left out."""
        return [m for m in self._messages.values() if m.channel_id == channel.id and not m.deleted]

    def responses(self, interaction: Interaction) -> list[Response]:
        """What the bot did for `interaction`, in order."""
        return interaction.responses

    @property
    def commands(self) -> list[JSON]:
        """The global commands synced (as stored, with ids)."""
        return self._commands.get(None, [])

    @property
    def guild_commands(self) -> list[JSON]:
        """The commands synced to `dc.guild`."""
        return self._commands.get(self.guild.id, [])

    @property
    def connected(self) -> bool:
        """Whether a bot has IDENTIFYed (or RESUMEd) on a live gateway connection."""
        return bool(self._live())

    def calls_to(self, method: str, path_regex: str) -> list[Call]:
        """The REST calls of `method` ("*": any) whose path matches `path_regex`."""
        found = [c for c in self.calls if re.search(path_regex, c.path)]
        return [c for c in found if method in ("*", c.method)]

    async def wait_for(self, predicate: Callable[[], T | None], timeout: float = 5.0) -> T:
        """Wait until `predicate()` is truthy (checked on each request or event, and every 20ms)."""
        try:
            async with asyncio.timeout(timeout):
                while not (result := predicate()):
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), 0.02)
                return result
        except TimeoutError:
            recent = [f"{c.method} {c.path}:{c.status}" for c in self.calls[-8:]]
            raise TimeoutError(f"not met within {timeout}s; last calls: {recent}") from None

    async def wait_for_message(
        self, channel: Channel, where: Callable[[Message], bool] | None = None, timeout: float = 5.0
    ) -> Message:
        """The first bot message in `channel` that matches `where`, waiting for it if need be."""
        found = lambda: next((m for m in self.messages(channel) if not where or where(m)), None)  # noqa: E731
        return await self.wait_for(found, timeout)

    async def wait_for_response(
        self, interaction: Interaction, count: int = 1, timeout: float = 5.0
    ) -> Response:
        """The `count`-th response to `interaction` (1: the callback), waiting for it."""
        done = interaction.responses
        return await self.wait_for(lambda: done[count - 1] if len(done) >= count else None, timeout)

    # ---- internals: ids, events, files, interactions -----------------------------------------

    def _snowflake(self) -> int:
        return (int(time.time() * 1000) - _EPOCH_MS) << 22 | next(self._ids) & 0x3FFFFF

    def _touch(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _live(self) -> list[_Connection]:
        return [c for c in self._connections if c.session_id and not c.ws.closed]

    def _enqueue(self, conn: _Connection, event: str, data: JSON) -> asyncio.Future[None]:
        conn.seq += 1
        sent = asyncio.get_running_loop().create_future()
        conn.outbox.put_nowait(({"op": 0, "t": event, "s": conn.seq, "d": data}, sent))
        return sent

    def _announce(self, event: str, data: JSON, intent: int) -> None:
        for conn in self._live():
            if conn.intents & intent:
                self._enqueue(conn, event, data)

    def _event(self, message: Message) -> JSON:
        member = message.author.to_api(user=False)
        return message.to_api(self.guild.id, self.app_id) | {"member": member}

    def _store(self, channel_id: int, filename: str, data: bytes, ctype: str = "") -> Attachment:
        aid = self._snowflake()
        url = f"{self.base_url}/attachments/{channel_id}/{aid}/{filename}"
        ctype = ctype or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        self._files[aid] = stored = Attachment(aid, filename, data, ctype, url)
        return stored

    def _option(self, name: str, value: Any, kind: int | None, resolved: JSON) -> JSON:
        def resolve(key: str, default_kind: int, oid: int, obj: JSON) -> str:
            nonlocal kind
            kind = kind or default_kind
            resolved.setdefault(key, {})[str(oid)] = obj
            return str(oid)

        if isinstance(value, Member):
            resolve("members", 6, value.id, value.to_api(self.permissions(value), user=False))
            value = resolve("users", 6, value.id, value.user_api())
        elif isinstance(value, Channel):
            permissions = {"permissions": str(MEMBER_PERMISSIONS)}
            value = resolve("channels", 7, value.id, value.to_api() | permissions)
        elif isinstance(value, Role):
            value = resolve("roles", 8, value.id, value.to_api())
        elif isinstance(value, tuple):
            stored = self._store(0, *value)
            value = resolve("attachments", 11, stored.id, stored.to_api())
        else:
            kind = kind or {bool: 5, int: 4, float: 10}.get(type(value), 3)
        return {"name": name, "type": kind, "value": value}

    async def _interact(
        self,
        kind: int,
        channel: Channel,
        member: Member,
        data: JSON,
        message: Message | None = None,
    ) -> Interaction:
        if not (conns := self._live()):
            raise RuntimeError("no bot is connected to the gateway")
        iid, token = self._snowflake(), f"aW50ZXJhY3Rpb24{secrets.token_urlsafe(24)}"
        raw: JSON = {"id": str(iid), "application_id": str(self.app_id), "type": kind} | {
            "data": data, "guild_id": str(self.guild.id), "channel_id": str(channel.id),
            "channel": channel.to_api(), "member": member.to_api(self.permissions(member)),
            "token": token, "version": 1, "app_permissions": str(self.permissions(self.bot)),
            "locale": "en-US", "guild_locale": "en-US", "entitlements": [], "context": 0,
            "guild": {"id": str(self.guild.id), "locale": "en-US", "features": []},
            "authorizing_integration_owners": {"0": str(self.guild.id)},
            "attachment_size_limit": self.upload_limit}  # fmt: skip
        if message is not None:
            raw["message"] = message.to_api(self.guild.id, self.app_id)
        interaction = Interaction(iid, token, kind, channel, member, raw, message)
        self.interactions.append(interaction)
        sent = self._enqueue(conns[-1], "INTERACTION_CREATE", raw)
        interaction.sent_at = time.monotonic()
        await sent
        self._touch()
        return interaction

    async def _download(self, request: web.Request) -> web.Response:
        stored = self._files.get(int(request.match_info["id"]))
        if stored is None or stored.filename != request.match_info["name"]:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=stored.data, content_type=stored.content_type)

    # ---- internals: the gateway --------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = _Connection(ws, asyncio.Queue())
        self._connections.append(conn)
        writer = asyncio.create_task(self._writer(conn))
        hello = {"heartbeat_interval": int(self.heartbeat_interval * 1000)}
        conn.outbox.put_nowait(({"op": 10, "s": None, "t": None, "d": hello}, None))
        try:
            async for frame in ws:
                if frame.type == aiohttp.WSMsgType.TEXT:
                    await self._on_op(conn, json.loads(frame.data))
        finally:
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            while not conn.outbox.empty():  # never sent: release whoever waits on them
                if (sent := conn.outbox.get_nowait()[1]) is not None and not sent.done():
                    sent.set_result(None)
            self._connections.remove(conn)
            self._touch()
        return ws

    @staticmethod
    async def _writer(conn: _Connection) -> None:
        while True:
            payload, sent = await conn.outbox.get()
            with contextlib.suppress(ConnectionError, RuntimeError):
                await conn.ws.send_str(json.dumps(payload))  # plain text frames, no zlib-stream
            if sent is not None and not sent.done():
                sent.set_result(None)

    async def _on_op(self, conn: _Connection, msg: JSON) -> None:
        op, data = msg.get("op"), msg.get("d") or {}
        if op == 1:  # HEARTBEAT -> HEARTBEAT_ACK
            self.heartbeats += 1
            conn.outbox.put_nowait(({"op": 11, "s": None, "t": None, "d": None}, None))
        elif op == 2:  # IDENTIFY -> READY, then the guild
            self.identifies.append(data)
            if data.get("token") != self.token:
                await conn.ws.close(code=4004, message=b"Authentication failed.")
                return
            conn.session_id, conn.intents = secrets.token_hex(16), int(data.get("intents", 0))
            self._sessions[conn.session_id] = conn.intents
            ready: JSON = {"v": 10, "user": self.bot.user_api() | {"verified": True}}
            ready |= {"guilds": [{"id": str(self.guild.id), "unavailable": True}]}
            ready |= {"session_id": conn.session_id, "resume_gateway_url": self.ws_url}
            ready |= {"application": {"id": str(self.app_id), "flags": 0}}
            ready |= {"shard": data.get("shard", [0, 1]), "private_channels": []}
            self._enqueue(conn, "READY", ready)
            self._enqueue(conn, "GUILD_CREATE", self._guild_create(conn.intents))
        elif op == 6:  # RESUME -> RESUMED, or INVALID_SESSION
            if data.get("token") != self.token or data.get("session_id") not in self._sessions:
                conn.outbox.put_nowait(({"op": 9, "s": None, "t": None, "d": False}, None))
                return
            conn.session_id, conn.seq = data["session_id"], int(data.get("seq") or 0)
            conn.intents = self._sessions[conn.session_id]
            self._enqueue(conn, "RESUMED", {})
        elif op == 8:  # REQUEST_GUILD_MEMBERS -> one chunk with everyone
            members = [m.to_api() for m in self._members.values()]
            chunk = {"guild_id": str(self.guild.id), "members": members, "nonce": data.get("nonce")}
            self._enqueue(conn, "GUILD_MEMBERS_CHUNK", chunk | {"chunk_index": 0, "chunk_count": 1})
        self._touch()

    def _guild_create(self, intents: int) -> JSON:
        everyone = self._members.values() if intents & GUILD_MEMBERS else [self.bot]
        return {"id": str(self.guild.id), "name": self.guild.name, "owner_id": "1"} | {
            "unavailable": False, "large": False, "member_count": len(self._members),
            "members": [m.to_api() for m in everyone], "joined_at": self.bot.joined_at,
            "roles": [r.to_api() for r in self._roles.values()],
            "channels": [c.to_api() for c in self._channels.values()], "threads": [],
            "emojis": [], "stickers": [], "features": [], "voice_states": [], "presences": [],
            "stage_instances": [], "guild_scheduled_events": [], "preferred_locale": "en-US",
            "premium_tier": 0, "system_channel_flags": 0}  # fmt: skip

    # ---- internals: REST ---------------------------------------------------------------------

    def _route_table(self) -> list[tuple[list[str], re.Pattern[str], Any]]:
        app, hook = r"/applications/(?P<app>\d+)", r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)"
        chan, mid = r"/channels/(?P<channel>\d+)", r"/messages/(?P<mid>@original|\d+)"
        table = [
            ("GET", "/users/@me|/oauth2/applications/@me|/gateway(/bot)?", self._r_static),
            ("GET PUT", app + r"(/guilds/(?P<guild>\d+))?/commands", self._r_commands),
            ("POST", r"/interactions/(?P<iid>\d+)/(?P<token>[^/]+)/callback", self._r_callback),
            ("POST", hook, self._r_followup),
            ("GET PATCH DELETE", hook + mid, self._r_webhook_message),
            ("GET", chan, self._r_channel),
            ("GET POST", chan + "/messages", self._r_channel_messages),
            ("GET PATCH DELETE", chan + mid, self._r_channel_message),
            ("POST", chan + "/typing", self._r_channel),
            ("GET", r"/guilds/(?P<guild>\d+)/members/(?P<user>\d+)", self._r_member),
        ]
        return [(m.split(), re.compile(p), handler) for m, p, handler in table]

    async def _rest(self, request: web.Request) -> web.Response:
        path, query = "/" + request.match_info["path"], dict(request.query)
        self.calls.append(call := Call(request.method, path, query, time.monotonic()))
        headers: dict[str, str] = {}
        try:
            call.payload, call.files, call.encoding = await self._read(request)
            faults = [f for f in self._faults if f.method in ("*", call.method)]
            if (fault := next((f for f in faults if f.path.search(path)), None)) is not None:
                fault.times -= 1
                self._faults = [f for f in self._faults if f.times > 0]
                call.status, call.answer, headers = fault.status, fault.body, fault.headers
            else:
                call.answer = await self._handle(request, call)
                call.status = 200 if call.answer is not None else 204
        except ApiError as error:
            call.status, call.answer = error.status, {"message": error.message, "code": error.code}
        self._touch()
        if call.status == 204:
            return web.Response(status=204)
        body = json.dumps(call.answer).encode()  # bytes: Content-Type exactly application/json
        kind = "application/json"
        return web.Response(status=call.status, body=body, content_type=kind, headers=headers)

    async def _read(self, request: web.Request) -> tuple[Any, dict[str, Upload], str]:
        if request.content_type != "multipart/form-data":
            try:
                body = await request.read()
                return (json.loads(body), {}, "json") if body else (None, {}, "none")
            except ValueError:
                raise ApiError(400, "The request body contains invalid JSON.", 50109) from None
        payload, files = None, {}
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
                continue
            if part.filename is None:
                payload = json.loads(await part.text()) if part.name == "payload_json" else payload
            else:
                ctype = part.headers.get(aiohttp.hdrs.CONTENT_TYPE, "application/octet-stream")
                files[part.name] = Upload(part.filename, ctype, bytes(await part.read()))
        if sum(len(f.data) for f in files.values()) > self.upload_limit:
            raise ApiError(413, "Request entity too large", 40005)
        return payload, files, "multipart"

    async def _handle(self, request: web.Request, call: Call) -> Any:
        for methods, pattern, handler in self._routes:
            if request.match_info["version"] == "10" and (match := pattern.fullmatch(call.path)):
                if call.method not in methods:
                    raise ApiError(405, "405: Method Not Allowed")
                groups = {k: v for k, v in match.groupdict().items() if v}
                authorized = request.headers.get("Authorization") == f"Bot {self.token}"
                if "token" not in groups and not authorized:  # interaction/webhook tokens are auth
                    raise ApiError(401, "401: Unauthorized")
                return await handler(call, **groups)
        raise ApiError(404, "404: Not Found")

    async def _r_static(self, call: Call) -> JSON:
        if call.path == "/users/@me":
            return self.bot.user_api() | {"verified": True, "mfa_enabled": False, "flags": 0}
        if call.path.startswith("/gateway"):
            limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
            return {"url": self.ws_url, "shards": 1, "session_start_limit": limit}
        owner = {"id": "1", "username": "owner", "discriminator": "0", "avatar": None}
        return {"id": str(self.app_id), "name": self.bot.username, "description": ""} | {
            "icon": None, "bot_public": True, "bot_require_code_grant": False, "owner": owner,
            "verify_key": "0" * 64, "flags": 0, "team": None, "bot": self.bot.user_api(),
            "interactions_endpoint_url": None, "redirect_uris": [], "summary": ""}  # fmt: skip

    async def _r_commands(self, call: Call, app: str, guild: str | None = None) -> list[JSON]:
        scope = int(guild) if guild else None
        if int(app) != self.app_id or scope not in (None, self.guild.id):
            raise ApiError(403, "Missing Access", 50001)
        if call.method == "GET":
            return self._commands.get(scope, [])
        old, stored = {c["name"]: c for c in self._commands.get(scope, [])}, []
        for command in call.payload or []:
            name, description = str(command.get("name")), str(command.get("description") or "")
            slash_ok = name == name.lower() and 1 <= len(description) <= 100
            bad_name = not re.fullmatch(r"[-\w]{1,32}", name)
            if bad_name or (command.get("type", 1) == 1 and not slash_ok):
                raise ApiError(400, f"Invalid Form Body: command {name!r}", 50035)
            known = {"id": old.get(name, {}).get("id") or str(self._snowflake()), "type": 1}
            known |= {"application_id": str(self.app_id), "version": str(self._snowflake())}
            known |= {"options": [], "default_member_permissions": None, "nsfw": False}
            stored.append(known | command | ({"guild_id": str(scope)} if scope else {}))
        self._commands[scope] = stored
        return stored

    async def _r_callback(self, call: Call, iid: str, token: str) -> JSON:
        now = time.monotonic()
        inter = next((i for i in self.interactions if i.id == int(iid) and i.token == token), None)
        if inter is None or now - inter.sent_at > self.ack_deadline:
            raise ApiError(404, "Unknown interaction", 10062)
        if inter.acked_at is not None:
            raise ApiError(400, "Interaction has already been acknowledged.", 40060)
        kind, data = (call.payload or {}).get("type"), (call.payload or {}).get("data") or {}
        if kind not in (4, 5, 6, 7, 8, 9) or (kind in (6, 7) and inter.message is None):
            raise ApiError(400, f"Invalid Form Body: callback type {kind}", 50035)
        message = None
        if kind == 4:
            inter.original = self._post(inter.channel, data, call.files, "response", inter)
            message = inter.original
        elif kind == 5:  # a "thinking" message, filled by an edit or the first follow-up
            loading = {"flags": int(data.get("flags") or 0) & EPHEMERAL | LOADING}
            message = inter.original = self._post(inter.channel, loading, {}, "response", inter)
        elif kind in (6, 7) and inter.message is not None:
            inter.original = inter.message
            message = self._edit(inter.message, data, call.files) if kind == 7 else None
        inter.acked_at, inter.ack_type = now, kind
        self._respond(inter, "callback", kind, data, message)
        body: JSON = {"interaction": {"id": iid, "type": inter.type}, "resource": {"type": kind}}
        if message is not None:
            body["interaction"] |= {"response_message_id": str(message.id)}
            body["interaction"] |= {"response_message_loading": kind == 5}
            body["interaction"] |= {"response_message_ephemeral": message.ephemeral}
            body["resource"]["message"] = message.to_api(self.guild.id, self.app_id)
        return body

    def _by_token(self, app: str, token: str) -> Interaction:
        inter = next((i for i in self.interactions if i.token == token), None)
        if int(app) != self.app_id or inter is None or inter.acked_at is None:
            raise ApiError(404, "Unknown Webhook", 10015)
        return inter

    async def _r_followup(self, call: Call, app: str, token: str) -> JSON | None:
        inter, payload = self._by_token(app, token), call.payload or {}
        if inter.original is not None and inter.original.flags & LOADING:  # first one after a defer
            message = self._edit(inter.original, payload, call.files)
        else:
            message = self._post(inter.channel, payload, call.files, "followup", inter)
        self._respond(inter, "followup", None, payload, message)
        wait = call.query.get("wait", "").lower() in ("1", "true")
        return message.to_api(self.guild.id, self.app_id) if wait else None

    async def _r_webhook_message(self, call: Call, app: str, token: str, mid: str) -> JSON | None:
        inter = self._by_token(app, token)
        message = inter.original if mid == "@original" else self._messages.get(int(mid))
        if mid != "@original" and message is not None and message.interaction is not inter:
            message = None  # not one of this interaction's
        if message is None or message.deleted:
            raise ApiError(404, "Unknown Message", 10008)
        return self._message_call(call, message, inter)

    def _message_call(self, call: Call, message: Message, inter: Interaction | None) -> JSON | None:
        if call.method == "PATCH":
            if message.author != self.bot:
                raise ApiError(403, "Cannot edit a message authored by another user", 50005)
            self._edit(message, call.payload or {}, call.files)
        elif call.method == "DELETE":
            message.deleted = True
            if not message.ephemeral:
                event = {"id": str(message.id), "channel_id": str(message.channel_id)}
                event |= {"guild_id": str(self.guild.id)}
                self._announce("MESSAGE_DELETE", event, GUILD_MESSAGES)
        if inter is not None and call.method != "GET":
            kind = "edit" if call.method == "PATCH" else "delete"
            self._respond(inter, kind, None, call.payload or {}, message)
        return None if message.deleted else message.to_api(self.guild.id, self.app_id)

    def _channel_by_id(self, channel: str) -> Channel:
        found = next((c for c in self._channels.values() if c.id == int(channel)), None)
        if found is None:
            raise ApiError(404, "Unknown Channel", 10003)
        return found

    async def _r_channel(self, call: Call, channel: str) -> JSON | None:
        found = self._channel_by_id(channel)
        return None if call.path.endswith("/typing") else found.to_api()

    async def _r_channel_messages(self, call: Call, channel: str) -> Any:
        found = self._channel_by_id(channel)
        if call.method == "POST":
            message = self._post(found, call.payload or {}, call.files, "channel", None)
            return message.to_api(self.guild.id, self.app_id)
        newest = self.history(found)[::-1][: int(call.query.get("limit", 50))]
        return [m.to_api(self.guild.id, self.app_id) for m in newest]

    async def _r_channel_message(self, call: Call, channel: str, mid: str) -> JSON | None:
        found = self._channel_by_id(channel)
        message = self._messages.get(int(mid)) if mid.isdigit() else None
        if message is None or message.deleted or message.channel_id != found.id:
            raise ApiError(404, "Unknown Message", 10008)
        return self._message_call(call, message, None)

    async def _r_member(self, call: Call, guild: str, user: str) -> JSON:
        found = next((m for m in self._members.values() if m.id == int(user)), None)
        if int(guild) != self.guild.id or found is None:
            raise ApiError(404, "Unknown Member", 10007)
        return found.to_api()

    # ---- internals: messages -----------------------------------------------------------------

    @staticmethod
    def _respond(
        inter: Interaction, kind: str, type: int | None, payload: JSON, msg: Message | None
    ) -> None:
        inter.responses.append(Response(kind, type, payload, msg, time.monotonic() - inter.sent_at))

    def _post(
        self, channel: Channel, payload: JSON, files: Files, kind: str, inter: Interaction | None
    ) -> Message:
        message = Message(self._snowflake(), channel.id, self.bot, kind=kind, interaction=inter)
        self._apply(message, payload, files)
        shown = message.content.strip() or message.embeds or message.components
        if not (shown or message.attachments or message.flags & LOADING):
            raise ApiError(400, "Cannot send an empty message", 50006)
        reference = (payload.get("message_reference") or {}).get("message_id")
        message.reference = int(reference) if reference else None
        message.nonce = payload.get("nonce")
        self._messages[message.id] = message
        if not message.ephemeral:
            self._announce("MESSAGE_CREATE", self._event(message), GUILD_MESSAGES)
        return message

    def _edit(self, message: Message, payload: JSON, files: Files) -> Message:
        self._apply(message, payload, files)
        message.flags, message.edited = message.flags & ~LOADING, _now()
        names = [a.filename for a in message.attachments]
        edit = Edit(message.content, message.components, names, message.flags, time.monotonic())
        message.edits.append(edit)
        if not message.ephemeral:
            self._announce("MESSAGE_UPDATE", self._event(message), GUILD_MESSAGES)
        return message

    def _apply(self, message: Message, payload: JSON, files: Files) -> None:
        """Content, components, embeds, flags (ephemeral kept), and attachments: the ones kept
        (all, unless `attachments` lists them by id) and the uploads (`files[n]`, whose filename
        and description come from the `attachments` entry with id n)."""
        if len(payload.get("content") or "") > 2000:
            raise ApiError(400, "Invalid Form Body: content: Must be 2000 or fewer long.", 50035)
        for key in ("content", "components", "embeds"):
            if key in payload:
                setattr(message, key, payload[key] or type(getattr(message, key))())
        if "flags" in payload:
            message.flags = int(payload["flags"] or 0) | message.flags & EPHEMERAL
        listed = payload.get("attachments")
        meta = {str(a.get("id")): a for a in listed or []}
        kept = [a for a in message.attachments if listed is None or str(a.id) in meta]
        message.attachments = kept
        for name in sorted(files, key=lambda n: int(re.sub(r"\D", "", n) or 0)):
            upload, info = files[name], meta.get(re.sub(r"\D", "", name), {})
            ctype = "" if upload.content_type == "application/octet-stream" else upload.content_type
            filename = info.get("filename") or upload.filename
            stored = self._store(message.channel_id, filename, upload.data, ctype)
            if info.get("description"):
                stored = Attachment(**{**stored.__dict__, "description": info["description"]})
            message.attachments.append(stored)
