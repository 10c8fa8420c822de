"""Facebook Login (`FacebookLoginAuth`): connects Instagram professional accounts or Facebook Pages.

`SCOPES` holds the permissions asked for on each platform. A login trades the dialog's code for
a short-lived user token, then a long-lived one (about 60 days), checks every permission was
granted, and lists the person's Pages: Facebook identities carry Page tokens, Instagram ones the
user token. Errors are read with `services.publishers.meta`'s Graph plumbing, which the
publishers share.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from types import MappingProxyType
from urllib.parse import urlencode

import httpx

from services.content import Platform
from services.models import utcnow
from services.oauth_types import ConnectedIdentity, OAuthError, RefreshRefused, TokenSet
from services.platforms import DISPLAY_NAMES
from services.publishers.meta import _TOKEN_CODE, Json, http_client, parse_error

# Long-lived user tokens last about 60 days; Meta sometimes leaves expires_in out.
_LONG_LIVED = timedelta(days=60)


SCOPES: Mapping[Platform, tuple[str, ...]] = MappingProxyType(
    {
        Platform.INSTAGRAM: (
            "instagram_basic",
            "instagram_content_publish",
            "pages_show_list",
            "pages_read_engagement",
            "business_management",
            "instagram_manage_insights",  # the analytics' media insights
        ),
        Platform.FACEBOOK: (
            "pages_show_list",
            "pages_manage_posts",
            "pages_read_engagement",
            "publish_video",
            "read_insights",  # the analytics' video insights
        ),
    }
)


class FacebookLoginAuth:
    """Facebook Login for Instagram professional accounts or Facebook Pages (no PKCE).

    Instagram identities carry the long-lived user token (about 60 days, extended by `refresh`);
    Facebook identities carry Page tokens, which do not expire.
    """

    pkce = False

    def __init__(
        self,
        *,
        platform: Platform,
        client_id: str,
        client_secret: str,
        auth_url: str,
        graph_url: str,
        client: httpx.AsyncClient | None = None,
        timeout_s: float = 30.0,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        if platform not in SCOPES:
            raise ValueError(f"Facebook Login does not connect {platform.value}")
        self.platform = platform
        self._name = DISPLAY_NAMES[platform]
        self._client_id = client_id
        self._client_secret = client_secret
        self._auth_url = auth_url
        self._graph_url = graph_url.rstrip("/")
        self._client = client
        self._timeout_s = timeout_s
        self._now = now

    def authorize_url(self, *, state: str, redirect_uri: str, code_challenge: str | None) -> str:
        """The Facebook Login dialog asking for this platform's permissions."""
        query = {
            "client_id": self._client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "response_type": "code",
            "scope": ",".join(SCOPES[self.platform]),
            "auth_type": "rerequest",  # ask again for permissions declined last time
        }
        return f"{self._auth_url}?{urlencode(query)}"

    async def exchange(
        self, *, code: str, redirect_uri: str, code_verifier: str | None
    ) -> list[ConnectedIdentity]:
        """Code → short-lived → long-lived user token → the Pages (and their IG accounts)."""
        async with http_client(self._client, self._timeout_s) as http:
            short = await self._get(
                http,
                "oauth/access_token",
                {
                    "client_id": self._client_id,
                    "client_secret": self._client_secret,
                    "redirect_uri": redirect_uri,
                    "code": code,
                },
            )
            user = await self._long_lived(http, str(short["access_token"]))
            granted = await self._granted(http, user.access_token)
            user = TokenSet(user.access_token, expires_at=user.expires_at, scope=",".join(granted))
            pages = await self._pages(http, user.access_token)
        if self.platform is Platform.FACEBOOK:
            identities = [
                ConnectedIdentity(
                    external_id=str(page["id"]),
                    display_name=str(page.get("name", page["id"])),
                    tokens=TokenSet(str(page["access_token"]), scope=user.scope),
                    extra={"page_id": str(page["id"])},
                )
                for page in pages
                if page.get("access_token")
            ]
            advice = "make sure you manage a Facebook Page and select it when connecting"
        else:
            identities = [
                ConnectedIdentity(
                    external_id=str(page["instagram_business_account"]["id"]),
                    display_name="@"
                    + str(page["instagram_business_account"].get("username", "instagram")),
                    tokens=user,
                    extra={"page_id": str(page["id"])},
                )
                for page in pages
                if isinstance(page.get("instagram_business_account"), dict)
            ]
            advice = (
                "link an Instagram professional (business or creator) account to one of your "
                "Facebook Pages, and select that Page when connecting"
            )
        if not identities:
            raise OAuthError(
                f"This login gave no {self._name} account to publish to: {advice}, "
                f"then run /connect {self.platform.value} again."
            )
        return identities

    async def refresh(self, tokens: TokenSet) -> TokenSet:
        """A fresh long-lived user token; Page tokens (no expiry) come back as they are."""
        if tokens.expires_at is None:
            return tokens
        if tokens.expires_at <= self._now():
            raise RefreshRefused(self._expired())
        async with http_client(self._client, self._timeout_s) as http:
            fresh = await self._long_lived(http, tokens.access_token)
        return TokenSet(fresh.access_token, expires_at=fresh.expires_at, scope=tokens.scope)

    async def _long_lived(self, http: httpx.AsyncClient, token: str) -> TokenSet:
        answer = await self._get(
            http,
            "oauth/access_token",
            {
                "grant_type": "fb_exchange_token",
                "client_id": self._client_id,
                "client_secret": self._client_secret,
                "fb_exchange_token": token,
            },
        )
        expires_in = answer.get("expires_in")
        lifetime = timedelta(seconds=int(expires_in)) if expires_in else _LONG_LIVED
        return TokenSet(str(answer["access_token"]), expires_at=self._now() + lifetime)

    async def _granted(self, http: httpx.AsyncClient, token: str) -> list[str]:
        answer = await self._get(http, "me/permissions", {"access_token": token})
        granted = [
            str(p.get("permission"))
            for p in answer.get("data", [])
            if isinstance(p, dict) and p.get("status") == "granted"
        ]
        missing = [scope for scope in SCOPES[self.platform] if scope not in granted]
        if missing:
            raise OAuthError(
                f"{self._name} needs these permissions, which were not granted: "
                f"{', '.join(missing)}. Run /connect {self.platform.value} again and allow them."
            )
        return granted

    async def _pages(self, http: httpx.AsyncClient, token: str) -> list[Json]:
        fields = "id,name,access_token,instagram_business_account{id,username}"
        answer = await self._get(http, "me/accounts", {"fields": fields, "access_token": token})
        pages = [p for p in answer.get("data", []) if isinstance(p, dict)]
        for _ in range(20):  # a person manages a handful of Pages; stop runaway paging
            following = answer.get("paging", {}).get("next")
            if not following:
                break
            answer = await self._get(http, str(following), None)  # `next` has the query
            pages += [p for p in answer.get("data", []) if isinstance(p, dict)]
        return [p for p in pages if p.get("id")]

    async def _get(
        self, http: httpx.AsyncClient, path: str, params: Mapping[str, str] | None
    ) -> Json:
        url = path if "://" in path else f"{self._graph_url}/{path}"
        try:
            response = await http.get(url, params=params)
        except httpx.TransportError as exc:
            raise OAuthError(
                f"Could not reach Facebook ({type(exc).__name__}); try /connect "
                f"{self.platform.value} again in a minute."
            ) from exc
        error = parse_error(response)
        if error is not None and error.code == _TOKEN_CODE:
            raise RefreshRefused(self._expired())
        if error is not None:
            raise OAuthError(
                f"Facebook refused the login ({error.message}); run /connect "
                f"{self.platform.value} again."
            )
        body = response.json()
        if not isinstance(body, dict):
            raise OAuthError("Facebook sent an answer that is not JSON; try again in a minute.")
        return body

    def _expired(self) -> str:
        return (
            f"The {self._name} login has expired or was revoked: "
            f"run /connect {self.platform.value} again."
        )
