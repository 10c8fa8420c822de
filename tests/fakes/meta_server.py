"""A loopback fake of Meta's Graph API (`/v21.0/...`), the Facebook Login dialog and the rupload
video host, for the real httpx clients to talk to.

It speaks the wire shapes: `{"error": {"message", "type", "code", "error_subcode",
"fbtrace_id"}}` with HTTP 400 (code 190 for an unknown, expired or revoked token, as Meta does),
`oauth/access_token` (code exchange and `fb_exchange_token`), `/me/permissions`,
`/me/accounts` (paged), Instagram containers (the fake really downloads `video_url`, streaming
it into a hash), `content_publishing_limit`, `media_publish`, media reads and listings, and
Facebook `video_reels` start/finish with uploads to `/video-upload/<version>/<video_id>`
(headers `Authorization: OAuth`, `offset`, `file_size`) and the video `status` field, and the
insights reads: Instagram `/{media-id}/insights` (needs `instagram_manage_insights`; refuses
the metrics Meta retired, such as `plays`) and Facebook `/{video-id}/video_insights` with the
Reels metrics (needs `read_insights`), both in the `{"data": [{"name", "period", "values":
[{"value"}], "title", "description", "id"}]}` shape.

Each route can be scripted with `Fault`s: an error answer (nothing is done), a slow answer (the
action is done, the answer comes late: the client's timeout path) or, for uploads, a connection
cut after some bytes. Every request is recorded; every post lands in `posts` with metrics that
tests may set.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import itertools
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from tests.fakes.loopback import start_app

# Route names, for `fail()` and `calls()`.
DIALOG, TOKEN, PERMISSIONS, ACCOUNTS = "dialog", "oauth_token", "permissions", "accounts"
LIMIT, CREATE, STATUS, PUBLISH = "publishing_limit", "media_create", "container_status", "publish"
MEDIA, MEDIA_LIST = "media_get", "media_list"
INSIGHTS, VIDEO_INSIGHTS = "media_insights", "video_insights"
REELS_START, UPLOAD, REELS_FINISH, VIDEO = "reels_start", "upload", "reels_finish", "video_get"


@dataclass(frozen=True)
class Fault:
    """One scripted answer: a Meta error (nothing done), a late answer, or a cut upload."""

    status: int = 500
    code: int | None = 2
    message: str = "Service temporarily unavailable"
    subcode: int | None = None
    error_type: str = "OAuthException"
    retry_after: float | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # > 0: do the action, then answer this late
    cut_after: int | None = None  # uploads: take this many bytes, then drop the connection

    @classmethod
    def error(
        cls,
        status: int,
        code: int | None,
        message: str = "An unexpected error has occurred. Please retry your request later.",
        *,
        subcode: int | None = None,
        retry_after: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Answer with Meta's error shape."""
        return cls(status, code, message, subcode, retry_after=retry_after, headers=headers or {})

    @classmethod
    def slow(cls, delay_s: float) -> Fault:
        """Do what was asked, then answer only after `delay_s` seconds."""
        return cls(status=200, delay_s=delay_s)

    @classmethod
    def cut(cls, after_bytes: int) -> Fault:
        """Keep the first `after_bytes` of an upload, then drop the connection."""
        return cls(status=200, cut_after=after_bytes)


@dataclass(frozen=True)
class Received:
    """One request as the fake saw it."""

    route: str
    method: str
    path: str
    query: Mapping[str, str]
    form: Mapping[str, str]
    headers: Mapping[str, str]
    at: float  # time.monotonic() on arrival
    body_bytes: int = 0


@dataclass
class Token:
    """An access token the fake issued."""

    value: str
    kind: str  # short | long | page
    page_id: str | None = None
    expires_at: float | None = None  # time.time()


@dataclass
class Page:
    """A Facebook Page of the fake user, perhaps with a linked Instagram professional account."""

    id: str
    name: str
    token: str = ""
    ig_user_id: str | None = None
    ig_username: str | None = None


@dataclass
class Fetch:
    """What the fake downloaded from a container's `video_url`."""

    url: str
    status: int = 0
    bytes: int = 0
    sha256: str = ""
    error: str = ""


