"""YouTube: resumable uploads (`YouTubePublisher`); the OAuth client is in `youtube_auth`.

Uploads go through google-api-python-client, which is blocking: every network step runs in a
worker thread, and the access token is fetched in the event loop before each step. The upload
is resumable: the session URI is checkpointed before the first byte is sent, so a later attempt
resumes the same session (or `confirm` finds the video it made) and never makes a second video.
"""

from __future__ import annotations

import asyncio
import email.utils
import http.client
import json
import mimetypes
import re
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httplib2
import structlog
from googleapiclient.discovery import build_from_document
from googleapiclient.discovery_cache import get_static_doc
from googleapiclient.errors import Error as GoogleApiError
from googleapiclient.errors import HttpError
from googleapiclient.http import MediaFileUpload, build_http

from services.publishing import (
    AccountNeedsReconnect,
    Checkpoint,
    PublishError,
    PublishRequest,
    PublishResult,
    RetryLater,
    Tokens,
    Unconfirmed,
    no_checkpoint,
)

CHUNK_UNIT = 256 * 1024  # resumable chunks must be multiples of this (except the last)
SHORTS_MAX_S = 60.0
TITLE_MAX = 100
_SHORTS_TAG = "#Shorts"
_MENTIONS_SHORTS = re.compile(r"#shorts(?!\w)", re.IGNORECASE)
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_RETRY_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "backendError"})
_QUOTA_REASONS = frozenset({"quotaExceeded", "uploadLimitExceeded", "dailyLimitExceeded"})
# What a dropped or timed-out connection raises inside httplib2 (TimeoutError is an OSError).
_TRANSPORT_ERRORS = (OSError, httplib2.HttpLib2Error, http.client.HTTPException)

log = structlog.get_logger(__name__)
T = TypeVar("T")
Json = dict[str, Any]


