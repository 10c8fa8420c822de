"""TikTok: the Content Posting API (`TikTokPublisher`); the OAuth client is in `tiktok_auth`.

The wire facts this module relies on (TikTok's v2 docs):

- Content API answers are `{"data": {...}, "error": {"code": "ok" | ..., "message", "log_id"}}`.
- A post: `creator_info/query` (handle, privacy levels offered, longest video), then
  `video/init` (direct post) or `inbox/video/init` (the creator finishes it in the app) →
  `publish_id` and `upload_url`; PUT the file in chunks; poll `status/fetch` until
  PUBLISH_COMPLETE (or SEND_TO_USER_INBOX). Post ids come back in `publicaly_available_post_id`
  (TikTok's spelling), and only for posts other people can see.
- Nothing is posted before the last chunk arrives: an init whose answer is lost leaves at most
  an empty slot that expires, while a lost answer to the last PUT may hide a real post. The
  `publish_id` is checkpointed before any upload, so a later attempt can look it up.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, BinaryIO

import httpx
import structlog

from services.platforms import fit_text
from services.publishing import (
    AccountNeedsReconnect,
    Checkpoint,
    PublishError,
    PublishRequest,
    PublishResult,
    RetryLater,
    TokenRejected,
    Tokens,
    Unconfirmed,
    no_checkpoint,
)

log = structlog.get_logger(__name__)

API_BASE_URL = "https://open.tiktokapis.com"
MB = 1024 * 1024
MIN_CHUNK = 5 * MB  # a smaller file goes up whole
MAX_CHUNK = 64 * MB
MAX_CHUNKS = 1000
CAPTION_MAX = 2200  # counted in UTF-16 code units, as TikTok does
MODES = ("direct", "inbox")
_READ_BLOCK = MB  # how much of a chunk is read from disk at a time
_STALE_UPLOAD_WAIT_S = 600.0  # an unfinished upload's URL lives an hour; look again later
_DONE = MappingProxyType(  # an inbox video counts as delivered; the creator may post it later
    {
        "direct": frozenset({"PUBLISH_COMPLETE"}),
        "inbox": frozenset({"SEND_TO_USER_INBOX", "PUBLISH_COMPLETE"}),
    }
)
_TRANSIENT_CODES = frozenset({"rate_limit_exceeded", "internal_error"})
_RECONNECT = "run /connect tiktok again"

# Init and creator_info refusals a person can act on (other codes: TikTok's own message).
_REFUSALS: Mapping[str, str] = MappingProxyType(
    {
        "spam_risk_too_many_posts": "this TikTok account has reached TikTok's daily limit of "
        "posts made through apps; post again tomorrow",
        "spam_risk_user_banned_from_posting": "TikTok has barred this account from posting; "
        "its owner must sort it out in the TikTok app",
        "spam_risk_too_many_pending_share": "this account has too many unfinished videos in its "
        "TikTok inbox; post or delete them in the TikTok app first",
        "unaudited_client_can_only_post_to_private_accounts": "our TikTok app is not audited "
        "yet, so it may only post to a private account with privacy SELF_ONLY: make the account "
        "private in the TikTok app and set the workspace's TikTok privacy to SELF_ONLY",
        "reached_active_user_cap": "our TikTok app has reached TikTok's daily cap of creators "
        "posting through it; try again tomorrow",
        "privacy_level_option_mismatch": "TikTok does not offer that privacy level to this "
        "account; choose another in the workspace's TikTok settings",
    }
)
# Why TikTok gave up on an uploaded video (status FAILED, `fail_reason`).
_FAIL_REASONS: Mapping[str, str] = MappingProxyType(
    {
        "file_format_check_failed": "TikTok could not read the file (send MP4 with H.264)",
        "duration_check_failed": "the video is too short or too long for this TikTok account",
        "frame_rate_check_failed": "TikTok refused the frame rate (23 to 60 fps)",
        "picture_size_check_failed": "TikTok refused the picture size (360 to 4096 px a side)",
        "publish_cancelled": "the post was cancelled on TikTok",
        "spam_risk_text": "TikTok took the caption for spam; change the caption and post again",
        "spam_risk": "TikTok took the post for spam",
        "spam_risk_too_many_posts": _REFUSALS["spam_risk_too_many_posts"],
        "spam_risk_user_banned_from_posting": _REFUSALS["spam_risk_user_banned_from_posting"],
    }
)


def _json(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object, or an empty dict when it is not one."""
    with contextlib.suppress(ValueError):
        body = response.json()
        if isinstance(body, dict):
            return body
    return {}


