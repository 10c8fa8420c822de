"""Instagram and Facebook figures from the Graph API's insights, one call per post.

- Instagram Reels: `GET /{ig-media-id}/insights?metric=views,likes,comments,shares,
  ig_reels_video_view_total_time`. `views` replaced `plays` (deprecated in v22.0 and for every
  version from 21 April 2025, with `clips_replays_count`, `ig_reels_aggregated_all_plays_count`,
  `impressions` and `video_views`). The total view time is in milliseconds. Needs the
  `instagram_manage_insights` permission.
- Facebook Page Reels: `GET /{video-id}/video_insights?metric=fb_reels_total_plays,
  post_video_likes_by_reaction_type,post_video_social_actions,post_video_view_time`. These are
  the metrics Meta gives for Reels (the `total_video_*` family is for ordinary Page videos);
  reactions and social actions come as `{"REACTION_LIKE": n, …}` and `{"COMMENT": n,
  "SHARE": n}`, the view time in milliseconds. Needs `read_insights` on the Page token.

Answers are `{"data": [{"name", "period", "values": [{"value"}], "title", "id"}]}`; a metric
with no data yet is left out rather than given as 0. Errors are classified as in
`services.publishers.meta`, with two differences that matter for reads: Instagram answers a
post with too few viewers with (#10) "Not enough viewers", which is not a missing permission,
and a single post Meta refuses (deleted: #100) is left out without stopping the others.
Nothing is retried within a run: a rate limit or a failure raises `RetryLater`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import httpx
import structlog

from services.content import Platform
from services.metrics.reading import Due, Figures, count
from services.platforms import DISPLAY_NAMES
from services.publishers.meta import GraphError, http_client, parse_error, retry_hint
from services.publishing import AccountNeedsReconnect, PublishError, RetryLater, Tokens

log = structlog.get_logger(__name__)

Json = dict[str, Any]

INSTAGRAM_METRICS: tuple[str, ...] = (
    "views",
    "likes",
    "comments",
    "shares",
    "ig_reels_video_view_total_time",
)
FACEBOOK_METRICS: tuple[str, ...] = (
    "fb_reels_total_plays",
    "post_video_likes_by_reaction_type",
    "post_video_social_actions",
    "post_video_view_time",
)
_TOKEN_CODE = 190
_NOT_ENOUGH_VIEWERS = "not enough viewers"  # Instagram's (#10) for a post few people saw


class _PostRefused(Exception):
    """Meta will not give this one post's insights; the others may still be read."""


class _GraphReads:
    """GET calls for one account: its token refreshed once when refused, errors classified."""

    def __init__(
        self, *, http: httpx.AsyncClient, graph_url: str, tokens: Tokens, platform: Platform
    ) -> None:
        self._http = http
        self._graph_url = graph_url.rstrip("/")
        self._tokens = tokens
        self._platform = platform
        self._name = DISPLAY_NAMES[platform]
        self._token: str | None = None

    async def get(self, path: str, params: Mapping[str, str]) -> Json:
        """The JSON answer of a Graph read."""
        refreshed = False
        if self._token is None:
            self._token = await self._tokens.access_token()
        while True:
            try:
                response = await self._http.get(
                    f"{self._graph_url}/{path}",
                    params=dict(params),
                    headers={"Authorization": f"Bearer {self._token}"},
                )
            except httpx.TransportError as exc:
                raise RetryLater(f"{self._name} did not answer ({type(exc).__name__})") from exc
            error = parse_error(response)
            if error is None:
                try:
                    body = response.json()
                except ValueError:
                    body = None
                if not isinstance(body, dict):
                    raise RetryLater(f"{self._name} sent an answer that is not JSON")
                return body
            if error.code == _TOKEN_CODE and not refreshed:
                self._token, refreshed = await self._tokens.refresh(), True
                continue
            raise self._classified(error, response)

    def _classified(self, error: GraphError, response: httpx.Response) -> Exception:
        connect = f"/connect {self._platform.value}"
        said = f"{error.message} (HTTP {error.status}, code {error.code})"
        if error.code == _TOKEN_CODE:
            return AccountNeedsReconnect(
                f"{self._name} refused this account's login ({error.message}): run {connect} again"
            )
        if error.retryable:
            return RetryLater(f"{self._name} is busy: {said}", retry_after=retry_hint(response))
        if error.code == 10 and _NOT_ENOUGH_VIEWERS in error.message.lower():
            return _PostRefused(error.message)
        if error.code == 10 or (error.code is not None and 200 <= error.code <= 299):
            return AccountNeedsReconnect(
                f"{self._name} refused to share insights ({error.message}): run {connect} "
                "again and allow everything it asks for"
            )
        if error.code == 100:  # the post is gone, or this metric does not apply to it
            return _PostRefused(said)
        return PublishError(f"{self._name} refused the insights call: {said}")


