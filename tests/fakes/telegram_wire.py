"""The wire side of the fake Telegram: request decoding, the HTTP routes and the Bot API methods.

`BotApi` is mixed into `telegram_server.FakeTelegram`, whose state (chats, messages, files, calls,
pending updates) and helpers (`messages`, `_touch`, `_quoted`, `_store`, `_media_object`) it uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import mimetypes
import re
import time
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web

from tests.fakes.telegram_models import (
    _DESCRIPTIONS,
    JSON,
    ApiError,
    Call,
    CallbackAnswer,
    Chat,
    Edit,
    SentMessage,
    Upload,
    Webhook,
)

_INT = {"chat_id", "message_id", "offset", "limit", "timeout", "reply_to_message_id", "duration"}
_INT |= {"width", "height", "max_connections", "cache_time", "message_thread_id"}
_BOOL = {"show_alert", "drop_pending_updates", "disable_notification", "supports_streaming"}
_BOOL |= {"has_spoiler", "protect_content"}
_JSON = {"reply_markup", "entities", "caption_entities", "allowed_updates", "commands", "scope"}
_JSON |= {"reply_parameters", "link_preview_options"}
_ENTITIES = {"text": "entities", "caption": "caption_entities"}
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the"
    " same as a current content and reply markup of the message"
)


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


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


class BotApi:
    """The HTTP handlers (`_api`, `_download`) and the Bot API methods (`_m_*`) of FakeTelegram."""

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
