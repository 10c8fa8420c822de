"""The local outbox: one folder per publication, written once, never half-written."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from services.content import Platform, PlatformMeta
from services.outbox import OutboxPublisher
from services.publishing import PublishError, PublishRequest


def request(tmp_path: Path, publication_id: int = 5) -> PublishRequest:
    video, thumb = tmp_path / "video.mp4", tmp_path / "thumbnail.png"
    video.write_bytes(b"video" * 1000)
    thumb.write_bytes(b"png")
    meta = PlatformMeta(platform=Platform.TIKTOK, title="T", caption="C", hashtags=("#a", "#b"))
    return PublishRequest(publication_id, "v1:a1", 3, 1, video, thumb, meta)


async def test_publishes_once(tmp_path: Path) -> None:
    outbox = OutboxPublisher(root=tmp_path / "outbox")
    req = request(tmp_path)
    first = await outbox.publish(req)
    folder = tmp_path / "outbox" / "tiktok" / "5"
    assert first.url == folder.resolve().as_uri()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest | {"published_at": None} == {
        "publication_id": 5,
        "idempotency_key": "v1:a1",
        "platform": "tiktok",
        "title": "T",
        "caption": "C",
        "hashtags": ["#a", "#b"],
        "draft_id": 3,
        "version": 1,
        "published_at": None,
    }
    stamp = (folder / "manifest.json").stat().st_mtime_ns
    again = await asyncio.gather(*(outbox.publish(req) for _ in range(4)))
    assert {r.url for r in again} == {first.url}
    assert (folder / "manifest.json").stat().st_mtime_ns == stamp
    assert sorted(p.name for p in folder.parent.iterdir()) == ["5"]


async def test_missing_video_fails_cleanly(tmp_path: Path) -> None:
    outbox = OutboxPublisher(root=tmp_path / "outbox")
    req = request(tmp_path)
    req.video_path.unlink()
    with pytest.raises(PublishError, match="video file is missing"):
        await outbox.publish(req)
    assert not (tmp_path / "outbox" / "tiktok" / "5").exists()
    leftovers = list((tmp_path / "outbox").rglob("*")) if (tmp_path / "outbox").exists() else []
    assert leftovers == []
