"""TikTokAuth and TikTokPublisher against the loopback fake of TikTok's Open API."""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from services.content import Platform, PlatformMeta
from services.oauth_types import OAuthError, RefreshRefused, TokenSet
from services.publishers.tiktok import MB, TikTokPublisher, chunk_plan
from services.publishers.tiktok_auth import TikTokAuth
from services.publishing import (
    AccountNeedsReconnect,
    PublishError,
    PublishRequest,
    PublishResult,
    RetryLater,
    Unconfirmed,
)
from tests.fakes.tiktok_server import FakeTikTok, Fault, s256

KB = 1024
CALLBACK = "https://bot.example/oauth/tiktok/callback"
PROFILE = "https://www.tiktok.com/@cafe.lumen"


class StoredTokens:
    """One account's tokens in memory, refreshed through TikTokAuth (as services.accounts will)."""

    def __init__(self, auth: TikTokAuth, tokens: TokenSet) -> None:
        self.auth = auth
        self.current = tokens
        self.refreshes = 0

    async def access_token(self) -> str:
        return self.current.access_token

    async def refresh(self) -> str:
        try:
            self.current = await self.auth.refresh(self.current)
        except RefreshRefused as exc:
            raise AccountNeedsReconnect(str(exc)) from exc
        self.refreshes += 1
        return self.current.access_token


MakePublisher = Callable[..., TikTokPublisher]


@pytest.fixture
async def fake() -> AsyncIterator[FakeTikTok]:
    async with FakeTikTok(min_chunk=256 * KB) as server:
        yield server


@pytest.fixture
async def auth(fake: FakeTikTok) -> AsyncIterator[TikTokAuth]:
    client = TikTokAuth(
        client_id=fake.client_key,
        client_secret=fake.client_secret,
        auth_url=fake.auth_url,
        api_base_url=fake.base_url,
    )
    yield client
    await client.aclose()


@pytest.fixture
def tokens(fake: FakeTikTok, auth: TikTokAuth) -> StoredTokens:
    access, refresh = fake.issue_tokens()
    return StoredTokens(auth, TokenSet(access, refresh))


@pytest.fixture
async def make_publisher(fake: FakeTikTok, tokens: StoredTokens) -> AsyncIterator[MakePublisher]:
    made: list[TikTokPublisher] = []

    def make(**overrides: Any) -> TikTokPublisher:
        options: dict[str, Any] = {
            "api_base_url": fake.base_url,
            "tokens": tokens,
            "chunk_size": MB,
            "min_chunk": 256 * KB,
            "poll_interval_s": 0.01,
            "poll_timeout_s": 5.0,
            "backoff_s": 0.01,
            "timeout_s": 5.0,
        }
        made.append(TikTokPublisher(**(options | overrides)))
        return made[-1]

    yield make
    for publisher in made:
        await publisher.aclose()


def write_video(tmp_path: Path, size: int) -> Path:
    path = tmp_path / "video.mp4"
    path.write_bytes(os.urandom(size))
    return path


def request_for(path: Path, **changes: Any) -> PublishRequest:
    meta = PlatformMeta(
        platform=Platform.TIKTOK,
        title="Autumn menu",
        caption="Our autumn menu is here!",
        hashtags=("#autumn", "#cafe"),
    )
    request = PublishRequest(
        publication_id=7,
        idempotency_key="v3:a1",
        draft_id=1,
        version=3,
        video_path=path,
        thumbnail_path=path.with_suffix(".png"),
        meta=meta,
        duration_s=25.0,
    )
    return replace(request, **changes)


class Saved:
    """A Checkpoint that keeps what it is given and what the fake had seen by then."""

    def __init__(self, fake: FakeTikTok) -> None:
        self.fake = fake
        self.refs: list[str] = []
        self.uploads_before: list[int] = []

    async def __call__(self, remote_ref: str) -> None:
        self.refs.append(remote_ref)
        self.uploads_before.append(len(self.fake.on("upload")))


# -- posting ------------------------------------------------------------------------------------