class _BearerHttp:
    """An httplib2 Http (308 is not a redirect) that sends the current access token."""

    def __init__(self, timeout_s: float) -> None:
        self._http = build_http()
        self._http.timeout = timeout_s
        self.token = ""

    def request(
        self,
        uri: str,
        method: str = "GET",
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> tuple[Any, bytes]:
        """httplib2's request, with an Authorization header."""
        merged = {**(headers or {}), "authorization": f"Bearer {self.token}"}
        try:
            response, content = self._http.request(uri, method, body=body, headers=merged, **kwargs)
        except BaseException:
            # httplib2 drops a timed-out connection but keeps one that broke otherwise (a reset
            # mid-send) in its pool, half-used: the next step starts on fresh connections.
            self._http.close()
            raise
        return response, bytes(content)

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()


@dataclass(frozen=True)
class _Api:
    http: _BearerHttp
    service: Any  # the googleapiclient Resource of YouTube Data API v3


@dataclass(frozen=True)
class _SessionState:
    received: int | None  # bytes the server holds; None: the session is gone
    video: Json | None = None  # the video resource, once the upload is complete


class YouTubePublisher:
    """Uploads a video to one channel with a resumable upload, then sets its thumbnail."""

    def __init__(
        self,
        *,
        api_base_url: str,
        tokens: Tokens,
        chunk_size: int = 32 * CHUNK_UNIT,
        max_attempts: int = 5,
        max_wait_s: float = 60.0,
        timeout_s: float = 120.0,
        backoff_s: float = 1.0,
    ) -> None:
        if chunk_size <= 0 or chunk_size % CHUNK_UNIT:
            raise ValueError(f"chunk_size must be a positive multiple of {CHUNK_UNIT}")
        root = api_base_url.rstrip("/") + "/"
        doc = json.loads(get_static_doc("youtube", "v3"))
        doc |= {"rootUrl": root, "mtlsRootUrl": root, "baseUrl": root + doc["servicePath"]}
        self._doc = json.dumps(doc)  # a string: build_from_document edits the dict it is given
        self._upload_root = f"{root}upload/"
        self._tokens = tokens
        self._chunk_size = chunk_size
        self._max_attempts = max_attempts
        self._max_wait_s = max_wait_s
        self._timeout_s = timeout_s
        self._backoff_s = backoff_s

    async def publish(
        self, request: PublishRequest, checkpoint: Checkpoint = no_checkpoint
    ) -> PublishResult:
        """Upload (or resume the upload in `request.remote_ref`), then set the thumbnail."""
        path = request.video_path
        if not path.is_file() or path.stat().st_size == 0:
            raise PublishError(f"the video file is missing or empty: {path}")
        size = path.stat().st_size
        async with self._api() as api:
            media = MediaFileUpload(
                str(path), mimetype="video/mp4", chunksize=self._chunk_size, resumable=True
            )
            try:
                insert = api.service.videos().insert(
                    part="snippet,status", body=video_body(request), media_body=media
                )
                video = await self._upload(api, insert, size, request.remote_ref, checkpoint)
            finally:
                media.stream().close()
            log.info("youtube.uploaded", video_id=video["id"], bytes=size)
            await self._set_thumbnail(api, str(video["id"]), request.thumbnail_path)
        return _result(str(video["id"]), request)

    async def confirm(self, request: PublishRequest) -> PublishResult | None:
        """The video the upload session in `request.remote_ref` made, if it finished."""
        if not request.remote_ref:
            return None
        ref = self._checked_ref(request.remote_ref)
        path = request.video_path
        size = str(path.stat().st_size) if path.is_file() else "*"
        async with self._api() as api:
            state = await self._run(
                api, "checking the upload", partial(_query, api.http, ref, size)
            )
        return _result(str(state.video["id"]), request) if state.video is not None else None

    @asynccontextmanager
    async def _api(self) -> AsyncIterator[_Api]:
        http = _BearerHttp(self._timeout_s)
        try:
            yield _Api(http, await asyncio.to_thread(build_from_document, self._doc, http=http))
        finally:
            http.close()

    def _checked_ref(self, remote_ref: str) -> str:
        if not remote_ref.startswith(self._upload_root):
            raise PublishError(f"the saved upload session is not a YouTube upload: {remote_ref}")
        return remote_ref

    async def _upload(
        self, api: _Api, insert: Any, size: int, remote_ref: str | None, checkpoint: Checkpoint
    ) -> Json:
        if remote_ref:
            ref = self._checked_ref(remote_ref)
            query = partial(_query, api.http, ref, str(size))
            state = await self._run(api, "checking the earlier upload", query)
            if state.video is not None:
                return state.video
            if state.received is not None:
                insert.resumable_uri, insert.resumable_progress = ref, state.received
            else:  # a session that finished still answers with its video: this one never did
                log.warning("youtube.upload_session_gone", session=ref)
        if insert.resumable_uri is None:
            start = partial(_open_session, api.http, insert, size)
            insert.resumable_uri = await self._run(api, "starting the upload", start)
            await checkpoint(insert.resumable_uri)
        while True:
            body = await self._run(api, "uploading", partial(self._send_chunk, insert, size))
            if body is not None:
                return body

    def _send_chunk(self, insert: Any, size: int) -> Json | None:
        try:
            _, body = insert.next_chunk(num_retries=0)
        except _TRANSPORT_ERRORS as exc:
            # resumable_progress is still where the failed call started: was it the last chunk?
            if insert.resumable_progress + self._chunk_size >= size:
                raise Unconfirmed(
                    f"The last part of the YouTube upload was sent but no answer came ({exc}); "
                    "the video may exist."
                ) from exc
            raise
        return body if isinstance(body, dict) else None

    async def _set_thumbnail(self, api: _Api, video_id: str, path: Path) -> None:
        if not path.is_file():
            log.warning("youtube.thumbnail_missing", video_id=video_id, path=str(path))
            return
        mimetype = mimetypes.guess_type(path.name)[0] or "image/png"
        media = MediaFileUpload(str(path), mimetype=mimetype)
        thumbnails = api.service.thumbnails()

        def set_thumbnail() -> object:
            return thumbnails.set(videoId=video_id, media_body=media).execute(num_retries=0)

        try:
            await self._run(api, "setting the thumbnail", set_thumbnail)
        except (PublishError, GoogleApiError) as exc:
            # e.g. 403 until the channel is verified for custom thumbnails: the video stands.
            log.warning("youtube.thumbnail_failed", video_id=video_id, error=str(exc))
        finally:
            media.stream().close()

    async def _run(self, api: _Api, what: str, step: Callable[[], T]) -> T:
        """Run a blocking step: a fresh token first, one refresh on 401, retries when transient."""
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            api.http.token = await self._tokens.access_token()
            try:
                return await asyncio.to_thread(step)
            except HttpError as exc:
                status, reason, message, retry_after = _failure(exc)
                if status == 401 and not refreshed:
                    refreshed = True
                    attempt -= 1
                    await self._tokens.refresh()
                    continue
                if status == 401:
                    raise AccountNeedsReconnect(
                        f"YouTube refused a fresh access token ({message}): "
                        "run /connect youtube again."
                    ) from exc
                if reason in _QUOTA_REASONS:
                    raise PublishError(_quota_message(reason)) from exc
                if status not in _RETRY_STATUSES and reason not in _RETRY_REASONS:
                    raise PublishError(f"YouTube refused it ({what}): {message}") from exc
                problem = f"HTTP {status} {reason}".strip()
            except _TRANSPORT_ERRORS as exc:
                problem, retry_after = f"no answer ({exc!r})", None
            wait = retry_after if retry_after is not None else self._backoff_s * 2 ** (attempt - 1)
            if attempt >= self._max_attempts or wait > self._max_wait_s:
                raise RetryLater(
                    f"YouTube is busy or failing ({problem} while {what}); will try again later.",
                    retry_after=wait,
                )
            log.warning("youtube.retrying", step=what, problem=problem, attempt=attempt, wait=wait)
            await asyncio.sleep(wait)


def _open_session(http: _BearerHttp, insert: Any, size: int) -> str:
    """POST the metadata: the answer's Location is the session URI the chunks go to."""
    headers = {
        **insert.headers,
        "X-Upload-Content-Type": insert.resumable.mimetype(),
        "X-Upload-Content-Length": str(size),
        "content-length": str(insert.body_size),
    }
    response, content = http.request(
        insert.uri, method=insert.method, body=insert.body, headers=headers
    )
    if response.status == 200 and "location" in response:
        return str(response["location"])
    raise HttpError(response, content, uri=insert.uri)


def _query(http: _BearerHttp, session_uri: str, size: str) -> _SessionState:
    """Ask an upload session how far it got (an empty PUT with `Content-Range: bytes */size`)."""
    headers = {"Content-Range": f"bytes */{size}", "content-length": "0"}
    response, content = http.request(session_uri, "PUT", headers=headers)
    if response.status in (200, 201):
        return _SessionState(received=None, video=json.loads(content))
    if response.status == 308:  # "Resume Incomplete"; Range is absent when nothing arrived
        held = response.get("range")
        return _SessionState(received=int(held.rsplit("-", 1)[1]) + 1 if held else 0)
    if response.status in (404, 410):
        return _SessionState(received=None)
    raise HttpError(response, content, uri=session_uri)


def is_short(request: PublishRequest) -> bool:
    """Whether YouTube will show the video as a Short: vertical and at most a minute."""
    return request.duration_s <= SHORTS_MAX_S and request.height > request.width


def video_body(request: PublishRequest) -> Json:
    """The videos.insert resource: snippet and status from the metadata and options."""
    meta = request.meta
    title, hashtags = meta.title.strip(), list(meta.hashtags)
    mentioned = " ".join([title, meta.caption, *hashtags])
    if is_short(request) and not _MENTIONS_SHORTS.search(mentioned):
        if len(title) + 1 + len(_SHORTS_TAG) <= TITLE_MAX:
            title = f"{title} {_SHORTS_TAG}"
        else:
            hashtags.append(_SHORTS_TAG)
    description = "\n".join(part for part in (meta.caption.strip(), " ".join(hashtags)) if part)
    return {
        "snippet": {
            "title": title,
            "description": description,
            "tags": [tag.lstrip("#") for tag in meta.hashtags if tag.lstrip("#")],
            "categoryId": request.options.get("category_id", "22"),
        },
        "status": {
            "privacyStatus": request.options.get("privacy_status", "private"),
            "selfDeclaredMadeForKids": False,
        },
    }


def _result(video_id: str, request: PublishRequest) -> PublishResult:
    if is_short(request):
        return PublishResult(external_id=video_id, url=f"https://youtube.com/shorts/{video_id}")
    return PublishResult(external_id=video_id, url=f"https://www.youtube.com/watch?v={video_id}")


def _error_fields(payload: object) -> tuple[str, str]:
    """(reason, message) of Google's `{"error": {"errors": [{"reason"}], "message"}}` shape."""
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return "", ""
    errors = error.get("errors") or [{}]
    details = [d for d in error.get("details") or [] if isinstance(d, dict) and "reason" in d]
    reason = errors[0].get("reason") or (details[0]["reason"] if details else "")
    message = re.sub(r"<[^>]+>", "", str(error.get("message", "")))  # quota errors hold links
    return str(reason), message


def _failure(exc: Any) -> tuple[int, str, str, float | None]:
    """(status, reason, message, retry-after seconds) of an HttpError."""
    try:
        payload = json.loads(exc.content)
    except (TypeError, ValueError):
        payload = None
    reason, message = _error_fields(payload)
    return int(exc.resp.status), reason, message or str(exc.resp.reason), _retry_after(exc.resp)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # the other form: an HTTP date
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _quota_message(reason: str) -> str:
    try:
        pacific: ZoneInfo | timezone = ZoneInfo("America/Los_Angeles")
    except ZoneInfoNotFoundError:
        pacific = timezone(timedelta(hours=-8))
    now = datetime.now(pacific)
    midnight = datetime.combine(now.date() + timedelta(days=1), time(), tzinfo=pacific)
    left = midnight - now
    wait = f"{left.seconds // 3600} h {left.seconds % 3600 // 60} min"
    what = (
        "This channel has reached YouTube's daily upload limit"
        if reason == "uploadLimitExceeded"
        else "The daily YouTube API quota for uploads is used up"
    )
    return (
        f"{what}, so the video was not posted. It resets at midnight Pacific time "
        f"({midnight.astimezone(UTC):%H:%M} UTC, in about {wait}); publish again after that."
    )
