"""A loopback fake of TikTok's Open API (v2): Login Kit OAuth and the Content Posting API.

It speaks the wire shapes: the consent page `GET /v2/auth/authorize/` (answered at once with a
302 to the redirect_uri, as if the person agreed), `POST /v2/oauth/token/` (a form; PKCE S256
checked; refresh tokens rotate, so a spent one gets `invalid_grant`), `GET /v2/user/info/`,
`POST /v2/post/publish/creator_info/query/`, both init endpoints, the chunked `PUT` upload
(Content-Range and chunk rules checked, bytes counted and hashed, never buffered whole),
`POST /v2/post/publish/status/fetch/` and `POST /v2/video/query/` (metrics for analytics).
Content API answers are `{"data": ..., "error": {"code", "message", "log_id"}}`.

Faults are scripted per route (`fake.fail("video_init", Fault.error(...))`): an HTTP error
with TikTok's error code and a Retry-After, or a `Fault.slow` that does the work and then
answers too late for the client (the post exists though the client timed out).
Every request is recorded; `fake.posts` holds every publish slot and `fake.published` the ones
that became posts.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import re
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from tests.fakes.loopback import start_app

MB = 1024 * 1024
ROUTES = (
    "authorize",
    "token",
    "user_info",
    "creator_info",
    "video_init",
    "inbox_init",
    "upload",
    "status",
    "video_query",
)
FIELD_SCOPES = {
    "open_id": "user.info.basic",
    "union_id": "user.info.basic",
    "avatar_url": "user.info.basic",
    "display_name": "user.info.basic",
    "username": "user.info.profile",
    "bio_description": "user.info.profile",
    "is_verified": "user.info.profile",
    "follower_count": "user.info.stats",
    "likes_count": "user.info.stats",
    "video_count": "user.info.stats",
}
POST_SCOPES = frozenset({"video.publish", "video.upload", "video.list"})
METRICS = ("view_count", "like_count", "comment_count", "share_count")
_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Fault:
    """One scripted answer for a route: an error in TikTok's shape, a late answer, or both."""

    status: int = 200  # 200: do the work as usual (then wait `delay_s` before answering)
    code: str = "ok"
    message: str = ""
    retry_after: str | None = None
    delay_s: float = 0.0

    @classmethod
    def error(
        cls,
        status: int,
        code: str = "internal_error",
        message: str = "Something went wrong. Please try again later.",
        *,
        retry_after: float | str | None = None,
    ) -> Fault:
        """Answer with HTTP `status` and TikTok error `code` (and a Retry-After header)."""
        after = None if retry_after is None else str(retry_after)
        return cls(status=status, code=code, message=message, retry_after=after)

    @classmethod
    def slow(cls, delay_s: float) -> Fault:
        """Do what was asked at once, but answer only after `delay_s` seconds."""
        return cls(delay_s=delay_s)


@dataclass
class Received:
    """One request as the fake saw it (an upload's body is counted, not kept)."""

    route: str
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    json: Any = None
    form: Mapping[str, str] = field(default_factory=dict)
    body_size: int = 0
    at: float = field(default_factory=time.monotonic)


RECEIVED = web.RequestKey("received", Received)


@dataclass
class Creator:
    """The TikTok account that consents in the fake."""

    open_id: str = "-000aBcDeFgHiJkLmNoP"
    username: str = "cafe.lumen"
    display_name: str = "Café Lumen"
    privacy_level_options: list[str] = field(
        default_factory=lambda: ["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"]
    )
    max_video_post_duration_sec: int = 600
    comment_disabled: bool = False
    duet_disabled: bool = False
    stitch_disabled: bool = False
    # The scopes the person leaves ticked on the consent page.
    consents_to: frozenset[str] = frozenset(
        {"user.info.basic", "user.info.profile", "video.publish", "video.upload", "video.list"}
    )


@dataclass
class Grant:
    """What an access or refresh token stands for."""

    open_id: str
    scope: str
    expires_at: float = float("inf")  # time.monotonic()