async def test_direct_post_uploads_in_chunks_and_links_the_video(
    fake: FakeTikTok, make_publisher: MakePublisher, tmp_path: Path
) -> None:
    size = 2 * MB + 512 * KB + 123  # two chunks: the last takes the remainder
    path = write_video(tmp_path, size)
    saved = Saved(fake)
    request = request_for(path, options={"privacy_level": "PUBLIC_TO_EVERYONE"})

    result = await make_publisher().publish(request, saved)

    [post] = fake.published
    assert saved.refs == [post.publish_id]
    assert saved.uploads_before == [0]  # checkpointed before any byte went up
    assert fake.on("video_init")[0].json == {
        "post_info": {
            "title": "Our autumn menu is here! #autumn #cafe",
            "privacy_level": "PUBLIC_TO_EVERYONE",
            "disable_comment": False,
            "disable_duet": False,
            "disable_stitch": False,
        },
        "source_info": {
            "source": "FILE_UPLOAD",
            "video_size": size,
            "chunk_size": MB,
            "total_chunk_count": 2,
        },
    }
    uploads = fake.on("upload")
    assert [u.headers["content-range"] for u in uploads] == [
        f"bytes 0-{MB - 1}/{size}",
        f"bytes {MB}-{size - 1}/{size}",
    ]
    assert [u.headers["content-length"] for u in uploads] == [str(MB), str(size - MB)]
    assert all(u.headers["content-type"] == "video/mp4" for u in uploads)
    assert not any("transfer-encoding" in u.headers for u in uploads)
    assert post.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert result == PublishResult(str(post.post_id), f"{PROFILE}/video/{post.post_id}")
    assert len(fake.on("status")) == fake.polls_to_complete


async def test_private_post_has_no_public_id_so_it_links_the_profile(
    fake: FakeTikTok, make_publisher: MakePublisher, tmp_path: Path
) -> None:
    result = await make_publisher().publish(request_for(write_video(tmp_path, 300 * KB)))

    [post] = fake.published
    assert post.post_info["privacy_level"] == "SELF_ONLY"  # the default
    assert result == PublishResult(post.publish_id, PROFILE)


async def test_inbox_mode_sends_the_video_to_the_creators_inbox(
    fake: FakeTikTok, make_publisher: MakePublisher, tmp_path: Path
) -> None:
    size = 200 * KB  # under the minimum chunk: one piece
    request = request_for(write_video(tmp_path, size), options={"tiktok_mode": "inbox"})

    result = await make_publisher().publish(request)

    assert fake.on("video_init") == []
    [init] = fake.on("inbox_init")
    assert init.json == {
        "source_info": {
            "source": "FILE_UPLOAD",
            "video_size": size,
            "chunk_size": size,
            "total_chunk_count": 1,
        }
    }
    assert [u.headers["content-range"] for u in fake.on("upload")] == [f"bytes 0-{size - 1}/{size}"]
    [post] = fake.published
    assert (post.mode, post.status) == ("inbox", "SEND_TO_USER_INBOX")
    assert result == PublishResult(post.publish_id, PROFILE)
    assert "inbox" in result.external_id


async def test_long_caption_is_cut_to_tiktoks_utf16_limit(
    fake: FakeTikTok, make_publisher: MakePublisher, tmp_path: Path
) -> None:
    request = request_for(write_video(tmp_path, 300 * KB))
    request = replace(
        request, meta=request.meta.model_copy(update={"caption": "\U0001f342" * 1500})
    )

    await make_publisher().publish(request)

    title = fake.on("video_init")[0].json["post_info"]["title"]
    assert 2100 < len(title.encode("utf-16-le")) // 2 <= 2200  # an emoji is 2 units there
    assert title.endswith("\u2026")
    assert len(fake.published) == 1


async def test_privacy_level_the_creator_lacks_is_refused_naming_the_allowed_ones(
    fake: FakeTikTok, make_publisher: MakePublisher, tmp_path: Path
) -> None:
    fake.creator.privacy_level_options = ["FOLLOWER_OF_CREATOR", "SELF_ONLY"]
    request = request_for(
        write_video(tmp_path, 300 * KB), options={"privacy_level": "PUBLIC_TO_EVERYONE"}
    )

    with pytest.raises(PublishError, match="allowed: FOLLOWER_OF_CREATOR, SELF_ONLY") as caught:
        await make_publisher().publish(request)

    assert "PUBLIC_TO_EVERYONE" in str(caught.value)
    assert fake.posts == {}


