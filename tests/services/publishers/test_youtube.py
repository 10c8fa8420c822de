"""YouTube: Google OAuth and resumable uploads with the real google-api-python-client, against
the loopback fake in tests/fakes/youtube_server.py."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from services.content import Platform, PlatformMeta
from services.oauth_types import ConnectedIdentity, OAuthError, RefreshRefused, TokenSet
from services.publishers.youtube import YouTubePublisher, video_body
from services.publishers.youtube_auth import SCOPES, YouTubeAuth
from services.publishing import (
    AccountNeedsReconnect,
    PublishError,
    PublishRequest,
    RetryLater,
    Unconfirmed,
)
from tests.fakes.youtube_server import FakeYouTube, Fault, Route, s256

CHUNK = 256 * 1024
SIZE = 8 * CHUNK + 1000  # eight whole chunks and a short last one
OFFSETS = list(range(0, SIZE, CHUNK))
REDIRECT = "http://127.0.0.1:9/oauth/youtube/callback"
VERIFIER = "v" * 43 + "-verifier"


class RefreshingTokens:
    """The Tokens port over one TokenSet, refreshed through YouTubeAuth."""

    def __init__(self, auth: YouTubeAuth, tokens: TokenSet) -> None:
        self.auth = auth
        self.tokens = tokens
        self.refreshes = 0

    async def access_token(self) -> str:
        return self.tokens.access_token

    async def refresh(self) -> str:
        self.refreshes += 1
        try:
            self.tokens = await self.auth.refresh(self.tokens)
        except RefreshRefused as exc:
            raise AccountNeedsReconnect(str(exc)) from exc
        return self.tokens.access_token


class Checkpoints:
    """A Checkpoint that notes each reference and how many bytes YouTube had by then."""

    def __init__(self, fake: FakeYouTube) -> None:
        self.fake = fake
        self.saved: list[tuple[str, int]] = []

    async def __call__(self, remote_ref: str) -> None:
        sent = len(self.fake.routed(Route.UPLOAD_CHUNK)) + len(self.fake.routed(Route.UPLOAD_FINAL))
        self.saved.append((remote_ref, sent))


@pytest.fixture
async def fake() -> AsyncIterator[FakeYouTube]:
    async with FakeYouTube() as server:
        yield server


@pytest.fixture
def auth(fake: FakeYouTube) -> YouTubeAuth:
    return YouTubeAuth(
        client_id=fake.client_id,
        client_secret=fake.client_secret,
        auth_url=fake.auth_url,
        token_url=fake.token_url,
        api_base_url=fake.api_base_url,
    )


async def consent(auth: YouTubeAuth, *, state: str = "st4te") -> str:
    """Follow authorize_url to the fake's consent page; the code its redirect carries."""
    url = auth.authorize_url(state=state, redirect_uri=REDIRECT, code_challenge=s256(VERIFIER))
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == [state]
    return query["code"][0]


async def connect(auth: YouTubeAuth) -> list[ConnectedIdentity]:
    code = await consent(auth)
    return await auth.exchange(code=code, redirect_uri=REDIRECT, code_verifier=VERIFIER)


@pytest.fixture
async def tokens(auth: YouTubeAuth) -> RefreshingTokens:
    (identity,) = await connect(auth)
    return RefreshingTokens(auth, identity.tokens)


def publisher(fake: FakeYouTube, tokens: RefreshingTokens, **kwargs: Any) -> YouTubePublisher:
    settings: dict[str, Any] = {"chunk_size": CHUNK, "backoff_s": 0.01, "timeout_s": 10.0}
    return YouTubePublisher(api_base_url=fake.api_base_url, tokens=tokens, **settings | kwargs)


