"""The analytics cron job through the App that open_runtime builds: real YouTube client against
the loopback fake, the local outbox through the real OutboxPublisher, snapshots in the database."""

from __future__ import annotations

import json
from pathlib import Path

from bot.runtime import cron_jobs, open_runtime
from handlers.metrics import COLLECT_METRICS_JOB, collect_metrics, collect_workspace_metrics
from services.content import Platform, PlatformMeta
from services.models import utcnow
from services.oauth_types import TokenSet
from services.publishing import Publisher, PublishRequest
from tests.conftest import make_settings
from tests.fakes.meta_server import FakeMeta
from tests.fakes.tiktok_server import FakeTikTok
from tests.fakes.youtube_server import FakeYouTube, Fault, Route, Video
from tests.services.metrics.world import Seed, fake_settings, figures, hours, snapshots


async def test_the_cron_job_stores_snapshots_through_the_app(tmp_path: Path) -> None:
    async with FakeYouTube() as youtube, FakeTikTok() as tiktok, FakeMeta() as meta:
        settings = make_settings(
            tmp_path / "media", **fake_settings(tmp_path, youtube, tiktok, meta)
        )
        async with open_runtime(settings) as runtime:
            app = runtime.app
            seed = Seed(app.sessions)
            workspace = await seed.workspace()
            access, refresh = youtube.issue_tokens()
            channel = await seed.account(
                workspace, "youtube", TokenSet(access, refresh, utcnow() + hours(1))
            )
            youtube.videos["abcdefghijk"] = _video(youtube, "abcdefghijk")
            youtube.set_statistics("abcdefghijk", views=321, likes=12, comments=4)
            on_youtube = await seed.post(channel, "abcdefghijk")
            outbox = await seed.account(workspace, "tiktok", kind="outbox", name="outbox")
            local = await seed.post(outbox)
            await _publish_to_outbox(app.publisher, tmp_path, local)
            folder = settings.media_dir / "outbox" / "tiktok" / str(local)
            (folder / "metrics.json").write_text(json.dumps({"views": 120, "likes": 8}))

            summary = await collect_metrics({"app": app})

            assert "youtube 1" in summary and "tiktok 1" in summary
            assert [figures(r) for r in await snapshots(app.sessions, on_youtube)] == [
                (321, 12, 4, 0, None)
            ]
            assert [figures(r) for r in await snapshots(app.sessions, local)] == [
                (120, 8, 0, 0, None)
            ]

            # Before a digest: nothing is due, so nothing is asked, and nothing is wrong.
            report = await collect_workspace_metrics(app, workspace)
            assert report.collected == {} and not report.problems
            assert len(youtube.routed(Route.VIDEOS_LIST)) == 1


async def test_a_failure_before_a_digest_is_in_its_report(tmp_path: Path) -> None:
    async with FakeYouTube() as youtube, FakeTikTok() as tiktok, FakeMeta() as meta:
        settings = make_settings(
            tmp_path / "media", **fake_settings(tmp_path, youtube, tiktok, meta)
        )
        async with open_runtime(settings) as runtime:
            seed = Seed(runtime.app.sessions)
            workspace = await seed.workspace()
            access, refresh = youtube.issue_tokens()
            channel = await seed.account(
                workspace, "youtube", TokenSet(access, refresh, utcnow() + hours(1)), name="Café"
            )
            youtube.videos["abcdefghijk"] = _video(youtube, "abcdefghijk")
            await seed.post(channel, "abcdefghijk")
            youtube.fail(Route.VIDEOS_LIST, Fault.error(503, "backendError"))

            report = await collect_workspace_metrics(runtime.app, workspace)

            assert [p.line() for p in report.problems_in(workspace)] == [
                "YouTube (Café): figures not updated (busy): YouTube is busy "
                "(HTTP 503 backendError)"
            ]


def test_the_collector_runs_every_15_minutes() -> None:
    (job,) = [j for j in cron_jobs() if j.name == COLLECT_METRICS_JOB]
    assert job.coroutine is collect_metrics
    assert job.minute == {0, 15, 30, 45}
    assert job.unique


def _video(youtube: FakeYouTube, video_id: str) -> Video:
    return Video(video_id, youtube.channel_id, "u", {}, {}, 1, "")


async def _publish_to_outbox(publisher: Publisher, tmp_path: Path, publication_id: int) -> None:
    video, thumbnail = tmp_path / "video.mp4", tmp_path / "thumbnail.png"
    video.write_bytes(b"v" * 100)
    thumbnail.write_bytes(b"png")
    meta = PlatformMeta(platform=Platform.TIKTOK, title="T", caption="C", hashtags=())
    request = PublishRequest(publication_id, "v1:a1", 1, 1, video, thumbnail, meta)
    await publisher.publish(request)
