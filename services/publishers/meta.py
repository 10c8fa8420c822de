"""Meta Graph API plumbing shared by the Instagram and Facebook publishers (and `meta_auth`).

Meta answers failures as `{"error": {"message", "type", "code", "error_subcode",
"fbtrace_id"}}`, mostly with HTTP 400 whatever the cause, so errors are classified by `code`:

- 190 (OAuthException): the token is invalid or expired → `Tokens.refresh()` once and resend
  (Meta checks the token before acting, so even a publish call is safe to resend); refused
  again → `AccountNeedsReconnect`.
- 10 and 200-299: a permission is missing → `AccountNeedsReconnect` (connecting again asks for
  it).
- HTTP 429, 4/17/32/613 and 80001-80009 (rate limits): nothing was done → back off and resend.
- HTTP 5xx, 1/2 or `is_transient` (Meta failing): back off and resend, except for the call that
  makes a post public, where the post may exist → `Unconfirmed`.
- anything else → `PublishError` with Meta's own words (`error_user_msg` when it has one).

No answer at all (a timeout, a dropped connection) is resent only when the call has no effect
(reads) or never left (connect errors); otherwise it is `RetryLater` for calls that only make
unpublished objects and `Unconfirmed` for the publish call.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx
import structlog

from services.content import Platform, PlatformMeta
from services.oauth_types import RefreshRefused
from services.platforms import DISPLAY_NAMES
from services.publishing import (
    AccountNeedsReconnect,
    PublishError,
    RetryLater,
    Tokens,
    Unconfirmed,
)

log = structlog.get_logger(__name__)

Json = dict[str, Any]
Body = Callable[[], Any]  # makes a fresh request body for each send (a stream is read once)

_RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, *range(80001, 80010)})
_TRANSIENT_CODES = frozenset({1, 2})
_TOKEN_CODE = 190
_BASE_BACKOFF_S = 0.5


class Call(StrEnum):
    """What resending a call could do, which decides when it may be resent."""

    READ = "read"  # no effect: resend on any transient failure
    CREATE = "create"  # makes an unpublished object: resend only when Meta said it failed
    PUBLISH = "publish"  # makes the post public: resend only when Meta refused it outright


@dataclass(frozen=True)
class GraphError:
    """One error answer from the Graph API."""

    status: int
    message: str
    code: int | None = None
    subcode: int | None = None
    kind: str = ""
    transient: bool = False
    trace: str = ""

    @property
    def rate_limited(self) -> bool:
        """Meta refused the call for its rate; nothing was done."""
        return self.status == 429 or self.code in _RATE_LIMIT_CODES

    @property
    def retryable(self) -> bool:
        """Worth sending again after a pause."""
        return (
            self.rate_limited
            or self.status >= 500
            or self.code in _TRANSIENT_CODES
            or self.transient
        )


def parse_error(response: httpx.Response) -> GraphError | None:
    """The error in a Graph answer, or None if it succeeded."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if response.is_success and not isinstance(error, dict):
        return None
    if not isinstance(error, dict):
        debug = body.get("debug_info") if isinstance(body, dict) else None  # rupload's shape
        text = debug.get("message") if isinstance(debug, dict) else None
        return GraphError(response.status_code, str(text or response.reason_phrase))
    code, subcode = error.get("code"), error.get("error_subcode")
    return GraphError(
        status=response.status_code,
        message=str(error.get("error_user_msg") or error.get("message") or "unknown error"),
        code=code if isinstance(code, int) else None,
        subcode=subcode if isinstance(subcode, int) else None,
        kind=str(error.get("type", "")),
        transient=error.get("is_transient") is True,
        trace=str(error.get("fbtrace_id", "")),
    )


def retry_hint(response: httpx.Response) -> float | None:
    """Seconds Meta asks us to wait: Retry-After, else the business-use-case estimate."""
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        usage = json.loads(response.headers.get("X-Business-Use-Case-Usage", ""))
        minutes = [
            float(entry.get("estimated_time_to_regain_access", 0))
            for entries in usage.values()
            for entry in entries
        ]
    except (ValueError, AttributeError, TypeError):
        return None
    return max(minutes) * 60 if minutes and max(minutes) > 0 else None


def post_text(meta: PlatformMeta) -> str:
    """The caption with its hashtags after it, as Instagram and Facebook show it."""
    tags = " ".join(meta.hashtags)
    return "\n".join(part for part in (meta.caption.strip(), tags) if part)


