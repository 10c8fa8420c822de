"""/content and /drafts: the same handlers as the chat, the same role checks and audit
entries; a draft from the API is previewed for approval in the team's chat."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from services.models import Approval, AuditEntry, Draft, DraftVersion, utcnow
from tests.api.conftest import CHAT, World

GENERATE = "/api/v1/content/generate"
COLD_BREW = {"topic": "cold brew at home", "platforms": ["tiktok"], "duration": 10, "tone": "calm"}


async def _generate(world: World, headers: dict[str, str], body: dict[str, Any]) -> Any:
    answer = await world.client.post(GENERATE, json=body, headers=headers)
    assert answer.status_code == 202, answer.text
    return answer.json()


async def _audit(world: World, action: str) -> list[AuditEntry]:
    async with world.runtime.app.sessions() as session:
        query = select(AuditEntry).where(AuditEntry.action == action)
        return list((await session.scalars(query)).all())


def assert_problem(answer: Any, status: int, words: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = answer.json()
    assert problem["status"] == status and problem["title"] and problem["type"]
    assert words in problem["detail"], problem["detail"]
    return problem


async def test_generate_from_parts_queues_a_draft_previewed_in_the_chat(world: World) -> None:
    headers = await world.headers()
    made = await _generate(world, headers, COLD_BREW)
    draft = made["draft"]
    assert made["message"].startswith(f"Draft #{draft['id']} queued: “cold brew at home”")
    assert (draft["state"], draft["platforms"], draft["duration_s"], draft["tone"]) == (
        "requested",
        ["tiktok"],
        10,
        "calm",
    )
    assert draft["chat"] == CHAT and draft["requested_by"] == "API key ci-bot"
    task = made["task"]
    assert task["id"] == f"generate:{draft['id']}:1:1"
    assert (task["status"], task["stage"]) == ("queued", "waiting for a worker")
    again = await world.client.get(f"/api/v1/content/task/{task['id']}", headers=headers)
    assert again.status_code == 200 and again.json()["status"] == "queued"
    (entry,) = await _audit(world, "draft.request")
    async with world.runtime.app.sessions() as session:
        stored = await session.get(Draft, draft["id"])
    assert stored is not None and entry.member_id == stored.requested_by
    told = await world.deliver()
    assert [r.text for r in told] == [f"🔌 API key ci-bot: {made['message']}"]


async def test_generate_from_free_text_reads_it_as_the_chat_does(world: World) -> None:
    made = await _generate(
        world,
        await world.headers(),
        {"request": "a 20 second short about latte art for YouTube, upbeat"},
    )
    assert made["draft"]["topic"] == "latte art"
    assert (made["draft"]["platforms"], made["draft"]["duration_s"]) == (["youtube"], 20)


async def test_bad_requests_are_answered_with_what_to_fix(world: World) -> None:
    headers = await world.headers()
    post = world.client.post
    too_long = await post(GENERATE, json=COLD_BREW | {"duration": 500}, headers=headers)
    problem = assert_problem(too_long, 422, "duration")
    assert problem["errors"][0]["field"] == "body.duration"
    both = await post(GENERATE, json=COLD_BREW | {"request": "x"}, headers=headers)
    assert_problem(both, 422, "not both")
    unread = await post(GENERATE, json={"request": "a 900 second short about x"}, headers=headers)
    assert_problem(unread, 422, "Duration must be between 5 and 180 seconds")
    template = await post(GENERATE, json=COLD_BREW | {"template": "weekly"}, headers=headers)
    assert_problem(template, 409, "There's no template called “weekly”")
    foreign = await post(GENERATE, json=COLD_BREW | {"brand": "Elsewhere"}, headers=headers)
    assert_problem(foreign, 422, "no brand called “Elsewhere”")
    async with world.runtime.app.sessions() as session:
        assert (await session.scalars(select(Draft))).all() == []


async def test_a_viewer_key_cannot_generate(world: World) -> None:
    answer = await world.client.post(
        GENERATE, json=COLD_BREW, headers=await world.headers("reader", "viewer")
    )
    assert_problem(answer, 403, "Viewers can't request drafts")


async def test_a_creator_key_cannot_approve(world: World) -> None:
    headers = await world.headers()
    draft_id = (await _generate(world, headers, COLD_BREW))["draft"]["id"]
    answer = await world.client.post(f"/api/v1/drafts/{draft_id}/approve", headers=headers)
    problem = assert_problem(answer, 403, "your role (creator) can't approve drafts")
    assert problem["type"] == "urn:socialbot:problem:forbidden"
    async with world.runtime.app.sessions() as session:
        assert (await session.scalars(select(Approval))).all() == []
        draft = await session.get(Draft, draft_id)
    assert draft is not None and draft.state == "requested"
    assert await _audit(world, "draft.approve") == []


async def test_reject_and_schedule_go_through_the_chat_handlers(world: World) -> None:
    headers = await world.headers()
    first = (await _generate(world, headers, COLD_BREW))["draft"]["id"]
    second = (await _generate(world, headers, COLD_BREW))["draft"]["id"]
    await world.deliver()
    rejected = await world.client.post(f"/api/v1/drafts/{first}/reject", headers=headers)
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["draft"]["state"] == "rejected"
    assert rejected.json()["message"] == f"❌ Draft #{first} rejected by API key ci-bot."
    (entry,) = await _audit(world, "draft.reject")
    assert entry.target == f"draft:{first}"
    schedule = f"/api/v1/drafts/{second}/schedule"
    bad = await world.client.post(schedule, json={"when": "someday"}, headers=headers)
    assert_problem(bad, 422, "someday")
    neither = await world.client.post(schedule, json={}, headers=headers)
    assert_problem(neither, 422, "either when or cancel")
    timed = await world.client.post(schedule, json={"when": "in 3 hours"}, headers=headers)
    assert timed.status_code == 200, timed.text
    at = datetime.fromisoformat(timed.json()["draft"]["scheduled_at"])
    assert abs(at - utcnow() - timedelta(hours=3)) < timedelta(minutes=1)
    cancelled = await world.client.post(schedule, json={"cancel": True}, headers=headers)
    assert cancelled.status_code == 200 and cancelled.json()["draft"]["scheduled_at"] is None
    told = [r.text for r in await world.deliver()]
    assert told[0] == f"🔌 ❌ Draft #{first} rejected by API key ci-bot."
    assert f"Draft #{second} will publish at" in told[1]
    gone = await world.client.post(f"/api/v1/drafts/{first}/approve", headers=headers)
    assert_problem(gone, 403, "can't approve")
    owner = await world.headers("boss", "owner")
    late = await world.client.post(f"/api/v1/drafts/{first}/approve", headers=owner)
    assert_problem(late, 409, "was rejected")


async def test_drafts_are_listed_a_page_at_a_time(world: World) -> None:
    headers = await world.headers()
    ids = [(await _generate(world, headers, COLD_BREW))["draft"]["id"] for _ in range(5)]
    url: str | None = "/api/v1/drafts?limit=2"
    seen: list[int] = []
    while url is not None:
        answer = await world.client.get(url, headers=headers)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["total"] == 5 and len(body["items"]) <= 2
        seen += [item["id"] for item in body["items"]]
        url = body["next"]
    assert seen == sorted(ids, reverse=True)
    filtered = await world.client.get("/api/v1/drafts?state=ready", headers=headers)
    assert filtered.json()["items"] == [] and filtered.json()["next"] is None
    assert_problem(await world.client.get("/api/v1/drafts?limit=0", headers=headers), 422, "limit")


async def test_a_draft_shows_its_versions_with_signed_file_links(world: World) -> None:
    headers = await world.headers()
    draft_id = (await _generate(world, headers, COLD_BREW))["draft"]["id"]
    folder = world.runtime.app.drafts_dir / str(draft_id) / "v1"
    folder.mkdir(parents=True)
    for name in ("video.mp4", "thumbnail.png", "voice.wav"):
        (folder / name).write_bytes(f"the {name}".encode())
    async with world.runtime.app.sessions.begin() as session:
        session.add(
            DraftVersion(
                draft_id=draft_id,
                number=1,
                script={"title": "Cold brew", "hook": "Ice, time, coffee."},
                metadata_json=[
                    {
                        "platform": "tiktok",
                        "title": "Cold brew",
                        "caption": "Try it",
                        "hashtags": ["#coffee"],
                    }
                ],
                words=[],
                audio_path=f"drafts/{draft_id}/v1/voice.wav",
                video_path=f"drafts/{draft_id}/v1/video.mp4",
                thumbnail_path=f"drafts/{draft_id}/v1/thumbnail.png",
                outputs={"9:16": f"drafts/{draft_id}/v1/video.mp4"},
                duration_s=10.0,
            )
        )
    answer = await world.client.get(f"/api/v1/drafts/{draft_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    (version,) = answer.json()["versions"]
    assert version["script"]["hook"] == "Ice, time, coffee."
    assert version["metadata"] == [
        {"platform": "tiktok", "title": "Cold brew", "caption": "Try it", "hashtags": ["#coffee"]}
    ]
    video = version["files"]["video"]
    assert video.startswith("http://bot/media/") and version["files"]["by_aspect"]["9:16"]
    fetched = await world.client.get(video.removeprefix("http://bot"))
    assert fetched.status_code == 200 and fetched.content == b"the video.mp4"
    altered = await world.client.get(video.removeprefix("http://bot")[:-2] + "xx")
    assert altered.status_code == 404


async def test_another_workspace_s_draft_is_not_found(world: World) -> None:
    await world.say("/start", user="ines", chat="console:other")
    await world.say(
        "/draft a 10 second short about tea for tiktok", user="ines", chat="console:other"
    )
    headers = await world.headers()
    for answer in (
        await world.client.get("/api/v1/drafts/1", headers=headers),
        await world.client.post("/api/v1/drafts/1/reject", headers=headers),
        await world.client.get("/api/v1/content/task/generate:1:1:1", headers=headers),
    ):
        assert_problem(answer, 404, "There is no draft 1 in “workspace of olga”")
    assert (await world.client.get("/api/v1/drafts", headers=headers)).json()["total"] == 0
    async with world.runtime.app.sessions() as session:
        draft = await session.get(Draft, 1)
    assert draft is not None and draft.state == "requested"


async def test_publish_refuses_a_draft_that_is_not_approved(world: World) -> None:
    headers = await world.headers("boss", "owner")
    draft_id = (await _generate(world, headers, COLD_BREW))["draft"]["id"]
    answer = await world.client.post(
        "/api/v1/publish", json={"draft_id": draft_id}, headers=headers
    )
    assert_problem(answer, 409, f"POST /api/v1/drafts/{draft_id}/approve")
    missing = await world.client.post("/api/v1/publish", json={"draft_id": 99}, headers=headers)
    assert_problem(missing, 404, "There is no draft 99")