async def test_video_longer_than_the_creator_may_post_is_refused(
    fake: FakeTikTok, make_publisher: MakePublisher, tmp_path: Path
) -> None:
    fake.creator.max_video_post_duration_sec = 60
    request = request_for(write_video(tmp_path, 300 * KB), duration_s=90.0)

    with pytest.raises(PublishError, match="at most 60 s"):
        await make_publisher().publish(request)

    assert fake.posts == {}


@pytest.mark.parametrize(
    ("code", "status", "says"),
    [
        ("spam_risk_too_many_posts", 403, "daily limit"),
        ("unaudited_client_can_only_post_to_private_accounts", 403, "SELF_ONLY"),
        ("video_too_weird", 400, "TikTok refused the post (video_too_weird: nope)"),
    ],
)
async def test_refusals_are_final_and_say_what_to_do(
    fake: FakeTikTok,
    make_publisher: MakePublisher,
    tmp_path: Path,
    code: str,
    status: int,
    says: str,
) -> None:
    fake.fail("video_init", Fault.error(status, code, "nope"))

    with pytest.raises(PublishError, match=says.replace("(", r"\(").replace(")", r"\)")) as caught:
        await make_publisher().publish(request_for(write_video(tmp_path, 300 * KB)))

    assert not isinstance(caught.value, RetryLater)
    assert len(fake.on("video_init")) == 1
    assert fake.published == []


async def test_unaudited_app_posting_publicly_is_told_to_post_privately(
    fake: FakeTikTok, make_publisher: MakePublisher, tmp_path: Path
) -> None:
    fake.audited = False
    request = request_for(
        write_video(tmp_path, 300 * KB), options={"privacy_level": "PUBLIC_TO_EVERYONE"}
    )

    with pytest.raises(PublishError, match="private account with privacy SELF_ONLY"):
        await make_publisher().publish(request)

    assert fake.posts == {}


async def test_processing_failure_explains_the_reason(
    fake: FakeTikTok, make_publisher: MakePublisher, tmp_path: Path
) -> None:
    fake.fail_reason = "frame_rate_check_failed"

    with pytest.raises(PublishError, match=r"frame_rate_check_failed.*23 to 60 fps") as caught:
        await make_publisher().publish(request_for(write_video(tmp_path, 300 * KB)))

    assert not isinstance(caught.value, RetryLater)
    assert fake.published == []


async def test_internal_failure_is_retried_later_with_a_fresh_post(
    fake: FakeTikTok, make_publisher: MakePublisher, tmp_path: Path
) -> None:
    publisher = make_publisher()
    saved = Saved(fake)
    request = request_for(write_video(tmp_path, 300 * KB))
    fake.fail_reason = "internal"
    with pytest.raises(RetryLater, match="internal"):
        await publisher.publish(request, saved)
    fake.fail_reason = None

    result = await publisher.publish(replace(request, remote_ref=saved.refs[0]), saved)

    assert len(fake.posts) == 2  # the failed slot never went public, so a new one was safe
    [post] = fake.published
    assert result == PublishResult(post.publish_id, PROFILE)


# -- tokens -------------------------------------------------------------------------------------


async def test_expired_access_token_is_refreshed_once_and_the_post_goes_through(
    fake: FakeTikTok, make_publisher: MakePublisher, tokens: StoredTokens, tmp_path: Path
) -> None:
    old_refresh = tokens.current.refresh_token
    fake.expire_access_tokens()

    await make_publisher().publish(request_for(write_video(tmp_path, 300 * KB)))

    assert tokens.refreshes == 1
    assert tokens.current.refresh_token != old_refresh
    assert tokens.current.refresh_token in fake.refresh_tokens
    assert [r.form["grant_type"] for r in fake.on("token")] == ["refresh_token"]
    assert len(fake.on("creator_info")) == 2  # refused, then accepted with the new token
    assert len(fake.published) == 1


