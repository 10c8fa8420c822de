"""Bot and worker on different machines: PostgreSQL, a Redis server and an S3-compatible
store shared, each process with a media folder of its own (its cache)."""

from __future__ import annotations

import asyncio
import io
import logging
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from PIL import Image
from sqlalchemy import select

from bot.console import ConsoleChat
from bot.runtime import chat_worker, open_runtime
from handlers.port import Attachment, Incoming
from handlers.router import handle
from services.models import Draft, DraftVersion, MediaItem
from tests.bot.test_processes import SOCIALBOT, clean_env
from tests.conftest import make_settings
from tests.fakes.s3_server import ACCESS_KEY, SECRET_KEY, S3Server, s3_server

pytestmark = pytest.mark.slow
BUCKET = "socialbot-scale-out"


@pytest.fixture
def s3() -> Iterator[S3Server]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with s3_server() as server:
        yield server


def objects(s3: S3Server) -> set[str]:
    client = boto3.client(
        "s3",
        endpoint_url=s3.endpoint_url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
    )
    listed = client.list_objects_v2(Bucket=BUCKET)
    return {o["Key"] for o in listed.get("Contents", [])}


async def test_bot_and_worker_share_only_the_database_queue_and_store(
    tmp_path: Path, postgres_url: str, redis_server_url: str, s3: S3Server
) -> None:
    bot_media, worker_media = tmp_path / "bot-machine", tmp_path / "worker-machine"
    shared = {"DATABASE_URL": postgres_url, "REDIS_URL": redis_server_url} | s3.settings(BUCKET)
    settings = make_settings(bot_media, **shared)
    async with open_runtime(settings, apply_migrations=True) as runtime:
        app = runtime.app

        async def say(text: str, files: tuple[Attachment, ...] = ()) -> str:
            replies = await handle(
                app, Incoming("console:t", "console:u", "u", text=text, attachments=files)
            )
            return "\n".join(r.text for r in replies)

        await say("/start")
        photo = tmp_path / "upload.jpg"
        Image.new("RGB", (1080, 1920), (200, 120, 40)).save(photo)
        assert "Added to the media library" in await say(
            "/media", (Attachment(photo, "menu.jpg"),)
        )
        await say("/draft a 6 second reel about our autumn menu for instagram")

        worker = subprocess.Popen(
            [str(SOCIALBOT), "worker"],
            cwd=tmp_path,
            env=clean_env(MEDIA_DIR=str(worker_media), **shared),
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            for _ in range(900):
                async with app.sessions() as session:
                    state = (await session.execute(select(Draft.state))).scalar_one()
                if state in ("ready", "failed"):
                    break
                await asyncio.sleep(0.1)
            assert state == "ready"
            # "ready" is committed before the worker checks the render and queues the
            # preview: drain the chat queue until the preview has come through.
            console = ConsoleChat(out=io.StringIO(), chat_ref="console:t")
            for _ in range(300):
                chat = chat_worker(runtime, {"console": console}, burst=True, poll_delay=0)
                try:
                    await chat.run_check()
                finally:
                    await chat.close()
                previews = [r for r in console.replies if r.buttons and r.media]
                if previews:
                    break
                await asyncio.sleep(0.1)
            assert len(previews) == 1
            # The bot fetched the worker's render from the store into its own folder.
            video = previews[0].media[0].path
            assert video.is_relative_to(bot_media.resolve()) and video.stat().st_size > 10_000

            approve = next(b for b in previews[0].buttons if b.label.startswith("Approve"))
            await handle(app, Incoming("console:t", "console:u", "u", button=approve.id))
            for _ in range(600):
                async with app.sessions() as session:
                    state = (await session.execute(select(Draft.state))).scalar_one()
                if state in ("published", "failed", "partially_published"):
                    break
                await asyncio.sleep(0.1)
            assert state == "published"
        finally:
            worker.send_signal(signal.SIGTERM)
            _, stderr = worker.communicate(timeout=90)
        assert worker.returncode == 0, stderr

        async with app.sessions() as session:
            version = (await session.execute(select(DraftVersion))).scalar_one()
            item = (await session.execute(select(MediaItem))).scalar_one()
    # The database names files by reference, never by one machine's path.
    assert version.video_path == "drafts/1/v1/video.mp4"
    assert not Path(item.path).is_absolute()
    stored = objects(s3)
    assert {version.video_path, version.thumbnail_path, version.audio_path, item.path} <= stored
    # The worker rendered with the library photo the bot received: fetched into its cache.
    assert (worker_media / item.path).read_bytes() == (bot_media / item.path).read_bytes()
    # What the worker rendered is byte for byte what the bot showed, and what it published.
    assert (worker_media / version.video_path).read_bytes() == video.read_bytes()
    posted = list((worker_media / "outbox").glob("*/*/video.mp4"))
    assert len(posted) == 1 and posted[0].read_bytes() == video.read_bytes()