@dataclass
class Post:
    """A published Reel (Instagram media or Facebook video), with metrics tests may set."""

    id: str
    platform: str  # instagram | facebook
    owner_id: str  # IG user id or Page id
    caption: str
    permalink: str
    timestamp: str
    title: str = ""
    video_bytes: int = 0
    video_sha256: str = ""
    views: int = 0
    likes: int = 0
    comments: int = 0
    shares: int = 0
    saved: int = 0
    watch_time_ms: int = 0  # the total time people spent watching it
    reactions: dict[str, int] = field(default_factory=dict)  # Facebook: besides REACTION_LIKE
    created: float = field(default_factory=time.time)


@dataclass
class Container:
    """An Instagram media container."""

    id: str
    ig_user_id: str
    caption: str
    video_url: str
    polls_left: int
    error: str | None
    fetch: Fetch
    task: asyncio.Task[None] | None = None
    status_code: str = "IN_PROGRESS"
    media_id: str | None = None


@dataclass
class Reel:
    """A Facebook Page video uploaded through `video_reels`."""

    id: str
    page_id: str
    polls_left: int
    error: str | None
    file_size: int | None = None
    received: int = 0
    hasher: Any = field(default_factory=hashlib.sha256)
    publish_requested: bool = False
    description: str = ""
    title: str = ""
    post_id: str | None = None


