"""YouTube's OAuth client (`YouTubeAuth`): Google OAuth 2.0 with PKCE, asking for offline access.

It trades the consent page's code for tokens, checks that uploading was granted, names the
channel(s) those tokens reach, and refreshes access tokens (Google keeps the refresh token). The
uploads themselves are `services.publishers.youtube.YouTubePublisher`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import httpx

from services.content import Platform
from services.oauth_types import ConnectedIdentity, OAuthError, RefreshRefused, TokenSet
from services.publishers.youtube import Json, _error_fields

SCOPES = (
    "https://www.googleapis.com/auth/youtube.upload "
    "https://www.googleapis.com/auth/youtube.readonly"
)
UPLOAD_SCOPE = "https://www.googleapis.com/auth/youtube.upload"


class YouTubeAuth:
    """Google's OAuth 2.0 authorization-code flow with PKCE, for one YouTube channel per grant."""

    platform = Platform.YOUTUBE
    pkce = True

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        auth_url: str,
        token_url: str,
        api_base_url: str,
        timeout_s: float = 30.0,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._auth_url = auth_url
        self._token_url = token_url
        self._api_base_url = api_base_url.rstrip("/")
        self._timeout_s = timeout_s

    def authorize_url(self, *, state: str, redirect_uri: str, code_challenge: str | None) -> str:
        """Google's consent page, asking for offline access (a refresh token) every time."""
        params = {
            "client_id": self._client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": SCOPES,
            "state": state,
            "access_type": "offline",
            "prompt": "consent",  # without it Google sends a refresh token only the first time
            "include_granted_scopes": "true",
        }
        if code_challenge is not None:
            params |= {"code_challenge": code_challenge, "code_challenge_method": "S256"}
        return f"{self._auth_url}{'&' if '?' in self._auth_url else '?'}{urlencode(params)}"

    async def exchange(
        self, *, code: str, redirect_uri: str, code_verifier: str | None
    ) -> list[ConnectedIdentity]:
        """Trade the code for tokens, then name the channel they give access to."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            **({"code_verifier": code_verifier} if code_verifier is not None else {}),
        }
        async with httpx.AsyncClient(timeout=self._timeout_s) as client:
            tokens = _token_set(await self._token_call(client, form), None)
            if tokens.scope and UPLOAD_SCOPE not in tokens.scope.split():
                raise OAuthError(
                    "Google did not grant permission to upload videos. Run /connect youtube "
                    "again and leave 'Manage your YouTube videos' ticked."
                )
            channels = await self._my_channels(client, tokens.access_token)
        if not channels:
            raise OAuthError(
                "This Google account has no YouTube channel yet: create one on youtube.com, "
                "then run /connect youtube again."
            )
        return [
            ConnectedIdentity(
                external_id=str(channel["id"]),
                display_name=str(channel.get("snippet", {}).get("title") or channel["id"]),
                tokens=tokens,
                extra={"custom_url": str(channel.get("snippet", {}).get("customUrl", ""))},
            )
            for channel in channels
        ]

    async def refresh(self, tokens: TokenSet) -> TokenSet:
        """A new access token; Google keeps the refresh token, so the old one is kept too."""
        if not tokens.refresh_token:
            raise RefreshRefused(
                "This YouTube connection has no refresh token: run /connect youtube again."
            )
        form = {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token}
        async with httpx.AsyncClient(timeout=self._timeout_s) as client:
            payload = await self._token_call(client, form)
        return _token_set(payload, tokens)

    async def _token_call(self, client: httpx.AsyncClient, form: Mapping[str, str]) -> Json:
        data = {**form, "client_id": self._client_id, "client_secret": self._client_secret}
        try:
            response = await client.post(self._token_url, data=data)
            payload = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OAuthError(
                f"Could not talk to Google's token service ({exc}); try again."
            ) from exc
        if response.status_code == 200 and isinstance(payload, dict):
            return payload
        error = str(payload.get("error", "")) if isinstance(payload, dict) else ""
        detail = str(payload.get("error_description", "")) if isinstance(payload, dict) else ""
        if error == "invalid_grant" and form["grant_type"] == "refresh_token":
            raise RefreshRefused(
                f"Google no longer accepts this YouTube connection ({detail or error}): "
                "run /connect youtube again."
            )
        raise OAuthError(
            f"Google refused the sign-in ({error or response.status_code}: {detail}). "
            "Run /connect youtube again."
        )

    async def _my_channels(self, client: httpx.AsyncClient, access_token: str) -> list[Json]:
        try:
            response = await client.get(
                f"{self._api_base_url}/youtube/v3/channels",
                params={"part": "snippet", "mine": "true"},
                headers={"Authorization": f"Bearer {access_token}"},
            )
            payload = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OAuthError(f"Could not reach YouTube ({exc}); try again.") from exc
        if response.status_code != 200:
            message = _error_fields(payload)[1] or response.reason_phrase
            raise OAuthError(f"YouTube would not name your channel: {message}")
        return list(payload.get("items", []))


def _token_set(payload: Json, previous: TokenSet | None) -> TokenSet:
    """Google's token answer as a TokenSet; what it leaves out is kept from `previous`."""
    now = datetime.now(UTC)
    old = previous or TokenSet(access_token="")
    expires_in = payload.get("expires_in")
    refresh_expires_in = payload.get("refresh_token_expires_in")  # only for time-limited grants
    return TokenSet(
        access_token=str(payload["access_token"]),
        refresh_token=str(payload.get("refresh_token") or old.refresh_token or "") or None,
        expires_at=now + timedelta(seconds=int(expires_in)) if expires_in else None,
        refresh_expires_at=(
            now + timedelta(seconds=int(refresh_expires_in))
            if refresh_expires_in
            else old.refresh_expires_at
        ),
        scope=str(payload.get("scope") or old.scope),
    )