class GraphClient:
    """Graph API calls for one connected account, with its token refreshed and errors classified.

    `http` belongs to the caller, who opens and closes it.
    """

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        graph_url: str,
        tokens: Tokens,
        platform: Platform,
        max_attempts: int = 5,
        max_wait_s: float = 60.0,
        timeout_s: float = 30.0,
    ) -> None:
        self._http = http
        self._graph_url = graph_url.rstrip("/")
        self._tokens = tokens
        self._name = DISPLAY_NAMES[platform]
        self._platform = platform
        self._max_attempts = max(1, max_attempts)
        self._max_wait_s = max_wait_s
        self._timeout = httpx.Timeout(timeout_s)

    async def get(self, path: str, **params: str) -> Json:
        """GET a Graph path (resent freely: reads have no effect)."""
        return await self.request("GET", self.url(path), call=Call.READ, params=params)

    async def post(self, path: str, data: Mapping[str, str], *, call: Call) -> Json:
        """POST form fields to a Graph path; `call` says whether it may be resent."""
        return await self.request("POST", self.url(path), call=call, data=dict(data))

    def url(self, path: str) -> str:
        """The full URL of a Graph path."""
        return f"{self._graph_url}/{path.lstrip('/')}"

    async def request(
        self,
        method: str,
        url: str,
        *,
        call: Call,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        body: Body | None = None,
        headers: Mapping[str, str] | None = None,
        scheme: str = "Bearer",
        max_attempts: int | None = None,
    ) -> Json:
        """Send one call, resending it as `call` allows; its JSON answer."""
        attempts = max(1, max_attempts or self._max_attempts)
        token = await self._tokens.access_token()
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            hint: float | None = None
            try:
                response = await self._http.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    content=body() if body is not None else None,
                    headers={**(headers or {}), "Authorization": f"{scheme} {token}"},
                    timeout=self._timeout,
                )
            except httpx.TransportError as exc:
                self._check_resendable(exc, call)
                reason = f"no answer from {self._name} ({type(exc).__name__})"
            else:
                error = parse_error(response)
                if error is None:
                    return self._json(response, call)
                if error.code == _TOKEN_CODE:
                    if refreshed:
                        raise self._reconnect(error)
                    token, refreshed = await self._refresh(), True
                    attempt -= 1  # a refused token is not the platform failing
                    continue
                if not error.retryable:
                    log.warning(
                        "meta.error", code=error.code, subcode=error.subcode, trace=error.trace
                    )
                    raise self._permanent(error)
                if call is Call.PUBLISH and not error.rate_limited:
                    raise Unconfirmed(
                        f"{self._name} failed while publishing ({self._describe(error)}); "
                        "the post may exist, so it is checked before any new attempt."
                    )
                hint = retry_hint(response)
                reason = f"{self._name} is busy ({self._describe(error)})"
                if usage := response.headers.get("X-App-Usage"):
                    log.info("meta.app_usage", usage=usage, code=error.code)
            too_long = hint is not None and hint > self._max_wait_s
            if attempt >= attempts or too_long:
                raise RetryLater(f"{reason}; trying again later.", retry_after=hint)
            backoff = min(self._max_wait_s, _BASE_BACKOFF_S * 2 ** (attempt - 1))
            wait = hint if hint is not None else backoff
            log.info("meta.retry", url=url, attempt=attempt, wait_s=wait, reason=reason)
            await asyncio.sleep(wait)

    def _check_resendable(self, exc: httpx.TransportError, call: Call) -> None:
        never_sent = httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout
        if call is Call.READ or isinstance(exc, never_sent):
            return  # no effect, or it never left
        if call is Call.PUBLISH:
            raise Unconfirmed(
                f"{self._name} did not answer the publish call ({type(exc).__name__}); "
                "the post may exist, so it is checked before any new attempt."
            ) from exc
        raise RetryLater(
            f"{self._name} did not answer ({type(exc).__name__}); trying again later."
        ) from exc

    async def _refresh(self) -> str:
        try:
            return await self._tokens.refresh()
        except RefreshRefused as exc:
            raise AccountNeedsReconnect(
                f"{self._name} no longer accepts this account's login: "
                f"run /connect {self._platform.value} again."
            ) from exc

    def _reconnect(self, error: GraphError) -> AccountNeedsReconnect:
        return AccountNeedsReconnect(
            f"{self._name} refused this account's login ({error.message}): "
            f"run /connect {self._platform.value} again."
        )

    def _permanent(self, error: GraphError) -> PublishError:
        if error.code == 10 or (error.code is not None and 200 <= error.code <= 299):
            return AccountNeedsReconnect(
                f"{self._name} refused for lack of a permission ({error.message}): run "
                f"/connect {self._platform.value} again and allow everything it asks for."
            )
        return PublishError(f"{self._name} refused the post: {self._describe(error)}.")

    @staticmethod
    def _describe(error: GraphError) -> str:
        code = f", code {error.code}" if error.code is not None else ""
        sub = f"/{error.subcode}" if error.subcode is not None else ""
        return f"{error.message.rstrip('.')} (HTTP {error.status}{code}{sub})"

    def _json(self, response: httpx.Response, call: Call) -> Json:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            return body
        text = f"{self._name} sent an answer that is not JSON"
        if call is Call.PUBLISH:
            raise Unconfirmed(f"{text} to the publish call; it is checked before any new attempt.")
        raise RetryLater(f"{text}; trying again later.")


@asynccontextmanager
async def http_client(
    client: httpx.AsyncClient | None, timeout_s: float
) -> AsyncIterator[httpx.AsyncClient]:
    """`client` if the caller gave one (and keeps it), else one of our own for this block."""
    if client is not None:
        yield client
        return
    async with httpx.AsyncClient(timeout=httpx.Timeout(timeout_s)) as own:
        yield own


class GraphPublisher:
    """What the Instagram and Facebook publishers share: settings and a Graph client per call."""

    platform: Platform

    def __init__(
        self,
        *,
        graph_url: str,
        tokens: Tokens,
        poll_interval_s: float = 5.0,
        poll_timeout_s: float = 600.0,
        max_attempts: int = 5,
        max_wait_s: float = 60.0,
        timeout_s: float = 30.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._graph_url = graph_url
        self._tokens = tokens
        self._poll_interval_s = poll_interval_s
        self._poll_timeout_s = poll_timeout_s
        self._max_attempts = max(1, max_attempts)
        self._max_wait_s = max_wait_s
        self._timeout_s = timeout_s
        self._client = client

    @asynccontextmanager
    async def _graph(self) -> AsyncIterator[GraphClient]:
        async with http_client(self._client, self._timeout_s) as http:
            yield GraphClient(
                http=http,
                graph_url=self._graph_url,
                tokens=self._tokens,
                platform=self.platform,
                max_attempts=self._max_attempts,
                max_wait_s=self._max_wait_s,
                timeout_s=self._timeout_s,
            )
