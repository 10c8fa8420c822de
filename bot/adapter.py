"""What every chat frontend provides to the bot process, and the chat-queue consumer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import structlog
from structlog.contextvars import bound_contextvars

from bot.monitoring import chat_call
from handlers.chat_queue import with_local_media
from handlers.port import Reply

log = structlog.get_logger(__name__)


class ChatAdapter(Protocol):
    """A live connection to one chat service that renders neutral replies natively."""

    async def render(self, chat_ref: str, reply: Reply) -> None:
        """Show `reply` in the chat (raising if some part of it cannot be shown)."""


class NoAdapter(LookupError):
    """A reply is addressed to a frontend this process does not run."""


async def deliver_reply(ctx: dict[str, Any], chat_ref: str, reply: dict[str, Any]) -> None:
    """Chat-queue job: render a reply the worker sent, through the adapter for its chat."""
    adapters: Mapping[str, ChatAdapter] = ctx["adapters"]
    frontend = chat_ref.split(":", 1)[0]
    adapter = adapters.get(frontend)
    if adapter is None:
        raise NoAdapter(f"no {frontend!r} frontend runs in this process for {chat_ref}")
    message = Reply.from_dict(reply)
    with bound_contextvars(chat_ref=chat_ref):
        if "store" in ctx:  # media arrive as references into the media store
            message = await with_local_media(message, ctx["store"])
        async with chat_call(ctx.get("redis"), frontend):
            await adapter.render(chat_ref, message)


def split_text(text: str, limit: int) -> list[str]:
    """Split text into messages of at most `limit` characters, at line ends where possible."""
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        if cut <= 0:
            cut = rest.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut])
        rest = rest[cut:].lstrip("\n ")
    parts.append(rest)
    return parts