async def test_revoked_access_needs_a_reconnect(
    fake: FakeTikTok, make_publisher: MakePublisher, tmp_path: Path
) -> None:
    fake.revoke()

    with pytest.raises(AccountNeedsReconnect, match="/connect tiktok"):
        await make_publisher().publish(request_for(write_video(tmp_path, 300 * KB)))

    assert fake.posts == {}


async def test_missing_posting_scope_needs_a_reconnect(
    fake: FakeTikTok, auth: TikTokAuth, make_publisher: MakePublisher, tmp_path: Path
) -> None:
    access, refresh = fake.issue_tokens("user.info.basic,video.upload")
    publisher = make_publisher(tokens=StoredTokens(auth, TokenSet(access, refresh)))

    with pytest.raises(AccountNeedsReconnect, match="did not allow posting"):
        await publisher.publish(request_for(write_video(tmp_path, 300 * KB)))


# -- retries and lost answers -------------------------------------------------------------------


async def test_rate_limit_retry_after_is_honoured(
    fake: FakeTikTok, make_publisher: MakePublisher, tmp_path: Path
) -> None:
    fake.fail("video_init", Fault.error(429, "rate_limit_exceeded", retry_after=1))

    await make_publisher().publish(request_for(write_video(tmp_path, 300 * KB)))

    first, second = fake.on("video_init")
    assert second.at - first.at >= 0.95
    assert len(fake.posts) == 1
    assert len(fake.published) == 1


async def test_long_retry_after_gives_up_at_once(
    fake: FakeTikTok, make_publisher: MakePublisher, tmp_path: Path
) -> None:
    fake.fail("creator_info", Fault.error(429, "rate_limit_exceeded", retry_after=120))

    with pytest.raises(RetryLater) as caught:
        await make_publisher().publish(request_for(write_video(tmp_path, 300 * KB)))

    assert caught.value.retry_after == 120
    assert len(fake.on("creator_info")) == 1


async def test_server_errors_beyond_max_attempts_retry_later(
    fake: FakeTikTok, make_publisher: MakePublisher, tmp_path: Path
) -> None:
    fake.fail("video_init", *[Fault.error(503, "internal_error")] * 5)

    with pytest.raises(RetryLater, match="internal_error"):
        await make_publisher(max_attempts=3).publish(request_for(write_video(tmp_path, 300 * KB)))

    assert len(fake.on("video_init")) == 3
    assert fake.posts == {}


async def test_chunk_upload_server_error_is_retried(
    fake: FakeTikTok, make_publisher: MakePublisher, tmp_path: Path
) -> None:
    path = write_video(tmp_path, 2 * MB + 5)
    fake.fail("upload", Fault(), Fault.error(502, "internal_error"))

    await make_publisher().publish(request_for(path))

    ranges = [u.headers["content-range"] for u in fake.on("upload")]
    assert ranges[1] == ranges[2] == f"bytes {MB}-{2 * MB + 4}/{2 * MB + 5}"
    [post] = fake.published
    assert post.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


async def test_init_timeout_is_unconfirmed_and_posting_again_makes_one_post(
    fake: FakeTikTok, make_publisher: MakePublisher, tmp_path: Path
) -> None:
    publisher = make_publisher(timeout_s=0.5)
    saved = Saved(fake)
    request = request_for(write_video(tmp_path, 300 * KB))
    fake.fail("video_init", Fault.slow(3.0))  # TikTok opens the slot; its answer is lost

    with pytest.raises(Unconfirmed):
        await publisher.publish(request, saved)

    assert len(fake.posts) == 1  # the slot exists on TikTok...
    assert fake.on("upload") == []  # ...but without its video it can never become a post
    assert saved.refs == []
    assert await publisher.confirm(request) is None

    result = await publisher.publish(request, saved)

    [post] = fake.published
    assert result == PublishResult(post.publish_id, PROFILE)
    assert len(fake.on("video_init")) == 2


