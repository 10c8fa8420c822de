"""Ideas: from the best posts' figures (offline and through a model), from the brand without
figures, and kept in Redis for a day."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import redis.asyncio

from services.content import Brand
from services.db import SessionFactory
from services.idea_writing import NOT_FROM_FIGURES, Idea, IdeaBasis, offline_ideas
from services.ideas import IdeaStore, load_basis
from services.model_writer import OpenAIWriter
from services.models import Draft
from services.usage import UsageLog
from services.writer import OfflineWriter, WriterError
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.services.analytics_data import DAY, NOW
from tests.services.ideas_data import seed_history

BRAND = Brand(tone="warm and witty", audience="commuters on their way to work", avoid=("myth",))


async def _basis(sessions: SessionFactory, brand: Brand = BRAND, **seeding: object) -> IdeaBasis:
    history = await seed_history(sessions, **seeding)  # type: ignore[arg-type]
    async with sessions() as s:
        return await load_basis(s, history.workspace_id, brand=brand, timezone="UTC", now=NOW)


async def test_the_basis_ranks_posts_by_their_views_at_one_week_old(
    sessions: SessionFactory,
) -> None:
    basis = await _basis(sessions)
    # The young post already has 16,666 views, but it has not been out a week: it is not ranked.
    # The others are scored at one week old, not by their later, higher figures.
    assert [(p.post.title, p.views) for p in basis.top] == [
        ("pumpkin spice latte", 12_400),
        ("autumn menu", 9_000),
        ("cold brew", 8_000),
        ("holiday blend", 5_000),
        ("latte art", 4_000),
    ]
    assert (basis.posts, basis.younger, basis.median_views) == (12, 1, 2_800)
    assert [(a.kind, a.key, a.posts, a.median) for a in basis.angles] == [
        ("length", "30", 4, 8_500),
        ("tone", "upbeat", 4, 8_500),
        ("platform", "tiktok", 5, 8_000),
    ]
    assert basis.recent_topics[0] == "viral espresso"  # the newest draft first


async def test_offline_ideas_name_the_best_post_and_its_figures(sessions: SessionFactory) -> None:
    basis = await _basis(sessions)
    ideas = await OfflineWriter().ideas(basis, count=5)
    assert [i.topic for i in ideas] == [
        "a follow-up to pumpkin spice latte",
        "a follow-up to autumn menu",
        "latte art in 30 seconds",  # the best post not 16-30 s long, at that length
        "an upbeat take on latte art",  # ... and not upbeat, in that tone
        "a follow-up to cold brew",
    ]
    first = ideas[0]
    assert first.why == (
        "“pumpkin spice latte” got 12,400 views at one week old on TikTok, 4.4\u00d7 your median "
        "of 2,800, engagement 12.0%."
    )
    assert (first.from_figures, first.tone, first.duration_s, first.platforms) == (
        True,
        "upbeat",
        25,
        ("tiktok",),
    )
    assert ideas[2].duration_s == 30 and ideas[2].tone == "calm"
    assert ideas[2].why == (
        "Videos of 16\u201330 s got a median of 8,500 views at one week old, "
        "3.5\u00d7 the 2,450 of other lengths (4 vs 8 posts)."
    )
    assert ideas[3].tone == "upbeat" and "Upbeat posts got a median of 8,500 views" in ideas[3].why
    assert all(i.from_figures and NOT_FROM_FIGURES not in i.why for i in ideas)
    assert offline_ideas(basis, 5) == ideas  # deterministic


async def test_recent_topics_are_not_suggested_again_nor_avoided_words(
    sessions: SessionFactory,
) -> None:
    history = await seed_history(sessions)
    async with sessions.begin() as s:
        s.add(
            Draft(
                workspace_id=history.workspace_id,
                chat_ref="console:seed",
                requested_by=history.member_id,
                request_text="x",
                topic="A follow-up to Pumpkin Spice Latte!",
                platforms=["tiktok"],
                duration_s=20,
                tone="upbeat",
                created_at=NOW - DAY,
            )
        )
    async with sessions() as s:
        basis = await load_basis(s, history.workspace_id, brand=BRAND, timezone="UTC", now=NOW)
    ideas = offline_ideas(basis, 10)
    topics = [i.topic for i in ideas]
    assert len(ideas) == 10 and len(set(topics)) == 10
    assert "a follow-up to pumpkin spice latte" not in topics
    assert topics[0] == "a follow-up to autumn menu"
    assert "pumpkin spice latte: myth or fact" not in topics  # the brand avoids "myth"
    assert not any("myth" in t.lower() for t in topics)


async def test_without_history_ideas_come_from_the_brand_and_say_so(
    sessions: SessionFactory,
) -> None:
    basis = await _basis(sessions, posts=[], young=True)  # only the two-day-old post
    assert not basis.has_figures and basis.younger == 1
    ideas = offline_ideas(basis, 3)
    assert [i.topic for i in ideas] == [
        "the 3 questions commuters on their way to work ask us most",
        "a day behind the scenes with our team",
        "one tip commuters on their way to work can use today",
    ]
    for idea in ideas:
        assert not idea.from_figures
        assert idea.why == (
            "From your brand voice (audience: commuters on their way to work; tone: warm and "
            f"witty), {NOT_FROM_FIGURES}."
        )
    bare = offline_ideas(IdeaBasis(), 10)
    assert len(bare) == 10 and all("set /brand" in i.why for i in bare)


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(api_key="sk-ideas") as server:
        yield server


def _model(fake: FakeOpenAI) -> OpenAIWriter:
    return OpenAIWriter(
        api_key="sk-ideas",
        base_url=fake.base_url,
        model="gpt-ideas",
        price_input_per_mtok=0.15,
        price_output_per_mtok=0.60,
        timeout_s=5.0,
        max_retries=0,
    )


async def test_the_model_gets_the_top_posts_and_brand_voice_and_its_answer_is_used(
    sessions: SessionFactory, fake: FakeOpenAI
) -> None:
    basis = await _basis(sessions)
    fake.queue(
        Reply.json(
            {
                "ideas": [
                    {
                        "topic": "Pumpkin spice latte, iced",
                        "why": "12,400 views: 4.4\u00d7 median.",
                    },
                    {"topic": "viral espresso", "why": "a repeat of a recent topic"},
                    {"topic": "  ", "why": "empty"},
                    {"topic": "The myth of decaf", "why": "uses an avoided word"},
                    {"topic": "Cold brew at the station", "why": ""},
                    {"topic": "A third one", "why": "over the count"},
                ]
            },
            usage=(900, 120),
        )
    )
    writer = _model(fake)
    usage = UsageLog()
    try:
        ideas = await writer.ideas(basis, count=2, usage=usage)
    finally:
        await writer.aclose()
    assert ideas == (
        Idea("Pumpkin spice latte, iced", "12,400 views: 4.4\u00d7 median.", True),
        Idea("Cold brew at the station", "Suggested by the model", True),
    )
    [request] = fake.requests
    assert request.schema["name"] == "IdeasDraft"
    prompt = request.prompt()
    for expected in (
        "1. “pumpkin spice latte” on TikTok, upbeat, 25 s: 12,400 views at one week old",
        "4.4\u00d7 your median of 2,800",
        "5. “latte art” on TikTok, calm, 45 s: 4,000 views",
        "median 2,800 views",
        "tone upbeat: 8,500 vs 2,450 for the others (4 vs 8 posts)",
        "- viral espresso",  # a recent topic, not to repeat
        "Ideas wanted: 2",
        "Brand tone: warm and witty",
        "Audience: commuters on their way to work",
        "Never use these words: myth",
    ):
        assert expected in prompt
    assert "16,666" not in prompt  # the young post's figures are not comparable yet
    assert [(u.kind, u.quantity) for u in usage.items] == [
        ("llm_input_tokens", 900),
        ("llm_output_tokens", 120),
    ]


async def test_a_model_answer_with_nothing_usable_is_an_error(
    sessions: SessionFactory, fake: FakeOpenAI
) -> None:
    basis = await _basis(sessions, posts=[], young=False)
    fake.queue(Reply.json({"ideas": [{"topic": "", "why": "?"}]}))
    writer = _model(fake)
    try:
        with pytest.raises(WriterError, match="repeats or empty"):
            await writer.ideas(basis, count=3)
    finally:
        await writer.aclose()
    assert "No post has been out a week with figures yet" in fake.requests[0].prompt()


async def test_ideas_keep_for_a_day_per_workspace_and_are_drafted_once(
    redis_server_url: str,
) -> None:
    client = redis.asyncio.Redis.from_url(redis_server_url)
    try:
        store = IdeaStore(client)
        idea = Idea("cold brew at dawn", "why not", True, "calm", 20, ("tiktok",))
        idea_id = await store.save(7, idea)
        assert 10**11 <= idea_id < 10**12
        assert await store.get(7, idea_id) == idea
        assert await store.get(8, idea_id) is None  # another workspace's button finds nothing
        assert await store.get(7, idea_id + 1) is None
        key = f"socialbot:idea:7:{idea_id}"
        assert json.loads(await client.get(key))["topic"] == "cold brew at dawn"
        ttl = await client.ttl(key)
        assert timedelta(hours=23, minutes=59) <= timedelta(seconds=ttl) <= timedelta(hours=24)
        assert await store.claim(7, idea_id)
        assert not await store.claim(7, idea_id)
        await store.release(7, idea_id)
        assert await store.claim(7, idea_id)

        short = IdeaStore(client, ttl=timedelta(milliseconds=50))
        fleeting = await short.save(7, idea)
        await asyncio.sleep(0.2)
        assert await short.get(7, fleeting) is None
    finally:
        await client.aclose()