def _error(body: Mapping[str, Any]) -> dict[str, Any]:
    """The Content API's `error` object of an answer (empty if it has none)."""
    error = body.get("error")
    return error if isinstance(error, dict) else {}


def _retry_after(headers: httpx.Headers) -> float | None:
    """Seconds to wait from a `Retry-After` header (seconds or an HTTP date), if any."""
    value = headers.get("retry-after")
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _never_sent(exc: httpx.TransportError) -> bool:
    """Whether the request certainly did not reach TikTok (so it cannot have done anything)."""
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def chunk_plan(size: int, chunk_size: int, *, min_chunk: int = MIN_CHUNK) -> tuple[int, int]:
    """`(chunk_size, total_chunk_count)` for a `size`-byte file under TikTok's chunk rules.

    A file up to one chunk (or under `min_chunk`) goes up whole; otherwise the count is
    floor(size / chunk) and the last chunk also carries the remainder (under 2 chunks, ≤128 MB).
    """
    if size <= 0:
        raise PublishError("the video file is empty")
    if size <= max(chunk_size, min_chunk) and size <= MAX_CHUNK:
        return size, 1
    chunk_size = min(max(chunk_size, -(-size // MAX_CHUNKS)), MAX_CHUNK)
    return chunk_size, size // chunk_size


@dataclass(frozen=True)
class CreatorInfo:
    """What `creator_info/query` says about the account, read before every post."""

    username: str
    nickname: str
    privacy_level_options: tuple[str, ...]
    max_duration_s: int
    comment_disabled: bool
    duet_disabled: bool
    stitch_disabled: bool

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> CreatorInfo:
        """Parse the `data` of a creator_info answer."""
        return cls(
            username=str(data.get("creator_username") or ""),
            nickname=str(data.get("creator_nickname") or ""),
            privacy_level_options=tuple(str(p) for p in data.get("privacy_level_options") or ()),
            max_duration_s=int(data.get("max_video_post_duration_sec") or 0),
            comment_disabled=bool(data.get("comment_disabled")),
            duet_disabled=bool(data.get("duet_disabled")),
            stitch_disabled=bool(data.get("stitch_disabled")),
        )


class _FileSlice:
    """`length` bytes of an open file from `start`, read a block at a time (re-iterable)."""

    def __init__(self, file: BinaryIO, start: int, length: int) -> None:
        self._file, self._start, self._length, self._left = file, start, length, 0

    def __aiter__(self) -> _FileSlice:
        self._file.seek(self._start)
        self._left = self._length
        return self

    async def __anext__(self) -> bytes:
        if self._left <= 0:
            raise StopAsyncIteration
        block = await asyncio.to_thread(self._file.read, min(_READ_BLOCK, self._left))
        if not block:
            raise PublishError("the video file got shorter while it was being uploaded")
        self._left -= len(block)
        return block


class TikTokPublisher:
    """Posts to one TikTok account with the Content Posting API (direct post or inbox)."""

    def __init__(
        self,
        *,
        tokens: Tokens,
        api_base_url: str = API_BASE_URL,
        chunk_size: int = 10 * MB,
        min_chunk: int = MIN_CHUNK,  # tests only: lets small files go up in several chunks
        poll_interval_s: float = 5.0,
        poll_timeout_s: float = 600.0,
        max_attempts: int = 5,
        max_wait_s: float = 60.0,
        backoff_s: float = 1.0,
        timeout_s: float = 30.0,
    ) -> None:
        """A publisher for the account whose tokens are `tokens`; call `aclose()`."""
        if not min_chunk <= chunk_size <= MAX_CHUNK:
            raise ValueError(f"chunk_size must be {min_chunk} to {MAX_CHUNK} bytes: {chunk_size}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self._tokens = tokens
        self._chunk_size = chunk_size
        self._min_chunk = min_chunk
        self._poll_interval_s = poll_interval_s
        self._poll_timeout_s = poll_timeout_s
        self._max_attempts = max_attempts
        self._max_wait_s = max_wait_s
        self._backoff_s = backoff_s
        self._http = httpx.AsyncClient(base_url=api_base_url, timeout=timeout_s)

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()

    async def publish(
        self, request: PublishRequest, checkpoint: Checkpoint = no_checkpoint
    ) -> PublishResult:
        """Post the video (or find the post an earlier attempt made) and say where it is."""
        mode = _mode(request)
        try:
            size = request.video_path.stat().st_size
        except OSError as exc:
            raise PublishError(f"the video file is missing: {request.video_path}") from exc
        if request.remote_ref:
            found = await self._resume(request.remote_ref, mode, size)
            if found is not None:
                return found
        creator = await self._creator()
        chunk_size, count = chunk_plan(size, self._chunk_size, min_chunk=self._min_chunk)
        source = {
            "source": "FILE_UPLOAD",
            "video_size": size,
            "chunk_size": chunk_size,
            "total_chunk_count": count,
        }
        path = "/v2/post/publish/inbox/video/init/"
        body: dict[str, Any] = {"source_info": source}
        if mode == "direct":
            path = "/v2/post/publish/video/init/"
            body["post_info"] = _post_info(request, creator)
        _check_duration(request, creator)
        data = await self._api(path, body, unsafe=True)
        publish_id, upload_url = str(data.get("publish_id") or ""), data.get("upload_url")
        if not publish_id or not isinstance(upload_url, str):
            raise RetryLater("TikTok accepted the post but sent no publish_id or upload_url")
        await checkpoint(publish_id)
        log.info("tiktok.upload", publish_id=publish_id, bytes=size, chunks=count, mode=mode)
        with request.video_path.open("rb") as file:
            for index in range(count):
                first = index * chunk_size
                last = size - 1 if index == count - 1 else first + chunk_size - 1
                await self._put(upload_url, file, first, last, size)
        return await self._finish(publish_id, mode, creator.username)

    async def confirm(self, request: PublishRequest) -> PublishResult | None:
        """The post `request.remote_ref` (a publish_id) became, if TikTok has finished it.

        Without a remote_ref nothing can have been posted: the publish_id is saved before any
        upload, and a slot TikTok opened without receiving its video never becomes a post."""
        if not request.remote_ref:
            return None
        mode = _mode(request)
        data = await self._status(request.remote_ref)
        if data.get("status") not in _DONE[mode]:
            return None
        return published_result(request.remote_ref, data, await self._username())

    async def _resume(self, publish_id: str, mode: str, size: int) -> PublishResult | None:
        """Pick up an earlier attempt's post; None when a new post is safe to start."""
        data = await self._status(publish_id)
        status = data.get("status")
        if status == "FAILED":  # nothing went public: post afresh
            log.info("tiktok.earlier_failed", publish_id=publish_id, reason=data.get("fail_reason"))
            return None
        if status in _DONE[mode]:
            return published_result(publish_id, data, await self._username())
        if int(data.get("uploaded_bytes") or 0) >= size or status == "PROCESSING_DOWNLOAD":
            return await self._finish(publish_id, mode, await self._username())
        # The upload URL died with the earlier attempt (TikTok cannot resume an upload), and a
        # new init could double-post if that attempt is in fact still running.
        raise RetryLater(
            f"an earlier upload of this video to TikTok ({publish_id}) is unfinished; it will be "
            "checked again once TikTok has finished or dropped it (within an hour)",
            retry_after=_STALE_UPLOAD_WAIT_S,
        )

    async def _creator(self) -> CreatorInfo:
        return CreatorInfo.from_api(await self._api("/v2/post/publish/creator_info/query/", {}))

    async def _username(self) -> str | None:
        """The account's handle for a link, or None when TikTok will not say just now."""
        try:
            return (await self._creator()).username or None
        except (RetryLater, AccountNeedsReconnect, TokenRejected):
            raise
        except PublishError:  # e.g. the daily post cap: the post exists all the same
            return None

    async def _status(self, publish_id: str) -> dict[str, Any]:
        return await self._api("/v2/post/publish/status/fetch/", {"publish_id": publish_id})

    async def _finish(self, publish_id: str, mode: str, username: str | None) -> PublishResult:
        """Poll the post's status until TikTok has published it (or sent it to the inbox)."""
        deadline = time.monotonic() + self._poll_timeout_s
        while True:
            data = await self._status(publish_id)
            status = data.get("status")
            if status in _DONE[mode]:
                return published_result(publish_id, data, username)
            if status == "FAILED":
                raise publish_failure(str(data.get("fail_reason") or "unknown"))
            if time.monotonic() >= deadline:
                raise Unconfirmed(
                    f"TikTok was still processing the video after {self._poll_timeout_s:g} s "
                    f"(status {status}); it will be looked up again"
                )
            await asyncio.sleep(self._poll_interval_s)

    async def _api(
        self, path: str, body: Mapping[str, Any], *, unsafe: bool = False
    ) -> dict[str, Any]:
        """POST `body` to the Content API and return the answer's `data`.

        429, 5xx and rate limits are retried (honouring Retry-After); a refused token is
        refreshed once. With `unsafe`, a request whose answer was lost raises Unconfirmed."""
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            headers = {"Authorization": f"Bearer {await self._tokens.access_token()}"}
            try:
                response = await self._http.post(path, json=body, headers=headers)
            except httpx.TransportError as exc:
                problem = f"TikTok did not answer {path} ({type(exc).__name__})"
                if unsafe and not _never_sent(exc):
                    raise Unconfirmed(f"{problem}; no video was uploaded yet") from exc
                await self._retry_or_give_up(attempt, None, problem)
                continue
            answer = _json(response)
            error = _error(answer)
            status = response.status_code
            code = str(error.get("code") or ("ok" if response.is_success else f"http_{status}"))
            said = str(error.get("message") or response.reason_phrase)
            if code == "ok" and response.is_success:
                data = answer.get("data")
                return data if isinstance(data, dict) else {}
            if code == "scope_not_authorized":
                raise AccountNeedsReconnect(
                    f"this TikTok account did not allow posting ({said}); {_RECONNECT} "
                    "and allow everything asked for"
                )
            if code == "access_token_invalid" or status == 401:
                if refreshed:
                    raise TokenRejected(f"TikTok refused a freshly refreshed token ({said})")
                await self._tokens.refresh()
                refreshed, attempt = True, attempt - 1
                continue
            if status == 429 or status >= 500 or code in _TRANSIENT_CODES:
                problem = f"TikTok answered {code} (HTTP {status}: {said})"
                await self._retry_or_give_up(attempt, _retry_after(response.headers), problem)
                continue
            raise PublishError(_REFUSALS.get(code) or f"TikTok refused the post ({code}: {said})")

    async def _put(self, url: str, file: BinaryIO, first: int, last: int, size: int) -> None:
        """PUT bytes `first`..`last` of the file; a lost answer to the last chunk is Unconfirmed."""
        final = last == size - 1
        headers = {
            "Content-Type": "video/mp4",
            "Content-Length": str(last - first + 1),
            "Content-Range": f"bytes {first}-{last}/{size}",
        }
        attempt = 0
        while True:
            attempt += 1
            content = _FileSlice(file, first, last - first + 1)
            try:
                response = await self._http.put(url, content=content, headers=headers)
            except httpx.TransportError as exc:
                problem = f"TikTok did not answer the upload of bytes {first}-{last}"
                if final and not _never_sent(exc):  # the whole video may be in: a post may exist
                    raise Unconfirmed(f"{problem} ({type(exc).__name__})") from exc
                await self._retry_or_give_up(attempt, None, f"{problem} ({type(exc).__name__})")
                continue
            status = response.status_code
            if status in (200, 201, 206):
                return
            said = str(_error(_json(response)).get("message") or response.text[:200])
            problem = f"TikTok refused the upload of bytes {first}-{last} (HTTP {status}: {said})"
            if status == 429 or status >= 500:
                await self._retry_or_give_up(attempt, _retry_after(response.headers), problem)
                continue
            raise PublishError(problem)

    async def _retry_or_give_up(self, attempt: int, wait: float | None, problem: str) -> None:
        """Sleep before the next attempt, or raise RetryLater when that is too many or too long."""
        if wait is not None and wait > self._max_wait_s:
            raise RetryLater(f"{problem}; TikTok asks us to wait {wait:.0f} s", retry_after=wait)
        if attempt >= self._max_attempts:
            raise RetryLater(f"{problem}, {attempt} times; try again later", retry_after=wait)
        delay = wait if wait is not None else self._backoff_s * 2 ** (attempt - 1)
        log.warning("tiktok.retry", problem=problem, attempt=attempt, wait_s=delay)
        await asyncio.sleep(min(delay, self._max_wait_s))


def _mode(request: PublishRequest) -> str:
    mode = request.options.get("tiktok_mode", "direct")
    if mode not in MODES:
        raise PublishError(f"tiktok_mode must be direct or inbox, not {mode!r}")
    return mode


def _flag(request: PublishRequest, name: str) -> bool:
    return request.options.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _post_info(request: PublishRequest, creator: CreatorInfo) -> dict[str, Any]:
    """The direct post's caption and settings, checked against what the creator may use."""
    privacy = request.options.get("privacy_level", "SELF_ONLY")
    if privacy not in creator.privacy_level_options:
        allowed = ", ".join(creator.privacy_level_options) or "none"
        raise PublishError(
            f"TikTok does not let @{creator.username} post with privacy {privacy}; allowed: "
            f"{allowed}. Choose one of them in the workspace's TikTok settings"
        )
    return {
        "title": _caption(request),
        "privacy_level": privacy,
        # A setting the creator has switched off in the app must stay off (TikTok's UX rules).
        "disable_comment": creator.comment_disabled or _flag(request, "disable_comment"),
        "disable_duet": creator.duet_disabled or _flag(request, "disable_duet"),
        "disable_stitch": creator.stitch_disabled or _flag(request, "disable_stitch"),
    }


def _caption(request: PublishRequest) -> str:
    """The caption with its hashtags, cut to TikTok's limit (emoji count twice there)."""
    text = " ".join([request.meta.caption.strip(), *request.meta.hashtags]).strip()
    limit = min(len(text), CAPTION_MAX)
    fitted = fit_text(text, limit)
    while (excess := _utf16_len(fitted) - CAPTION_MAX) > 0:
        limit -= max(1, (excess + 1) // 2)  # an over-long character counts at most twice
        fitted = fit_text(text, limit)
    return fitted


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _check_duration(request: PublishRequest, creator: CreatorInfo) -> None:
    limit = creator.max_duration_s
    if limit and request.duration_s > limit:
        raise PublishError(
            f"the video is {request.duration_s:.0f} s long; @{creator.username} can post at "
            f"most {limit} s to TikTok. Make a shorter version"
        )


def published_result(
    publish_id: str, data: Mapping[str, Any], username: str | None
) -> PublishResult:
    """Where a finished post is: its video page, else the profile (private or inbox posts)."""
    ids = data.get("publicaly_available_post_id") or []  # sic: TikTok's spelling
    post_id = str(ids[0]) if isinstance(ids, list) and ids else None
    profile = f"https://www.tiktok.com/@{username}" if username else "https://www.tiktok.com/"
    if post_id is None:
        return PublishResult(external_id=publish_id, url=profile)
    if username is None:  # TikTok's embed player needs no handle
        return PublishResult(external_id=post_id, url=f"https://www.tiktok.com/player/v1/{post_id}")
    return PublishResult(external_id=post_id, url=f"{profile}/video/{post_id}")


def publish_failure(reason: str) -> PublishError:
    """The error for a post TikTok gave up on, by its `fail_reason`."""
    if reason == "auth_removed":
        return AccountNeedsReconnect(f"the account removed our access on TikTok; {_RECONNECT}")
    if reason == "internal":
        return RetryLater("TikTok failed while processing the video (internal); try again")
    why = _FAIL_REASONS.get(reason, "TikTok did not say more")
    return PublishError(f"TikTok could not publish the video ({reason}): {why}")