@dataclass
class Post:
    """One publish slot opened by an init call, and what became of it."""

    publish_id: str
    upload_id: str
    mode: str  # "direct" or "inbox"
    open_id: str
    post_info: Mapping[str, Any]
    video_size: int
    chunk_size: int
    total_chunk_count: int
    chunks: list[tuple[int, int]] = field(default_factory=list)  # byte ranges, in order
    uploaded_bytes: int = 0
    status: str = "PROCESSING_UPLOAD"
    fail_reason: str | None = None
    polls: int = 0
    post_id: int | None = None
    metrics: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METRICS, 0))
    hash: Any = field(default_factory=hashlib.sha256, repr=False)  # of the bytes, in order

    @property
    def sha256(self) -> str:
        """The hex digest of the bytes received so far."""
        return str(self.hash.hexdigest())

    @property
    def upload_complete(self) -> bool:
        """Whether every byte has arrived."""
        return self.uploaded_bytes == self.video_size

    @property
    def is_public(self) -> bool:
        """Whether people other than the creator can see it (only then has it a post id)."""
        return bool(self.post_info.get("privacy_level", "SELF_ONLY") != "SELF_ONLY")


def _content_error(
    code: str, message: str, status: int, headers: Mapping[str, str] | None = None
) -> web.Response:
    body = {"data": {}, "error": {"code": code, "message": message, "log_id": _log_id()}}
    return web.json_response(body, status=status, headers=dict(headers or {}))


def _oauth_error(error: str, description: str, status: int = 400) -> web.Response:
    body = {"error": error, "error_description": description, "log_id": _log_id()}
    return web.json_response(body, status=status)


def _ok(data: Mapping[str, Any]) -> web.Response:
    return web.json_response(
        {"data": data, "error": {"code": "ok", "message": "", "log_id": _log_id()}}
    )


