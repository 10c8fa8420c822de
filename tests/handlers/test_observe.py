"""What publishing and collecting tell monitoring: counts by platform and outcome, and each
outside service's last success and failure (on real Redis)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio

from handlers.observe import ObservedPublisher
from services.content import Platform, PlatformMeta
from services.health import service_states
from services.publishing import (
    Checkpoint,
    PublishError,
    PublishRequest,
    PublishResult,
    RetryLater,
    Unconfirmed,
    no_checkpoint,
)
from services.telemetry import read_snapshot


class ScriptedPublisher:
    """A publisher (our port) whose answers are given in turn: a result or an exception."""

    def __init__(self, *answers: PublishResult | Exception) -> None:
        self.answers = list(answers)

    async def publish(
        self, request: PublishRequest, checkpoint: Checkpoint = no_checkpoint
    ) -> PublishResult:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def confirm(self, request: PublishRequest) -> PublishResult | None:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
async def client(redis_server_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    redis_client = redis.asyncio.Redis.from_url(redis_server_url)
    yield redis_client
    await redis_client.aclose()


REQUEST = PublishRequest(
    publication_id=1,
    idempotency_key="k",
    draft_id=1,
    version=1,
    video_path=Path("video.mp4"),
    thumbnail_path=Path("thumbnail.png"),
    meta=PlatformMeta(platform=Platform.YOUTUBE, title="t", caption="c", hashtags=()),
)
POSTED = PublishResult("abc", "https://youtu.be/abc")


async def test_publishes_are_counted_by_platform_and_outcome(client: redis.asyncio.Redis) -> None:
    inner = ScriptedPublisher(
        RetryLater("YouTube is busy (HTTP 503)", retry_after=30),
        Unconfirmed("no answer within 60 s"),
        POSTED,
        PublishError("the video was refused: too long?key=zzzzzzzz"),
        POSTED,  # confirm finds the post
    )
    publisher = ObservedPublisher(client, inner, platform="youtube", service="publish:youtube")
    for expected in (RetryLater, Unconfirmed):
        with pytest.raises(expected):
            await publisher.publish(REQUEST)
    assert await publisher.publish(REQUEST) == POSTED
    with pytest.raises(PublishError):
        await publisher.publish(REQUEST)
    assert await publisher.confirm(REQUEST) == POSTED

    counts = (await read_snapshot(client)).counters["socialbot_publishes"]
    assert counts == {
        ("youtube", "retry"): 1,
        ("youtube", "unconfirmed"): 1,
        ("youtube", "published"): 2,
        ("youtube", "failed"): 1,
    }
    (state,) = await service_states(client)
    assert state.name == "publish:youtube" and not state.failing  # confirm answered last
    assert state.last_error == "the video was refused: too long?[redacted]"
    assert state.last_ok_at is not None and state.last_ok_at <= datetime.now(UTC)
