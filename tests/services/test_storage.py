"""The media store: the local folder, and an S3-compatible server on loopback (moto's)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.storage import MediaMissing, MediaStore, S3Store, StoreUnavailable
from tests.fakes.s3_server import ACCESS_KEY, SECRET_KEY, S3Server, s3_server


@pytest.fixture
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        yield server


def s3_store(root: Path, s3: S3Server, *, prefix: str = "") -> S3Store:
    return S3Store(
        root,
        bucket="socialbot-media",
        prefix=prefix,
        endpoint_url=s3.endpoint_url,
        region="us-east-1",
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
    )


def test_references_are_relative_and_stay_inside_the_folder(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    assert store.ref(tmp_path / "drafts" / "1" / "v1" / "video.mp4") == "drafts/1/v1/video.mp4"
    assert store.path("drafts/1/v1/video.mp4") == tmp_path.resolve() / "drafts/1/v1/video.mp4"
    legacy = tmp_path / "old" / "video.mp4"  # rows written before references were
    assert store.path(str(legacy)) == legacy
    with pytest.raises(ValueError):
        store.ref(tmp_path.parent / "elsewhere.mp4")
    with pytest.raises(ValueError):
        store.path("../../etc/passwd")


async def test_local_store_says_when_a_file_is_missing(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    with pytest.raises(MediaMissing, match=r"video\.mp4"):
        await store.local("drafts/1/v1/video.mp4")
    (tmp_path / "a.png").write_bytes(b"png")
    assert (await store.local("a.png")).read_bytes() == b"png"
    await store.delete("a.png")
    assert not (tmp_path / "a.png").exists()


async def test_a_file_saved_on_one_machine_is_fetched_on_another(
    tmp_path: Path, s3: S3Server
) -> None:
    one = s3_store(tmp_path / "one", s3, prefix="team-a")
    two = s3_store(tmp_path / "two", s3, prefix="team-a")
    await one.create_bucket()
    await two.create_bucket()  # already there: nothing happens
    video = tmp_path / "one" / "drafts" / "7" / "v1" / "video.mp4"
    video.parent.mkdir(parents=True)
    video.write_bytes(os.urandom(12 * 1024 * 1024 + 5))  # more than one multipart part
    await one.save(video)
    assert one.key(video) == "team-a/drafts/7/v1/video.mp4"

    fetched = await two.local("drafts/7/v1/video.mp4")
    assert fetched == (tmp_path / "two" / "drafts" / "7" / "v1" / "video.mp4").resolve()
    assert fetched.read_bytes() == video.read_bytes()
    assert not list(fetched.parent.glob(".fetch-*"))  # no partial download left behind

    await one.delete("drafts/7/v1/video.mp4")
    assert not video.exists()
    fetched.unlink()
    with pytest.raises(MediaMissing):
        await two.local("drafts/7/v1/video.mp4")


async def test_a_store_that_does_not_answer_is_unavailable_not_missing(
    tmp_path: Path, s3: S3Server
) -> None:
    store = s3_store(tmp_path, s3)
    await store.create_bucket()
    s3.stop()
    with pytest.raises(StoreUnavailable, match="cannot be reached"):
        await store.local("drafts/1/v1/video.mp4")
    assert not list(tmp_path.rglob("*.mp4")) and not list(tmp_path.rglob(".fetch-*"))
    with pytest.raises(StoreUnavailable):
        await store.check()
