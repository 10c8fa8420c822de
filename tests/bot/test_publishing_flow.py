"""Connected accounts end to end: /connect → OAuth through the web app → approve → real posts.

The real google-api-python-client and httpx talk to the loopback YouTube and TikTok fakes; the
web app's OAuth routes run in-process (ASGI); the chat is the console adapter.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from arq import Retry
from sqlalchemy import select, update

from bot.console import ConsoleChat
from bot.runtime import Runtime, open_runtime
from bot.web import create_web_app
from handlers.buttons import Verb, encode
from handlers.port import Incoming, Reply
from handlers.publish import publish_draft
from handlers.router import handle
from handlers.schedule import reconcile_schedules
from services.content import Platform
from services.models import (
    Draft,
    Publication,
    PublicationState,
    SocialAccount,
    Workspace,
    utcnow,
)
from services.publishers.registry import PlatformClients
from tests.conftest import make_settings, run_jobs
from tests.fakes.tiktok_server import FakeTikTok
from tests.fakes.youtube_server import FakeYouTube, Fault, Route

pytestmark = pytest.mark.slow
PUBLIC_URL = "http://socialbot.test"
CHAT = "console:team"


@dataclasses.dataclass
class World:
    runtime: Runtime
    youtube: FakeYouTube
    tiktok: FakeTikTok
    console: ConsoleChat
    web: httpx.AsyncClient

    async def say(self, text: str, user: str = "olga") -> Reply:
        replies = await handle(self.runtime.app, Incoming(CHAT, f"console:{user}", user, text=text))
        return replies[0]

    async def press(self, verb: Verb, draft_id: int, user: str = "olga") -> Reply:
        incoming = Incoming(CHAT, f"console:{user}", user, button=encode(verb, draft_id))
        return (await handle(self.runtime.app, incoming))[0]

    async def connect(self, platform: str) -> str:
        """/connect, then what the person's browser does; the callback page's text."""
        reply = await self.say(f"/connect {platform}")
        link = re.search(r"open (\S+)", reply.text)
        assert link, reply.text
        start = await self.web.get(link.group(1).removeprefix(PUBLIC_URL))
        assert start.status_code == 302, start.text
        async with httpx.AsyncClient() as browser:  # the platform's consent page
            consent = await browser.get(start.headers["location"])
        assert consent.status_code == 302
        back = consent.headers["location"]
        assert back.startswith(f"{PUBLIC_URL}/oauth/{platform}/callback?")
        page = await self.web.get(back.removeprefix(PUBLIC_URL))
        assert page.status_code == 200, page.text
        return page.text

    async def drain(self) -> None:
        await run_jobs(self.runtime, self.console)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with FakeYouTube() as youtube, FakeTikTok() as tiktok:
        settings = make_settings(
            tmp_path / "media",
            SECRET_KEY="k" * 32,
            PUBLIC_URL=PUBLIC_URL,
            YOUTUBE_CLIENT_ID=youtube.client_id,
            YOUTUBE_CLIENT_SECRET=youtube.client_secret,
            YOUTUBE_AUTH_URL=youtube.auth_url,
            YOUTUBE_TOKEN_URL=youtube.token_url,
            YOUTUBE_API_BASE_URL=youtube.api_base_url,
            TIKTOK_CLIENT_ID=tiktok.client_key,
            TIKTOK_CLIENT_SECRET=tiktok.client_secret,
            TIKTOK_AUTH_URL=tiktok.auth_url,
            TIKTOK_API_BASE_URL=tiktok.base_url,
        )
        async with open_runtime(settings) as opened:
            fast = PlatformClients(
                settings,
                tuning={
                    Platform.YOUTUBE: {"backoff_s": 0.01, "timeout_s": 2.0},
                    Platform.TIKTOK: {"poll_interval_s": 0.01, "backoff_s": 0.01},
                },
            )
            runtime = dataclasses.replace(
                opened, app=dataclasses.replace(opened.app, platforms=fast)
            )
            web_app = create_web_app(links=runtime.app.links, app=runtime.app)  # type: ignore[arg-type]
            transport = httpx.ASGITransport(app=web_app)
            async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as web:
                world = World(
                    runtime, youtube, tiktok, ConsoleChat(out=io.StringIO(), chat_ref=CHAT), web
                )
                await world.say("/start")
                async with runtime.app.sessions.begin() as session:
                    await session.execute(update(Workspace).values(allow_self_approval=True))
                yield world


async def _approved_draft(world: World, request: str) -> int:
    reply = await world.say(f"/draft {request}")
    number = int(re.search(r"Draft #(\d+)", reply.text).group(1))  # type: ignore[union-attr]
    await world.drain()
    approved = await world.press(Verb.APPROVE, number)
    assert "pproved" in approved.text, approved.text
    return number


async def test_connect_approve_and_publish_to_youtube_and_tiktok(world: World) -> None:
    page = await world.connect("youtube")
    assert "YouTube connected" in page
    assert "TikTok connected" in await world.connect("tiktok")
    await world.drain()
    told = "\n".join(r.text for r in world.console.replies)
    assert "✅ YouTube connected" in told and "✅ TikTok connected" in told

    accounts = await world.say("/accounts")
    assert "YouTube" in accounts.text and "TikTok" in accounts.text and "ok" in accounts.text
    async with world.runtime.app.sessions() as session:
        rows = (await session.scalars(select(SocialAccount))).all()
    assert {r.platform for r in rows} == {"youtube", "tiktok"}
    live = [*world.youtube._access, *world.youtube._refresh, *world.tiktok.access_tokens]
    for row in rows:  # encrypted at rest: no token in the clear
        assert row.token_ciphertext is not None
        assert not any(t.encode() in row.token_ciphertext for t in live)

    draft_id = await _approved_draft(
        world, "a 6 second clip about cold brew for youtube and tiktok"
    )
    await world.drain()

    assert len(world.youtube.videos) == 1
    assert len(world.tiktok.published) == 1
    async with world.runtime.app.sessions() as session:
        draft = await session.get(Draft, draft_id)
        publications = (await session.scalars(select(Publication))).all()
    assert draft is not None and draft.state == "published"
    assert {p.state for p in publications} == {PublicationState.PUBLISHED}
    (video,) = world.youtube.videos.values()
    result = world.console.replies[-1].text
    assert f"youtube.com/shorts/{video.id}" in result and "tiktok.com" in result
    assert "local outbox" not in result


async def test_a_lost_answer_is_confirmed_not_posted_twice(world: World) -> None:
    await world.connect("youtube")
    world.youtube.fail(Route.UPLOAD_FINAL, Fault.hang(4.0))  # the video is made; the answer late
    reply = await world.say("/draft a 6 second clip about cold brew for youtube")
    draft_id = int(re.search(r"Draft #(\d+)", reply.text).group(1))  # type: ignore[union-attr]
    await world.drain()
    await world.press(Verb.APPROVE, draft_id)
    ctx = {"app": world.runtime.app, "job_try": 1}

    with pytest.raises(Exception, match="Retry"):
        await publish_draft(ctx, draft_id)  # arq's Retry: try again later
    async with world.runtime.app.sessions() as session:
        (row,) = (await session.scalars(select(Publication))).all()
    assert row.state == PublicationState.UNCONFIRMED and row.remote_ref

    assert await publish_draft({**ctx, "job_try": 2}, draft_id) == "published"
    assert len(world.youtube.videos) == 1  # confirmed on YouTube, not uploaded again
    finals = world.youtube.routed(Route.UPLOAD_FINAL)
    assert len(finals) == 1


async def test_an_expired_token_is_refreshed_and_stored(world: World) -> None:
    await world.connect("youtube")
    async with world.runtime.app.sessions() as session:
        before = (await session.scalars(select(SocialAccount))).one().token_ciphertext
    for token in list(world.youtube._access):
        world.youtube.expire(token)

    await _approved_draft(world, "a 6 second clip about cold brew for youtube")
    await world.drain()

    assert len(world.youtube.videos) == 1
    async with world.runtime.app.sessions() as session:
        after = (await session.scalars(select(SocialAccount))).one()
    assert after.token_ciphertext != before and after.status == "ok"


async def test_revoked_access_marks_the_account_and_says_reconnect(world: World) -> None:
    await world.connect("youtube")
    for token in list(world.youtube._access):
        world.youtube.expire(token)
    for token in list(world.youtube._refresh):
        world.youtube.revoke(token)

    await _approved_draft(world, "a 6 second clip about cold brew for youtube")
    await world.drain()

    assert not world.youtube.videos
    told = world.console.replies[-1].text
    assert "/connect youtube" in told and "failed" in told
    async with world.runtime.app.sessions() as session:
        account = (await session.scalars(select(SocialAccount))).one()
    assert account.status == "reconnect"
    assert "needs reconnecting" in (await world.say("/accounts")).text

    assert "connected" in (await world.connect("youtube")).lower()  # the same channel again
    again = await world.say("/publish 1")
    assert "again" in again.text, again.text
    await world.drain()
    assert len(world.youtube.videos) == 1
    assert "published" in world.console.replies[-1].text
    async with world.runtime.app.sessions() as session:
        account = (await session.scalars(select(SocialAccount))).one()
        draft = await session.get(Draft, 1)
    assert account.status == "ok" and draft is not None and draft.state == "published"
    assert "only retries" in (await world.say("/publish 1")).text


async def test_connect_links_are_single_use_and_signed(world: World) -> None:
    reply = await world.say("/connect youtube")
    link = re.search(r"open (\S+)", reply.text).group(1)  # type: ignore[union-attr]
    state = link.split("state=", 1)[1]
    forged = await world.web.get(f"/oauth/youtube/callback?state={state[:-2]}xx&code=c")
    assert forged.status_code == 400 and "not valid" in forged.text

    assert "connected" in (await world.connect("youtube")).lower()
    again = await world.web.get(f"/oauth/youtube/callback?state={state}&code=whatever")
    assert again.status_code == 400  # a different state was used; this one never finished
    denied = await world.web.get(f"/oauth/youtube/callback?state={state}&error=access_denied")
    assert denied.status_code == 400 and "did not grant access" in denied.text


async def test_connect_needs_an_owner_and_a_configured_platform(world: World) -> None:
    await world.say("/start", user="bob")  # joins as the default role
    refused = await world.say("/connect youtube", user="bob")
    assert "Only owners" in refused.text
    facebook = await world.say("/connect facebook")
    assert "FACEBOOK_CLIENT_ID" in facebook.text
    assert "don't know the platform" in (await world.say("/connect myspace")).text


async def test_two_runs_at_once_post_once(world: World) -> None:
    await world.connect("youtube")
    world.youtube.fail(Route.UPLOAD_FINAL, Fault.hang(1.0))  # slow, but answered in time
    draft_id = await _approved_draft(world, "a 6 second clip about cold brew for youtube")
    ctx = {"app": world.runtime.app, "job_try": 1}

    outcomes = await asyncio.gather(
        publish_draft(ctx, draft_id), publish_draft(ctx, draft_id), return_exceptions=True
    )

    assert "published" in outcomes
    other = next(o for o in outcomes if o != "published")
    assert isinstance(other, Retry) or other == "draft is published"
    assert len(world.youtube.videos) == 1
    assert len(world.youtube.routed(Route.UPLOAD_FINAL)) == 1


async def test_publishing_stopped_by_a_lost_queue_is_recovered(world: World) -> None:
    await world.connect("youtube")
    draft_id = await _approved_draft(world, "a 6 second clip about cold brew for youtube")
    async with world.runtime.app.sessions.begin() as session:  # the job started, then was lost
        await session.execute(
            update(Draft)
            .where(Draft.id == draft_id)
            .values(state="publishing", updated_at=utcnow() - timedelta(hours=1))
        )
    await world.runtime.app.queue.flushdb()
    ctx = {"app": world.runtime.app}

    assert await reconcile_schedules(ctx) == "1 re-queued"
    assert await reconcile_schedules(ctx) == "0 re-queued"  # not twice
    await world.drain()

    assert len(world.youtube.videos) == 1
    async with world.runtime.app.sessions() as session:
        draft = await session.get(Draft, draft_id)
    assert draft is not None and draft.state == "published"
