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
import mimetypes
import re
import secrets
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import yarl
from aiohttp import web

from tests.fakes.discord_models import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    EPHEMERAL,
    GUILD_MEMBERS,
    GUILD_MESSAGES,
    GUILDS,
    JSON,
    LOADING,
    MB,
    MEMBER_PERMISSIONS,
    MESSAGE_CONTENT,
    ApiError,
    Attachment,
    Call,
    Channel,
    Edit,
    Files,
    FileSpec,
    Guild,
    Interaction,
    Member,
    Message,
    Response,
    Role,
    Upload,
    _Connection,
    _Fault,
)
from tests.fakes.discord_wire import DiscordWire
from tests.fakes.loopback import start_app

__all__ = [
    "ADMINISTRATOR", "ALL_PERMISSIONS", "EPHEMERAL", "GUILDS", "GUILD_MEMBERS", "GUILD_MESSAGES",
    "JSON", "LOADING", "MB", "MEMBER_PERMISSIONS", "MESSAGE_CONTENT", "ApiError", "Attachment",
    "Call", "Channel", "DiscordWire", "Edit", "FakeDiscord", "FileSpec", "Files", "Guild",
    "Interaction", "Member", "Message", "Response", "Role", "Upload",
]  # fmt: skip

T = TypeVar("T")
_EPOCH_MS = 1420070400000
_MENTION = re.compile(r"<@!?(\d+)>")
_REASONS = {400: "400: Bad Request", 401: "401: Unauthorized", 403: "Missing Access"}
_REASONS |= {404: "404: Not Found", 429: "You are being rate limited.", 500: "Internal Error"}


class FakeDiscord(DiscordWire):
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
        self._runner, origin = await start_app(app)
        self.base_url = origin
        self.ws_url = "ws" + origin.removeprefix("http") + "/gateway"
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

    async def wait_for_answer(self, interaction: Interaction, timeout: float = 5.0) -> Response:
        """The first response to `interaction` with content: the callback, or after a
        deferral (the bot took over 2 s) the follow-up or edit that carries the answer."""
        said = lambda: next((r for r in interaction.responses if r.content), None)  # noqa: E731
        return await self.wait_for(said, timeout)

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
