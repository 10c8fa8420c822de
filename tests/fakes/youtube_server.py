"""A loopback fake of Google OAuth 2.0 and the YouTube Data API v3, for the real clients.

It speaks the wire protocol google-api-python-client and httpx use:

- `GET /o/oauth2/v2/auth` answers as if the person consented: 302 to `redirect_uri?code&state`.
- `POST /token`: the `authorization_code` grant (PKCE S256 checked) and the `refresh_token`
  grant; access tokens expire, a revoked refresh token gets `invalid_grant`.
- `GET /youtube/v3/channels?mine=true`, `GET /youtube/v3/videos?id=…` (with `statistics`).
- Resumable `videos.insert`: `POST /upload/youtube/v3/videos?uploadType=resumable` → Location;
  `PUT` chunks → 308 with `Range`, the last → 200 with the video; `PUT` with `bytes */size`
  asks how far the upload got.
- `POST /upload/youtube/v3/thumbnails/set?videoId=…&uploadType=media`.

Bearer tokens are checked (401 in Google's JSON error shape). Each `Route` has a queue of
scripted `Fault`s: an HTTP error with a reason and Retry-After, or a hang that does the work and
then answers too late (a client timeout after the server acted). Uploaded bytes are hashed and
counted, never kept.
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
from dataclasses import dataclass, field
from enum import StrEnum
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aiohttp import web

from tests.fakes.loopback import start_app

UPLOAD_SCOPE = "https://www.googleapis.com/auth/youtube.upload"
CHUNK_UNIT = 256 * 1024
_RANGE = re.compile(r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)")


class Route(StrEnum):
    """What a request is, for scripting faults and reading `FakeYouTube.requests`."""

    AUTHORIZE = "authorize"
    TOKEN = "token"
    CHANNELS = "channels"
    VIDEOS_LIST = "videos_list"
    UPLOAD_START = "upload_start"  # the POST that opens a resumable session
    UPLOAD_CHUNK = "upload_chunk"  # a PUT of bytes that does not finish the upload
    UPLOAD_FINAL = "upload_final"  # the PUT whose bytes finish the upload (it makes the video)
    UPLOAD_STATUS = "upload_status"  # an empty PUT with `Content-Range: bytes */size`
    THUMBNAILS = "thumbnails"


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour; `Fault()` lets one request through untouched."""

    status: int = 0  # 0: no error answer
    reason: str = "backendError"
    message: str = "Backend Error"
    retry_after: str | None = None
    hang_s: float = 0.0  # do the work, then wait this long before answering

    @classmethod
    def error(
        cls, status: int, reason: str, message: str = "", *, retry_after: float | None = None
    ) -> Fault:
        """Answer with `status` and Google's error shape instead of doing the work."""
        after = None if retry_after is None else f"{retry_after:g}"
        return cls(status=status, reason=reason, message=message or reason, retry_after=after)

    @classmethod
    def quota(cls) -> Fault:
        """The daily quota is used up (403 quotaExceeded)."""
        text = (
            'The request cannot be completed because you have exceeded your <a href="/youtube'
            '/v3/getting-started#quota">quota</a>.'
        )
        return cls(status=403, reason="quotaExceeded", message=text)

    @classmethod
    def hang(cls, seconds: float) -> Fault:
        """Do the work (e.g. create the video), then answer only after `seconds`."""
        return cls(hang_s=seconds)


@dataclass(frozen=True)
class Received:
    """One request as the fake saw it (bodies are not kept)."""

    route: Route
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float  # time.monotonic() on arrival


@dataclass
class Upload:
    """One resumable upload session."""

    id: str
    uri: str
    metadata: dict[str, Any]
    total: int
    content_type: str
    channel_id: str
    part: str  # the parts of the video resource the final answer holds
    received: int = 0
    sha256: Any = field(default_factory=hashlib.sha256)
    chunks: list[tuple[int, int]] = field(default_factory=list)  # (first byte, length)
    video_id: str | None = None


