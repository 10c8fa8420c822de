"""Facebook Page Reels and Facebook Login against the loopback Meta fake: the streamed upload and
its resume, finish → status → permalink, the Unconfirmed → confirm path, and the OAuth client."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

import services.publishers.facebook as facebook
from services.content import Platform, PlatformMeta
from services.oauth_types import OAuthError, RefreshRefused, TokenSet
from services.publishers.facebook import FacebookPublisher
from services.publishers.meta_auth import SCOPES, FacebookLoginAuth
from services.publishing import AccountNeedsReconnect, PublishError, PublishRequest, Unconfirmed
from tests.fakes.meta_server import (
    REELS_FINISH,
    REELS_START,
    UPLOAD,
    VIDEO,
    FakeMeta,
    Fault,
)
from tests.services.publishers.meta_helpers import FakeTokens, Saved

PAGE = "20531316728"
REDIRECT = "https://bot.example/oauth/callback"


@pytest.fixture
async def fake() -> AsyncIterator[FakeMeta]:
    async with FakeMeta() as meta:
        yield meta


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "video.mp4"
    path.write_bytes(hashlib.sha256(b"seed").digest() * 10_000)  # 320 kB
    return path


def make_request(video: Path, **changes: object) -> PublishRequest:
    meta = PlatformMeta(
        platform=Platform.FACEBOOK,
        title="Bread at dawn",
        caption="Fresh bread every morning.",
        hashtags=("#bread",),
    )
    request = PublishRequest(
        publication_id=9,
        idempotency_key="v1:a2",
        draft_id=3,
        version=1,
        video_path=video,
        thumbnail_path=video,
        meta=meta,
        duration_s=30.0,
        account_id=PAGE,
    )
    return replace(request, **changes)  # type: ignore[arg-type]


def make_publisher(fake: FakeMeta, *, timeout_s: float = 5.0) -> FacebookPublisher:
    token = fake.page(PAGE).token
    return FacebookPublisher(
        graph_url=fake.graph_url,
        tokens=FakeTokens(token, renew=lambda: token, platform="facebook"),
        poll_interval_s=0.01,
        poll_timeout_s=5.0,
        max_wait_s=0.05,
        timeout_s=timeout_s,
    )


async def test_publishes_a_reel_streamed_from_the_file(
    fake: FakeMeta, video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chunks: list[int] = []
    original = facebook._chunks

    async def counted(file: IO[bytes], offset: int) -> AsyncIterator[bytes]:
        async for chunk in original(file, offset):
            chunks.append(len(chunk))
            yield chunk

    monkeypatch.setattr(facebook, "_CHUNK_BYTES", 64 * 1024)
    monkeypatch.setattr(facebook, "_chunks", counted)
    digest = hashlib.sha256(video.read_bytes()).hexdigest()
    monkeypatch.setattr(Path, "read_bytes", None)  # the upload must not read the file whole
    saved = Saved()
    size = video.stat().st_size

    result = await make_publisher(fake).publish(make_request(video), saved)

    [post] = fake.posts
    assert post.video_bytes == size
    assert post.video_sha256 == digest
    assert chunks == [64 * 1024] * (size // (64 * 1024)) + [size % (64 * 1024)]
    assert result.external_id == post.id == saved.refs[0]
    assert result.url == f"https://www.facebook.com/reel/{post.id}/"
    assert (post.caption, post.title) == ("Fresh bread every morning.\n#bread", "Bread at dawn")
    [upload] = fake.calls(UPLOAD)
    assert upload.body_bytes == size
    assert upload.headers["authorization"] == f"OAuth {fake.page(PAGE).token}"
    assert (upload.headers["offset"], upload.headers["file_size"]) == ("0", str(size))
    [finish] = fake.calls(REELS_FINISH)
    assert finish.form["video_state"] == "PUBLISHED" and finish.form["video_id"] == post.id
    assert len(fake.calls(REELS_START)) == 1 and len(fake.calls(VIDEO)) >= 2


async def test_an_interrupted_upload_resumes_from_meta_offset(fake: FakeMeta, video: Path) -> None:
    fake.fail(UPLOAD, Fault.cut(100_000))
    size = video.stat().st_size

    await make_publisher(fake).publish(make_request(video))

    first, second = fake.calls(UPLOAD)
    assert first.body_bytes == 100_000
    assert second.headers["offset"] == "100000" and second.body_bytes == size - 100_000
    [post] = fake.posts
    assert post.video_sha256 == hashlib.sha256(video.read_bytes()).hexdigest()
    assert len(fake.calls(REELS_START)) == 1


async def test_finish_timeout_is_unconfirmed_then_confirmed(fake: FakeMeta, video: Path) -> None:
    fake.fail(REELS_FINISH, Fault.slow(3.0))
    saved = Saved()
    publisher = make_publisher(fake, timeout_s=0.5)
    with pytest.raises(Unconfirmed):
        await publisher.publish(make_request(video), saved)
    assert len(fake.calls(REELS_FINISH)) == 1  # never resent

    later = make_request(video, remote_ref=saved.refs[0])
    found = await publisher.confirm(later)
    [post] = fake.posts
    assert found is not None and found.external_id == post.id
    assert found.url == f"https://www.facebook.com/reel/{post.id}/"
    assert await publisher.publish(later) == found  # a later attempt finds it too
    assert len(fake.posts) == 1 and len(fake.calls(REELS_FINISH)) == 1
    assert len(fake.calls(REELS_START)) == 1


async def test_a_failed_finish_is_unconfirmed_and_a_later_attempt_reuses_the_upload(
    fake: FakeMeta, video: Path
) -> None:
    fake.fail(REELS_FINISH, Fault.error(500, 2, "Service temporarily unavailable"))
    saved = Saved()
    publisher = make_publisher(fake)
    with pytest.raises(Unconfirmed, match="Service temporarily unavailable"):
        await publisher.publish(make_request(video), saved)  # a 5xx may hide a post: not resent
    assert len(fake.calls(REELS_FINISH)) == 1

    later = make_request(video, remote_ref=saved.refs[0])
    assert await publisher.confirm(later) is None  # uploaded, never published
    result = await publisher.publish(later, saved)

    assert [p.id for p in fake.posts] == [result.external_id] == saved.refs
    assert len(fake.calls(REELS_START)) == len(fake.calls(UPLOAD)) == 1  # the same upload


async def test_confirm_is_none_for_an_upload_never_finished(fake: FakeMeta, video: Path) -> None:
    fake.fail(REELS_FINISH, Fault.error(400, 100, "(#100) Invalid parameter"))
    saved = Saved()
    publisher = make_publisher(fake)
    with pytest.raises(PublishError, match="Invalid parameter"):
        await publisher.publish(make_request(video), saved)
    assert await publisher.confirm(make_request(video, remote_ref=saved.refs[0])) is None
    assert fake.posts == []


async def test_processing_error_is_reported(fake: FakeMeta, video: Path) -> None:
    fake.reel_error = "The video file you selected is in a format that we don't support."
    with pytest.raises(PublishError, match="in a format that we don't support"):
        await make_publisher(fake).publish(make_request(video))
    assert fake.posts == []


async def test_too_long_for_facebook_reels(fake: FakeMeta, video: Path) -> None:
    with pytest.raises(PublishError, match="3 to 90 seconds"):
        await make_publisher(fake).publish(make_request(video, duration_s=95.0))
    assert fake.requests == []


async def test_a_user_token_is_refused_as_a_permission_problem(fake: FakeMeta, video: Path) -> None:
    user = fake.issue("long")
    publisher = FacebookPublisher(
        graph_url=fake.graph_url, tokens=FakeTokens(user, platform="facebook"), max_wait_s=0.05
    )
    with pytest.raises(AccountNeedsReconnect, match="/connect facebook"):
        await publisher.publish(make_request(video))
    assert fake.reels == {}


# -- Facebook Login -------------------------------------------------------------------------


def login(fake: FakeMeta, platform: Platform, **kwargs: object) -> FacebookLoginAuth:
    return FacebookLoginAuth(
        platform=platform,
        client_id=fake.client_id,
        client_secret=fake.client_secret,
        auth_url=fake.auth_url,
        graph_url=fake.graph_url,
        **kwargs,  # type: ignore[arg-type]
    )


async def authorize(fake: FakeMeta, auth: FacebookLoginAuth) -> str:
    """Walk the dialog like a browser; the code from the redirect."""
    url = auth.authorize_url(state="st-1", redirect_uri=REDIRECT, code_challenge=None)
    query = parse_qs(urlsplit(url).query)
    assert query["scope"] == [",".join(SCOPES[auth.platform])]
    async with httpx.AsyncClient() as browser:
        answer = await browser.get(url, follow_redirects=False)
    assert answer.status_code == 302
    location = urlsplit(answer.headers["location"])
    back = parse_qs(location.query)
    assert location.netloc == "bot.example" and back["state"] == ["st-1"]
    return back["code"][0]


async def test_exchange_gives_pages_with_page_tokens(fake: FakeMeta) -> None:
    fake.accounts_page_size = 1  # the Pages come over two pages of results
    auth = login(fake, Platform.FACEBOOK)
    identities = await auth.exchange(
        code=await authorize(fake, auth), redirect_uri=REDIRECT, code_verifier=None
    )
    assert [(i.external_id, i.display_name, i.extra) for i in identities] == [
        (p.id, p.name, {"page_id": p.id}) for p in fake.pages
    ]
    for identity, page in zip(identities, fake.pages, strict=True):
        assert identity.tokens.access_token == page.token
        assert identity.tokens.expires_at is None and identity.tokens.refresh_token is None
        assert await auth.refresh(identity.tokens) == identity.tokens  # Page tokens last


async def test_exchange_gives_instagram_accounts_with_a_long_lived_token(fake: FakeMeta) -> None:
    auth = login(fake, Platform.INSTAGRAM)
    before = datetime.now(UTC)
    [identity] = await auth.exchange(
        code=await authorize(fake, auth), redirect_uri=REDIRECT, code_verifier=None
    )
    assert (identity.external_id, identity.display_name) == ("17841405822304914", "@bakery")
    assert identity.extra == {"page_id": PAGE}
    tokens = identity.tokens
    assert fake.tokens[tokens.access_token].kind == "long" and tokens.refresh_token is None
    assert tokens.expires_at is not None
    assert tokens.expires_at - before >= timedelta(days=59)
    assert set(tokens.scope.split(",")) == set(SCOPES[Platform.INSTAGRAM])


async def test_a_used_code_is_refused(fake: FakeMeta) -> None:
    auth = login(fake, Platform.FACEBOOK)
    code = await authorize(fake, auth)
    await auth.exchange(code=code, redirect_uri=REDIRECT, code_verifier=None)
    with pytest.raises(OAuthError, match="authorization code has been used"):
        await auth.exchange(code=code, redirect_uri=REDIRECT, code_verifier=None)


async def test_a_declined_permission_is_named(fake: FakeMeta) -> None:
    fake.granted = set(SCOPES[Platform.INSTAGRAM]) - {"instagram_content_publish"}
    auth = login(fake, Platform.INSTAGRAM)
    with pytest.raises(OAuthError, match=r"instagram_content_publish\. Run /connect instagram"):
        await auth.exchange(
            code=await authorize(fake, auth), redirect_uri=REDIRECT, code_verifier=None
        )


async def test_no_instagram_account_is_explained(fake: FakeMeta) -> None:
    fake.pages[0].ig_user_id = None
    auth = login(fake, Platform.INSTAGRAM)
    with pytest.raises(OAuthError, match="link an Instagram professional"):
        await auth.exchange(
            code=await authorize(fake, auth), redirect_uri=REDIRECT, code_verifier=None
        )


async def test_refresh_extends_a_long_lived_token(fake: FakeMeta) -> None:
    auth = login(fake, Platform.INSTAGRAM)
    old = TokenSet(
        fake.issue("long", expires_in=86400),
        expires_at=datetime.now(UTC) + timedelta(days=1),
        scope="instagram_basic",
    )
    fresh = await auth.refresh(old)
    assert fresh.access_token != old.access_token
    assert fake.tokens[fresh.access_token].kind == "long"
    assert fresh.expires_at is not None and old.expires_at is not None
    assert fresh.expires_at - old.expires_at >= timedelta(days=58)
    assert (fresh.refresh_token, fresh.scope) == (None, "instagram_basic")


async def test_refresh_of_an_expired_token_is_refused(fake: FakeMeta) -> None:
    auth = login(fake, Platform.INSTAGRAM)
    token = fake.issue("long")
    fake.expire(token)  # Meta says it expired (revoked early), though we thought it valid
    alive = TokenSet(token, expires_at=datetime.now(UTC) + timedelta(days=3))
    with pytest.raises(RefreshRefused, match="run /connect instagram again"):
        await auth.refresh(alive)
    asked = len(fake.requests)
    lapsed = TokenSet(token, expires_at=datetime.now(UTC) - timedelta(minutes=1))
    with pytest.raises(RefreshRefused, match="run /connect instagram again"):
        await auth.refresh(lapsed)
    assert len(fake.requests) == asked  # no point asking Meta about a lapsed token


async def test_login_uses_the_callers_client(fake: FakeMeta) -> None:
    async with httpx.AsyncClient() as client:
        auth = login(fake, Platform.FACEBOOK, client=client)
        await auth.exchange(
            code=await authorize(fake, auth), redirect_uri=REDIRECT, code_verifier=None
        )
        assert not client.is_closed  # ours to close, not the auth's
