"""The model writer with the real `openai` client against a loopback fake of the API."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.content import Brand, Brief, Platform, Scene, Script
from services.model_writer import OpenAIWriter
from services.platforms import RULES, check_metadata
from services.usage import UsageLog
from services.writer import RequestProblem, RequestReader, Writer, WriterError
from tests.fakes.openai_server import FakeOpenAI, Reply

KEY = "sk-test-key"
MODEL = "gpt-test-mini"
BRIEF = Brief("our autumn menu", (Platform.TIKTOK, Platform.YOUTUBE), 30, "upbeat")
BRAND = Brand(
    tone="warm and neighbourly",
    audience="young families downtown",
    avoid=("cheap", "literally"),
    call_to_action="Visit us this weekend!",
)
SCRIPT = Script(
    title="Autumn menu",
    hook="Autumn is here!",
    scenes=(
        Scene(narration="Pumpkin soup is back.", on_screen="Pumpkin soup"),
        Scene(narration="Maple pie, warm from the oven.", on_screen="Maple pie"),
        Scene(narration="And cider for the grown-ups.", on_screen="Cider"),
        Scene(narration="Bring the whole family.", on_screen="Bring everyone"),
    ),
    call_to_action="Follow for more!",
    writer="offline",
)


def _draft(scenes: int = 3, **changes: Any) -> dict[str, Any]:
    draft = {
        "title": "Fall flavours",
        "hook": "Fall just got tastier.",
        "scenes": [
            {"narration": f"Scene {i} tells you something good.", "on_screen": f"Scene {i}"}
            for i in range(1, scenes + 1)
        ],
        "call_to_action": "Come and taste it.",
    }
    return draft | changes


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(api_key=KEY) as server:
        yield server


def _writer(
    base_url: str, *, api_key: str = KEY, timeout_s: float = 5.0, max_retries: int = 2
) -> OpenAIWriter:
    return OpenAIWriter(
        api_key=api_key,
        base_url=base_url,
        model=MODEL,
        price_input_per_mtok=0.15,
        price_output_per_mtok=0.60,
        timeout_s=timeout_s,
        max_retries=max_retries,
    )


@pytest.fixture
async def writer(fake: FakeOpenAI) -> AsyncIterator[OpenAIWriter]:
    model_writer = _writer(fake.base_url)
    yield model_writer
    await model_writer.aclose()


def _assert_usage(usage: UsageLog, fake: FakeOpenAI) -> None:
    """Two items per answered call, with the fake's token counts and the configured prices."""
    expected = []
    for answer in fake.answers:
        counts = answer["usage"]
        expected += [
            ("llm_input_tokens", counts["prompt_tokens"], counts["prompt_tokens"] * 0.15e-6),
            (
                "llm_output_tokens",
                counts["completion_tokens"],
                counts["completion_tokens"] * 0.6e-6,
            ),
        ]
    got = [(u.kind, u.quantity, u.cost_usd) for u in usage.items]
    assert [g[:2] for g in got] == [e[:2] for e in expected]
    assert [g[2] for g in got] == pytest.approx([e[2] for e in expected])
    assert {u.provider for u in usage.items} == {f"openai:{MODEL}"}


async def test_is_a_writer_and_a_request_reader(writer: OpenAIWriter) -> None:
    as_writer: Writer = writer
    as_reader: RequestReader = writer
    assert as_writer.name == f"openai:{MODEL}"
    assert as_reader is writer


