"""Sending to a chat from the worker: replies become jobs on the chat queue, in order."""

from __future__ import annotations

from arq import ArqRedis

from handlers.port import Reply
from services.queue import CHAT_QUEUE

DELIVER_JOB = "deliver_reply"
_SEQUENCE_KEY = "socialbot:chat:seq"


class QueueChatSender:
    """A `ChatSender` that enqueues each reply for the bot process to render."""

    def __init__(self, *, queue: ArqRedis) -> None:
        self._queue = queue

    async def send(self, chat_ref: str, reply: Reply) -> None:
        """Enqueue `reply`; ids from one counter keep replies ordered within a millisecond."""
        seq = await self._queue.incr(_SEQUENCE_KEY)
        await self._queue.enqueue_job(
            DELIVER_JOB,
            chat_ref,
            reply.to_dict(),
            _job_id=f"chat:{seq:012d}",
            _queue_name=CHAT_QUEUE,
        )