async def test_lost_answer_to_the_last_chunk_is_unconfirmed_then_found_without_reposting(
    fake: FakeTikTok, make_publisher: MakePublisher, tmp_path: Path
) -> None:
    publisher = make_publisher(timeout_s=0.5)
    saved = Saved(fake)
    request = request_for(
        write_video(tmp_path, MB + 300 * KB), options={"privacy_level": "PUBLIC_TO_EVERYONE"}
    )
    fake.fail("upload", Fault.slow(3.0))  # TikTok takes the whole video; its answer is lost

    with pytest.raises(Unconfirmed):
        await publisher.publish(request, saved)

    [ref] = saved.refs
    again = replace(request, remote_ref=ref)
    assert await publisher.confirm(again) is None  # still processing: not found yet
    resumed = await publisher.publish(again, saved)  # looks it up and waits; no second init
    confirmed = await publisher.confirm(again)

    [post] = fake.published
    expected = PublishResult(str(post.post_id), f"{PROFILE}/video/{post.post_id}")
    assert resumed == confirmed == expected
    assert len(fake.on("video_init")) == 1
    assert len(fake.on("upload")) == 1
    assert saved.refs == [ref]


async def test_unfinished_earlier_upload_is_not_posted_again(
    fake: FakeTikTok, make_publisher: MakePublisher, tmp_path: Path
) -> None:
    publisher = make_publisher()
    saved = Saved(fake)
    request = request_for(write_video(tmp_path, 2 * MB))
    fake.fail("upload", Fault.error(403, "invalid_file_upload", "upload_token expired"))
    with pytest.raises(PublishError, match="upload_token expired"):
        await publisher.publish(request, saved)

    again = replace(request, remote_ref=saved.refs[0])
    with pytest.raises(RetryLater, match="unfinished") as caught:
        await publisher.publish(again, saved)

    assert caught.value.retry_after is not None and caught.value.retry_after > 60
    assert await publisher.confirm(again) is None
    assert len(fake.on("video_init")) == 1


@pytest.mark.parametrize(
    ("size", "chunk", "plan"),
    [
        (3 * MB, 10 * MB, (3 * MB, 1)),  # under 5 MB: whole
        (7 * MB, 10 * MB, (7 * MB, 1)),  # fits one chunk: whole
        (30 * MB, 10 * MB, (10 * MB, 3)),
        (35 * MB, 10 * MB, (10 * MB, 3)),  # the last chunk is 15 MB
        (100 * MB, 64 * MB, (64 * MB, 1)),  # one 100 MB "last" chunk (up to 128 MB is fine)
        (20_000 * MB, 10 * MB, (20 * MB, 1000)),  # at most 1000 chunks
    ],
)
def test_chunk_plan_follows_tiktoks_rules(size: int, chunk: int, plan: tuple[int, int]) -> None:
    chunk_size, count = chunk_plan(size, chunk)
    assert (chunk_size, count) == plan
    assert 5 * MB <= chunk_size <= 64 * MB or count == 1
    assert size - (count - 1) * chunk_size <= 128 * MB


# -- OAuth --------------------------------------------------------------------------------------


