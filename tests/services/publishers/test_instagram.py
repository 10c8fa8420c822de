"""Instagram Reels against the loopback Meta fake: container, status polling, publish, retries,
token refresh and the Unconfirmed → confirm path."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp import web

from services.content import Platform, PlatformMeta
from services.publishers.instagram import InstagramPublisher
from services.publishing import (
    AccountNeedsReconnect,
    PublishError,
    PublishRequest,
    RetryLater,
    Unconfirmed,
)
from services.signing import BadSignature, Signer
from tests.fakes.meta_server import CREATE, LIMIT, MEDIA, PUBLISH, STATUS, FakeMeta, Fault
from tests.services.publishers.meta_helpers import FakeTokens, Saved

IG_USER = "17841405822304914"
CAPTION = "Fresh bread every morning.\n#bread #bakery"


class VideoHost:
    """Our web app's signed, expiring media links, served from a file (what Meta fetches)."""

    def __init__(self, video: Path) -> None:
        self.video = video
        self.signer = Signer(key=b"k" * 32, purpose="media")
        self.hits: list[int] = []  # HTTP status of each fetch
        self.base_url = ""

    def url(self, publication_id: int, ttl_s: int = 600) -> str:
        return f"{self.base_url}/media/{self.signer.sign(str(publication_id), ttl_s=ttl_s)}"

    async def serve(self, request: web.Request) -> web.StreamResponse:
        try:
            self.signer.unsign(request.match_info["token"])
        except BadSignature:
            self.hits.append(403)
            return web.Response(status=403)
        self.hits.append(200)
        return web.FileResponse(self.video)


@pytest.fixture
async def fake() -> AsyncIterator[FakeMeta]:
    async with FakeMeta() as meta:
        meta.container_polls = 2
        yield meta


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "video.mp4"
    path.write_bytes(bytes(range(256)) * 2000)  # 512 kB
    return path


@pytest.fixture
async def host(video: Path) -> AsyncIterator[VideoHost]:
    served = VideoHost(video)
    app = web.Application()
    app.router.add_get("/media/{token}", served.serve)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    served.base_url = f"http://{host}:{port}"
    yield served
    await runner.cleanup()


def make_request(video: Path, host: VideoHost) -> PublishRequest:
    meta = PlatformMeta(
        platform=Platform.INSTAGRAM,
        title="Bread",
        caption="Fresh bread every morning.",
        hashtags=("#bread", "#bakery"),
    )
    return PublishRequest(
        publication_id=7,
        idempotency_key="v1:a1",
        draft_id=3,
        version=1,
        video_path=video,
        thumbnail_path=video,
        meta=meta,
        duration_s=20.0,
        account_id=IG_USER,
        video_url=host.url(7),
    )


def make_publisher(
    fake: FakeMeta,
    tokens: FakeTokens,
    *,
    max_attempts: int = 5,
    max_wait_s: float = 0.05,
    timeout_s: float = 5.0,
    poll_timeout_s: float = 5.0,
) -> InstagramPublisher:
    return InstagramPublisher(
        graph_url=fake.graph_url,
        tokens=tokens,
        poll_interval_s=0.01,
        poll_timeout_s=poll_timeout_s,
        max_attempts=max_attempts,
        max_wait_s=max_wait_s,
        timeout_s=timeout_s,
    )


def user_tokens(fake: FakeMeta) -> FakeTokens:
    return FakeTokens(fake.issue("long"), renew=lambda: fake.issue("long"))


async def test_publishes_a_reel_meta_fetched_from_the_signed_url(
    fake: FakeMeta, host: VideoHost, video: Path
) -> None:
    saved = Saved()
    result = await make_publisher(fake, user_tokens(fake)).publish(make_request(video, host), saved)

    [post] = fake.posts
    assert (result.external_id, result.url) == (post.id, post.permalink)
    assert post.caption == CAPTION
    assert post.video_bytes == video.stat().st_size
    assert post.video_sha256 == hashlib.sha256(video.read_bytes()).hexdigest()
    assert host.hits == [200]
    [container] = fake.containers.values()
    assert saved.refs == [container.id]
    create = fake.calls(CREATE)[0].form
    assert create["media_type"] == "REELS" and create["share_to_feed"] == "true"
    assert create["video_url"].startswith(host.base_url + "/media/")
    routes = [r.route for r in fake.requests]
    assert routes == [LIMIT, CREATE, *[STATUS] * routes.count(STATUS), PUBLISH, MEDIA]
    assert routes.count(STATUS) >= 2  # it waited for IN_PROGRESS to become FINISHED
    assert fake.calls(PUBLISH)[0].form == {"creation_id": container.id}