class MetaMetrics:
    """Reads the insights of one Instagram account's or Facebook Page's Reels."""

    def __init__(
        self,
        *,
        platform: Platform,
        graph_url: str,
        tokens: Tokens,
        timeout_s: float = 30.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if platform not in (Platform.INSTAGRAM, Platform.FACEBOOK):
            raise ValueError(f"no Graph insights for {platform.value}")
        self._platform = platform
        self._graph_url = graph_url
        self._tokens = tokens
        self._timeout_s = timeout_s
        self._client = client

    async def read(self, posts: Sequence[Due]) -> AsyncIterator[Figures]:
        """The insights of `posts`, one call each; a post Meta refuses is left out."""
        if not posts:
            return
        async with http_client(self._client, self._timeout_s) as http:
            graph = _GraphReads(
                http=http, graph_url=self._graph_url, tokens=self._tokens, platform=self._platform
            )
            for post in posts:
                try:
                    values = await self._insights(graph, post.external_id)
                except _PostRefused as exc:
                    log.warning(
                        "metrics.meta.post_refused",
                        platform=self._platform.value,
                        publication=post.publication_id,
                        media=post.external_id,
                        reason=str(exc),
                    )
                    continue
                yield _figures(self._platform, post.publication_id, values)

    async def _insights(self, graph: _GraphReads, media_id: str) -> dict[str, object]:
        if self._platform is Platform.INSTAGRAM:
            path, metrics = f"{media_id}/insights", INSTAGRAM_METRICS
        else:
            path, metrics = f"{media_id}/video_insights", FACEBOOK_METRICS
        answer = await graph.get(path, {"metric": ",".join(metrics)})
        return insight_values(answer)


def insight_values(answer: Mapping[str, Any]) -> dict[str, object]:
    """`{metric name: value}` of an insights answer (`values[0].value`, or `total_value`)."""
    found: dict[str, object] = {}
    for entry in answer.get("data") or []:
        if not isinstance(entry, dict) or not entry.get("name"):
            continue
        values = entry.get("values")
        total = entry.get("total_value")
        if isinstance(values, list) and values and isinstance(values[-1], dict):
            found[str(entry["name"])] = values[-1].get("value")
        elif isinstance(total, dict):
            found[str(entry["name"])] = total.get("value")
    return found


def _figures(platform: Platform, publication_id: int, values: Mapping[str, object]) -> Figures:
    if platform is Platform.INSTAGRAM:
        return Figures(
            publication_id=publication_id,
            views=count(values.get("views")) or 0,
            likes=count(values.get("likes")) or 0,
            comments=count(values.get("comments")) or 0,
            shares=count(values.get("shares")) or 0,
            watch_time_s=_seconds(values.get("ig_reels_video_view_total_time")),
        )
    actions = _by_kind(values.get("post_video_social_actions"))
    return Figures(
        publication_id=publication_id,
        views=count(values.get("fb_reels_total_plays")) or 0,
        likes=sum(_by_kind(values.get("post_video_likes_by_reaction_type")).values()),
        comments=actions.get("comment", 0),
        shares=actions.get("share", 0),
        watch_time_s=_seconds(values.get("post_video_view_time")),
    )


def _by_kind(value: object) -> dict[str, int]:
    """A breakdown such as `{"REACTION_LIKE": 3}` or `{"COMMENT": 2}`, keys lower-cased and
    `reaction_` dropped."""
    if not isinstance(value, dict):
        return {}
    kinds: dict[str, int] = {}
    for key, raw in value.items():
        n = count(raw)
        if n is not None:
            name = str(key).lower().removeprefix("reaction_")
            kinds[name] = kinds.get(name, 0) + n
    return kinds


def _seconds(milliseconds: object) -> float | None:
    ms = count(milliseconds)
    return ms / 1000 if ms is not None else None
