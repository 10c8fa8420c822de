"""The Telegram frontend: python-telegram-bot over the chat port, polling or webhook."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast

import structlog
from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, RetryAfter
from telegram.ext import Application, ApplicationBuilder, CallbackQueryHandler, ContextTypes
from telegram.ext import MessageHandler as TgMessageHandler
from telegram.ext import filters as tg_filters

from bot.adapter import split_text
from bot.monitoring import replying
from handlers.app import App
from handlers.buttons import BadButton, Verb, decode
from handlers.port import Attachment, Button, Incoming, Media, MediaKind, Reply
from handlers.router import handle

log = structlog.get_logger(__name__)
T = TypeVar("T")

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
PUBLIC_UPLOAD_LIMIT = 50 * 1024 * 1024
SELF_HOSTED_UPLOAD_LIMIT = 2000 * 1024 * 1024
MAX_RATE_LIMIT_WAITS = 20
COMMANDS = [
    ("start", "make this chat a workspace"),
    ("help", "what I can do"),
    ("draft", "request a short video: /draft a 30 second short about …"),
    ("drafts", "the latest drafts"),
    ("status", "one draft's state: /status <number>"),
    ("edit", "revise a draft: /edit <number> <instruction>"),
    ("template", "keep a draft's format: /template save <name> <number>; show|delete <name>"),
    ("templates", "the saved templates; use one: /draft template:<name> <topic>"),
    ("show", "a version's preview again: /show <number> [version]"),
    ("review", "a link a client approves from: /review <number>"),
    ("schedule", "publish at a time: /schedule <number> <when>; alone: what's coming"),
    ("stats", "views, engagement, top posts, best times, cost: /stats [30d] [platform]"),
    ("ideas", "topic ideas from your best posts, each ready to draft: /ideas [1-10]"),
    ("digest", "a digest with a chart; /digest schedule daily 09:00 for a regular one"),
    ("campaign", 'a draft on a cadence: /campaign new "<name>" every mon 9:00 topics: a; b'),
    ("campaigns", "the campaigns and their next runs; /campaign pause|resume|stop|edit"),
    ("cancel", "stop the questions of /campaign new; nothing is made"),
    ("connect", "connect a platform account: /connect youtube|tiktok|instagram|facebook"),
    ("accounts", "connected accounts and their health"),
    ("disconnect", "remove a connected account: /disconnect <platform> [name]"),
    ("publishing", "how posts are made: privacy, TikTok direct or inbox"),
    ("publish", "try a draft's failed posts again: /publish <number>"),
    ("role", "set a member's role (owners)"),
    ("admin", "the bot's status: /admin status (owners)"),
    ("apikey", "HTTP API keys, in a private chat: /apikey new <name>; /apikeys (owners)"),
    ("media", "add a video or photo to the library"),
    ("brands", "this team's brands; /brand new <name>, /brand use <name>"),
]


class TooLarge(Exception):
    """An attachment over the upload limit: refused before it is downloaded."""

    def __init__(self, name: str, size: int, limit: int) -> None:
        super().__init__(
            f"{name} is {size / 2**20:.0f} MB; the limit is {limit / 2**20:.0f} MB. "
            "Send a shorter or smaller file."
        )


class TelegramFrontend:
    """Runs a python-telegram-bot Application and renders replies into Telegram chats."""

    def __init__(
        self,
        *,
        app: App,
        token: str,
        api_base_url: str | None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        media_link: Callable[[Path], str | None] = lambda _path: None,
    ) -> None:
        # Opt in to PTB 22's timedelta periods; the int form is deprecated and warns.
        os.environ.setdefault("PTB_TIMEDELTA", "true")
        self._core = app
        self._webhook_url = webhook_url
        self._webhook_secret = webhook_secret
        self._media_link = media_link
        self.upload_limit = SELF_HOSTED_UPLOAD_LIMIT if api_base_url else PUBLIC_UPLOAD_LIMIT
        builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = ApplicationBuilder().token(
            token
        )
        if api_base_url:
            builder = builder.base_url(f"{api_base_url}/bot").base_file_url(
                f"{api_base_url}/file/bot"
            )
        self.application: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        self.application.add_handler(TgMessageHandler(tg_filters.ALL, self._on_message))
        self.application.add_handler(CallbackQueryHandler(self._on_press))
        self.application.add_error_handler(self._on_error)
        self._edits: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self._previews: OrderedDict[tuple[int, int], int] = OrderedDict()
        self._username = ""

    async def start(self) -> None:
        """Connect, register the commands, and start polling (or register the webhook)."""
        await self.application.initialize()
        self._username = self.application.bot.username
        await self._call(
            lambda: self.application.bot.set_my_commands([BotCommand(c, d) for c, d in COMMANDS])
        )
        await self.application.start()
        if self._webhook_url:
            await self.application.bot.set_webhook(
                self._webhook_url, secret_token=self._webhook_secret
            )
        else:
            assert self.application.updater is not None
            await self.application.updater.start_polling(poll_interval=0.0, timeout=10)
        log.info("telegram.started", username=self._username, webhook=bool(self._webhook_url))

    async def stop(self) -> None:
        """Stop polling and processing, then close the connection."""
        if self.application.updater is not None and self.application.updater.running:
            await self.application.updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()

    async def feed_webhook(self, data: dict[str, Any]) -> None:
        """Hand an update that arrived on the web app's webhook route to the application."""
        update = Update.de_json(data, self.application.bot)
        await self.application.update_queue.put(update)

    # -- incoming --------------------------------------------------------------------------

    async def _on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or message.from_user is None or message.from_user.is_bot:
            return
        text = (message.text or message.caption or "").strip()
        if not self._addressed_to_me(message, text):
            return
        text = self._strip_mention(text)
        draft_id = self._replied_preview(message)
        if draft_id is not None and not text.startswith("/"):
            text = f"/edit {draft_id} {text}"
        try:
            attachments = await self._download(message)
        except TooLarge as exc:
            await self.render(f"telegram:{message.chat_id}", Reply(f"⚠️ {exc}", alert=True))
            return
        replied = message.reply_to_message
        replied_user = replied.from_user if replied is not None else None
        incoming = Incoming(
            chat_ref=f"telegram:{message.chat_id}",
            user_ref=f"telegram:{message.from_user.id}",
            user_name=message.from_user.username or message.from_user.first_name,
            text=text,
            attachments=attachments,
            private=message.chat.type == "private",
            reply_to_user_ref=(
                f"telegram:{replied_user.id}"
                if replied_user is not None and not replied_user.is_bot
                else None
            ),
            reply_to_user_name=(replied_user.username or replied_user.first_name)
            if replied_user is not None
            else None,
        )
        try:
            async with replying(self._core, incoming, frontend="telegram"):
                for reply in await handle(self._core, incoming):
                    await self.render(incoming.chat_ref, reply)
        finally:
            for attachment in attachments:
                attachment.path.unlink(missing_ok=True)

    async def _on_press(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or query.message is None:
            return
        chat_id = query.message.chat.id
        incoming = Incoming(
            chat_ref=f"telegram:{chat_id}",
            user_ref=f"telegram:{query.from_user.id}",
            user_name=query.from_user.username or query.from_user.first_name,
            button=query.data or "",
        )
        async with replying(self._core, incoming, frontend="telegram"):
            replies = await handle(self._core, incoming)
            first = replies[0] if replies else Reply("")
            await self._call(lambda: query.answer(text=first.text[:200], show_alert=first.alert))
            if first.alert:
                return  # a refusal is for the presser alone
            for reply in replies:
                if reply.settles and isinstance(query.message, Message):
                    await self._settle(query.message, reply)
                await self.render(incoming.chat_ref, reply)

    def _addressed_to_me(self, message: Message, text: str) -> bool:
        """Private chats: everything. Groups: commands, mentions, replies to the bot, /media."""
        if message.chat.type == "private":
            return True
        replied = message.reply_to_message
        author = replied.from_user if replied is not None else None
        if author is not None and author.id == self.application.bot.id:
            return True
        mention = f"@{self._username}".lower()
        return text.startswith("/") or mention in text.lower()

    def _strip_mention(self, text: str) -> str:
        mention = f"@{self._username}"
        if text.lower().startswith(mention.lower()):
            return text[len(mention) :].lstrip(" ,:")
        return text.replace(mention, "").strip()

    def _replied_preview(self, message: Message) -> int | None:
        replied = message.reply_to_message
        if replied is None:
            return None
        return self._previews.get((message.chat_id, replied.message_id))

    async def _download(self, message: Message) -> tuple[Attachment, ...]:
        """Save an attached video, photo or document to a temporary file (size checked first)."""
        candidates: list[tuple[Any, str]] = []
        if message.video is not None:
            candidates.append((message.video, message.video.file_name or "video.mp4"))
        if message.photo:
            candidates.append((message.photo[-1], "photo.jpg"))
        if message.document is not None:
            candidates.append((message.document, message.document.file_name or "file"))
        files = []
        for media, name in candidates:
            size = media.file_size or 0
            if size > self._core.max_upload_bytes:
                raise TooLarge(name, size, self._core.max_upload_bytes)  # not downloaded at all
            tg_file = await self._call(partial(media.get_file))
            fd, tmp = tempfile.mkstemp(prefix="tg-", dir=self._core.media_dir)
            os.close(fd)
            await tg_file.download_to_drive(tmp)
            files.append(Attachment(Path(tmp), name))
        return tuple(files)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("telegram.error", error=repr(context.error))

    # -- outgoing --------------------------------------------------------------------------

    async def render(self, chat_ref: str, reply: Reply) -> None:
        """Show a reply: edit in place, split long text, send media with buttons."""
        chat_id = int(chat_ref.split(":", 1)[1])
        markup = _keyboard(reply.buttons)
        if reply.edit_key is not None and reply.edit_key in self._edits:
            await self._edit_text(self._edits[reply.edit_key], reply.text)
            return
        video = next((m for m in reply.media if m.kind is MediaKind.VIDEO), None)
        photos = [m for m in reply.media if m.kind is not MediaKind.VIDEO]
        text = reply.text
        if video is not None and video.path.stat().st_size > self.upload_limit:
            link = self._media_link(video.path)
            size = video.path.stat().st_size / 2**20
            text += (
                f"\n\n🎬 The video is {size:.0f} MB, over Telegram's upload limit: {link}"
                if link
                else f"\n\n🎬 The video is {size:.0f} MB, over Telegram's upload limit; "
                f"it is at {video.path} (set PUBLIC_URL to get a link)."
            )
            video = None
        sent: Message | None = None
        if video is not None:
            caption = text if len(text) <= CAPTION_LIMIT else video.caption[:CAPTION_LIMIT]
            if caption is not text:
                for part in split_text(text, TEXT_LIMIT):
                    await self._send_text(chat_id, part, None)
            sent = await self._send_video(chat_id, video, caption, markup)
        else:
            parts = split_text(text, TEXT_LIMIT)
            for i, part in enumerate(parts):
                sent = await self._send_text(chat_id, part, markup if i == len(parts) - 1 else None)
        for photo in photos:
            await self._call(partial(self._send_photo, chat_id, photo))
        if sent is not None:
            if reply.edit_key is not None:
                _remember(self._edits, reply.edit_key, (chat_id, sent.message_id))
            draft_ids = {_draft_of(b) for b in reply.buttons} - {None}
            if len(draft_ids) == 1:
                _remember(self._previews, (chat_id, sent.message_id), draft_ids.pop())

    async def _settle(self, message: Message, reply: Reply) -> None:
        """Replace a preview's buttons by who decided, and when."""
        stamp = datetime.now(UTC).strftime("%d %b %H:%M UTC")
        note = f"{reply.text.splitlines()[0]} · {stamp}"
        try:
            if message.caption is not None or message.video is not None:
                caption = f"{message.caption or ''}\n\n{note}".strip()[:CAPTION_LIMIT]
                await self._call(lambda: message.edit_caption(caption=caption, reply_markup=None))
            else:
                text = f"{message.text or ''}\n\n{note}".strip()[:TEXT_LIMIT]
                await self._call(lambda: message.edit_text(text, reply_markup=None))
        except BadRequest as exc:
            log.warning("telegram.settle_failed", error=str(exc))

    async def _send_text(
        self, chat_id: int, text: str, markup: InlineKeyboardMarkup | None
    ) -> Message:
        bot = self.application.bot
        return await self._call(lambda: bot.send_message(chat_id, text or "…", reply_markup=markup))

    async def _send_video(
        self, chat_id: int, video: Media, caption: str, markup: InlineKeyboardMarkup | None
    ) -> Message:
        bot = self.application.bot

        async def send() -> Message:
            with video.path.open("rb") as data:
                thumb = video.thumbnail.open("rb") if video.thumbnail else None
                try:
                    return cast(
                        Message,
                        await bot.send_video(
                            chat_id,
                            video=data,
                            thumbnail=thumb,
                            caption=caption,
                            reply_markup=markup,
                            supports_streaming=True,
                            filename=video.path.name,
                            read_timeout=120,
                            write_timeout=120,
                        ),
                    )
                finally:
                    if thumb is not None:
                        thumb.close()

        return await self._call(send)

    async def _send_photo(self, chat_id: int, photo: Media) -> Message:
        with photo.path.open("rb") as data:
            sent = await self.application.bot.send_photo(
                chat_id, photo=data, caption=photo.caption[:CAPTION_LIMIT] or None
            )
        return cast(Message, sent)

    async def _edit_text(self, where: tuple[int, int], text: str) -> None:
        chat_id, message_id = where
        try:
            await self._call(
                lambda: self.application.bot.edit_message_text(
                    text[:TEXT_LIMIT], chat_id=chat_id, message_id=message_id
                )
            )
        except BadRequest as exc:
            if "not modified" not in str(exc).lower():
                raise

    async def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        """Run one Bot API call, waiting out flood control (429) as often as Telegram asks."""
        for _ in range(MAX_RATE_LIMIT_WAITS):
            try:
                return await make()
            except RetryAfter as exc:
                wait = exc.retry_after
                seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
                log.warning("telegram.rate_limited", retry_after=seconds)
                await asyncio.sleep(seconds)
        return await make()


def _keyboard(buttons: tuple[Button, ...]) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    decisions = [b for b in buttons if not b.id.startswith("d:caps:")]
    extras = [b for b in buttons if b.id.startswith("d:caps:")]
    # three to a row: a phone shows each label whole (a preview has four, preset times six)
    rows = [
        [InlineKeyboardButton(b.label, callback_data=b.id) for b in decisions[i : i + 3]]
        for i in range(0, len(decisions), 3)
    ]
    if extras:
        rows.append([InlineKeyboardButton(b.label, callback_data=b.id) for b in extras])
    return InlineKeyboardMarkup(rows)


def _draft_of(button: Button) -> int | None:
    try:
        press = decode(button.id)
    except BadButton:
        return None
    return press.draft_id if press.verb is Verb.APPROVE else None


K = TypeVar("K")


def _remember(store: OrderedDict[K, Any], key: K, value: Any, *, size: int = 10_000) -> None:
    store[key] = value
    store.move_to_end(key)
    while len(store) > size:
        store.popitem(last=False)
