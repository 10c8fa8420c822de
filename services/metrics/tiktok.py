"""TikTok figures: `POST /v2/video/query/` (Display API), 20 videos a call.

The call needs the `video.list` scope; an account connected before we asked for it answers
`scope_not_authorized` and must be connected again. It gives `view_count`, `like_count`,
`comment_count` and `share_count`, but no watch time. Only a post that other people can see has
a post id: a private (SELF_ONLY) post or one sent to the creator's inbox keeps its `publish_id`
as its external id and cannot be queried, so it is left out with a log line.

Nothing is retried within a run: 429, 5xx and `rate_limit_exceeded` raise `RetryLater` and the
next collection run tries again.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import structlog

from services.metrics.reading import Due, Figures, batches, count
from services.publishing import AccountNeedsReconnect, PublishError, RetryLater, Tokens

log = structlog.get_logger(__name__)

API_BASE_URL = "https://open.tiktokapis.com"
BATCH = 20  # video/query takes at most 20 video_ids
FIELDS = "id,view_count,like_count,comment_count,share_count"
_BUSY_CODES = frozenset({"rate_limit_exceeded", "internal_error"})


def has_post_id(external_id: str) -> bool:
    """Whether TikTok gave the post a public id (publish ids look like `v_pub_file~v2-1.…`)."""
    return external_id.isdigit()


class TikTokMetrics:
    """Reads the figures of one creator's public posts."""

    def __init__(
        self, *, tokens: Tokens, api_base_url: str = API_BASE_URL, timeout_s: float = 30.0
    ) -> None:
        self._tokens = tokens
        self._api_base_url = api_base_url
        self._timeout_s = timeout_s

    async def read(self, posts: Sequence[Due]) -> AsyncIterator[Figures]:
        """The figures of `posts`, one video/query call per 20; private posts are left out."""
        public = [p for p in posts if has_post_id(p.external_id)]
        private = [p.publication_id for p in posts if not has_post_id(p.external_id)]
        if private:
            log.info(
                "metrics.tiktok.private_posts_skipped",
                publications=private,
                why="a private or inbox post has no public post id, so TikTok gives no figures",
            )
        if not public:
            return
        async with httpx.AsyncClient(base_url=self._api_base_url, timeout=self._timeout_s) as http:
            for batch in batches(public, BATCH):
                videos = await self._query(http, [p.external_id for p in batch])
                by_id = {str(v.get("id")): v for v in videos}
                for post in batch:
                    video = by_id.get(post.external_id)
                    if video is None:
                        log.warning(
                            "metrics.tiktok.video_missing",
                            publication=post.publication_id,
                            video_id=post.external_id,
                        )
                        continue
                    yield Figures(
                        publication_id=post.publication_id,
                        views=count(video.get("view_count")) or 0,
                        likes=count(video.get("like_count")) or 0,
                        comments=count(video.get("comment_count")) or 0,
                        shares=count(video.get("share_count")) or 0,
                    )

    async def _query(self, http: httpx.AsyncClient, ids: list[str]) -> list[dict[str, Any]]:
        """One video/query call, with one token refresh after a refused token."""
        refreshed = False
        token = await self._tokens.access_token()
        while True:
            try:
                response = await http.post(
                    "/v2/video/query/",
                    params={"fields": FIELDS},
                    json={"filters": {"video_ids": ids}},
                    headers={"Authorization": f"Bearer {token}"},
                )
            except httpx.TransportError as exc:
                raise RetryLater(f"TikTok did not answer ({type(exc).__name__})") from exc
            body = _json(response)
            found = body.get("error")
            error: dict[str, Any] = found if isinstance(found, dict) else {}
            status = response.status_code
            code = str(error.get("code") or ("ok" if response.is_success else f"http_{status}"))
            said = str(error.get("message") or response.reason_phrase)
            if code == "ok" and response.is_success:
                data = body.get("data")
                videos = data.get("videos") if isinstance(data, dict) else None
                return [v for v in videos or [] if isinstance(v, dict)]
            if code == "scope_not_authorized":
                raise AccountNeedsReconnect(
                    f"this TikTok account did not allow reading its videos ({said}); run "
                    "/connect tiktok again and allow everything asked for"
                )
            if code == "access_token_invalid" or status == 401:
                if refreshed:
                    raise AccountNeedsReconnect(
                        f"TikTok refused a fresh access token ({said}); run /connect tiktok again"
                    )
                token, refreshed = await self._tokens.refresh(), True
                continue
            if status == 429 or status >= 500 or code in _BUSY_CODES:
                raise RetryLater(
                    f"TikTok is busy ({code}, HTTP {status})",
                    retry_after=_retry_after(response),
                )
            raise PublishError(f"TikTok refused the video query ({code}: {said})")


def _json(response: httpx.Response) -> dict[str, Any]:
    with contextlib.suppress(ValueError):
        body = response.json()
        if isinstance(body, dict):
            return body
    return {}


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