Handler = Callable[[str, Received, Token], web.Response]


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _error(
    status: int,
    message: str,
    code: int | None,
    *,
    subcode: int | None = None,
    kind: str = "OAuthException",
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    error: dict[str, Any] = {"message": message, "type": kind, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = "A" + secrets.token_urlsafe(12)
    return web.json_response({"error": error}, status=status, headers=dict(headers or {}))


class FakeMeta:
    """`async with FakeMeta() as fake:` serves Graph at `fake.graph_url`, the dialog at
    `fake.auth_url`, uploads under `fake.base_url`."""

    def __init__(
        self, *, version: str = "v21.0", client_id: str = "app-1", client_secret: str = "shh"
    ) -> None:
        self.version = version
        self.client_id, self.client_secret = client_id, client_secret
        self.pages: list[Page] = [
            Page(
                "20531316728", "Corner Bakery", ig_user_id="17841405822304914", ig_username="bakery"
            ),
            Page("20531316729", "Bakery Outlet"),
        ]
        self.granted: set[str] | None = None  # None: whatever the dialog asked for
        self.accounts_page_size = 25
        self.quota_total = 100
        self.quota_usage: int | None = None  # None: the posts of the last 24 h
        self.container_polls = 2  # IN_PROGRESS answers before FINISHED (after the download)
        self.container_error: str | None = None  # new containers end in ERROR with this text
        self.reel_polls = 1  # `processing` answers after the upload before it is ready
        self.reel_error: str | None = None  # new reels fail processing with this message
        self.tokens: dict[str, Token] = {}
        self.codes: dict[str, tuple[str, set[str]]] = {}  # code → (redirect_uri, scopes)
        self.scopes: set[str] = set()
        self.requests: list[Received] = []
        self.posts: list[Post] = []
        self.containers: dict[str, Container] = {}
        self.reels: dict[str, Reel] = {}
        self._faults: defaultdict[str, deque[Fault]] = defaultdict(deque)
        self._ids = itertools.count(1)
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.base_url = self.graph_url = self.auth_url = ""
        for page in self.pages:
            page.token = self.issue("page", page_id=page.id)

    # -- what tests use ----------------------------------------------------------------------

    def fail(self, route: str, *faults: Fault) -> None:
        """Answer the next requests to `route` with `faults`, in order."""
        self._faults[route].extend(faults)

    def calls(self, route: str) -> list[Received]:
        """The requests that reached `route`, in order."""
        return [r for r in self.requests if r.route == route]

    def issue(
        self, kind: str, *, page_id: str | None = None, expires_in: float | None = None
    ) -> str:
        """A new token: `short`/`long` user tokens (1 h / 60 days) or a `page` token (no expiry)."""
        value = f"EAA{kind}{next(self._ids)}{secrets.token_hex(6)}"
        if expires_in is None and kind != "page":
            expires_in = 3600 if kind == "short" else 60 * 86400
        expires = time.time() + expires_in if expires_in is not None else None
        self.tokens[value] = Token(value, kind, page_id, expires)
        return value

    def expire(self, token: str) -> None:
        """Make `token` expired from now on."""
        self.tokens[token].expires_at = time.time() - 1

    def page(self, page_id: str) -> Page:
        """The page with this id."""
        return next(p for p in self.pages if p.id == page_id)

    def post(self, post_id: str) -> Post:
        """The post with this id."""
        return next(p for p in self.posts if p.id == post_id)

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> FakeMeta:
        app = web.Application()
        v = "/{version}"
        app.router.add_get(v + "/dialog/oauth", self._dialog)
        app.router.add_get(v + "/oauth/access_token", self._access_token)
        app.router.add_post("/video-upload/{version}/{video_id}", self._upload)
        for path in (v + "/{node}", v + "/{node}/{edge}"):
            app.router.add_route("*", path, self._graph)
        self._session = aiohttp.ClientSession()
        self._runner, origin = await start_app(app)
        self.base_url = origin
        self.graph_url = f"{self.base_url}/{self.version}"
        self.auth_url = f"{self.graph_url}/dialog/oauth"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing.set()
        tasks = [c.task for c in self.containers.values() if c.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    # -- plumbing ----------------------------------------------------------------------------

    @staticmethod
    async def _form(request: web.Request) -> dict[str, str]:
        if request.method != "POST" or request.content_type == "application/octet-stream":
            return {}
        return {k: str(v) for k, v in (await request.post()).items()}

    def _record(self, route: str, request: web.Request, form: Mapping[str, str]) -> Received:
        received = Received(
            route,
            request.method,
            request.path,
            dict(request.query),
            dict(form),
            {k.lower(): v for k, v in request.headers.items()},
            time.monotonic(),
        )
        self.requests.append(received)
        return received

    def _fault(self, route: str) -> Fault | None:
        queue = self._faults[route]
        return queue.popleft() if queue else None

    @staticmethod
    def _fault_answer(fault: Fault) -> web.Response:
        headers = dict(fault.headers)
        if fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        if fault.code is None:  # rupload's shape
            body = {"debug_info": {"retriable": True, "type": "Error", "message": fault.message}}
            return web.json_response(body, status=fault.status, headers=headers)
        return _error(
            fault.status,
            fault.message,
            fault.code,
            subcode=fault.subcode,
            kind=fault.error_type,
            headers=headers,
        )

    async def _late(self, fault: Fault | None) -> None:
        if fault is not None and fault.delay_s:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), fault.delay_s)

    def _token(self, received: Received) -> Token | web.Response:
        scheme, _, value = received.headers.get("authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or not value:
            value = received.query.get("access_token") or received.form.get("access_token", "")
        if not value:
            return _error(400, "An active access token must be used.", 2500)
        return self._check_token(value)

    def _check_token(self, value: str) -> Token | web.Response:
        token = self.tokens.get(value)
        if token is None:
            return self._invalid("Invalid OAuth access token - Cannot parse access token")
        if token.expires_at is not None and token.expires_at <= time.time():
            message = "Error validating access token: Session has expired."
            return self._invalid(message, subcode=463)
        return token

    @staticmethod
    def _invalid(message: str, *, subcode: int | None = None) -> web.Response:
        header = f'OAuth "Facebook Platform" "invalid_token" "{message}"'
        return _error(400, message, 190, subcode=subcode, headers={"WWW-Authenticate": header})

    def _wrong_version(self, request: web.Request) -> web.Response | None:
        if request.match_info["version"] != self.version:
            return _error(400, "Unknown path components", 2500)
        return None

    @staticmethod
    def _missing(object_id: str) -> web.Response:
        text = f"Unsupported get request. Object with ID '{object_id}' does not exist"
        return _error(400, text, 100, subcode=33)

    # -- Facebook Login ----------------------------------------------------------------------

    async def _dialog(self, request: web.Request) -> web.StreamResponse:
        query = self._record(DIALOG, request, {}).query
        if query.get("client_id") != self.client_id or not query.get("redirect_uri"):
            return web.Response(status=400, text="Invalid App ID or redirect_uri")
        code = "AQ" + secrets.token_urlsafe(16)
        asked = {s for s in query.get("scope", "").split(",") if s}
        scopes = asked if self.granted is None else self.granted
        self.codes[code] = (query["redirect_uri"], scopes)
        back = {"code": code, "state": query.get("state", "")}
        raise web.HTTPFound(query["redirect_uri"] + "?" + urlencode(back))

    async def _access_token(self, request: web.Request) -> web.Response:
        q = self._record(TOKEN, request, {}).query
        if bad := self._wrong_version(request):
            return bad
        fault = self._fault(TOKEN)
        if fault is not None and not fault.delay_s:
            return self._fault_answer(fault)
        if q.get("client_id") != self.client_id or q.get("client_secret") != self.client_secret:
            return _error(400, "Error validating client secret.", 1)
        if q.get("grant_type") == "fb_exchange_token":
            old = self._check_token(q.get("fb_exchange_token", ""))
            if isinstance(old, web.Response):
                return old
            if old.kind == "page":
                return self._invalid("Invalid OAuth access token - Cannot parse access token")
            kind, lifetime = "long", 60 * 86400
        else:
            entry = self.codes.pop(q.get("code", ""), None)
            if entry is None:
                return _error(400, "This authorization code has been used.", 100, subcode=36009)
            if entry[0] != q.get("redirect_uri"):
                text = "Error validating verification code: the redirect_uri is not identical."
                return _error(400, text, 100, subcode=36008)
            self.scopes = entry[1]
            kind, lifetime = "short", 3600
        token = self.issue(kind, expires_in=lifetime)
        await self._late(fault)
        answer = {"access_token": token, "token_type": "bearer", "expires_in": lifetime}
        return web.json_response(answer)

    # -- Graph nodes and edges ---------------------------------------------------------------

    async def _graph(self, request: web.Request) -> web.StreamResponse:
        node, edge = request.match_info["node"], request.match_info.get("edge", "")
        form = await self._form(request)
        route = self._route(request.method, node, edge, form)
        received = self._record(route, request, form)
        if bad := self._wrong_version(request):
            return bad
        fault = self._fault(route)
        if fault is not None and not fault.delay_s:
            return self._fault_answer(fault)
        token = self._token(received)
        if isinstance(token, web.Response):
            return token
        handler = self._handlers.get(route)
        if handler is None:
            return _error(400, f"Unsupported {request.method.lower()} request", 100, subcode=33)
        answer = handler(node, received, token)
        await self._late(fault)  # the action is done: a slow answer still leaves it done
        return answer

    def _route(self, method: str, node: str, edge: str, form: Mapping[str, str]) -> str:
        if edge == "video_reels" and method == "POST":
            return REELS_FINISH if form.get("upload_phase") == "finish" else REELS_START
        if edge:
            routes = {
                ("GET", "permissions"): PERMISSIONS,
                ("GET", "accounts"): ACCOUNTS,
                ("GET", "content_publishing_limit"): LIMIT,
                ("POST", "media"): CREATE,
                ("GET", "media"): MEDIA_LIST,
                ("POST", "media_publish"): PUBLISH,
                ("GET", "insights"): INSIGHTS,
                ("GET", "video_insights"): VIDEO_INSIGHTS,
            }
            return routes.get((method, edge), f"{method} {edge}")
        if method != "GET":
            return f"{method} node"
        return STATUS if node in self.containers else VIDEO if node in self.reels else MEDIA

    @property
    def _handlers(self) -> Mapping[str, Handler]:
        return {
            PERMISSIONS: self._permissions,
            ACCOUNTS: self._accounts,
            LIMIT: self._limit,
            CREATE: self._create,
            STATUS: self._status,
            PUBLISH: self._publish,
            MEDIA: self._media,
            MEDIA_LIST: self._media_list,
            INSIGHTS: self._insights,
            VIDEO_INSIGHTS: self._video_insights,
            REELS_START: self._reels_start,
            REELS_FINISH: self._reels_finish,
            VIDEO: self._video,
        }

    def _permissions(self, node: str, r: Received, token: Token) -> web.Response:
        data = [{"permission": s, "status": "granted"} for s in sorted(self.scopes)]
        return web.json_response({"data": data})

    def _accounts(self, node: str, r: Received, token: Token) -> web.Response:
        if token.kind == "page":
            return _error(400, "(#100) Tried accessing nonexisting field (accounts)", 100)
        start = int(r.query.get("after", "0") or 0)
        chunk = self.pages[start : start + self.accounts_page_size]
        data = []
        for page in chunk:
            item: dict[str, Any] = {"id": page.id, "name": page.name, "access_token": page.token}
            if page.ig_user_id:
                ig = {"id": page.ig_user_id, "username": page.ig_username}
                item["instagram_business_account"] = ig
            data.append(item)
        after = start + len(chunk)
        paging: dict[str, Any] = {"cursors": {"before": str(start), "after": str(after)}}
        if after < len(self.pages):
            paging["next"] = (
                f"{self.graph_url}/me/accounts?{urlencode({**r.query, 'after': after})}"
            )
        return web.json_response({"data": data, "paging": paging})

    # -- Instagram ---------------------------------------------------------------------------

    def _ig_denied(self, ig_user_id: str, token: Token) -> web.Response | None:
        page = next((p for p in self.pages if p.ig_user_id == ig_user_id), None)
        if page is None:
            return self._missing(ig_user_id)
        if token.kind == "page" and token.page_id != page.id:
            return _error(400, "(#10) Application does not have permission for this action", 10)
        return None

    def _ig_usage(self, ig_user_id: str) -> int:
        if self.quota_usage is not None:
            return self.quota_usage
        day_ago = time.time() - 86400
        return sum(
            1
            for p in self.posts
            if p.owner_id == ig_user_id and p.platform == "instagram" and p.created > day_ago
        )

    def _limit(self, ig: str, r: Received, token: Token) -> web.Response:
        if denied := self._ig_denied(ig, token):
            return denied
        config = {"quota_total": self.quota_total, "quota_duration": 86400}
        return web.json_response({"data": [{"config": config, "quota_usage": self._ig_usage(ig)}]})

    def _create(self, ig: str, r: Received, token: Token) -> web.Response:
        if denied := self._ig_denied(ig, token):
            return denied
        if r.form.get("media_type") != "REELS" or not r.form.get("video_url"):
            return _error(400, "The parameter video_url is required", 100)
        url = r.form["video_url"]
        container = Container(
            id=f"1789{next(self._ids):011d}",
            ig_user_id=ig,
            caption=r.form.get("caption", ""),
            video_url=url,
            polls_left=self.container_polls,
            error=self.container_error,
            fetch=Fetch(url),
        )
        container.task = asyncio.create_task(self._download(container.fetch))
        self.containers[container.id] = container
        return web.json_response({"id": container.id})

    async def _download(self, fetch: Fetch) -> None:
        """Fetch the video as Meta does, streaming it into a hash (never held whole)."""
        assert self._session is not None
        hasher = hashlib.sha256()
        try:
            async with self._session.get(fetch.url) as response:
                fetch.status = response.status
                async for chunk in response.content.iter_chunked(1 << 16):
                    hasher.update(chunk)
                    fetch.bytes += len(chunk)
        except aiohttp.ClientError as exc:
            fetch.error = str(exc) or type(exc).__name__
        fetch.sha256 = hasher.hexdigest()

    def _status(self, cid: str, r: Received, token: Token) -> web.Response:
        c = self.containers[cid]
        if denied := self._ig_denied(c.ig_user_id, token):
            return denied
        if c.status_code == "IN_PROGRESS" and c.task is not None and c.task.done():
            c.polls_left -= 1
            if c.fetch.error or c.fetch.status != 200:
                c.status_code = "ERROR"
                c.error = (
                    "Error: Media download has failed. The media URI doesn't meet our requirements."
                )
            elif c.polls_left <= 0:
                c.status_code = "ERROR" if c.error else "FINISHED"
        text = {
            "IN_PROGRESS": "In Progress: Media is still being processed.",
            "FINISHED": "Finished: Media has been uploaded and it is ready to be published.",
            "PUBLISHED": "Published: Media has been successfully published.",
            "ERROR": c.error or "Error",
        }[c.status_code]
        return web.json_response({"status_code": c.status_code, "status": text, "id": cid})

    def _publish(self, ig: str, r: Received, token: Token) -> web.Response:
        if denied := self._ig_denied(ig, token):
            return denied
        c = self.containers.get(r.form.get("creation_id", ""))
        if c is None or c.ig_user_id != ig:
            return _error(400, "Invalid parameter", 100, subcode=2207008)
        if c.status_code != "FINISHED":
            return _error(400, "Media ID is not available", 9007, subcode=2207027)
        if self._ig_usage(ig) >= self.quota_total:
            return _error(400, "Application request limit reached", 9, subcode=2207042)
        post = Post(
            id=f"1790{next(self._ids):011d}",
            platform="instagram",
            owner_id=ig,
            caption=c.caption,
            permalink=f"https://www.instagram.com/reel/C{secrets.token_urlsafe(8)}/",
            timestamp=_stamp(),
            video_bytes=c.fetch.bytes,
            video_sha256=c.fetch.sha256,
        )
        self.posts.append(post)
        c.status_code, c.media_id = "PUBLISHED", post.id
        return web.json_response({"id": post.id})

    @staticmethod
    def _ig_fields(post: Post, fields: str) -> dict[str, Any]:
        values = {
            "id": post.id,
            "caption": post.caption,
            "permalink": post.permalink,
            "timestamp": post.timestamp,
            "media_type": "VIDEO",
            "media_product_type": "REELS",
            "like_count": post.likes,
            "comments_count": post.comments,
        }
        wanted = [f for f in fields.split(",") if f in values]
        return {f: values[f] for f in [*wanted, "id"]}

    def _media(self, media_id: str, r: Received, token: Token) -> web.Response:
        post = next((p for p in self.posts if p.id == media_id and p.platform == "instagram"), None)
        if post is None:
            return self._missing(media_id)
        if denied := self._ig_denied(post.owner_id, token):
            return denied
        return web.json_response(self._ig_fields(post, r.query.get("fields", "")))

    def _media_list(self, ig: str, r: Received, token: Token) -> web.Response:
        if denied := self._ig_denied(ig, token):
            return denied
        limit = int(r.query.get("limit", "25"))
        mine = [p for p in reversed(self.posts) if p.owner_id == ig][:limit]  # newest first
        data = [self._ig_fields(p, r.query.get("fields", "")) for p in mine]
        return web.json_response({"data": data, "paging": {"cursors": {"before": "", "after": ""}}})

    def _insights(self, media_id: str, r: Received, token: Token) -> web.Response:
        post = next((p for p in self.posts if p.id == media_id and p.platform == "instagram"), None)
        if post is None:
            return self._missing(media_id)
        if denied := self._ig_denied(post.owner_id, token):
            return denied
        if "instagram_manage_insights" not in self.scopes:
            return _error(400, "(#10) Application does not have permission for this action", 10)
        reach = max(post.views - post.views // 4, 0)
        values = {
            "views": post.views,
            "reach": reach,
            "likes": post.likes,
            "comments": post.comments,
            "shares": post.shares,
            "saved": post.saved,
            "total_interactions": post.likes + post.comments + post.shares + post.saved,
            "ig_reels_video_view_total_time": post.watch_time_ms,
            "ig_reels_avg_watch_time": post.watch_time_ms // max(post.views, 1),
        }
        return _insights_answer(f"{media_id}/insights", r.query.get("metric", ""), values)

    def _video_insights(self, video_id: str, r: Received, token: Token) -> web.Response:
        post = next((p for p in self.posts if p.id == video_id and p.platform == "facebook"), None)
        if post is None:
            return self._missing(video_id)
        if denied := self._page_denied(post.owner_id, token):
            return denied
        if "read_insights" not in self.scopes:
            return _error(400, "(#10) This endpoint requires the 'read_insights' permission", 10)
        values: dict[str, object] = {  # the metrics Meta gives for Reels
            "blue_reels_play_count": post.views,
            "fb_reels_total_plays": post.views,
            "fb_reels_replay_count": 0,
            "post_impressions_unique": max(post.views - post.views // 4, 0),
            "post_video_avg_time_watched": post.watch_time_ms // max(post.views, 1),
            "post_video_view_time": post.watch_time_ms,
            "post_video_likes_by_reaction_type": {"REACTION_LIKE": post.likes, **post.reactions},
            "post_video_social_actions": {"COMMENT": post.comments, "SHARE": post.shares},
        }
        return _insights_answer(f"{video_id}/video_insights", r.query.get("metric", ""), values)

    # -- Facebook Reels ----------------------------------------------------------------------

    @staticmethod
    def _page_denied(page_id: str, token: Token) -> web.Response | None:
        if token.kind != "page" or token.page_id != page_id:
            text = "(#200) The user hasn't authorized the application to perform this action"
            return _error(400, text, 200)
        return None

    def _reels_start(self, page_id: str, r: Received, token: Token) -> web.Response:
        if denied := self._page_denied(page_id, token):
            return denied
        if r.form.get("upload_phase") != "start":
            return _error(400, "(#100) The parameter upload_phase is required", 100)
        reel = Reel(f"1220{next(self._ids):011d}", page_id, self.reel_polls, self.reel_error)
        self.reels[reel.id] = reel
        upload_url = f"{self.base_url}/video-upload/{self.version}/{reel.id}"
        return web.json_response({"video_id": reel.id, "upload_url": upload_url})

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        received = self._record(UPLOAD, request, {})
        reel = self.reels.get(request.match_info["video_id"])
        fault = self._fault(UPLOAD)
        if fault is not None and not fault.delay_s and fault.cut_after is None:
            return self._fault_answer(fault)
        scheme, _, value = received.headers.get("authorization", "").partition(" ")
        token = self.tokens.get(value) if scheme == "OAuth" else None
        if reel is None or token is None or token.page_id != reel.page_id:
            return _upload_error(401, "AuthError", "Invalid OAuth access token")
        try:
            offset, size = int(received.headers["offset"]), int(received.headers["file_size"])
        except (KeyError, ValueError):
            text = "HeaderValuePredicate: Header Offset not convertable to unsigned long"
            return _upload_error(400, "ParameterValidationError", text)
        if offset != reel.received or reel.file_size not in (None, size):
            text = f"Offset {offset} does not match the {reel.received} bytes received"
            return _upload_error(400, "ProcessingFailedError", text)
        reel.file_size = size
        cut = fault.cut_after if fault is not None else None
        taken = 0
        async for chunk in request.content.iter_chunked(1 << 16):
            part = chunk if cut is None else chunk[: cut - taken]
            reel.hasher.update(part)
            reel.received += len(part)
            taken += len(part)
            if cut is not None and taken >= cut:
                self._sent_bytes(received, taken)
                assert request.transport is not None
                request.transport.close()  # the connection drops mid-upload
                return web.Response(status=500)
        self._sent_bytes(received, taken)
        if reel.received > size:
            return _upload_error(400, "ProcessingFailedError", "More bytes than file_size")
        await self._late(fault)
        return web.json_response({"success": True})

    def _sent_bytes(self, received: Received, count: int) -> None:
        index = self.requests.index(received)
        self.requests[index] = dataclasses.replace(received, body_bytes=count)

    def _reel_status(self, reel: Reel) -> dict[str, Any]:
        uploaded = reel.file_size is not None and reel.received >= reel.file_size
        if uploaded and reel.polls_left > 0:
            reel.polls_left -= 1
        processed = uploaded and reel.polls_left <= 0
        done = {"status": "complete", "bytes_transferred": reel.received}
        if processed and reel.error:
            error = {"code": 1363008, "message": reel.error}
            return {
                "video_status": "error",
                "uploading_phase": done,
                "processing_phase": {"status": "error", "errors": [error]},
                "publishing_phase": {"status": "not_started"},
            }
        if processed and reel.publish_requested and reel.post_id is None:
            self._publish_reel(reel)
        publishing: dict[str, Any] = {"status": "not_started"}
        if reel.post_id is not None:
            publishing = {"status": "complete", "publish_status": "published"}
            publishing["publish_time"] = int(time.time())
        elif reel.publish_requested:
            publishing = {"status": "in_progress"}
        uploading = "in_progress" if reel.received else "not_started"
        return {
            "video_status": "ready" if processed else "processing" if uploaded else "uploading",
            "uploading_phase": done
            if uploaded
            else {"status": uploading, "bytes_transferred": reel.received},
            "processing_phase": {
                "status": "complete" if processed else "in_progress" if uploaded else "not_started"
            },
            "publishing_phase": publishing,
        }

    def _publish_reel(self, reel: Reel) -> None:
        post = Post(
            id=reel.id,
            platform="facebook",
            owner_id=reel.page_id,
            caption=reel.description,
            permalink=f"/reel/{reel.id}/",
            timestamp=_stamp(),
            title=reel.title,
            video_bytes=reel.received,
            video_sha256=reel.hasher.hexdigest(),
        )
        self.posts.append(post)
        reel.post_id = post.id

    def _reels_finish(self, page_id: str, r: Received, token: Token) -> web.Response:
        if denied := self._page_denied(page_id, token):
            return denied
        reel = self.reels.get(r.form.get("video_id", ""))
        if reel is None or reel.page_id != page_id:
            return _error(400, "(#100) Invalid video_id", 100)
        if reel.file_size is None or reel.received < reel.file_size:
            text = "There was a problem uploading your video file. Please try again."
            return _error(400, text, 6000, subcode=1363130)
        if reel.post_id is None and not reel.publish_requested:
            reel.description, reel.title = r.form.get("description", ""), r.form.get("title", "")
            reel.publish_requested = r.form.get("video_state") == "PUBLISHED"
            if reel.publish_requested and reel.polls_left <= 0 and not reel.error:
                self._publish_reel(reel)
        return web.json_response({"success": True})

    def _video(self, video_id: str, r: Received, token: Token) -> web.Response:
        reel = self.reels[video_id]
        if denied := self._page_denied(reel.page_id, token):
            return denied
        body: dict[str, Any] = {"id": video_id}
        fields = r.query.get("fields", "").split(",")
        if "status" in fields:
            body["status"] = self._reel_status(reel)
        if "permalink_url" in fields:
            body["permalink_url"] = f"/reel/{video_id}/"
        if "description" in fields:
            body["description"] = reel.description
        return web.json_response(body)


# Instagram media metrics Meta retired (v22.0, and every version from 21 April 2025).
_RETIRED_METRICS = frozenset(
    {"plays", "clips_replays_count", "ig_reels_aggregated_all_plays_count", "impressions"}
    | {"video_views"}
)


def _insights_answer(base: str, asked: str, values: Mapping[str, object]) -> web.Response:
    """An insights answer with the `asked` metrics (comma-separated), or Meta's (#100)."""
    metrics = [m for m in asked.split(",") if m]
    if not metrics:
        return _error(400, "(#100) The parameter metric is required", 100)
    for index, metric in enumerate(metrics):
        if metric in _RETIRED_METRICS:
            text = (
                f"(#100) Starting from version v22.0 and above, the {metric} metric is no longer "
                "supported. Please use views metric instead."
            )
            return _error(400, text, 100)
        if metric not in values:
            allowed = ", ".join(values)
            text = f"(#100) metric[{index}] must be one of the following values: {allowed}"
            return _error(400, text, 100)
    data = [
        {
            "name": metric,
            "period": "lifetime",
            "values": [{"value": values[metric]}],
            "title": metric.replace("_", " ").capitalize(),
            "description": f"Lifetime {metric.replace('_', ' ')}",
            "id": f"{base}/{metric}/lifetime",
        }
        for metric in metrics
    ]
    return web.json_response({"data": data})


def _upload_error(status: int, kind: str, message: str) -> web.Response:
    body = {"debug_info": {"retriable": False, "type": kind, "message": message}}
    return web.json_response(body, status=status)