async def test_container_error_reports_the_status_text(
    fake: FakeMeta, host: VideoHost, video: Path
) -> None:
    fake.container_error = "Error: The video's aspect ratio is not supported (2207009)."
    with pytest.raises(PublishError, match=r"aspect ratio is not supported \(2207009\)"):
        await make_publisher(fake, user_tokens(fake)).publish(make_request(video, host))
    assert fake.calls(PUBLISH) == [] and fake.posts == []


async def test_an_expired_link_ends_in_error(fake: FakeMeta, host: VideoHost, video: Path) -> None:
    request = replace(make_request(video, host), video_url=host.url(7, ttl_s=-1))
    with pytest.raises(PublishError, match="Media download has failed"):
        await make_publisher(fake, user_tokens(fake)).publish(request)
    assert host.hits == [403] and fake.posts == []


async def test_daily_cap_reached_creates_nothing(
    fake: FakeMeta, host: VideoHost, video: Path
) -> None:
    fake.quota_total, fake.quota_usage = 50, 50
    with pytest.raises(PublishError, match=r"50 of 50 posts in 24 h.*Schedule"):
        await make_publisher(fake, user_tokens(fake)).publish(make_request(video, host))
    assert fake.calls(CREATE) == [] and fake.containers == {} and host.hits == []


async def test_rate_limit_waits_for_retry_after(
    fake: FakeMeta, host: VideoHost, video: Path
) -> None:
    fake.fail(CREATE, Fault.error(429, 4, "(#4) Application request limit reached", retry_after=1))
    publisher = make_publisher(fake, user_tokens(fake), max_wait_s=2.0)
    result = await publisher.publish(make_request(video, host))

    first, second = fake.calls(CREATE)
    assert second.at - first.at >= 0.95
    assert len(fake.containers) == 1 and [p.id for p in fake.posts] == [result.external_id]


async def test_retry_after_longer_than_we_wait_is_handed_back(
    fake: FakeMeta, host: VideoHost, video: Path
) -> None:
    fake.fail(LIMIT, Fault.error(400, 17, "(#17) User request limit reached", retry_after=300))
    publisher = make_publisher(fake, user_tokens(fake))
    with pytest.raises(RetryLater) as caught:
        async with asyncio.timeout(5):  # it hands the wait back rather than sleeping it
            await publisher.publish(make_request(video, host))
    assert caught.value.retry_after == 300
    assert len(fake.calls(LIMIT)) == 1 and fake.containers == {}


async def test_server_errors_beyond_max_attempts_retry_later(
    fake: FakeMeta, host: VideoHost, video: Path
) -> None:
    fake.fail(STATUS, *[Fault.error(503, 2, "Service temporarily unavailable")] * 3)
    publisher = make_publisher(fake, user_tokens(fake), max_attempts=3)
    with pytest.raises(RetryLater, match="Service temporarily unavailable"):
        await publisher.publish(make_request(video, host))
    assert len(fake.calls(STATUS)) == 3 and fake.posts == []


async def test_expired_token_is_refreshed_once(
    fake: FakeMeta, host: VideoHost, video: Path
) -> None:
    tokens = user_tokens(fake)
    fake.expire(tokens.token)
    result = await make_publisher(fake, tokens).publish(make_request(video, host))
    assert tokens.refreshes == 1
    assert [p.id for p in fake.posts] == [result.external_id]
    assert (
        fake.calls(LIMIT)[0].headers["authorization"]
        != fake.calls(CREATE)[0].headers["authorization"]
    )


async def test_refused_refresh_needs_reconnect(
    fake: FakeMeta, host: VideoHost, video: Path
) -> None:
    tokens = FakeTokens(fake.issue("long"))
    fake.expire(tokens.token)
    with pytest.raises(AccountNeedsReconnect, match="/connect instagram"):
        await make_publisher(fake, tokens).publish(make_request(video, host))
    assert tokens.refreshes == 1 and fake.containers == {}