@dataclass
class Video:
    """A video the fake holds, with statistics tests can set."""

    id: str
    channel_id: str
    upload_id: str
    snippet: dict[str, Any]
    status: dict[str, Any]
    size: int
    sha256: str
    statistics: dict[str, str] = field(
        default_factory=lambda: {"viewCount": "0", "likeCount": "0", "commentCount": "0"}
    )
    thumbnail: tuple[str, int] | None = None  # (content type, bytes)

    def resource(self, parts: set[str]) -> dict[str, Any]:
        """The `youtube#video` resource with the requested parts."""
        resource: dict[str, Any] = {"kind": "youtube#video", "etag": f"e-{self.id}", "id": self.id}
        for part in ("snippet", "status", "statistics"):
            if part in parts:
                resource[part] = dict(getattr(self, part))
        return resource


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    scope: str
    challenge: str | None


@dataclass
class _Access:
    channel_id: str
    expires_at: float  # time.time()


def google_error(status: int, reason: str, message: str) -> dict[str, Any]:
    """Google's API error body."""
    names = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED"}
    names |= {404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}
    return {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "youtube", "reason": reason}],
            "status": names.get(status, "INTERNAL"),
        }
    }


def s256(verifier: str) -> str:
    """The PKCE S256 code challenge of `verifier`."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class FakeYouTube:
    """`async with FakeYouTube() as fake:` serves OAuth at `fake.auth_url`/`fake.token_url` and
    the Data API at `fake.api_base_url`."""

    def __init__(
        self,
        *,
        client_id: str = "fake-client.apps.googleusercontent.com",
        client_secret: str = "fake-secret",
        channel_id: str = "UCfakeChannel00000000001",
        channel_title: str = "Fake Channel",
        token_lifetime_s: int = 3599,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.channels = {channel_id: channel_title}
        self.channel_id = channel_id
        self.token_lifetime_s = token_lifetime_s
        self.requests: list[Received] = []
        self.uploads: dict[str, Upload] = {}
        self.videos: dict[str, Video] = {}
        self._faults: defaultdict[Route, deque[Fault]] = defaultdict(deque)
        self._codes: dict[str, _Grant] = {}
        self._access: dict[str, _Access] = {}
        self._refresh: dict[str, str] = {}  # refresh token → channel id
        self._revoked: set[str] = set()
        self._ids = itertools.count(1)
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    @property
    def auth_url(self) -> str:
        """Google's consent page."""
        return f"{self.base_url}/o/oauth2/v2/auth"

    @property
    def token_url(self) -> str:
        """Google's token endpoint."""
        return f"{self.base_url}/token"

    @property
    def api_base_url(self) -> str:
        """The root the Data API and its uploads live under."""
        return self.base_url

    def fail(self, route: Route, *faults: Fault) -> None:
        """Answer the next requests of `route` with `faults`, in order."""
        self._faults[route].extend(faults)

    def issue_tokens(self, channel_id: str | None = None) -> tuple[str, str]:
        """(access token, refresh token) for a channel, as if it had been connected."""
        refresh = f"1//fake-refresh-{secrets.token_urlsafe(12)}"
        self._refresh[refresh] = channel_id or self.channel_id
        return self._new_access(self._refresh[refresh]), refresh

    def expire(self, access_token: str) -> None:
        """Make an access token expired."""
        self._access[access_token].expires_at = 0.0

    def revoke(self, refresh_token: str) -> None:
        """Revoke a refresh token (and so the grant), as the person could in their account."""
        self._revoked.add(refresh_token)

    def set_statistics(self, video_id: str, *, views: int, likes: int, comments: int) -> None:
        """What videos.list reports as the video's statistics."""
        self.videos[video_id].statistics = {
            "viewCount": str(views),
            "likeCount": str(likes),
            "commentCount": str(comments),
        }

    def routed(self, route: Route) -> list[Received]:
        """The requests of one route, in order."""
        return [r for r in self.requests if r.route is route]

    async def __aenter__(self) -> FakeYouTube:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_get("/o/oauth2/v2/auth", self._authorize)
        app.router.add_post("/token", self._token)
        app.router.add_get("/youtube/v3/channels", self._channels)
        app.router.add_get("/youtube/v3/videos", self._videos_list)
        app.router.add_post("/upload/youtube/v3/videos", self._upload_start)
        app.router.add_put("/upload/youtube/v3/videos", self._upload_put)
        app.router.add_post("/upload/youtube/v3/thumbnails/set", self._thumbnails)
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

    # --- plumbing -------------------------------------------------------------------------

    def _record(self, route: Route, request: web.Request) -> Fault:
        headers = {k.lower(): v for k, v in request.headers.items()}
        query = dict(request.query)
        self.requests.append(
            Received(route, request.method, request.path, query, headers, time.monotonic())
        )
        queue = self._faults[route]
        return queue.popleft() if queue else Fault()

    @staticmethod
    async def _drain(request: web.Request) -> None:
        async for _ in request.content.iter_chunked(64 * 1024):
            pass

    def _error(self, fault: Fault) -> web.Response:
        headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
        body = google_error(fault.status, fault.reason, fault.message)
        return web.json_response(body, status=fault.status, headers=headers)

    async def _late(self, fault: Fault, response: web.StreamResponse) -> web.StreamResponse:
        if fault.hang_s:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), fault.hang_s)
        return response

    def _caller(self, request: web.Request) -> str | None:
        """The channel of the request's bearer token, or None if it is missing or expired."""
        header = request.headers.get("Authorization", "")
        access = self._access.get(header.removeprefix("Bearer ").strip())
        if not header.startswith("Bearer ") or access is None:
            return None
        return access.channel_id if access.expires_at > time.time() else None

    @staticmethod
    def _unauthorized() -> web.Response:
        text = (
            "Request had invalid authentication credentials. Expected OAuth 2 access token, "
            "login cookie or other valid authentication credential."
        )
        body = google_error(401, "authError", text)
        headers = {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'}
        return web.json_response(body, status=401, headers=headers)

    def _new_access(self, channel_id: str) -> str:
        token = f"ya29.fake-{next(self._ids)}-{secrets.token_urlsafe(16)}"
        self._access[token] = _Access(channel_id, time.time() + self.token_lifetime_s)
        return token

    # --- OAuth ----------------------------------------------------------------------------

    async def _authorize(self, request: web.Request) -> web.StreamResponse:
        fault = self._record(Route.AUTHORIZE, request)
        if fault.status:
            return web.Response(status=fault.status, text=f"Error {fault.status}: {fault.reason}")
        q = request.query
        if q.get("client_id") != self.client_id:
            return web.Response(status=401, text="Error 401: invalid_client")
        scopes = q.get("scope", "").split()
        if q.get("response_type") != "code" or UPLOAD_SCOPE not in scopes:
            return web.Response(status=400, text="Error 400: invalid_request")
        challenge = q.get("code_challenge")
        if challenge is not None and q.get("code_challenge_method") != "S256":
            return web.Response(status=400, text="Error 400: invalid_request (S256 only)")
        code = f"4/fake-code-{secrets.token_urlsafe(16)}"
        self._codes[code] = _Grant(self.client_id, q["redirect_uri"], " ".join(scopes), challenge)
        params = {"state": q.get("state", ""), "code": code, "scope": " ".join(scopes)}
        raise web.HTTPFound(_with_query(q["redirect_uri"], params))

    async def _token(self, request: web.Request) -> web.Response:
        fault = self._record(Route.TOKEN, request)
        form = await request.post()
        if fault.status:
            return web.json_response({"error": fault.reason}, status=fault.status)
        if form.get("client_id") != self.client_id or form.get("client_secret") != (
            self.client_secret
        ):
            body = {"error": "invalid_client", "error_description": "Unauthorized"}
            return web.json_response(body, status=401)
        grant_type = str(form.get("grant_type", ""))
        if grant_type == "authorization_code":
            return self._code_grant({k: str(v) for k, v in form.items()})
        if grant_type == "refresh_token":
            return self._refresh_grant(str(form.get("refresh_token", "")))
        return _oauth_error("unsupported_grant_type", f"Invalid grant_type: {grant_type}")

    def _code_grant(self, form: dict[str, str]) -> web.Response:
        grant = self._codes.pop(form.get("code", ""), None)  # single use
        if grant is None:
            return _oauth_error("invalid_grant", "Malformed auth code.")
        if form.get("redirect_uri") != grant.redirect_uri:
            return _oauth_error("redirect_uri_mismatch", "Bad Request")
        if grant.challenge is not None:
            verifier = form.get("code_verifier")
            if not verifier:
                return _oauth_error("invalid_grant", "Missing code verifier.")
            if s256(verifier) != grant.challenge:
                return _oauth_error("invalid_grant", "Invalid code verifier.")
        access, refresh = self.issue_tokens()
        payload = {
            "access_token": access,
            "expires_in": self.token_lifetime_s,
            "refresh_token": refresh,
            "scope": grant.scope,
            "token_type": "Bearer",
        }
        return web.json_response(payload)

    def _refresh_grant(self, refresh_token: str) -> web.Response:
        channel_id = self._refresh.get(refresh_token)
        if channel_id is None or refresh_token in self._revoked:
            return _oauth_error("invalid_grant", "Token has been expired or revoked.")
        payload = {
            "access_token": self._new_access(channel_id),
            "expires_in": self.token_lifetime_s,
            "scope": "https://www.googleapis.com/auth/youtube.upload "
            "https://www.googleapis.com/auth/youtube.readonly",
            "token_type": "Bearer",
        }  # Google sends no new refresh token
        return web.json_response(payload)

    # --- Data API -------------------------------------------------------------------------

    async def _channels(self, request: web.Request) -> web.Response:
        fault = self._record(Route.CHANNELS, request)
        if fault.status:
            return self._error(fault)
        channel_id = self._caller(request)
        if channel_id is None:
            return self._unauthorized()
        if request.query.get("mine") != "true" and "id" not in request.query:
            text = "No filter selected. Expected one of: mine, id, forHandle, forUsername."
            return _api_error(400, "missingRequiredParameter", text)
        mine = request.query.get("mine") == "true"
        ids = [channel_id] if mine else request.query["id"].split(",")
        items = [
            {
                "kind": "youtube#channel",
                "etag": f"c-{cid}",
                "id": cid,
                "snippet": {"title": self.channels[cid], "customUrl": "@fakechannel"},
            }
            for cid in ids
            if cid in self.channels
        ]
        return web.json_response(
            {
                "kind": "youtube#channelListResponse",
                "pageInfo": {"totalResults": len(items), "resultsPerPage": 5},
                "items": items,
            }
        )

    async def _videos_list(self, request: web.Request) -> web.Response:
        fault = self._record(Route.VIDEOS_LIST, request)
        if fault.status:
            return self._error(fault)
        if self._caller(request) is None:
            return self._unauthorized()
        parts = set(request.query.get("part", "").split(","))
        ids = [i for i in request.query.get("id", "").split(",") if i]
        items = [self.videos[i].resource(parts) for i in ids if i in self.videos]
        return web.json_response(
            {
                "kind": "youtube#videoListResponse",
                "pageInfo": {"totalResults": len(items), "resultsPerPage": len(items)},
                "items": items,
            }
        )

    async def _upload_start(self, request: web.Request) -> web.Response:
        fault = self._record(Route.UPLOAD_START, request)
        if fault.status:
            await self._drain(request)
            return self._error(fault)
        channel_id = self._caller(request)
        if channel_id is None:
            return self._unauthorized()
        if request.query.get("uploadType") != "resumable":
            text = "Only resumable uploads are faked."
            return _api_error(400, "badRequest", text)
        metadata = await request.json()
        title = str(metadata.get("snippet", {}).get("title", ""))
        if not title or len(title) > 100 or "<" in title or ">" in title:
            text = "The request metadata specifies an invalid or empty video title."
            return _api_error(400, "invalidTitle", text)
        upload_id = f"fake-upload-{next(self._ids)}-{secrets.token_urlsafe(8)}"
        query = urlencode({"uploadType": "resumable", "upload_id": upload_id})
        uri = f"{self.base_url}/upload/youtube/v3/videos?{query}"
        self.uploads[upload_id] = Upload(
            id=upload_id,
            uri=uri,
            metadata=metadata,
            total=int(request.headers["X-Upload-Content-Length"]),
            content_type=request.headers.get("X-Upload-Content-Type", ""),
            channel_id=channel_id,
            part=request.query.get("part", "snippet,status"),
        )
        headers = {"Location": uri, "X-GUploader-UploadID": upload_id}
        return web.Response(status=200, headers=headers)

    async def _upload_put(self, request: web.Request) -> web.StreamResponse:
        upload = self.uploads.get(request.query.get("upload_id", ""))
        match = _RANGE.fullmatch(request.headers.get("Content-Range", ""))
        if match is None or match.group(1) is None:
            route = Route.UPLOAD_STATUS
        elif upload is not None and int(match.group(2)) + 1 >= upload.total:
            route = Route.UPLOAD_FINAL
        else:
            route = Route.UPLOAD_CHUNK
        fault = self._record(route, request)
        if fault.status:
            await self._drain(request)
            return self._error(fault)
        if self._caller(request) is None:
            await self._drain(request)
            return self._unauthorized()
        if upload is None:
            await self._drain(request)
            text = "The upload session does not exist or has expired."
            return _api_error(404, "notFound", text)
        if upload.video_id is None and match is not None and match.group(1) is not None:
            problem = await self._take_chunk(request, upload, int(match.group(1)))
            if problem:
                return _api_error(400, "badRequest", problem)
        else:
            await self._drain(request)
        return await self._late(fault, self._progress(upload))

    async def _take_chunk(self, request: web.Request, upload: Upload, first: int) -> str | None:
        length = int(request.headers.get("Content-Length", "0"))
        if first != upload.received:
            await self._drain(request)
            return f"The chunk starts at byte {first}; {upload.received} bytes were received."
        final = first + length >= upload.total
        if not final and length % CHUNK_UNIT:
            await self._drain(request)
            return f"A chunk that is not the last must be a multiple of {CHUNK_UNIT} bytes."
        digest, count = upload.sha256.copy(), 0
        async for data in request.content.iter_chunked(64 * 1024):
            digest.update(data)
            count += len(data)
        if count != length:
            return "The chunk is shorter than its Content-Length."
        upload.sha256, upload.received = digest, upload.received + count  # only whole chunks
        upload.chunks.append((first, count))
        if upload.received >= upload.total:
            self._make_video(upload)
        return None

    def _make_video(self, upload: Upload) -> None:
        video_id = secrets.token_urlsafe(8)[:11]
        snippet = dict(upload.metadata.get("snippet", {}))
        snippet |= {
            "channelId": upload.channel_id,
            "channelTitle": self.channels.get(upload.channel_id, ""),
            "publishedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        status = {"uploadStatus": "uploaded", "privacyStatus": "private"}
        status |= dict(upload.metadata.get("status", {}))
        self.videos[video_id] = Video(
            id=video_id,
            channel_id=upload.channel_id,
            upload_id=upload.id,
            snippet=snippet,
            status=status,
            size=upload.received,
            sha256=upload.sha256.hexdigest(),
        )
        upload.video_id = video_id

    def _progress(self, upload: Upload) -> web.Response:
        if upload.video_id is not None:
            parts = set(upload.part.split(","))
            return web.json_response(self.videos[upload.video_id].resource(parts))
        headers = {"Range": f"bytes=0-{upload.received - 1}"} if upload.received else {}
        return web.Response(status=308, headers=headers)

    async def _thumbnails(self, request: web.Request) -> web.StreamResponse:
        fault = self._record(Route.THUMBNAILS, request)
        if fault.status:
            await self._drain(request)
            return self._error(fault)
        channel_id = self._caller(request)
        if channel_id is None:
            await self._drain(request)
            return self._unauthorized()
        video = self.videos.get(request.query.get("videoId", ""))
        body = await request.read()
        if video is None or video.channel_id != channel_id:
            text = "The video that you are trying to update cannot be found."
            return _api_error(404, "videoNotFound", text)
        if request.query.get("uploadType") != "media" or not body:
            text = "Send the image as the body (uploadType=media)."
            return _api_error(400, "mediaBodyRequired", text)
        video.thumbnail = (request.headers.get("Content-Type", ""), len(body))
        url = f"https://i.ytimg.com/vi/{video.id}/default.jpg"
        payload = {
            "kind": "youtube#thumbnailSetResponse",
            "items": [{"default": {"url": url, "width": 120, "height": 90}}],
        }
        return await self._late(fault, web.json_response(payload))


def _api_error(status: int, reason: str, message: str) -> web.Response:
    return web.json_response(google_error(status, reason, message), status=status)


def _oauth_error(error: str, description: str, status: int = 400) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))
