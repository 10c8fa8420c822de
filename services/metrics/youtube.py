"""YouTube figures: `videos.list?part=statistics`, 50 videos a call, through
google-api-python-client (blocking, so each call runs in a worker thread).

Each call costs one unit of the API project's daily quota (10,000 by default), shared with
every channel connected to the project. `statistics` gives viewCount, likeCount and
commentCount as strings (commentCount is left out when comments are off); YouTube gives no
share count and no watch time here (that is the separate YouTube Analytics API), so shares are
0 and watch time None. A video that was deleted is simply missing from the answer.

Nothing is retried within a run: quota, rate limits, 429 and 5xx raise `RetryLater` and the
next collection run tries again.
"""

from __future__ import annotations

import asyncio
import http.client
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httplib2
import structlog
from googleapiclient.discovery import build_from_document
from googleapiclient.discovery_cache import get_static_doc
from googleapiclient.errors import HttpError
from googleapiclient.http import build_http

from services.metrics.reading import Due, Figures, batches, count
from services.publishing import AccountNeedsReconnect, PublishError, RetryLater, Tokens

log = structlog.get_logger(__name__)

BATCH = 50  # videos.list takes at most 50 ids
_BUSY_REASONS = frozenset(
    {
        "quotaExceeded",
        "dailyLimitExceeded",
        "rateLimitExceeded",
        "userRateLimitExceeded",
        "backendError",
    }
)
_PERMISSION_REASONS = frozenset({"insufficientPermissions", "forbidden", "accessNotConfigured"})
_TRANSPORT_ERRORS = (OSError, httplib2.HttpLib2Error, http.client.HTTPException)


class YouTubeMetrics:
    """Reads the statistics of one channel's videos."""

    def __init__(self, *, api_base_url: str, tokens: Tokens, timeout_s: float = 30.0) -> None:
        root = api_base_url.rstrip("/") + "/"
        self._root = root
        self._tokens = tokens
        self._timeout_s = timeout_s

    async def read(self, posts: Sequence[Due]) -> AsyncIterator[Figures]:
        """The statistics of `posts`, one videos.list call per 50."""
        if not posts:
            return
        http = build_http()
        http.timeout = self._timeout_s
        try:
            service = await asyncio.to_thread(self._service, http)
            for batch in batches(posts, BATCH):
                items = await self._list(service, [p.external_id for p in batch])
                stats = {str(item.get("id")): item.get("statistics") or {} for item in items}
                for post in batch:
                    found = stats.get(post.external_id)
                    if found is None:
                        log.warning(
                            "metrics.youtube.video_missing",
                            publication=post.publication_id,
                            video_id=post.external_id,
                        )
                        continue
                    yield Figures(
                        publication_id=post.publication_id,
                        views=count(found.get("viewCount")) or 0,
                        likes=count(found.get("likeCount")) or 0,
                        comments=count(found.get("commentCount")) or 0,
                        shares=0,  # not in the Data API
                        watch_time_s=None,  # only in the YouTube Analytics API
                    )
        finally:
            http.close()

    def _service(self, http: Any) -> Any:
        doc = json.loads(get_static_doc("youtube", "v3"))
        doc |= {"rootUrl": self._root, "mtlsRootUrl": self._root}
        doc["baseUrl"] = self._root + doc["servicePath"]
        return build_from_document(json.dumps(doc), http=http)

    async def _list(self, service: Any, ids: list[str]) -> list[dict[str, Any]]:
        """One videos.list call, with one token refresh after a 401."""
        refreshed = False
        token = await self._tokens.access_token()
        while True:
            request = service.videos().list(part="statistics", id=",".join(ids))
            request.headers["authorization"] = f"Bearer {token}"
            try:
                answer = await asyncio.to_thread(request.execute, num_retries=0)
            except HttpError as exc:
                status, reason, message = _failure(exc)
                if status == 401 and not refreshed:
                    token, refreshed = await self._tokens.refresh(), True
                    continue
                raise _classified(exc, status, reason, message) from exc
            except _TRANSPORT_ERRORS as exc:
                raise RetryLater(f"YouTube did not answer ({type(exc).__name__})") from exc
            items = answer.get("items") if isinstance(answer, dict) else None
            return [i for i in items or [] if isinstance(i, dict)]


def _classified(exc: HttpError, status: int, reason: str, message: str) -> PublishError:
    if status == 401:
        return AccountNeedsReconnect(
            f"YouTube refused a fresh access token ({message}): run /connect youtube again"
        )
    if reason == "quotaExceeded" or reason == "dailyLimitExceeded":
        return RetryLater(
            "the YouTube API quota for today is used up (it resets at midnight Pacific time)"
        )
    if status == 429 or status >= 500 or reason in _BUSY_REASONS:
        after = exc.resp.get("retry-after")
        wait = float(after) if after and after.isdigit() else None
        return RetryLater(f"YouTube is busy (HTTP {status} {reason})".strip(), retry_after=wait)
    if status == 403 and reason in _PERMISSION_REASONS:
        return AccountNeedsReconnect(
            f"YouTube refused to show the statistics ({message}): run /connect youtube again"
        )
    return PublishError(f"YouTube refused the statistics call (HTTP {status}: {message})")


def _failure(exc: HttpError) -> tuple[int, str, str]:
    """(status, reason, message) of Google's `{"error": {"errors": [{"reason"}]}}` answer."""
    try:
        error = json.loads(exc.content).get("error")
    except (TypeError, ValueError, AttributeError):
        error = None
    reason, message = "", str(exc.resp.reason or "")
    if isinstance(error, dict):
        message = str(error.get("message") or message)
        for detail in [*(error.get("errors") or []), *(error.get("details") or [])]:
            if isinstance(detail, dict) and detail.get("reason"):
                reason = str(detail["reason"])
                break
    return int(exc.resp.status), reason, message
