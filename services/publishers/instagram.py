"""Instagram Reels through the Graph API: Meta fetches the video from our signed `video_url`
into a media container, we wait until it is FINISHED, then `media_publish` makes it public.

The container id is checkpointed before publishing, so a later attempt reuses it: a container
can be published once only, and its `status_code` (PUBLISHED) tells whether that happened.
"""

from __future__ import annotations

import asyncio
import time

from services.content import Platform
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

FINISHED, PUBLISHED, IN_PROGRESS = "FINISHED", "PUBLISHED", "IN_PROGRESS"
ERROR, EXPIRED = "ERROR", "EXPIRED"


class InstagramPublisher(GraphPublisher):
    """Posts Reels to one Instagram professional account (`request.account_id`, the IG user id)."""

    platform = Platform.INSTAGRAM

    async def publish(
        self, request: PublishRequest, checkpoint: Checkpoint = no_checkpoint
    ) -> PublishResult:
        """Create (or reuse) the container, wait for Meta to process it, publish it."""
        async with self._graph() as graph:
            container = request.remote_ref
            if container is not None:
                code, _ = await self._status(graph, container)
                if code == PUBLISHED:
                    return await self._published(graph, request)
                if code not in (IN_PROGRESS, FINISHED):
                    container = None  # it failed or expired unpublished: start afresh
            await self._check_cap(graph, request.account_id)
            if container is None:
                container = await self._create(graph, request)
                await checkpoint(container)
            if await self._wait(graph, container) == PUBLISHED:
                return await self._published(graph, request)
            answer = await graph.post(
                f"{request.account_id}/media_publish",
                {"creation_id": container},
                call=Call.PUBLISH,
            )
            return await self._result(graph, str(answer["id"]))

    async def confirm(self, request: PublishRequest) -> PublishResult | None:
        """The post made from the checkpointed container, if Instagram published it."""
        if request.remote_ref is None:
            return None
        async with self._graph() as graph:
            code, _ = await self._status(graph, request.remote_ref)
            if code != PUBLISHED:
                return None
            return await self._find(graph, request)

    async def _check_cap(self, graph: GraphClient, account: str) -> None:
        answer = await graph.get(f"{account}/content_publishing_limit", fields="config,quota_usage")
        for entry in answer.get("data", []):
            used = int(entry.get("quota_usage", 0))
            total = int(entry.get("config", {}).get("quota_total", 0))
            hours = int(entry.get("config", {}).get("quota_duration", 86400)) // 3600
            if total and used >= total:
                raise PublishError(
                    f"Instagram's daily cap is reached: {used} of {total} posts in "
                    f"{hours} h through the API. Schedule this post for later."
                )

    async def _create(self, graph: GraphClient, request: PublishRequest) -> str:
        if not request.video_url:
            raise PublishError(
                "Instagram fetches the video from a public link, and there is none: "
                "set PUBLIC_URL to the address where this bot's web app is reachable."
            )
        answer = await graph.post(
            f"{request.account_id}/media",
            {
                "media_type": "REELS",
                "video_url": request.video_url,
                "caption": post_text(request.meta),
                "share_to_feed": "true",
            },
            call=Call.CREATE,
        )
        return str(answer["id"])

    async def _status(self, graph: GraphClient, container: str) -> tuple[str, str]:
        answer = await graph.get(container, fields="status_code,status")
        return str(answer.get("status_code", "")), str(answer.get("status", ""))

    async def _wait(self, graph: GraphClient, container: str) -> str:
        """Poll the container until it can be published (FINISHED) or already was."""
        deadline = time.monotonic() + self._poll_timeout_s
        while True:
            code, text = await self._status(graph, container)
            if code in (FINISHED, PUBLISHED):
                return code
            if code == ERROR:
                raise PublishError(f"Instagram could not process the video: {text or code}")
            if code == EXPIRED:
                raise PublishError(
                    "Instagram's container for this video expired (after 24 h) unpublished."
                )
            if time.monotonic() >= deadline:
                raise RetryLater(
                    f"Instagram is still processing the video after {self._poll_timeout_s:g} s; "
                    "trying again later.",
                    retry_after=self._poll_interval_s,
                )
            await asyncio.sleep(self._poll_interval_s)

    async def _published(self, graph: GraphClient, request: PublishRequest) -> PublishResult:
        found = await self._find(graph, request)
        if found is None:
            raise Unconfirmed(
                "Instagram says this video was published but it is not among the account's "
                "posts yet; it is checked again before any new attempt."
            )
        return found

    async def _find(self, graph: GraphClient, request: PublishRequest) -> PublishResult | None:
        """The newest post of the account with this request's caption (Meta lists newest first)."""
        answer = await graph.get(
            f"{request.account_id}/media", fields="id,caption,permalink,timestamp", limit="50"
        )
        caption = post_text(request.meta)
        for media in answer.get("data", []):
            if str(media.get("caption", "")).strip() == caption:
                return PublishResult(
                    external_id=str(media["id"]), url=str(media.get("permalink", ""))
                )
        return None

    async def _result(self, graph: GraphClient, media_id: str) -> PublishResult:
        answer = await graph.get(media_id, fields="permalink")
        return PublishResult(external_id=media_id, url=str(answer.get("permalink", "")))
