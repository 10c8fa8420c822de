"""The wire side of the fake Discord: attachment downloads, the gateway websocket, the REST routes
and the messages they post, edit and delete.

`DiscordWire` is mixed into `discord_server.FakeDiscord`, whose state (guild, members, messages,
files, connections, interactions, faults) and helpers (`_snowflake`, `_touch`, `_live`, `_enqueue`,
`_announce`, `_event`, `_store`, `history`) it uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import time
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.discord_models import (
    EPHEMERAL,
    GUILD_MEMBERS,
    GUILD_MESSAGES,
    JSON,
    LOADING,
    ApiError,
    Attachment,
    Call,
    Channel,
    Edit,
    Files,
    Interaction,
    Message,
    Response,
    Upload,
    _Connection,
    _now,
)


class DiscordWire:
    """The HTTP, websocket and REST handlers of FakeDiscord."""

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