async def test_write_gives_a_script_in_the_brand_voice(
    writer: OpenAIWriter, fake: FakeOpenAI
) -> None:
    usage = UsageLog()
    script = await writer.write(BRIEF, brand=BRAND, usage=usage)

    assert Script.model_validate(script.model_dump()) == script
    assert script.writer == f"openai:{MODEL}"
    assert 3 <= len(script.scenes) <= 6
    assert "our autumn menu" in script.narration()  # the fake's brain read the topic
    assert script.call_to_action == BRAND.call_to_action
    _assert_usage(usage, fake)
    assert usage.cost_usd > 0

    (request,) = fake.requests
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.json["model"] == MODEL
    response_format = request.json["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["strict"] is True
    assert response_format["json_schema"]["schema"]["additionalProperties"] is False
    (system,) = request.messages("system")
    for text in ("cheap, literally", "warm and neighbourly", "young families downtown"):
        assert text in system
    assert "use exactly \u201cVisit us this weekend!\u201d" in system
    assert "78 words" in system  # 30 s at 2.6 words a second
    assert "3 to 6 scenes" in system
    assert "Topic: our autumn menu" in request.messages("user")[0]


async def test_later_takes_ask_for_a_fresh_version(writer: OpenAIWriter, fake: FakeOpenAI) -> None:
    await writer.write(BRIEF)
    await writer.write(BRIEF, take=3)
    assert "take" not in fake.requests[0].messages("user")[0]
    assert "take 3" in fake.requests[1].messages("user")[0]
    assert "Brand voice" not in fake.requests[0].messages("system")[0]


async def test_on_screen_text_is_kept_short(writer: OpenAIWriter, fake: FakeOpenAI) -> None:
    long_label = "one two three four five six seven eight"
    fake.queue(
        Reply.json(
            _draft(scenes=4) | {"scenes": [{"narration": "Hi there.", "on_screen": long_label}] * 4}
        )
    )
    script = await writer.write(BRIEF)
    assert {s.on_screen for s in script.scenes} == {"one two three four five six"}


async def test_revise_sends_the_script_and_the_instruction(
    writer: OpenAIWriter, fake: FakeOpenAI
) -> None:
    fake.queue(Reply.json(_draft(scenes=5, hook="Sweater weather, soup weather.")))
    usage = UsageLog()
    revised = await writer.revise(
        BRIEF, SCRIPT, "Make the hook about sweater weather", brand=BRAND, usage=usage
    )
    assert revised.hook == "Sweater weather, soup weather."
    assert len(revised.scenes) == 5
    assert revised.writer == f"openai:{MODEL}"
    (user,) = fake.requests[0].messages("user")
    assert "Instruction: Make the hook about sweater weather" in user
    assert SCRIPT.hook in user and SCRIPT.scenes[2].narration in user
    assert "young families downtown" in fake.requests[0].messages("system")[0]
    _assert_usage(usage, fake)


async def test_metadata_is_cut_to_the_platform_limits(
    writer: OpenAIWriter, fake: FakeOpenAI
) -> None:
    tags = ["#Autumn Menu", "autumn", "#AUTUMN", "##", "#fyp!", "#cheap", "#cheapeats"]
    tags += [f"#tag{i}" for i in range(40)]
    fake.queue(
        Reply.json(
            {
                "platforms": [
                    {
                        "platform": "tiktok",
                        "title": "Our <b>autumn</b> menu " + "is here " * 40,
                        "caption": "It's literally the best menu. " * 200,
                        "hashtags": tags,
                    }
                ]  # YouTube is missing: it gets metadata all the same
            }
        )
    )
    usage = UsageLog()
    metadata = await writer.metadata(BRIEF, SCRIPT, brand=BRAND, usage=usage)

    assert [m.platform for m in metadata] == [Platform.TIKTOK, Platform.YOUTUBE]
    for meta in metadata:
        assert check_metadata(meta) == [], meta
        assert meta.title and meta.caption and meta.hashtags
        text = f"{meta.title} {meta.caption} {' '.join(meta.hashtags)}".lower()
        assert "cheap" not in text and "literally" not in text
    tiktok = metadata[0]
    assert len(tiktok.title) <= RULES[Platform.TIKTOK].title_max
    assert tiktok.title.startswith("Our ") and "<" not in tiktok.title and ">" not in tiktok.title
    assert tiktok.caption.endswith("\u2026")
    assert tiktok.hashtags[:3] == ("#autumnmenu", "#autumn", "#fyp")
    assert len(tiktok.hashtags) == RULES[Platform.TIKTOK].hashtags_max
    assert metadata[1].title == SCRIPT.title
    _assert_usage(usage, fake)
    (request,) = fake.requests
    assert "Platforms: tiktok, youtube" in request.messages("user")[0]
    assert json.loads(request.messages("user")[0].split("Script (JSON): ", 1)[1])["hook"]


async def test_read_request_gives_a_brief(writer: OpenAIWriter, fake: FakeOpenAI) -> None:
    text = "could you make a 45 second reel about cold brew for tiktok and ig? calm vibes"
    fake.queue(
        Reply.json(
            {
                "is_video_request": True,
                "problem": None,
                "topic": "cold brew",
                "platforms": ["tiktok", "IG", "Instagram Reels"],
                "duration_s": 45,
                "tone": "Calm",
            }
        )
    )
    usage = UsageLog()
    brief = await writer.read_request(text, usage=usage)
    assert brief == Brief("cold brew", (Platform.TIKTOK, Platform.INSTAGRAM), 45, "calm")
    assert fake.requests[0].messages("user") == [text]
    assert fake.requests[0].schema["name"] == "RequestIntent"
    _assert_usage(usage, fake)


async def test_read_request_fills_in_the_defaults(writer: OpenAIWriter) -> None:
    brief = await writer.read_request("a video about our new bakery")  # the fake's brain reads it
    assert brief == Brief("our new bakery", tuple(Platform), 30, "upbeat")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"duration_s": 600}, "between 5 and 180 seconds; you asked for 600"),
        ({"duration_s": 2}, "between 5 and 180 seconds; you asked for 2"),
        (
            {"platforms": ["tiktok", "myspace"]},
            "\u201cmyspace\u201d. I can make drafts for: youtube",
        ),
        ({"topic": "  "}, "couldn't tell what the video is about"),
        ({"topic": "x" * 301}, "the limit is 300"),
        ({"tone": "very " * 20}, "Keep the tone to a word or two"),
        (
            {"is_video_request": False, "problem": "it asks for the weather"},
            "doesn't look like a video request (it asks for the weather)",
        ),
    ],
)
async def test_read_request_checks_the_bounds(
    writer: OpenAIWriter, fake: FakeOpenAI, changes: dict[str, Any], expected: str
) -> None:
    intent = {
        "is_video_request": True,
        "problem": None,
        "topic": "cold brew",
        "platforms": ["tiktok"],
        "duration_s": 30,
        "tone": None,
    }
    fake.queue(Reply.json(intent | changes))
    with pytest.raises(RequestProblem, match=re.escape(expected)):
        await writer.read_request("whatever")