async def test_a_refreshed_token_refused_again_needs_reconnect(
    fake: FakeMeta, host: VideoHost, video: Path
) -> None:
    stale = fake.issue("long")
    fake.expire(stale)
    tokens = FakeTokens(stale, renew=lambda: stale)
    with pytest.raises(AccountNeedsReconnect, match="Session has expired"):
        await make_publisher(fake, tokens).publish(make_request(video, host))
    assert tokens.refreshes == 1 and len(fake.calls(LIMIT)) == 2


async def test_publish_timeout_is_unconfirmed_then_confirmed(
    fake: FakeMeta, host: VideoHost, video: Path
) -> None:
    fake.fail(PUBLISH, Fault.slow(3.0))
    saved = Saved()
    publisher = make_publisher(fake, user_tokens(fake), timeout_s=0.5)
    request = make_request(video, host)
    with pytest.raises(Unconfirmed):
        await publisher.publish(request, saved)
    assert len(fake.posts) == 1 and len(fake.calls(PUBLISH)) == 1  # never resent

    later = replace(request, remote_ref=saved.refs[0])
    found = await publisher.confirm(later)
    [post] = fake.posts
    assert found is not None and (found.external_id, found.url) == (post.id, post.permalink)
    again = await publisher.publish(later)  # an attempt after all: it finds the same post
    assert again == found
    assert len(fake.posts) == 1 and len(fake.calls(PUBLISH)) == 1 and len(fake.containers) == 1


async def test_a_failed_publish_is_unconfirmed_and_a_later_attempt_reuses_the_container(
    fake: FakeMeta, host: VideoHost, video: Path
) -> None:
    fake.fail(PUBLISH, Fault.error(500, 1, "An unknown error has occurred."))
    saved = Saved()
    publisher = make_publisher(fake, user_tokens(fake))
    request = make_request(video, host)
    with pytest.raises(Unconfirmed, match="An unknown error has occurred"):
        await publisher.publish(request, saved)  # a 5xx may hide a post: not resent
    assert len(fake.calls(PUBLISH)) == 1

    later = replace(request, remote_ref=saved.refs[0])
    assert await publisher.confirm(later) is None  # FINISHED, never published
    result = await publisher.publish(later, saved)

    assert [p.id for p in fake.posts] == [result.external_id]
    assert len(fake.containers) == 1 and saved.refs == [saved.refs[0]] and host.hits == [200]


async def test_confirm_says_none_when_nothing_was_published(
    fake: FakeMeta, host: VideoHost, video: Path
) -> None:
    fake.fail(PUBLISH, Fault.error(400, 9007, "Media ID is not available", subcode=2207027))
    saved = Saved()
    publisher = make_publisher(fake, user_tokens(fake))
    request = make_request(video, host)
    with pytest.raises(PublishError, match="Media ID is not available"):
        await publisher.publish(request, saved)
    assert await publisher.confirm(replace(request, remote_ref=saved.refs[0])) is None
    assert await publisher.confirm(request) is None


async def test_a_later_attempt_reuses_the_container(
    fake: FakeMeta, host: VideoHost, video: Path
) -> None:
    fake.container_polls = 50
    saved = Saved()
    publisher = make_publisher(fake, user_tokens(fake), poll_timeout_s=0.1)
    request = make_request(video, host)
    with pytest.raises(RetryLater, match="still processing"):
        await publisher.publish(request, saved)
    assert fake.posts == []

    fake.containers[saved.refs[0]].polls_left = 1
    result = await make_publisher(fake, user_tokens(fake)).publish(
        replace(request, remote_ref=saved.refs[0]), saved
    )
    assert len(fake.calls(CREATE)) == 1 and saved.refs == [saved.refs[0]]
    assert [p.id for p in fake.posts] == [result.external_id]


async def test_no_video_url_is_a_clear_error(fake: FakeMeta, host: VideoHost, video: Path) -> None:
    request = replace(make_request(video, host), video_url=None)
    with pytest.raises(PublishError, match="PUBLIC_URL"):
        await make_publisher(fake, user_tokens(fake)).publish(request)
    assert fake.calls(CREATE) == []