async def consent(url: str) -> dict[str, str]:
    """What TikTok's consent page sends back to the redirect_uri (the person says yes)."""
    async with httpx.AsyncClient() as browser:
        answer = await browser.get(url)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(CALLBACK + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def test_connecting_exchanges_the_code_with_pkce_for_the_creator(
    fake: FakeTikTok, auth: TikTokAuth
) -> None:
    verifier = secrets.token_urlsafe(48)
    url = auth.authorize_url(state="st-1", redirect_uri=CALLBACK, code_challenge=s256(verifier))
    asked = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert url.startswith(fake.auth_url + "?")
    assert asked["client_key"] == fake.client_key
    assert asked["scope"] == "user.info.basic,video.publish,video.upload,video.list"
    assert (asked["response_type"], asked["code_challenge_method"]) == ("code", "S256")

    back = await consent(url)
    assert back["state"] == "st-1"
    code = back["code"]
    [identity] = await auth.exchange(code=code, redirect_uri=CALLBACK, code_verifier=verifier)

    assert (identity.external_id, identity.display_name) == (fake.creator.open_id, "Café Lumen")
    tokens = identity.tokens
    assert tokens.access_token in fake.access_tokens
    assert tokens.refresh_token in fake.refresh_tokens
    assert tokens.scope == "user.info.basic,video.publish,video.upload,video.list"
    assert tokens.expires_at is not None and tokens.refresh_expires_at is not None
    now = time.time()
    assert abs(tokens.expires_at.timestamp() - (now + fake.access_ttl_s)) < 60
    assert abs(tokens.refresh_expires_at.timestamp() - (now + fake.refresh_ttl_s)) < 60
    [token_call] = fake.on("token")
    assert token_call.form["code_verifier"] == verifier
    assert token_call.form["grant_type"] == "authorization_code"
    assert fake.on("user_info")[0].query["fields"] == "open_id,display_name"


async def test_wrong_code_verifier_is_refused(fake: FakeTikTok, auth: TikTokAuth) -> None:
    verifier = secrets.token_urlsafe(48)
    url = auth.authorize_url(state="st-2", redirect_uri=CALLBACK, code_challenge=s256(verifier))
    back = await consent(url)

    with pytest.raises(OAuthError, match="Code verifier") as caught:
        await auth.exchange(code=back["code"], redirect_uri=CALLBACK, code_verifier="not-it" * 8)

    assert not isinstance(caught.value, RefreshRefused)
    assert fake.access_tokens == {}


async def test_connecting_without_posting_permission_is_refused(
    fake: FakeTikTok, auth: TikTokAuth
) -> None:
    fake.creator.consents_to = frozenset({"user.info.basic"})  # the person unticks posting
    verifier = secrets.token_urlsafe(48)
    url = auth.authorize_url(state="s", redirect_uri=CALLBACK, code_challenge=s256(verifier))
    back = await consent(url)

    with pytest.raises(OAuthError, match="without permission to post"):
        await auth.exchange(code=back["code"], redirect_uri=CALLBACK, code_verifier=verifier)


async def test_refresh_rotates_the_refresh_token(fake: FakeTikTok, auth: TikTokAuth) -> None:
    access, refresh = fake.issue_tokens()
    old = TokenSet(access, refresh)

    new = await auth.refresh(old)

    assert new.access_token != access and new.access_token in fake.access_tokens
    assert new.refresh_token not in (None, refresh)
    assert new.expires_at is not None
    with pytest.raises(RefreshRefused, match="/connect tiktok"):
        await auth.refresh(old)  # the old refresh token was spent
    newer = await auth.refresh(new)
    assert newer.refresh_token not in (refresh, new.refresh_token)


async def test_revoked_refresh_token_is_refused(fake: FakeTikTok, auth: TikTokAuth) -> None:
    access, refresh = fake.issue_tokens()
    fake.revoke()

    with pytest.raises(RefreshRefused, match="run /connect tiktok again"):
        await auth.refresh(TokenSet(access, refresh))


# -- the fake's analytics endpoint ---------------------------------------------------------------


async def test_fake_reports_metrics_of_published_posts(
    fake: FakeTikTok, make_publisher: MakePublisher, tmp_path: Path
) -> None:
    request = request_for(
        write_video(tmp_path, 300 * KB), options={"privacy_level": "PUBLIC_TO_EVERYONE"}
    )
    result = await make_publisher().publish(request)
    fake.set_metrics(result.external_id, view_count=1200, like_count=85)
    access, _ = fake.issue_tokens()

    async with httpx.AsyncClient(base_url=fake.base_url) as client:
        answer = await client.post(
            "/v2/video/query/",
            params={"fields": "id,view_count,like_count,comment_count,share_count"},
            json={"filters": {"video_ids": [result.external_id]}},
            headers={"Authorization": f"Bearer {access}"},
        )

    assert answer.json()["error"]["code"] == "ok"
    assert answer.json()["data"]["videos"] == [
        {
            "id": result.external_id,
            "view_count": 1200,
            "like_count": 85,
            "comment_count": 0,
            "share_count": 0,
        }
    ]