async def test_rate_limit_with_retry_after_is_retried(
    writer: OpenAIWriter, fake: FakeOpenAI
) -> None:
    fake.queue(
        Reply.error(429, "Rate limit reached", error_type="requests", headers={"retry-after": "1"})
    )
    usage = UsageLog()
    started = time.monotonic()
    script = await writer.write(BRIEF, usage=usage)
    assert script.scenes
    assert len(fake.requests) == 2
    assert fake.requests[1].at - fake.requests[0].at >= 0.95
    assert time.monotonic() - started >= 0.95
    assert fake.requests[1].headers["x-stainless-retry-count"] == "1"
    _assert_usage(usage, fake)  # only the answered call is counted
    assert len(usage.items) == 2


async def test_rate_limit_that_lasts_is_a_writer_error(
    writer: OpenAIWriter, fake: FakeOpenAI
) -> None:
    fake.always = Reply.error(429, "Rate limit reached", headers={"retry-after-ms": "20"})
    with pytest.raises(WriterError, match=r"rate-limited right now \(HTTP 429\); try again"):
        await writer.write(BRIEF)
    assert len(fake.requests) == 3  # the first try and the client's two retries


async def test_a_long_retry_after_is_not_waited_for(writer: OpenAIWriter, fake: FakeOpenAI) -> None:
    fake.queue(Reply.error(429, "Rate limit reached", headers={"retry-after": "300"}))
    with pytest.raises(WriterError, match=r"HTTP 429\); try again in 5 minutes"):
        await writer.write(BRIEF)
    assert len(fake.requests) == 1  # the client gives up at once beyond two minutes


async def test_out_of_quota_says_so(writer: OpenAIWriter, fake: FakeOpenAI) -> None:
    fake.always = Reply.error(
        429,
        "You exceeded your quota",
        code="insufficient_quota",
        headers={"x-should-retry": "false"},
    )
    with pytest.raises(WriterError, match="out of quota"):
        await writer.write(BRIEF)