def make_request(
    tmp_path: Path,
    *,
    size: int = SIZE,
    duration_s: float = 30.0,
    width: int = 1080,
    height: int = 1920,
    title: str = "Our autumn menu",
    options: Mapping[str, str] | None = None,
) -> PublishRequest:
    video, thumbnail = tmp_path / "video.mp4", tmp_path / "thumbnail.png"
    if not video.exists():
        video.write_bytes(os.urandom(size))
        thumbnail.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(2000))
    meta = PlatformMeta(
        platform=Platform.YOUTUBE,
        title=title,
        caption="Pumpkin soup is back.",
        hashtags=("#autumn", "#menu"),
    )
    return PublishRequest(
        publication_id=7,
        idempotency_key="v3:a1",
        draft_id=2,
        version=1,
        video_path=video,
        thumbnail_path=thumbnail,
        meta=meta,
        duration_s=duration_s,
        width=width,
        height=height,
        account_id="UCfakeChannel00000000001",
        options=dict(options or {}),
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- OAuth ------------------------------------------------------------------------------------


def test_authorize_url_asks_for_offline_upload_access(fake: FakeYouTube, auth: YouTubeAuth) -> None:
    url = auth.authorize_url(state="s", redirect_uri=REDIRECT, code_challenge="abc")
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query == {
        "client_id": fake.client_id,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": SCOPES,
        "state": "s",
        "access_type": "offline",
        "prompt": "consent",
        "include_granted_scopes": "true",
        "code_challenge": "abc",
        "code_challenge_method": "S256",
    }
    assert auth.pkce is True


async def test_connect_names_the_channel_and_keeps_tokens(
    fake: FakeYouTube, auth: YouTubeAuth
) -> None:
    before = datetime.now(UTC)
    (identity,) = await connect(auth)
    assert (identity.external_id, identity.display_name) == (fake.channel_id, "Fake Channel")
    tokens = identity.tokens
    assert tokens.access_token.startswith("ya29.") and tokens.refresh_token
    assert tokens.expires_at is not None and tokens.expires_at.tzinfo is not None
    assert before + timedelta(seconds=3590) < tokens.expires_at < before + timedelta(seconds=3610)
    assert "youtube.upload" in tokens.scope
    channels = fake.routed(Route.CHANNELS)
    assert [r.query for r in channels] == [{"part": "snippet", "mine": "true"}]
    assert channels[0].headers["authorization"] == f"Bearer {tokens.access_token}"


async def test_a_wrong_pkce_verifier_is_refused(auth: YouTubeAuth) -> None:
    code = await consent(auth)
    with pytest.raises(OAuthError, match="code verifier"):
        await auth.exchange(code=code, redirect_uri=REDIRECT, code_verifier="w" * 43)


async def test_refresh_keeps_the_refresh_token(fake: FakeYouTube, auth: YouTubeAuth) -> None:
    (identity,) = await connect(auth)
    fresh = await auth.refresh(identity.tokens)
    assert fresh.access_token != identity.tokens.access_token
    assert fresh.refresh_token == identity.tokens.refresh_token
    assert fresh.expires_at is not None and fresh.expires_at > datetime.now(UTC)


async def test_a_revoked_grant_must_be_connected_again(
    fake: FakeYouTube, auth: YouTubeAuth
) -> None:
    (identity,) = await connect(auth)
    assert identity.tokens.refresh_token is not None
    fake.revoke(identity.tokens.refresh_token)
    with pytest.raises(RefreshRefused, match="/connect youtube"):
        await auth.refresh(identity.tokens)


# --- uploads ----------------------------------------------------------------------------------


async def test_publishes_a_short_once(
    fake: FakeYouTube, tokens: RefreshingTokens, tmp_path: Path
) -> None:
    request = make_request(tmp_path, options={"privacy_status": "unlisted", "category_id": "27"})
    checkpoints = Checkpoints(fake)
    result = await publisher(fake, tokens).publish(request, checkpoints)

    ((upload_id, upload),) = fake.uploads.items()
    ((video_id, video),) = fake.videos.items()
    assert result.external_id == video_id
    assert result.url == f"https://youtube.com/shorts/{video_id}"
    assert checkpoints.saved == [(upload.uri, 0)]  # saved before any byte was sent
    assert (video.upload_id, video.size, video.sha256) == (
        upload_id,
        SIZE,
        sha256(request.video_path),
    )
    assert [length for _, length in upload.chunks] == [CHUNK] * 8 + [1000]
    assert upload.content_type == "video/mp4"
    assert video.snippet["title"] == "Our autumn menu #Shorts"
    assert video.snippet["description"] == "Pumpkin soup is back.\n#autumn #menu"
    assert video.snippet["tags"] == ["autumn", "menu"]
    assert video.snippet["categoryId"] == "27"
    assert video.status["privacyStatus"] == "unlisted"
    assert video.status["selfDeclaredMadeForKids"] is False
    assert video.thumbnail == ("image/png", request.thumbnail_path.stat().st_size)
    assert all(r.headers["authorization"].startswith("Bearer ya29.") for r in fake.requests[2:])


@pytest.mark.parametrize(
    ("width", "height", "duration_s"), [(1920, 1080, 30.0), (1080, 1920, 90.0)]
)
async def test_only_short_vertical_videos_are_tagged_shorts(
    fake: FakeYouTube,
    tokens: RefreshingTokens,
    tmp_path: Path,
    width: int,
    height: int,
    duration_s: float,
) -> None:
    request = make_request(tmp_path, size=1000, width=width, height=height, duration_s=duration_s)
    result = await publisher(fake, tokens).publish(request)
    video = fake.videos[result.external_id]
    assert result.url == f"https://www.youtube.com/watch?v={result.external_id}"
    assert video.snippet["title"] == "Our autumn menu"
    assert "shorts" not in video.snippet["description"].lower()
    assert video.status["privacyStatus"] == "private"
    assert video.snippet["categoryId"] == "22"


def test_shorts_goes_to_the_description_when_the_title_is_full(tmp_path: Path) -> None:
    body = video_body(make_request(tmp_path, size=10, title="x" * 95))
    assert body["snippet"]["title"] == "x" * 95
    assert body["snippet"]["description"].endswith("#autumn #menu #Shorts")
    already = video_body(make_request(tmp_path, size=10, title="Soup #shorts"))
    assert already["snippet"]["title"] == "Soup #shorts"
    assert "Shorts" not in already["snippet"]["description"]


async def test_an_expired_token_is_refreshed_once(
    fake: FakeYouTube, tokens: RefreshingTokens, tmp_path: Path
) -> None:
    fake.expire(tokens.tokens.access_token)
    result = await publisher(fake, tokens).publish(make_request(tmp_path))
    assert tokens.refreshes == 1
    assert len(fake.routed(Route.UPLOAD_START)) == 2  # the 401, then the same step again
    assert list(fake.videos) == [result.external_id]


async def test_429_waits_for_retry_after(
    fake: FakeYouTube, tokens: RefreshingTokens, tmp_path: Path
) -> None:
    fake.fail(Route.UPLOAD_CHUNK, Fault(), Fault.error(429, "rateLimitExceeded", retry_after=1))
    request = make_request(tmp_path)
    await publisher(fake, tokens).publish(request)
    chunks = fake.routed(Route.UPLOAD_CHUNK)
    after_429 = next(r for r in fake.requests if r.at > chunks[1].at)
    assert after_429.at - chunks[1].at >= 0.95
    (video,) = fake.videos.values()
    assert video.sha256 == sha256(request.video_path)


async def test_repeated_server_errors_become_retry_later(
    fake: FakeYouTube, tokens: RefreshingTokens, tmp_path: Path
) -> None:
    fake.fail(Route.UPLOAD_START, *[Fault.error(500, "backendError")] * 3)
    with pytest.raises(RetryLater) as caught:
        await publisher(fake, tokens, max_attempts=3).publish(make_request(tmp_path))
    assert caught.value.retry_after is not None
    assert len(fake.routed(Route.UPLOAD_START)) == 3
    assert not fake.videos


async def test_a_long_retry_after_is_not_slept(
    fake: FakeYouTube, tokens: RefreshingTokens, tmp_path: Path
) -> None:
    fake.fail(Route.UPLOAD_START, Fault.error(503, "backendError", retry_after=3600))
    with pytest.raises(RetryLater) as caught:
        await publisher(fake, tokens).publish(make_request(tmp_path))
    assert caught.value.retry_after == 3600


async def test_quota_exceeded_says_when_it_resets(
    fake: FakeYouTube, tokens: RefreshingTokens, tmp_path: Path
) -> None:
    fake.fail(Route.UPLOAD_START, Fault.quota())
    with pytest.raises(PublishError) as caught:
        await publisher(fake, tokens).publish(make_request(tmp_path))
    assert not isinstance(caught.value, RetryLater)
    assert "quota" in str(caught.value) and "midnight Pacific" in str(caught.value)
    assert len(fake.routed(Route.UPLOAD_START)) == 1 and not fake.videos


async def test_other_refusals_carry_youtube_s_message(
    fake: FakeYouTube, tokens: RefreshingTokens, tmp_path: Path
) -> None:
    fake.fail(Route.UPLOAD_START, Fault.error(400, "invalidCategoryId", "Bad category."))
    with pytest.raises(PublishError, match="Bad category") as caught:
        await publisher(fake, tokens).publish(make_request(tmp_path))
    assert not isinstance(caught.value, RetryLater)


async def test_a_lost_answer_to_the_last_chunk_is_unconfirmed(
    fake: FakeYouTube, tokens: RefreshingTokens, tmp_path: Path
) -> None:
    fake.fail(Route.UPLOAD_FINAL, Fault.hang(10))
    request = make_request(tmp_path)
    checkpoints = Checkpoints(fake)
    youtube = publisher(fake, tokens, timeout_s=1.0)
    with pytest.raises(Unconfirmed):
        await youtube.publish(request, checkpoints)
    ((session, _),) = checkpoints.saved
    ((video_id, _),) = fake.videos.items()  # the server made it
    assert len(fake.routed(Route.UPLOAD_FINAL)) == 1  # and the client did not send it again

    later = dataclasses.replace(request, remote_ref=session)
    confirmed = await youtube.confirm(later)
    assert confirmed is not None and confirmed.external_id == video_id
    again = await youtube.publish(later)  # a retry after all: it finds the same video
    assert again.external_id == video_id
    assert list(fake.videos) == [video_id] and len(fake.uploads) == 1
    assert len(fake.routed(Route.UPLOAD_FINAL)) == 1


async def test_a_timeout_before_the_last_chunk_is_resumed(
    fake: FakeYouTube, tokens: RefreshingTokens, tmp_path: Path
) -> None:
    fake.fail(Route.UPLOAD_CHUNK, Fault(), Fault.hang(10))
    request = make_request(tmp_path)
    result = await publisher(fake, tokens, timeout_s=1.0).publish(request)
    (upload,) = fake.uploads.values()
    assert [first for first, _ in upload.chunks] == OFFSETS
    assert len(fake.routed(Route.UPLOAD_STATUS)) == 1
    assert fake.videos[result.external_id].sha256 == sha256(request.video_path)


async def test_an_interrupted_upload_resumes_from_remote_ref(
    fake: FakeYouTube, tokens: RefreshingTokens, tmp_path: Path
) -> None:
    fake.fail(Route.UPLOAD_CHUNK, Fault(), Fault(), *[Fault.error(503, "backendError")] * 2)
    request = make_request(tmp_path)
    checkpoints = Checkpoints(fake)
    youtube = publisher(fake, tokens, max_attempts=2)
    with pytest.raises(RetryLater):
        await youtube.publish(request, checkpoints)
    ((session, _),) = checkpoints.saved
    (upload,) = fake.uploads.values()
    assert upload.received == 2 * CHUNK and not fake.videos

    later = dataclasses.replace(request, remote_ref=session)
    assert await youtube.confirm(request) is None  # nothing saved: nothing to look for
    assert await youtube.confirm(later) is None  # the session is not finished
    resumed = Checkpoints(fake)
    result = await youtube.publish(later, resumed)
    assert resumed.saved == []  # the same session: nothing new to save
    assert len(fake.uploads) == 1 and len(fake.routed(Route.UPLOAD_START)) == 1
    assert [first for first, _ in upload.chunks] == OFFSETS
    assert list(fake.videos) == [result.external_id]
    assert fake.videos[result.external_id].sha256 == sha256(request.video_path)


async def test_a_refused_thumbnail_does_not_fail_the_post(
    fake: FakeYouTube, tokens: RefreshingTokens, tmp_path: Path
) -> None:
    text = "The authenticated user doesn't have permissions to upload custom video thumbnails."
    fake.fail(Route.THUMBNAILS, Fault.error(403, "forbidden", text))
    result = await publisher(fake, tokens).publish(make_request(tmp_path, size=1000))
    assert fake.videos[result.external_id].thumbnail is None
    assert len(fake.routed(Route.THUMBNAILS)) == 1


async def test_videos_list_reports_statistics(
    fake: FakeYouTube, tokens: RefreshingTokens, tmp_path: Path
) -> None:
    result = await publisher(fake, tokens).publish(make_request(tmp_path, size=1000))
    fake.set_statistics(result.external_id, views=120, likes=9, comments=2)
    async with httpx.AsyncClient() as client:
        response = await client.get(
            f"{fake.api_base_url}/youtube/v3/videos",
            params={"id": result.external_id, "part": "snippet,status,statistics"},
            headers={"Authorization": f"Bearer {tokens.tokens.access_token}"},
        )
    (item,) = response.json()["items"]
    assert item["statistics"] == {"viewCount": "120", "likeCount": "9", "commentCount": "2"}
    assert item["snippet"]["channelId"] == fake.channel_id


def test_chunk_size_must_be_a_multiple_of_256_kib(auth: YouTubeAuth) -> None:
    tokens = RefreshingTokens(auth, TokenSet(access_token="unused"))
    with pytest.raises(ValueError, match="multiple"):
        YouTubePublisher(api_base_url="http://127.0.0.1:1", tokens=tokens, chunk_size=1000)
