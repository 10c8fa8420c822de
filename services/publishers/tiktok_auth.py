"""TikTok's OAuth client (`TikTokAuth`): Login Kit v2, authorization code with PKCE.

The person consents at `/v2/auth/authorize/` (`client_key`, comma-separated `scope`, PKCE S256);
`POST /v2/oauth/token/` (a form) trades the code, or a refresh token, for tokens. Every refresh
hands out a new refresh token and the old one stops working, so the newest must always be
stored. Token errors look like `{"error": "invalid_grant", ...}`. Posting is
`services.publishers.tiktok.TikTokPublisher`'s.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from services.content import Platform
from services.oauth_types import ConnectedIdentity, OAuthError, RefreshRefused, TokenSet
from services.publishers.tiktok import _RECONNECT, API_BASE_URL, _error, _json

AUTH_URL = "https://www.tiktok.com/v2/auth/authorize/"
SCOPES = "user.info.basic,video.publish,video.upload,video.list"  # video.list: analytics


def _in(seconds: object) -> datetime | None:
    """The UTC time `seconds` from now, if TikTok gave a number."""
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return None
    return datetime.now(UTC) + timedelta(seconds=seconds)


class TikTokAuth:
    """TikTok Login Kit v2: authorization code with PKCE, refresh tokens that rotate."""

    platform: Platform = Platform.TIKTOK
    pkce: bool = True
    scopes: str = SCOPES

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        auth_url: str = AUTH_URL,
        api_base_url: str = API_BASE_URL,
        timeout_s: float = 30.0,
    ) -> None:
        """A client for the app `client_id` (TikTok's `client_key`); call `aclose()`."""
        self._client_key = client_id
        self._client_secret = client_secret
        self._auth_url = auth_url.rstrip("/") + "/"  # TikTok's endpoints end in a slash
        self._http = httpx.AsyncClient(base_url=api_base_url, timeout=timeout_s)

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()

    def authorize_url(self, *, state: str, redirect_uri: str, code_challenge: str | None) -> str:
        """TikTok's consent page for our scopes."""
        params = {
            "client_key": self._client_key,
            "scope": self.scopes,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "state": state,
        }
        if code_challenge is not None:
            params |= {"code_challenge": code_challenge, "code_challenge_method": "S256"}
        query = urllib.parse.urlencode(params, safe=",", quote_via=urllib.parse.quote)
        return f"{self._auth_url}?{query}"

    async def exchange(
        self, *, code: str, redirect_uri: str, code_verifier: str | None
    ) -> list[ConnectedIdentity]:
        """Trade the callback's code for tokens; the one creator account they belong to."""
        form = {"code": code, "grant_type": "authorization_code", "redirect_uri": redirect_uri}
        if code_verifier is not None:
            form["code_verifier"] = code_verifier
        body = await self._token(form, refused=OAuthError)
        tokens = _token_set(body, previous_refresh=None)
        granted = set(tokens.scope.split(","))
        if not granted & {"video.publish", "video.upload"}:
            raise OAuthError(
                f"TikTok was connected without permission to post; {_RECONNECT} "
                "and allow posting videos"
            )
        fields = "open_id,display_name" + (",username" if "user.info.profile" in granted else "")
        user = await self._user(tokens.access_token, fields)
        open_id = str(user.get("open_id") or body.get("open_id") or "")
        if not open_id:
            raise OAuthError("TikTok did not say which account was connected; try again")
        username = str(user.get("username") or "")
        extra = {"scope": tokens.scope} | ({"username": username} if username else {})
        name = str(user.get("display_name") or username or open_id)
        return [
            ConnectedIdentity(external_id=open_id, display_name=name, tokens=tokens, extra=extra)
        ]

    async def refresh(self, tokens: TokenSet) -> TokenSet:
        """New tokens, with the rotated refresh token; RefreshRefused when TikTok says no."""
        if not tokens.refresh_token:
            raise RefreshRefused(f"this TikTok account has no refresh token; {_RECONNECT}")
        form = {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token}
        body = await self._token(form, refused=RefreshRefused)
        return _token_set(body, previous_refresh=tokens.refresh_token)

    async def _token(self, form: dict[str, str], *, refused: type[OAuthError]) -> dict[str, Any]:
        """POST /v2/oauth/token/; `refused` is raised for invalid_grant."""
        form = {"client_key": self._client_key, "client_secret": self._client_secret} | form
        try:
            response = await self._http.post("/v2/oauth/token/", data=form)
        except httpx.HTTPError as exc:
            raise OAuthError(f"could not reach TikTok ({type(exc).__name__}); try again") from exc
        body = _json(response)
        error = body.get("error")
        said = str(body.get("error_description") or error or f"HTTP {response.status_code}")
        if error == "invalid_grant":
            raise refused(f"TikTok refused the sign-in ({said}); {_RECONNECT}")
        if error == "invalid_client":
            raise OAuthError(f"TikTok refused TIKTOK_CLIENT_ID/TIKTOK_CLIENT_SECRET ({said})")
        if error or not response.is_success or not body.get("access_token"):
            raise OAuthError(f"TikTok's token call failed ({said}); try again")
        return body

    async def _user(self, access_token: str, fields: str) -> dict[str, Any]:
        """GET /v2/user/info/ with `fields`."""
        headers = {"Authorization": f"Bearer {access_token}"}
        try:
            response = await self._http.get(
                "/v2/user/info/", params={"fields": fields}, headers=headers
            )
        except httpx.HTTPError as exc:
            raise OAuthError(f"could not reach TikTok ({type(exc).__name__}); try again") from exc
        body = _json(response)
        error = _error(body)
        code = str(error.get("code") or ("ok" if response.is_success else "error"))
        if code != "ok" or not response.is_success:
            said = error.get("message") or f"HTTP {response.status_code}"
            raise OAuthError(f"TikTok would not say who connected ({code}: {said}); try again")
        user = (body.get("data") or {}).get("user")
        return user if isinstance(user, dict) else {}


def _token_set(body: Mapping[str, Any], *, previous_refresh: str | None) -> TokenSet:
    """A TokenSet from a token answer (keeping the old refresh token only if none came)."""
    return TokenSet(
        access_token=str(body["access_token"]),
        refresh_token=str(body.get("refresh_token") or previous_refresh or "") or None,
        expires_at=_in(body.get("expires_in")),
        refresh_expires_at=_in(body.get("refresh_expires_in")),
        scope=str(body.get("scope") or ""),
    )