async def test_server_error_is_a_writer_error(writer: OpenAIWriter, fake: FakeOpenAI) -> None:
    fake.always = Reply.error(500, headers={"retry-after-ms": "20"})
    with pytest.raises(WriterError, match=r"model service failed \(HTTP 500\)"):
        await writer.metadata(BRIEF, SCRIPT)
    assert len(fake.requests) == 3


async def test_server_error_then_success_is_retried(writer: OpenAIWriter, fake: FakeOpenAI) -> None:
    fake.queue(Reply.error(503, headers={"retry-after-ms": "20"}))
    assert await writer.write(BRIEF)
    assert len(fake.requests) == 2


@pytest.mark.parametrize(
    "reply",
    [
        Reply.raw('{"title": "Cut off'),
        Reply.raw("Sure! Here is your script: ..."),
        Reply.json(_draft() | {"scenes": None}),
        Reply.json({"title": "x", "hook": "y", "call_to_action": "z"}),  # scenes missing
        Reply.json(_draft(scenes=2)),
        Reply.json(_draft(scenes=7)),
        Reply.json(_draft(hook="  ")),
    ],
    ids=["truncated", "prose", "null-scenes", "no-scenes", "2-scenes", "7-scenes", "empty-hook"],
)
async def test_an_unusable_answer_is_a_writer_error(
    writer: OpenAIWriter, fake: FakeOpenAI, reply: Reply
) -> None:
    fake.queue(reply)
    usage = UsageLog()
    with pytest.raises(WriterError, match="The model's answer was not a valid script"):
        await writer.write(BRIEF, usage=usage)
    assert len(fake.requests) == 1  # not retried
    _assert_usage(usage, fake)  # the tokens were spent all the same


async def test_a_refusal_is_a_writer_error(writer: OpenAIWriter, fake: FakeOpenAI) -> None:
    fake.queue(Reply.refuse("I can't help with that request."))
    with pytest.raises(
        WriterError,
        match=r"declined to write this: I can't help with that request\. Try rewording",
    ):
        await writer.write(BRIEF)


async def test_a_cut_off_answer_is_a_writer_error(writer: OpenAIWriter, fake: FakeOpenAI) -> None:
    fake.queue(Reply(content='{"title": "', finish_reason="length"))
    with pytest.raises(WriterError, match="cut off at its length limit"):
        await writer.write(BRIEF)


async def test_a_timeout_is_a_writer_error(fake: FakeOpenAI) -> None:
    fake.queue(Reply.slow(3.0))
    impatient = _writer(fake.base_url, timeout_s=0.5, max_retries=0)
    started = time.monotonic()
    try:
        with pytest.raises(WriterError, match=r"did not answer within 0\.5 s;"):
            await impatient.write(BRIEF)
    finally:
        await impatient.aclose()
    assert time.monotonic() - started < 2.5


async def test_a_wrong_key_is_a_writer_error(fake: FakeOpenAI) -> None:
    wrong = _writer(fake.base_url, api_key="sk-wrong")
    try:
        with pytest.raises(WriterError, match=r"OPENAI_API_KEY was refused .*HTTP 401"):
            await wrong.write(BRIEF)
    finally:
        await wrong.aclose()
    assert len(fake.requests) == 1  # 401 is not retried


async def test_a_bad_request_shows_the_servers_message(
    writer: OpenAIWriter, fake: FakeOpenAI
) -> None:
    fake.queue(Reply.error(404, "The model `gpt-test-mini` does not exist.", error_type="invalid"))
    with pytest.raises(WriterError, match=r"HTTP 404\): The model `gpt-test-mini` does not exist"):
        await writer.read_request("a video about cold brew")


async def test_an_unreachable_server_is_a_writer_error() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    writer = _writer(f"http://127.0.0.1:{port}/v1", max_retries=0)
    try:
        with pytest.raises(WriterError, match="Could not reach the model service"):
            await writer.write(BRIEF)
    finally:
        await writer.aclose()
