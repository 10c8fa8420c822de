"""The readers' parsing: hand-edited metrics.json files, Graph insights shapes, counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.content import Platform, PlatformMeta
from services.metrics.meta import insight_values
from services.metrics.outbox import (
    EXAMPLE,
    METRICS_FILE,
    MalformedMetrics,
    OutboxMetrics,
    parse_metrics,
)
from services.metrics.reading import Due, Figures, count
from services.metrics.tiktok import has_post_id
from services.models import utcnow
from services.outbox import OutboxPublisher
from services.publishing import PublishRequest


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (EXAMPLE, Figures(1, 120, 8, 2, 1, 300.0)),
        ('{"views": 5}', Figures(1, 5, 0, 0, 0, None)),  # a key left out counts 0
        ('{"views": 5, "watch_time_s": 12.5, "saved": 3}', Figures(1, 5, watch_time_s=12.5)),
        ('{"views": 5, "watch_time_s": null}', Figures(1, 5)),
    ],
)
def test_a_metrics_file_is_read(text: str, expected: Figures) -> None:
    assert parse_metrics(1, text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"views": 5,', "not JSON"),
        ("[1, 2]", "not an object"),
        ('{"views": "120"}', "views must be a whole number"),
        ('{"likes": -1}', "likes must be a whole number"),
        ('{"shares": 1.5}', "shares must be a whole number"),
        ('{"comments": true}', "comments must be a whole number"),
        ('{"watch_time_s": "5 min"}', "watch_time_s must be a number"),
    ],
)
def test_a_broken_metrics_file_says_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(MalformedMetrics, match=problem):
        parse_metrics(1, text)


async def test_the_outbox_writes_a_blank_metrics_file_to_edit(tmp_path: Path) -> None:
    video, thumbnail = tmp_path / "video.mp4", tmp_path / "thumbnail.png"
    video.write_bytes(b"v" * 100)
    thumbnail.write_bytes(b"png")
    meta = PlatformMeta(platform=Platform.YOUTUBE, title="T", caption="C", hashtags=())
    request = PublishRequest(7, "v1:a1", 3, 1, video, thumbnail, meta)
    root = tmp_path / "outbox"

    result = await OutboxPublisher(root=root).publish(request)

    folder = root / "youtube" / "7"
    written = json.loads((folder / METRICS_FILE).read_text())
    assert written == {"views": 0, "likes": 0, "comments": 0, "shares": 0, "watch_time_s": 0}
    assert sorted(p.name for p in folder.iterdir()) == [
        "manifest.json",
        METRICS_FILE,
        "thumbnail.png",
        "video.mp4",
    ]
    reader = OutboxMetrics(root=root, platform="youtube")
    post = Due(7, result.external_id, utcnow())
    assert [f async for f in reader.read([post])] == [Figures(7, watch_time_s=0.0)]


def test_an_outbox_post_id_is_a_plain_folder_name(tmp_path: Path) -> None:
    reader = OutboxMetrics(root=tmp_path, platform="tiktok")
    assert reader.path(Due(1, "12", utcnow())) == tmp_path / "tiktok" / "12" / METRICS_FILE
    for bad in ("..", "../12", "a/b", ""):
        assert reader.path(Due(1, bad, utcnow())) is None


def test_insight_values_read_both_shapes() -> None:
    answer = {
        "data": [
            {"name": "views", "period": "lifetime", "values": [{"value": 12}]},
            {"name": "likes", "total_value": {"value": 3}},
            {"name": "comments", "values": []},
            {"title": "no name"},
        ]
    }
    assert insight_values(answer) == {"views": 12, "likes": 3}


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1200", 1200), (7, 7), (3.0, 3), (True, None), ("12k", None), (None, None), (2.5, None)],
)
def test_count(value: object, expected: int | None) -> None:
    assert count(value) == expected


def test_only_public_tiktok_posts_have_a_post_id() -> None:
    assert has_post_id("7301234567890123456")
    assert not has_post_id("v_pub_file~v2-1.7301234567890123456")
    assert not has_post_id("v_inbox_file~v2-1.123")