def _log_id() -> str:
    return time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(8).upper()


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of `verifier` (RFC 7636)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class FakeTikTok:
    """`async with FakeTikTok() as fake:` serves TikTok's Open API at `fake.base_url`."""

    def __init__(
        self,
        *,
        client_key: str = "aw-test-client",
        client_secret: str = "test-secret",
        min_chunk: int = 5 * MB,
        polls_to_complete: int = 2,
        access_ttl_s: int = 86400,
        refresh_ttl_s: int = 31536000,
    ) -> None:
        self.client_key = client_key
        self.client_secret = client_secret
        self.min_chunk = min_chunk
        self.polls_to_complete = polls_to_complete  # status fetches after the upload until done
        self.access_ttl_s = access_ttl_s
        self.refresh_ttl_s = refresh_ttl_s
        self.creator = Creator()
        self.audited = True  # False: only SELF_ONLY posts (to private accounts) are allowed
        self.fail_reason: str | None = None  # set: the next posts end FAILED with this reason
        self.requests: list[Received] = []
        self.posts: dict[str, Post] = {}
        self.access_tokens: dict[str, Grant] = {}
        self.refresh_tokens: dict[str, Grant] = {}  # only the live ones
        self._codes: dict[str, dict[str, str]] = {}
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._ids = itertools.count(7_300_000_000_000_000_001)
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # -- scripting -------------------------------------------------------------------------

    def fail(self, route: str, *faults: Fault) -> None:
        """Answer the next requests to `route` (one of ROUTES) with `faults`, in order."""
        if route not in ROUTES:
            raise ValueError(f"unknown route {route!r}; one of {ROUTES}")
        self._faults[route].extend(faults)

    def issue_tokens(self, scope: str | None = None) -> tuple[str, str]:
        """(access_token, refresh_token) for the creator, as if they had connected."""
        granted = scope or ",".join(sorted(self.creator.consents_to))
        return self._issue(self.creator.open_id, granted)

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is now expired."""
        for grant in self.access_tokens.values():
            grant.expires_at = 0.0

    def revoke(self) -> None:
        """The person removed the app: every token stops working."""
        self.access_tokens.clear()
        self.refresh_tokens.clear()

    def set_metrics(self, post_id: int | str, **counts: int) -> None:
        """Set view_count, like_count, comment_count or share_count of a published post."""
        post = next(p for p in self.posts.values() if str(p.post_id) == str(post_id))
        unknown = set(counts) - set(METRICS)
        if unknown:
            raise ValueError(f"unknown metrics {sorted(unknown)}")
        post.metrics.update(counts)

    @property
    def published(self) -> list[Post]:
        """The slots that became posts (published, or delivered to the creator's inbox)."""
        done = {"PUBLISH_COMPLETE", "SEND_TO_USER_INBOX"}
        return [p for p in self.posts.values() if p.status in done]

    @property
    def auth_url(self) -> str:
        """The consent page's URL."""
        return f"{self.base_url}/v2/auth/authorize/"

    def on(self, route: str) -> list[Received]:
        """The requests made to `route`, in order."""
        return [r for r in self.requests if r.route == route]

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> FakeTikTok:
        app = web.Application()
        routes: list[tuple[str, str, str, Handler]] = [
            ("GET", "/v2/auth/authorize/", "authorize", self._authorize),
            ("POST", "/v2/oauth/token/", "token", self._token),
            ("GET", "/v2/user/info/", "user_info", self._user_info),
            ("POST", "/v2/post/publish/creator_info/query/", "creator_info", self._creator_info),
            ("POST", "/v2/post/publish/video/init/", "video_init", self._video_init),
            ("POST", "/v2/post/publish/inbox/video/init/", "inbox_init", self._inbox_init),
            ("PUT", "/video/", "upload", self._upload),
            ("POST", "/v2/post/publish/status/fetch/", "status", self._status),
            ("POST", "/v2/video/query/", "video_query", self._video_query),
        ]
        for method, path, route, handler in routes:
            app.router.add_route(method, path, self._wrap(route, handler))
        self._runner, origin = await start_app(app)
        self.base_url = origin
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def _wrap(self, route: str, handler: Handler) -> Handler:
        async def serve(request: web.Request) -> web.StreamResponse:
            received = Received(
                route,
                request.method,
                request.path,
                dict(request.query),
                {k.lower(): v for k, v in request.headers.items()},
            )
            if route != "upload":  # an upload's body is streamed by its handler
                if request.content_type == "application/x-www-form-urlencoded":
                    received.form = {k: str(v) for k, v in (await request.post()).items()}
                elif request.can_read_body:
                    with contextlib.suppress(ValueError):
                        received.json = await request.json()
            self.requests.append(received)
            request[RECEIVED] = received
            fault = self._faults[route].popleft() if self._faults[route] else None
            if fault is not None and fault.status != 200:
                await self._pause(fault.delay_s)
                if route == "upload":
                    await self._drain(request, received)
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                if route in ("token", "authorize"):
                    return _oauth_error(fault.code, fault.message, fault.status)
                return _content_error(fault.code, fault.message, fault.status, headers)
            response = await handler(request)
            if fault is not None:
                await self._pause(fault.delay_s)  # the work is done; the answer comes late
            return response

        return serve

    async def _pause(self, delay_s: float) -> None:
        if delay_s:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), delay_s)

    @staticmethod
    async def _drain(request: web.Request, received: Received) -> None:
        async for block in request.content.iter_chunked(256 * 1024):
            received.body_size += len(block)

    # -- OAuth -----------------------------------------------------------------------------

    def _issue(self, open_id: str, scope: str) -> tuple[str, str]:
        access, refresh = f"act.{secrets.token_urlsafe(24)}", f"rft.{secrets.token_urlsafe(24)}"
        now = time.monotonic()
        self.access_tokens[access] = Grant(open_id, scope, now + self.access_ttl_s)
        self.refresh_tokens[refresh] = Grant(open_id, scope, now + self.refresh_ttl_s)
        return access, refresh

    async def _authorize(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        if q.get("client_key") != self.client_key:
            return _oauth_error("invalid_client", "client_key is unknown", 400)
        if q.get("response_type") != "code" or not q.get("redirect_uri"):
            return _oauth_error("invalid_request", "response_type=code and redirect_uri needed")
        asked = [s for s in q.get("scope", "").split(",") if s]
        if not asked or any(s not in set(FIELD_SCOPES.values()) | POST_SCOPES for s in asked):
            return _oauth_error("invalid_scope", f"scope is invalid: {q.get('scope')!r}")
        challenge = q.get("code_challenge", "")
        if challenge and q.get("code_challenge_method") != "S256":
            return _oauth_error("invalid_request", "code_challenge_method must be S256")
        granted = ",".join(s for s in asked if s in self.creator.consents_to)
        code = secrets.token_urlsafe(32)
        self._codes[code] = {
            "redirect_uri": q["redirect_uri"],
            "scope": granted,
            "code_challenge": challenge,
        }
        query = urlencode({"code": code, "scopes": granted, "state": q.get("state", "")})
        return web.Response(status=302, headers={"Location": f"{q['redirect_uri']}?{query}"})

    async def _token(self, request: web.Request) -> web.StreamResponse:
        form = request[RECEIVED].form
        if form.get("client_key") != self.client_key:
            return _oauth_error("invalid_client", "Client key is invalid.", 401)
        if form.get("client_secret") != self.client_secret:
            return _oauth_error("invalid_client", "Client secret is invalid.", 401)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            issued = self._codes.pop(form.get("code", ""), None)  # a code works once
            if issued is None:
                return _oauth_error("invalid_grant", "Authorization code is expired.")
            if form.get("redirect_uri") != issued["redirect_uri"]:
                return _oauth_error("invalid_grant", "redirect_uri does not match.")
            verifier = form.get("code_verifier", "")
            if issued["code_challenge"] and s256(verifier) != issued["code_challenge"]:
                return _oauth_error("invalid_grant", "Code verifier or code challenge is invalid.")
            open_id, scope = self.creator.open_id, issued["scope"]
        elif grant_type == "refresh_token":
            grant = self.refresh_tokens.pop(form.get("refresh_token", ""), None)  # rotates
            if grant is None or grant.expires_at < time.monotonic():
                return _oauth_error("invalid_grant", "Refresh token is invalid or expired.")
            open_id, scope = grant.open_id, grant.scope
        else:
            return _oauth_error("unsupported_grant_type", f"grant_type {grant_type!r}")
        access, refresh = self._issue(open_id, scope)
        return web.json_response(
            {
                "access_token": access,
                "expires_in": self.access_ttl_s,
                "open_id": open_id,
                "refresh_expires_in": self.refresh_ttl_s,
                "refresh_token": refresh,
                "scope": scope,
                "token_type": "Bearer",
            }
        )

    def _bearer(self, request: web.Request, *scopes: str) -> Grant | web.Response:
        """The grant of the request's token if it holds one of `scopes`, else the error."""
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        grant = self.access_tokens.get(token)
        if grant is None or grant.expires_at < time.monotonic():
            text = "The access token is invalid or not found in the request."
            return _content_error("access_token_invalid", text, 401)
        if scopes and not set(scopes) & set(grant.scope.split(",")):
            text = f"The user did not authorize the scope required: {' or '.join(scopes)}"
            return _content_error("scope_not_authorized", text, 401)
        return grant

    # -- user info and creator info ----------------------------------------------------------

    async def _user_info(self, request: web.Request) -> web.StreamResponse:
        fields = [f for f in request.query.get("fields", "").split(",") if f]
        unknown = [f for f in fields if f not in FIELD_SCOPES]
        if not fields or unknown:
            return _content_error("invalid_params", f"fields are invalid: {unknown}", 400)
        scopes = {FIELD_SCOPES[f] for f in fields}
        for scope in scopes:
            grant = self._bearer(request, scope)
            if isinstance(grant, web.Response):
                return grant
        c = self.creator
        values = {
            "open_id": c.open_id,
            "union_id": f"u-{c.open_id}",
            "avatar_url": "https://p16.tiktokcdn.com/avatar.jpeg",
            "display_name": c.display_name,
            "username": c.username,
            "bio_description": "",
            "is_verified": False,
            "follower_count": 0,
            "likes_count": 0,
            "video_count": len(self.published),
        }
        return _ok({"user": {f: values[f] for f in fields}})

    async def _creator_info(self, request: web.Request) -> web.StreamResponse:
        grant = self._bearer(request, "video.publish")
        if isinstance(grant, web.Response):
            return grant
        c = self.creator
        return _ok(
            {
                "creator_avatar_url": "https://p16.tiktokcdn.com/avatar.jpeg",
                "creator_username": c.username,
                "creator_nickname": c.display_name,
                "privacy_level_options": list(c.privacy_level_options),
                "comment_disabled": c.comment_disabled,
                "duet_disabled": c.duet_disabled,
                "stitch_disabled": c.stitch_disabled,
                "max_video_post_duration_sec": c.max_video_post_duration_sec,
            }
        )

    # -- posting -----------------------------------------------------------------------------

    async def _video_init(self, request: web.Request) -> web.StreamResponse:
        return await self._init(request, "direct", "video.publish")

    async def _inbox_init(self, request: web.Request) -> web.StreamResponse:
        return await self._init(request, "inbox", "video.upload")

    async def _init(self, request: web.Request, mode: str, scope: str) -> web.StreamResponse:
        grant = self._bearer(request, scope)
        if isinstance(grant, web.Response):
            return grant
        body = request[RECEIVED].json
        if not isinstance(body, dict) or not isinstance(body.get("source_info"), dict):
            return _content_error("invalid_params", "source_info is required", 400)
        post_info = body.get("post_info") or {}
        if mode == "direct":
            problem = self._post_info_problem(post_info)
            if problem is not None:
                return problem
        elif post_info:
            return _content_error("invalid_params", "post_info is not taken by inbox init", 400)
        source = body["source_info"]
        if source.get("source") != "FILE_UPLOAD":
            return _content_error("invalid_params", "only FILE_UPLOAD is faked", 400)
        size, chunk, count = (
            source.get(k) for k in ("video_size", "chunk_size", "total_chunk_count")
        )
        problem_text = self._chunk_problem(size, chunk, count)
        if problem_text is not None:
            return _content_error("invalid_params", problem_text, 400)
        upload_id = str(next(self._ids))
        kind = "v_pub_file" if mode == "direct" else "v_inbox_file"
        publish_id = f"{kind}~v2-1.{upload_id}"
        self.posts[publish_id] = Post(
            publish_id, upload_id, mode, grant.open_id, post_info, size, chunk, count
        )
        token = secrets.token_urlsafe(16)
        upload_url = (
            f"{self.base_url}/video/?{urlencode({'upload_id': upload_id, 'upload_token': token})}"
        )
        return _ok({"publish_id": publish_id, "upload_url": upload_url})

    def _post_info_problem(self, info: Any) -> web.Response | None:
        if not isinstance(info, dict):
            return _content_error("invalid_params", "post_info is required", 400)
        privacy = info.get("privacy_level")
        if privacy not in self.creator.privacy_level_options:
            text = f"privacy_level {privacy!r} is not among the creator's options"
            return _content_error("privacy_level_option_mismatch", text, 400)
        if not self.audited and privacy != "SELF_ONLY":
            text = "Please review our integration guidelines: unaudited clients post privately."
            return _content_error("unaudited_client_can_only_post_to_private_accounts", text, 403)
        title = info.get("title", "")
        if not isinstance(title, str) or len(title.encode("utf-16-le")) // 2 > 2200:
            return _content_error("invalid_params", "title is longer than 2200 runes", 400)
        for key in ("disable_comment", "disable_duet", "disable_stitch"):
            if not isinstance(info.get(key, False), bool):
                return _content_error("invalid_params", f"{key} must be a boolean", 400)
        return None

    def _chunk_problem(self, size: Any, chunk: Any, count: Any) -> str | None:
        """Why the announced chunking breaks TikTok's rules, or None."""
        if not all(isinstance(v, int) and v > 0 for v in (size, chunk, count)):
            return "video_size, chunk_size and total_chunk_count must be positive integers"
        if count == 1 and chunk == size and size <= 64 * MB:
            return None  # the whole file in one go
        if size < self.min_chunk:
            return f"a video under {self.min_chunk} bytes must be uploaded as one chunk"
        if not self.min_chunk <= chunk <= 64 * MB:
            return f"chunk_size must be {self.min_chunk} to {64 * MB} bytes"
        if count != size // chunk:
            return f"total_chunk_count must be {size // chunk} (floor(video_size / chunk_size))"
        if size - (count - 1) * chunk > 128 * MB:
            return "the last chunk would be over 128 MB"
        if count > 1000:
            return "at most 1000 chunks"
        return None

    def _expected_range(self, post: Post, index: int) -> tuple[int, int]:
        first = index * post.chunk_size
        last = (
            post.video_size - 1
            if index == post.total_chunk_count - 1
            else first + post.chunk_size - 1
        )
        return first, last

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        received: Received = request[RECEIVED]
        post = next(
            (p for p in self.posts.values() if p.upload_id == request.query.get("upload_id")), None
        )
        problem: tuple[int, str] | None = None
        match = _RANGE.match(request.headers.get("Content-Range", ""))
        if post is None:
            problem = (404, "upload_id is unknown")
        elif request.content_type not in ("video/mp4", "video/quicktime", "video/webm"):
            problem = (400, f"Content-Type {request.content_type!r} is not a video type")
        elif request.content_length is None:
            problem = (411, "Content-Length is required")
        elif match is None:
            problem = (400, "Content-Range must be 'bytes FIRST-LAST/TOTAL'")
        if problem is not None or post is None or match is None:
            await self._drain(request, received)
            status, text = problem or (400, "bad upload")
            return _content_error("invalid_file_upload", text, status)
        first, last, total = (int(g) for g in match.groups())
        index = len(post.chunks)
        resent = (first, last) in post.chunks  # a retried chunk that did arrive: take it again
        expected = self._expected_range(post, index) if index < post.total_chunk_count else None
        if total != post.video_size or (not resent and (first, last) != expected):
            await self._drain(request, received)
            text = f"Content-Range {first}-{last}/{total}; expected {expected}/{post.video_size}"
            return _content_error("invalid_file_upload", text, 416)
        async for block in request.content.iter_chunked(256 * 1024):
            received.body_size += len(block)
            if not resent:
                post.hash.update(block)
        if received.body_size != last - first + 1:
            post.status, post.fail_reason = "FAILED", "file_format_check_failed"  # hash is off
            text = f"got {received.body_size} bytes for range {first}-{last}"
            return _content_error("invalid_file_upload", text, 400)
        if not resent:
            post.chunks.append((first, last))
            post.uploaded_bytes += received.body_size
        return web.Response(status=201 if post.upload_complete else 206)

    async def _status(self, request: web.Request) -> web.StreamResponse:
        grant = self._bearer(request, "video.publish", "video.upload")
        if isinstance(grant, web.Response):
            return grant
        body = request[RECEIVED].json or {}
        post = self.posts.get(str(body.get("publish_id")))
        if post is None or post.open_id != grant.open_id:
            return _content_error("invalid_params", "publish_id is invalid", 400)
        if post.upload_complete and post.status == "PROCESSING_UPLOAD":
            post.polls += 1
            if post.polls >= self.polls_to_complete:
                self._settle(post)
        data: dict[str, Any] = {"status": post.status, "uploaded_bytes": post.uploaded_bytes}
        if post.fail_reason:
            data["fail_reason"] = post.fail_reason
        if post.status == "PUBLISH_COMPLETE":
            data["publicaly_available_post_id"] = [post.post_id] if post.is_public else []
        return _ok(data)

    def _settle(self, post: Post) -> None:
        if self.fail_reason:
            post.status, post.fail_reason = "FAILED", self.fail_reason
        elif post.mode == "inbox":
            post.status = "SEND_TO_USER_INBOX"
        else:
            post.status, post.post_id = "PUBLISH_COMPLETE", next(self._ids)

    async def _video_query(self, request: web.Request) -> web.StreamResponse:
        grant = self._bearer(request, "video.list")
        if isinstance(grant, web.Response):
            return grant
        fields = [f for f in request.query.get("fields", "").split(",") if f]
        body = request[RECEIVED].json or {}
        ids = [str(i) for i in (body.get("filters") or {}).get("video_ids") or []]
        if not fields or not ids or len(ids) > 20:
            return _content_error("invalid_params", "fields and 1 to 20 video_ids are needed", 400)
        videos = []
        for post in self.published:
            if str(post.post_id) in ids and post.open_id == grant.open_id:
                values = {"id": str(post.post_id), "title": post.post_info.get("title", "")}
                values |= post.metrics
                videos.append({f: values[f] for f in fields if f in values})
        return _ok({"videos": videos, "cursor": 0, "has_more": False})
