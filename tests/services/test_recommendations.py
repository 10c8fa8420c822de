"""A digest's closing recommendations: backed by enough posts, each with its figures."""

from __future__ import annotations

from datetime import timedelta

from services.db import SessionFactory
from services.digest import Digest, compute_digest
from services.performance import Performance
from services.recommendations import MIN_POSTS, recommend
from services.stats_inputs import Figures, Post
from tests.services.analytics_data import NOW
from tests.services.ideas_data import HISTORY, seed_history


async def _digest(sessions: SessionFactory, timezone: str = "UTC", **seeding: object) -> Digest:
    history = await seed_history(sessions, **seeding)  # type: ignore[arg-type]
    async with sessions() as s:
        return await compute_digest(
            s, history.workspace_id, since=NOW - timedelta(days=7), until=NOW, timezone=timezone
        )


async def test_the_digest_ends_with_three_recommendations_and_their_numbers(
    sessions: SessionFactory,
) -> None:
    lines = (await _digest(sessions)).summary().splitlines()
    start = lines.index(
        "Recommendations (from 12 posts of the last 90 days, by views at one week old):"
    )
    assert lines[start:] == [
        lines[start],
        "  • Instagram is behind: 310 views per post (median of 3) vs 8,000 on TikTok (5 posts); "
        "try there what works on TikTok.",
        "  • Post on Thursdays between 18:00 and 21:00 (UTC): Thursday posts got a median of 9,000 "
        "views, 3.6\u00d7 the 2,500 of other days (3 of 12 posts), and posts at that time "
        "3.6\u00d7 the 2,500 of other times (3 posts).",
        "  • Keep videos 16\u201330 s: median 8,500 views, 3.5\u00d7 the 2,450 of other lengths "
        "(4 of 12 posts).",
    ]


async def test_times_are_read_in_the_workspace_zone(sessions: SessionFactory) -> None:
    text = (await _digest(sessions, timezone="Asia/Tokyo")).summary()
    # 18:00-19:00 UTC on a Thursday is 03:00-04:00 on a Friday in Tokyo.
    assert "Post on Fridays between 03:00 and 06:00 (Asia/Tokyo): Friday posts got" in text


async def test_too_few_posts_say_what_is_needed(sessions: SessionFactory) -> None:
    digest = await _digest(sessions, posts=HISTORY[: MIN_POSTS - 1])
    last = digest.summary().splitlines()[-1]
    assert last == (
        "Recommendations come once 6 posts of the last 90 days have been out a week with "
        "figures; 5 so far."
    )
    assert "•" not in digest.summary()


async def test_enough_posts_without_a_clear_pattern_invent_nothing(
    sessions: SessionFactory,
) -> None:
    # Six posts that all did the same: nothing stands out, so nothing is recommended.
    flat = [(topic, p, tone, d, at, 1_000) for topic, p, tone, d, at, _ in HISTORY[:6]]
    last = (await _digest(sessions, posts=flat)).summary().splitlines()[-1]
    assert last.startswith("Recommendations: no clear pattern yet in 6 posts: no weekday, time,")
    assert "25% better than the rest with 3 or more posts on each side." in last


def test_a_group_needs_three_posts_on_each_side() -> None:
    def post(i: int, platform: str, views: int) -> Performance:
        at = NOW - timedelta(days=10 + i)
        return Performance(Post(i, i, platform, f"post {i}", at), Figures(views))

    # Instagram lags far behind, but with two posts that is not enough to say so.
    items = [post(i, "tiktok", 5_000 + i) for i in range(6)]
    items += [post(10 + i, "instagram", 10) for i in range(2)]
    assert not any(
        "Instagram" in line for line in recommend(items, timezone="UTC", lookback_days=90).lines()
    )
    items.append(post(20, "instagram", 10))
    assert "Instagram is behind: 10 views per post (median of 3)" in "\n".join(
        recommend(items, timezone="UTC", lookback_days=90).lines()
    )
