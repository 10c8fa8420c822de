"""Sending to a chat from the worker: replies become jobs on the chat queue, in order.

The worker and the bot may run on different machines: media travel as references into the
media store (`drafts/12/v1/video.mp4`), and the bot fetches them before sending.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import structlog
from arq import ArqRedis

from handlers.port import Media, Reply
from services.queue import CHAT_QUEUE
from services.storage import MediaMissing, MediaStore

DELIVER_JOB = "deliver_reply"
_SEQUENCE_KEY = "socialbot:chat:seq"
log = structlog.get_logger(__name__)


class QueueChatSender:
    """A `ChatSender` that enqueues each reply for the bot process to render."""

    def __init__(self, *, queue: ArqRedis, store: MediaStore) -> None:
        self._queue = queue
        self._store = store

    async def send(self, chat_ref: str, reply: Reply) -> None:
        """Enqueue `reply`; ids from one counter keep replies ordered within a millisecond."""
        media = tuple(
            dataclasses.replace(
                m,
                path=Path(self._store.ref(m.path)),
                thumbnail=Path(self._store.ref(m.thumbnail)) if m.thumbnail else None,
            )
            for m in reply.media
        )
        seq = await self._queue.incr(_SEQUENCE_KEY)
        await self._queue.enqueue_job(
            DELIVER_JOB,
            chat_ref,
            dataclasses.replace(reply, media=media).to_dict(),
            _job_id=f"chat:{seq:012d}",
            _queue_name=CHAT_QUEUE,
        )


async def with_local_media(reply: Reply, store: MediaStore) -> Reply:
    """The reply with its media as files on this machine; a file gone from the store is left
    out and said in the text, so the message itself still arrives."""
    media: list[Media] = []
    missing: list[str] = []
    for m in reply.media:
        try:
            path = await store.local(m.path)
        except MediaMissing:
            log.warning("chat.media_missing", ref=str(m.path))
            missing.append(m.path.name)
            continue
        thumbnail = None
        if m.thumbnail is not None:
            try:
                thumbnail = await store.local(m.thumbnail)
            except MediaMissing:
                thumbnail = None
        media.append(dataclasses.replace(m, path=path, thumbnail=thumbnail))
    text = reply.text
    if missing:
        text += f"\n(The file {', '.join(missing)} is missing from the media store.)"
    return dataclasses.replace(reply, text=text, media=tuple(media))
