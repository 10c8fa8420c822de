"""Facebook Page Reels through the Graph API: `video_reels` start → streamed upload to Meta's
rupload host → `video_reels` finish with `video_state=PUBLISHED`, then wait until published.

The video id is checkpointed before the upload. A video becomes at most one reel, so a later
attempt reuses it: published → done; uploaded → finish it; half-uploaded or failed → start over
(an unfinished upload session is never shown to anyone).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, Any

from services.content import Platform
from services.platforms import check_duration
from services.publishers.meta import Call, GraphClient, GraphPublisher, post_text
from services.publishing import (
    Checkpoint,
    PublishError,
    PublishRequest,
    PublishResult,
    RetryLater,
    Unconfirmed,
    no_checkpoint,
)

FACEBOOK_WEB = "https://www.facebook.com"
_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class ReelState:
    """Where a reel is, read from the video's `status` field."""

    stage: str  # uploading | processing | ready | published | failed
    received: int = 0  # bytes Meta has of the upload
    problem: str = ""


def reel_state(status: Mapping[str, Any]) -> ReelState:
    """Reads Meta's `{video_status, uploading_phase, processing_phase, publishing_phase}`."""
    phases = {
        name: status.get(f"{name}_phase") or {}
        for name in ("uploading", "processing", "publishing")
    }
    received = int(phases["uploading"].get("bytes_transferred", 0) or 0)
    publishing = phases["publishing"]
    if publishing.get("status") == "complete" or publishing.get("publish_status") == "published":
        return ReelState("published", received)
    failed = [p for p in phases.values() if p.get("status") == "error"]
    if status.get("video_status") in ("error", "expired") or failed:
        errors = [e for p in failed for e in p.get("errors", []) if isinstance(e, dict)]
        problem = "; ".join(str(e.get("message", "")) for e in errors if e.get("message"))
        return ReelState("failed", received, problem or str(status.get("video_status")))
    if phases["uploading"].get("status") != "complete":
        return ReelState("uploading", received)
    if phases["processing"].get("status") != "complete" or publishing.get("status") not in (
        None,
        "not_started",
    ):
        return ReelState("processing", received)
    return ReelState("ready", received)


async def _chunks(file: IO[bytes], offset: int) -> AsyncIterator[bytes]:
    """The file from `offset` on, a chunk at a time (never the whole video in memory)."""
    await asyncio.to_thread(file.seek, offset)
    while chunk := await asyncio.to_thread(file.read, _CHUNK_BYTES):
        yield chunk


class FacebookPublisher(GraphPublisher):
    """Posts Reels to one Facebook Page (`request.account_id`) with the Page's token."""

    platform = Platform.FACEBOOK

    async def publish(
        self, request: PublishRequest, checkpoint: Checkpoint = no_checkpoint
    ) -> PublishResult:
        """Upload the video as a reel of the Page and publish it."""
        duration = request.duration_s
        problems = check_duration(Platform.FACEBOOK, duration) if duration > 0 else []
        if problems:
            raise PublishError(problems[0])
        if not request.video_path.is_file():
            raise PublishError(f"the video file is missing: {request.video_path}")
        async with self._graph() as graph:
            video_id = request.remote_ref
            if video_id is not None:
                state = await self._settled(graph, video_id)
                if state.stage == "published":
                    return await self._result(graph, video_id)
                if state.stage != "ready":
                    video_id = None  # half-uploaded or failed: nobody saw it, start afresh
            if video_id is None:
                started = await graph.post(
                    f"{request.account_id}/video_reels",
                    {"upload_phase": "start"},
                    call=Call.CREATE,
                )
                video_id = str(started["video_id"])
                await checkpoint(video_id)
                await self._upload(graph, video_id, str(started["upload_url"]), request.video_path)
            answer = await graph.post(
                f"{request.account_id}/video_reels",
                {
                    "upload_phase": "finish",
                    "video_id": video_id,
                    "video_state": "PUBLISHED",
                    "description": post_text(request.meta),
                    "title": request.meta.title,
                },
                call=Call.PUBLISH,
            )
            if answer.get("success") is not True:
                raise PublishError(f"Facebook did not accept the reel: {answer}")
            await self._wait_published(graph, video_id)
            return await self._result(graph, video_id)

    async def confirm(self, request: PublishRequest) -> PublishResult | None:
        """The reel of the checkpointed video if Facebook published it; RetryLater while it is
        still processing (it may yet be published)."""
        if request.remote_ref is None:
            return None
        async with self._graph() as graph:
            state = await self._state(graph, request.remote_ref)
            if state.stage == "published":
                return await self._result(graph, request.remote_ref)
            if state.stage == "processing":
                raise RetryLater(
                    "Facebook is still processing this reel; checking again later.",
                    retry_after=self._poll_interval_s,
                )
            return None

    async def _upload(self, graph: GraphClient, video_id: str, url: str, path: Path) -> None:
        """Stream the file to rupload; after a failure, resume from the bytes Meta has."""
        size = path.stat().st_size
        offset = 0
        with path.open("rb") as file:
            for attempt in range(1, self._max_attempts + 1):
                headers = {
                    "offset": str(offset),
                    "file_size": str(size),
                    "Content-Length": str(size - offset),
                    "Content-Type": "application/octet-stream",
                }
                try:
                    answer = await graph.request(
                        "POST",
                        url,
                        call=Call.CREATE,
                        body=partial(_chunks, file, offset),
                        headers=headers,
                        scheme="OAuth",
                        max_attempts=1,
                    )
                except RetryLater as exc:
                    if attempt == self._max_attempts:
                        raise
                    await asyncio.sleep(min(self._max_wait_s, exc.retry_after or 0.5 * attempt))
                    offset = (await self._state(graph, video_id)).received
                    if offset >= size:
                        return
                    continue
                if answer.get("success") is not True:
                    raise PublishError(f"Facebook did not take the upload: {answer}")
                return

    async def _state(self, graph: GraphClient, video_id: str) -> ReelState:
        answer = await graph.get(video_id, fields="status")
        status = answer.get("status")
        return reel_state(status if isinstance(status, dict) else {})

    async def _settled(self, graph: GraphClient, video_id: str) -> ReelState:
        """The reel's state once Meta has stopped processing it."""
        deadline = time.monotonic() + self._poll_timeout_s
        while True:
            state = await self._state(graph, video_id)
            if state.stage != "processing":
                return state
            if time.monotonic() >= deadline:
                raise Unconfirmed(
                    f"Facebook is still processing the reel after {self._poll_timeout_s:g} s; "
                    "it is checked again before any new attempt."
                )
            await asyncio.sleep(self._poll_interval_s)

    async def _wait_published(self, graph: GraphClient, video_id: str) -> None:
        deadline = time.monotonic() + self._poll_timeout_s
        while True:
            state = await self._state(graph, video_id)
            if state.stage == "published":
                return
            if state.stage == "failed":
                raise PublishError(f"Facebook could not publish the reel: {state.problem}")
            if time.monotonic() >= deadline:
                raise Unconfirmed(
                    "Facebook accepted the reel but has not published it yet; "
                    "it is checked again before any new attempt."
                )
            await asyncio.sleep(self._poll_interval_s)

    async def _result(self, graph: GraphClient, video_id: str) -> PublishResult:
        answer = await graph.get(video_id, fields="permalink_url")
        link = str(answer.get("permalink_url", f"/reel/{video_id}/"))
        url = link if "://" in link else FACEBOOK_WEB + "/" + link.lstrip("/")
        return PublishResult(external_id=video_id, url=url)
