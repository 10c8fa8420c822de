"""Collecting figures end to end: the real readers against the loopback YouTube, TikTok and Meta
fakes, tokens from the database through StoredTokens, snapshots in a real SQLite database."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from services.db import SessionFactory
from services.metrics.collect import (
    Cadence,
    CollectionReport,
    MetricsSources,
    ProblemKind,
    collect,
    collect_for_workspace,
)
from services.models import MetricSnapshot, SocialAccount, utcnow
from services.oauth_types import TokenSet
from tests.conftest import make_settings
from tests.fakes import meta_server, tiktok_server, youtube_server
from tests.fakes.meta_server import FakeMeta
from tests.fakes.tiktok_server import FakeTikTok
from tests.fakes.youtube_server import FakeYouTube, Route
from tests.services.metrics.world import (
    Seed,
    fake_settings,
    figures,
    hours,
    snapshots,
    sources_for,
)

IG_USER = "17841405822304914"
PAGE = "20531316728"


@dataclass
class World:
    sessions: SessionFactory
    sources: MetricsSources
    seed: Seed
    youtube: FakeYouTube
    tiktok: FakeTikTok
    meta: FakeMeta
    outbox: Path
    workspace: int

    async def collect(self, **kwargs: object) -> CollectionReport:
        return await collect(self.sources, **kwargs)  # type: ignore[arg-type]

    # -- accounts, as /connect would have stored them --------------------------------------

    async def youtube_account(self, name: str = "Fake Channel", workspace: int = 0) -> int:
        access, refresh = self.youtube.issue_tokens()
        tokens = TokenSet(access, refresh, expires_at=utcnow() + hours(1))
        return await self.seed.account(workspace or self.workspace, "youtube", tokens, name=name)

    async def tiktok_account(self, scope: str | None = None) -> int:
        access, refresh = self.tiktok.issue_tokens(scope)
        tokens = TokenSet(access, refresh, expires_at=utcnow() + hours(24), scope=scope or "")
        return await self.seed.account(self.workspace, "tiktok", tokens, name="Café Lumen")

    async def instagram_account(self) -> int:
        token = self.meta.issue("long")
        tokens = TokenSet(token, expires_at=utcnow() + timedelta(days=59))
        return await self.seed.account(
            self.workspace, "instagram", tokens, name="@bakery", external_id=IG_USER
        )

    async def facebook_account(self) -> int:
        tokens = TokenSet(self.meta.page(PAGE).token)
        return await self.seed.account(
            self.workspace, "facebook", tokens, name="Corner Bakery", external_id=PAGE
        )

    async def outbox_account(self, platform: str = "tiktok") -> int:
        return await self.seed.account(self.workspace, platform, kind="outbox", name="outbox")

    # -- posts on the fakes ----------------------------------------------------------------

    def youtube_video(
        self, video_id: str, views: int = 0, likes: int = 0, comments: int = 0
    ) -> str:
        self.youtube.videos[video_id] = youtube_server.Video(
            id=video_id,
            channel_id=self.youtube.channel_id,
            upload_id="u",
            snippet={},
            status={},
            size=1,
            sha256="",
        )
        self.youtube.set_statistics(video_id, views=views, likes=likes, comments=comments)
        return video_id

    def tiktok_video(self, post_id: int, **metrics: int) -> str:
        post = tiktok_server.Post(
            publish_id=f"v_pub_file~v2-1.{post_id}",
            upload_id=str(post_id),
            mode="direct",
            open_id=self.tiktok.creator.open_id,
            post_info={"privacy_level": "PUBLIC_TO_EVERYONE", "title": "t"},
            video_size=1,
            chunk_size=1,
            total_chunk_count=1,
            status="PUBLISH_COMPLETE",
            post_id=post_id,
        )
        self.tiktok.posts[post.publish_id] = post
        self.tiktok.set_metrics(post_id, **metrics)
        return str(post_id)

    def meta_post(self, post_id: str, platform: str, **values: object) -> str:
        owner = IG_USER if platform == "instagram" else PAGE
        post = meta_server.Post(post_id, platform, owner, "caption", "/p/", "2026-01-01T00:00:00")
        self.meta.posts.append(replace(post, **values))  # type: ignore[arg-type]
        return post_id

    def metrics_file(self, platform: str, publication_id: int) -> Path:
        return self.outbox / platform / str(publication_id) / "metrics.json"


@pytest.fixture
async def world(sessions: SessionFactory, tmp_path: Path) -> AsyncIterator[World]:
    async with FakeYouTube() as youtube, FakeTikTok() as tiktok, FakeMeta() as meta:
        meta.scopes = {"instagram_manage_insights", "read_insights", "pages_read_engagement"}
        settings = make_settings(
            tmp_path / "media", **fake_settings(tmp_path, youtube, tiktok, meta)
        )
        outbox = tmp_path / "media" / "outbox"
        seed = Seed(sessions)
        workspace = await seed.workspace()
        yield World(
            sessions,
            sources_for(sessions, settings, outbox),
            seed,
            youtube,
            tiktok,
            meta,
            outbox,
            workspace,
        )


# -- cadence -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "last", "due"),
    [
        (hours(1), None, True),  # never read yet
        (hours(1), hours(0.5), False),
        (hours(3), hours(2.5), True),
        (hours(3), hours(1.5), False),
        (hours(5), hours(1.95), True),  # the last run's stamp came a little after its start
        (hours(47), hours(2), True),
        (hours(24 * 10), hours(20), False),
        (hours(24 * 10), hours(25), True),
        (timedelta(days=89), hours(30), True),
        (timedelta(days=91), hours(30), False),  # after 90 days: never again
        (timedelta(days=91), None, False),
    ],
)
def test_cadence(age: timedelta, last: timedelta | None, due: bool) -> None:
    now = utcnow()
    assert Cadence().due(now - age, None if last is None else now - last, now) is due


async def test_the_cadence_picks_the_posts_read(world: World) -> None:
    account = await world.youtube_account()
    ages = {
        "fresh-read": (hours(1), [hours(0.5)]),
        "early-due": (hours(3), [hours(2.5)]),
        "daily-read": (hours(240), [hours(20)]),
        "daily-due": (hours(240), [hours(26)]),
        "too-old": (timedelta(days=91), []),
        "never-read": (hours(0.2), []),
    }
    now = utcnow()
    ids = {}
    for video, (age, taken) in ages.items():
        world.youtube_video(video, views=5)
        ids[video] = await world.seed.post(account, video, age=age, snapshots=taken, now=now)

    report = await world.collect(now=now)

    (call,) = world.youtube.routed(Route.VIDEOS_LIST)
    assert sorted(call.query["id"].split(",")) == ["daily-due", "early-due", "never-read"]
    assert call.query["part"] == "statistics"
    assert report.collected == {"youtube": 3} and not report.problems
    for video, publication in ids.items():
        rows = await snapshots(world.sessions, publication)
        new = [r for r in rows if r.taken_at == now]
        assert len(new) == (video in {"daily-due", "early-due", "never-read"}), video
    again = await world.collect(now=now + timedelta(minutes=15))
    assert again.collected == {} and len(world.youtube.routed(Route.VIDEOS_LIST)) == 1


# -- figures from each platform --------------------------------------------------------------


async def test_each_platforms_figures_land_in_snapshots(world: World) -> None:
    youtube = await world.youtube_account()
    tiktok = await world.tiktok_account()
    instagram = await world.instagram_account()
    facebook = await world.facebook_account()
    yt = await world.seed.post(youtube, world.youtube_video("dQw4w9WgXcQ", 1500, 120, 7))
    tt = await world.seed.post(
        tiktok,
        world.tiktok_video(7301, view_count=900, like_count=80, comment_count=6, share_count=4),
    )
    private = await world.seed.post(tiktok, "v_pub_file~v2-1.7302")  # SELF_ONLY: no post id
    ig = await world.seed.post(
        instagram,
        world.meta_post(
            "17900000000000001",
            "instagram",
            views=640,
            likes=51,
            comments=3,
            shares=9,
            watch_time_ms=812_500,
        ),
    )
    fb = await world.seed.post(
        facebook,
        world.meta_post(
            "122000000000000001",
            "facebook",
            views=310,
            likes=20,
            comments=2,
            shares=5,
            watch_time_ms=95_000,
            reactions={"REACTION_LOVE": 4, "REACTION_WOW": 1},
        ),
    )

    report = await world.collect()

    assert [figures(r) for r in await snapshots(world.sessions, yt)] == [(1500, 120, 7, 0, None)]
    assert [figures(r) for r in await snapshots(world.sessions, tt)] == [(900, 80, 6, 4, None)]
    assert [figures(r) for r in await snapshots(world.sessions, ig)] == [(640, 51, 3, 9, 812.5)]
    assert [figures(r) for r in await snapshots(world.sessions, fb)] == [(310, 25, 2, 5, 95.0)]
    assert await snapshots(world.sessions, private) == []
    assert report.collected == {"youtube": 1, "tiktok": 1, "instagram": 1, "facebook": 1}
    assert report.skipped["tiktok"] == 1 and not report.problems
    (query,) = world.tiktok.on("video_query")
    assert query.json == {"filters": {"video_ids": ["7301"]}}
    assert set(query.query["fields"].split(",")) >= {"view_count", "share_count"}
    (insights,) = world.meta.calls(meta_server.INSIGHTS)
    assert "plays" not in insights.query["metric"].split(",")
    assert world.meta.calls(meta_server.VIDEO_INSIGHTS)[0].path.endswith(
        "/122000000000000001/video_insights"
    )


async def test_youtube_asks_for_50_videos_a_call(world: World) -> None:
    account = await world.youtube_account()
    posts = [
        await world.seed.post(account, world.youtube_video(f"vid{n:08d}", views=n))
        for n in range(60)
    ]

    report = await world.collect()

    calls = world.youtube.routed(Route.VIDEOS_LIST)
    assert [len(c.query["id"].split(",")) for c in calls] == [50, 10]
    assert report.collected == {"youtube": 60}
    assert [figures(r)[0] for r in await snapshots(world.sessions, posts[59])] == [59]


async def test_tiktok_asks_for_20_videos_a_call(world: World) -> None:
    account = await world.tiktok_account()
    for n in range(45):
        await world.seed.post(account, world.tiktok_video(8000 + n, view_count=n))

    report = await world.collect()

    assert [len(c.json["filters"]["video_ids"]) for c in world.tiktok.on("video_query")] == [
        20,
        20,
        5,
    ]
    assert report.collected == {"tiktok": 45}


# -- failures stay with their platform -------------------------------------------------------


async def test_a_busy_or_failing_platform_does_not_stop_the_others(world: World) -> None:
    first = await world.youtube_account("Channel A")
    second = await world.youtube_account("Channel B")
    tiktok = await world.tiktok_account()
    instagram = await world.instagram_account()
    outbox = await world.outbox_account("facebook")
    yt_a = await world.seed.post(first, world.youtube_video("aaaaaaaaaaa", 10))
    yt_b = await world.seed.post(second, world.youtube_video("bbbbbbbbbbb", 20))
    tt = await world.seed.post(tiktok, world.tiktok_video(7401, view_count=30))
    ig = await world.seed.post(
        instagram, world.meta_post("17900000000000002", "instagram", views=40)
    )
    box = await world.seed.post(outbox)
    world.youtube.fail(
        Route.VIDEOS_LIST,
        youtube_server.Fault.error(429, "rateLimitExceeded", "Too many requests", retry_after=30),
    )
    world.tiktok.fail("video_query", tiktok_server.Fault.error(500, "internal_error"))

    report = await world.collect()

    assert report.collected == {"instagram": 1, "facebook": 1}
    assert report.failed_platforms == {"youtube", "tiktok"}
    kinds = {(p.platform, p.account): p.kind for p in report.problems}
    assert kinds == {
        ("youtube", "Channel A"): ProblemKind.BUSY,
        ("youtube", "Channel B"): ProblemKind.BUSY,  # spared: the limit is the app's
        ("tiktok", "Café Lumen"): ProblemKind.BUSY,
    }
    assert len(world.youtube.routed(Route.VIDEOS_LIST)) == 1
    lines = "\n".join(p.line() for p in report.problems_in(world.workspace))
    assert "YouTube (Channel A)" in lines and "TikTok (Café Lumen)" in lines and "429" in lines
    assert "snapshots stored" in report.summary() and "TikTok" in report.summary()
    assert [figures(r)[0] for r in await snapshots(world.sessions, ig)] == [40]
    assert len(await snapshots(world.sessions, box)) == 1  # the outbox, a missing file: zeros
    for publication in (yt_a, yt_b, tt):
        assert await snapshots(world.sessions, publication) == []

    retried = await world.collect()  # the failed posts stayed due; the others did not

    assert retried.collected == {"youtube": 2, "tiktok": 1} and not retried.problems


async def test_youtube_quota_is_reported_and_figures_read_before_it_are_kept(
    world: World,
) -> None:
    account = await world.youtube_account()
    for n in range(60):
        await world.seed.post(account, world.youtube_video(f"q{n:010d}", views=1))
    world.youtube.fail(Route.VIDEOS_LIST, youtube_server.Fault(), youtube_server.Fault.quota())

    report = await world.collect()

    assert report.collected == {"youtube": 50}
    (problem,) = report.problems
    assert problem.kind is ProblemKind.BUSY and "quota" in problem.reason


async def test_a_revoked_account_is_skipped_and_reported(world: World) -> None:
    youtube = await world.youtube_account()
    tiktok = await world.tiktok_account()
    await world.seed.post(youtube, world.youtube_video("rrrrrrrrrrr", 10))
    tt = await world.seed.post(tiktok, world.tiktok_video(7501, view_count=3))
    for token in list(world.youtube._access):
        world.youtube.expire(token)
    for token in list(world.youtube._refresh):
        world.youtube.revoke(token)

    report = await world.collect()

    (problem,) = report.problems
    assert (problem.platform, problem.kind) == ("youtube", ProblemKind.RECONNECT)
    assert "/connect youtube" in problem.reason
    assert report.collected == {"tiktok": 1}
    assert len(await snapshots(world.sessions, tt)) == 1
    async with world.sessions() as s:
        row = await s.get(SocialAccount, youtube)
    assert row is not None and row.status == "reconnect"

    calls = len(world.youtube.requests)
    again = await world.collect()

    assert len(world.youtube.requests) == calls  # known to need reconnecting: not tried
    assert [(p.platform, p.kind) for p in again.problems] == [("youtube", ProblemKind.RECONNECT)]
    assert "needs reconnecting" in again.problems[0].reason


async def test_tiktok_without_the_video_list_scope_asks_to_reconnect(world: World) -> None:
    account = await world.tiktok_account(scope="user.info.basic,video.publish,video.upload")
    await world.seed.post(account, world.tiktok_video(7601, view_count=3))

    report = await world.collect()

    (problem,) = report.problems
    assert problem.kind is ProblemKind.RECONNECT and "/connect tiktok" in problem.reason


async def test_instagram_insights_need_their_permission(world: World) -> None:
    account = await world.instagram_account()
    await world.seed.post(account, world.meta_post("17900000000000003", "instagram", views=1))
    world.meta.scopes = {"instagram_basic", "instagram_content_publish"}

    report = await world.collect()

    (problem,) = report.problems
    assert problem.kind is ProblemKind.RECONNECT and "/connect instagram" in problem.reason


async def test_a_post_meta_will_not_report_is_left_out_alone(world: World) -> None:
    account = await world.instagram_account()
    quiet = await world.seed.post(account, world.meta_post("17900000000000004", "instagram"))
    gone = await world.seed.post(account, "17900000000000099")  # deleted on Instagram
    seen = await world.seed.post(
        account, world.meta_post("17900000000000005", "instagram", views=7)
    )
    few = "(#10) Not enough viewers for the media to show insights"
    world.meta.fail(meta_server.INSIGHTS, meta_server.Fault.error(400, 10, few))

    report = await world.collect()

    assert report.collected == {"instagram": 1} and report.skipped == {"instagram": 2}
    assert not report.problems
    assert await snapshots(world.sessions, quiet) == []
    assert await snapshots(world.sessions, gone) == []
    assert [figures(r)[0] for r in await snapshots(world.sessions, seen)] == [7]


async def test_meta_rate_limit_stops_the_platform_for_this_run(world: World) -> None:
    account = await world.instagram_account()
    for n in range(3):
        await world.seed.post(account, world.meta_post(f"1790000000000010{n}", "instagram"))
    limited = meta_server.Fault.error(400, 4, "(#4) Application request limit reached")
    world.meta.fail(meta_server.INSIGHTS, meta_server.Fault.slow(0.001), limited)

    report = await world.collect()

    assert report.collected == {"instagram": 1}
    assert [p.kind for p in report.problems] == [ProblemKind.BUSY]
    assert len(world.meta.calls(meta_server.INSIGHTS)) == 2  # the third was not asked


# -- the local outbox ----------------------------------------------------------------------------


async def test_outbox_figures_come_from_the_editable_file(world: World) -> None:
    account = await world.outbox_account("youtube")
    edited, missing, broken = [await world.seed.post(account) for _ in range(3)]
    for publication, text in (
        (edited, '{"views": 120, "likes": 8, "comments": 2, "shares": 1, "watch_time_s": 300}'),
        (broken, '{"views": "lots",'),
    ):
        world.metrics_file("youtube", publication).parent.mkdir(parents=True)
        world.metrics_file("youtube", publication).write_text(text)
    start = utcnow()
    for publication in (edited, broken):  # written well before the first run
        _touch(world.metrics_file("youtube", publication), start - timedelta(minutes=1))

    report = await world.collect(now=start)

    assert [figures(r) for r in await snapshots(world.sessions, edited)] == [(120, 8, 2, 1, 300.0)]
    assert [figures(r) for r in await snapshots(world.sessions, missing)] == [(0, 0, 0, 0, None)]
    assert await snapshots(world.sessions, broken) == []
    assert report.collected == {"youtube": 2} and report.skipped == {"youtube": 1}
    assert not report.problems

    later = start + timedelta(minutes=15)
    again = await world.collect(now=later)  # only the broken one is due, and still broken
    assert again.collected == {} and again.skipped == {"youtube": 1}

    world.metrics_file("youtube", broken).write_text(json.dumps({"views": 9}))
    world.metrics_file("youtube", edited).write_text(json.dumps({"views": 150, "likes": 9}))
    _touch(world.metrics_file("youtube", edited), later + timedelta(minutes=1))
    fixed = await world.collect(now=later + timedelta(minutes=15))

    assert fixed.collected == {"youtube": 2}  # edited since: due at once; the missing one is not
    assert [figures(r)[:2] for r in await snapshots(world.sessions, edited)] == [(120, 8), (150, 9)]
    assert [figures(r)[0] for r in await snapshots(world.sessions, broken)] == [9]


def _touch(path: Path, when: datetime) -> None:
    os.utime(path, (when.timestamp(), when.timestamp()))


# -- scope and repetition ------------------------------------------------------------------------


async def test_collect_for_workspace_reads_only_that_workspace(world: World) -> None:
    other = await world.seed.workspace("Other")
    mine = await world.youtube_account("Mine")
    theirs = await world.youtube_account("Theirs", workspace=other)
    ours = await world.seed.post(mine, world.youtube_video("mmmmmmmmmmm", 4))
    await world.seed.post(theirs, world.youtube_video("ttttttttttt", 5))

    report = await collect_for_workspace(world.sources, world.workspace)

    assert report.collected == {"youtube": 1}
    (call,) = world.youtube.routed(Route.VIDEOS_LIST)
    assert call.query["id"] == "mmmmmmmmmmm"
    assert len(await snapshots(world.sessions, ours)) == 1


async def test_running_twice_stores_each_snapshot_once(world: World) -> None:
    account = await world.youtube_account()
    publication = await world.seed.post(account, world.youtube_video("ooooooooooo", 4))
    now = utcnow()

    first = await world.collect(now=now)
    second = await world.collect(now=now)

    assert first.collected == {"youtube": 1} and second.collected == {}
    async with world.sessions() as s:
        rows = (await s.scalars(select(MetricSnapshot))).all()
    assert [r.publication_id for r in rows] == [publication]


async def test_accounts_need_the_keys_on_this_worker(world: World) -> None:
    account = await world.youtube_account()
    await world.seed.post(account, world.youtube_video("nnnnnnnnnnn", 4))
    bare = replace(world.sources, platforms=None, accounts=None)

    report = await collect(bare)

    (problem,) = report.problems
    assert problem.kind is ProblemKind.FAILED and "SECRET_KEY" in problem.reason


async def test_two_runs_at_once_store_one_snapshot(world: World) -> None:
    account = await world.youtube_account()
    publication = await world.seed.post(account, world.youtube_video("ccccccccccc", 4))
    now = utcnow()

    reports = await asyncio.gather(world.collect(now=now), world.collect(now=now))

    assert len(world.youtube.routed(Route.VIDEOS_LIST)) == 2  # both found it due and read it
    assert sorted(r.collected.get("youtube", 0) for r in reports) == [0, 1]
    assert len(await snapshots(world.sessions, publication)) == 1
