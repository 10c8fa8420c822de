"""Platform webhooks through the real web app: signed deliveries settle a publication at once
and tell the chat; unsigned, wrongly signed, stale and replayed ones are refused and change
nothing; Meta's subscription handshake echoes the challenge only with our token."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot.console import ConsoleChat
from bot.runtime import Runtime, open_runtime
from bot.web import create_web_app
from bot.webhooks import WebhookKeys
from services.links import MediaLinks
from services.models import Draft, Member, Publication, SocialAccount, Workspace, utcnow
from services.signing import Signer
from services.web_models import WebhookEvent
from tests.conftest import make_settings, run_jobs
from tests.services.analytics_data import draft_with_version

CHAT = "console:team"
TIKTOK_SECRET = "tiktok-client-secret"
FACEBOOK_SECRET = "facebook-app-secret"
INSTAGRAM_SECRET = "instagram-app-secret"
VERIFY_TOKEN = "our-verify-token"
KEYS = WebhookKeys(
    meta_verify_token=VERIFY_TOKEN,
    meta_app_secrets=(INSTAGRAM_SECRET, FACEBOOK_SECRET),
    tiktok_client_secret=TIKTOK_SECRET,
)


@dataclass
class World:
    runtime: Runtime
    web: httpx.AsyncClient
    console: ConsoleChat
    draft_id: int
    publication_id: int


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    async with open_runtime(make_settings(tmp_path / "media")) as rt:
        yield rt


async def _world(runtime: Runtime, platform: str, remote_ref: str, account_ref: str) -> World:
    """A draft being published to one connected account, its post left unconfirmed."""
    async with runtime.app.sessions.begin() as s:
        workspace = Workspace(name="cafe")
        s.add(workspace)
        await s.flush()
        member = Member(workspace_id=workspace.id, user_ref="u", display_name="olga", role="owner")
        s.add(member)
        await s.flush()
        account = SocialAccount(
            workspace_id=workspace.id,
            platform=platform,
            kind="oauth",
            external_id=account_ref,
            display_name="Cafe",
            extra={"username": "cafe"} if platform == "tiktok" else {},
        )
        s.add(account)
        draft, version = await draft_with_version(
            s, workspace.id, member.id, "autumn menu", "publishing", utcnow(), platform=platform
        )
        await s.flush()
        publication = Publication(
            draft_id=draft.id,
            version_id=version.id,
            account_id=account.id,
            platform=platform,
            idempotency_key=f"v{version.id}:a{account.id}",
            state="unconfirmed",
            remote_ref=remote_ref,
            error="TikTok was still processing the video",
        )
        s.add(publication)
        await s.flush()
        ids = draft.id, publication.id
    links = MediaLinks(
        signer=Signer(key=b"k" * 32, purpose="media"), store=runtime.app.store, public_url=None
    )
    web_app = create_web_app(links=links, app=runtime.app, webhook_keys=KEYS)
    web = httpx.AsyncClient(transport=httpx.ASGITransport(app=web_app), base_url="http://t")
    return World(runtime, web, ConsoleChat(out=io.StringIO(), chat_ref=CHAT), *ids)


@pytest.fixture
async def tiktok(runtime: Runtime) -> AsyncIterator[World]:
    world = await _world(runtime, "tiktok", "v_pub_file~v2-1.123", "act.open-1")
    async with world.web:
        yield world


@pytest.fixture
async def facebook(runtime: Runtime) -> AsyncIterator[World]:
    world = await _world(runtime, "facebook", "9876543210", "112233")
    async with world.web:
        yield world


def tiktok_body(event: str, content: dict[str, Any], openid: str = "act.open-1") -> bytes:
    """A delivery as TikTok sends it: `content` is a JSON string inside the JSON."""
    return json.dumps(
        {
            "client_key": "bwo2m45353a6k85",
            "event": event,
            "create_time": int(time.time()),
            "user_openid": openid,
            "content": json.dumps(content),
        }
    ).encode()


def tiktok_signature(body: bytes, *, at: float | None = None, secret: str = TIKTOK_SECRET) -> str:
    stamp = str(int(time.time() if at is None else at))
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},s={digest}"


def meta_body(video_id: str, video_status: str, page: str = "112233") -> bytes:
    change = {
        "field": "videos",
        "value": {"id": video_id, "status": {"video_status": video_status}},
    }
    entry = {"id": page, "time": int(time.time()), "changes": [change]}
    return json.dumps({"object": "page", "entry": [entry]}).encode()


def meta_signature(body: bytes, secret: str = FACEBOOK_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def _state(world: World) -> tuple[str, str, str | None, str | None, int]:
    """The draft's state, the publication's state, url and error, and the events recorded."""
    async with world.runtime.app.sessions() as s:
        draft = await s.get(Draft, world.draft_id, populate_existing=True)
        pub = await s.get(Publication, world.publication_id, populate_existing=True)
        events = await s.scalar(select(func.count()).select_from(WebhookEvent))
    assert draft is not None and pub is not None
    return draft.state, pub.state, pub.url, pub.error, int(events or 0)


async def _told(world: World) -> list[str]:
    await run_jobs(world.runtime, world.console)
    return [r.text for r in world.console.replies]


async def test_a_signed_tiktok_completion_publishes_at_once_and_tells_the_chat(
    tiktok: World,
) -> None:
    body = tiktok_body("post.publish.complete", {"publish_id": "v_pub_file~v2-1.123"})
    answer = await tiktok.web.post(
        "/webhooks/tiktok", content=body, headers={"TikTok-Signature": tiktok_signature(body)}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"ok": True, "applied": 1, "ignored": 0}
    assert await _state(tiktok) == (
        "published",
        "published",
        "https://www.tiktok.com/@cafe",
        None,
        1,
    )
    told = await _told(tiktok)
    assert told == [
        f"📣 Draft #{tiktok.draft_id} v1: published.\n"
        "• TikTok: https://www.tiktok.com/@cafe\n"
        "(TikTok told us so directly.)"
    ]

    # Once public, TikTok names the post: the link and id get better, the chat is not told again.
    body = tiktok_body(
        "post.publish.publicly_available",
        {"publish_id": "v_pub_file~v2-1.123", "post_id": "7301234567890"},
    )
    answer = await tiktok.web.post(
        "/webhooks/tiktok", content=body, headers={"TikTok-Signature": tiktok_signature(body)}
    )
    assert answer.json()["applied"] == 1
    async with tiktok.runtime.app.sessions() as s:
        pub = await s.get(Publication, tiktok.publication_id)
        assert pub is not None
        assert (pub.external_id, pub.url) == (
            "7301234567890",
            "https://www.tiktok.com/@cafe/video/7301234567890",
        )
    assert await _told(tiktok) == told


async def test_a_signed_tiktok_failure_fails_the_post_with_the_reason(tiktok: World) -> None:
    body = tiktok_body(
        "post.publish.failed",
        {"publish_id": "v_pub_file~v2-1.123", "reason": "duration_check_failed"},
    )
    answer = await tiktok.web.post(
        "/webhooks/tiktok", content=body, headers={"TikTok-Signature": tiktok_signature(body)}
    )
    assert answer.status_code == 200 and answer.json()["applied"] == 1
    draft_state, pub_state, _, error, _ = await _state(tiktok)
    assert (draft_state, pub_state) == ("failed", "failed")
    assert error is not None and "too short or too long" in error
    told = await _told(tiktok)
    assert len(told) == 1 and told[0].startswith(f"📣 Draft #{tiktok.draft_id} v1: failed.")
    assert "• TikTok: failed: TikTok could not publish the video (duration_check_failed)" in told[0]


@pytest.mark.parametrize(
    ("headers", "status", "reason"),
    [
        ({}, 401, "unsigned"),
        ({"TikTok-Signature": "garbage"}, 401, "must read t="),
        ("wrong secret", 403, "does not match"),
        ("other body", 403, "does not match"),
        ("stale", 403, "stale"),
    ],
)
async def test_bad_tiktok_deliveries_are_refused_and_change_nothing(
    tiktok: World, headers: Any, status: int, reason: str
) -> None:
    body = tiktok_body("post.publish.complete", {"publish_id": "v_pub_file~v2-1.123"})
    if headers == "wrong secret":
        headers = {"TikTok-Signature": tiktok_signature(body, secret="not-ours")}
    elif headers == "other body":  # signed, then altered on the way
        headers = {"TikTok-Signature": tiktok_signature(body)}
        body = body.replace(b"act.open-1", b"act.open-2")
    elif headers == "stale":
        headers = {"TikTok-Signature": tiktok_signature(body, at=time.time() - 600)}
    before = await _state(tiktok)
    answer = await tiktok.web.post("/webhooks/tiktok", content=body, headers=headers)
    assert answer.status_code == status
    assert reason in answer.json()["error"]
    assert await _state(tiktok) == before == ("publishing", "unconfirmed", None, before[3], 0)
    assert await _told(tiktok) == []


async def test_a_replayed_delivery_is_refused_and_changes_nothing(tiktok: World) -> None:
    body = tiktok_body("post.publish.failed", {"publish_id": "v_pub_file~v2-1.123"})
    headers = {"TikTok-Signature": tiktok_signature(body)}
    first = await tiktok.web.post("/webhooks/tiktok", content=body, headers=headers)
    assert first.status_code == 200
    async with tiktok.runtime.app.sessions.begin() as s:  # as if the post were tried again
        pub = await s.get(Publication, tiktok.publication_id)
        draft = await s.get(Draft, tiktok.draft_id)
        assert pub is not None and draft is not None
        pub.state, pub.error, draft.state = "unconfirmed", None, "publishing"
    replay = await tiktok.web.post("/webhooks/tiktok", content=body, headers=headers)
    assert replay.status_code == 409 and "already received" in replay.json()["error"]
    assert await _state(tiktok) == ("publishing", "unconfirmed", None, None, 1)


async def test_a_post_the_run_gave_up_on_is_settled_when_the_platform_confirms_it(
    tiktok: World,
) -> None:
    async with tiktok.runtime.app.sessions.begin() as s:  # the last try left it unconfirmed
        draft = await s.get(Draft, tiktok.draft_id)
        assert draft is not None
        draft.state = "failed"
    body = tiktok_body("post.publish.complete", {"publish_id": "v_pub_file~v2-1.123"})
    answer = await tiktok.web.post(
        "/webhooks/tiktok", content=body, headers={"TikTok-Signature": tiktok_signature(body)}
    )
    assert answer.json()["applied"] == 1
    assert (await _state(tiktok))[:2] == ("published", "published")
    assert (await _told(tiktok))[0].startswith(f"📣 Draft #{tiktok.draft_id} v1: published.")


async def test_while_another_post_is_pending_the_run_reports_at_its_end(tiktok: World) -> None:
    async with tiktok.runtime.app.sessions.begin() as s:
        pub = await s.get(Publication, tiktok.publication_id)
        draft = await s.get(Draft, tiktok.draft_id)
        assert pub is not None and draft is not None
        outbox = SocialAccount(
            workspace_id=draft.workspace_id, platform="youtube", display_name="outbox"
        )
        s.add(outbox)
        await s.flush()
        s.add(
            Publication(
                draft_id=pub.draft_id,
                version_id=pub.version_id,
                account_id=outbox.id,
                platform="youtube",
                idempotency_key="other",
                state="queued",
            )
        )
    body = tiktok_body("post.publish.complete", {"publish_id": "v_pub_file~v2-1.123"})
    answer = await tiktok.web.post(
        "/webhooks/tiktok", content=body, headers={"TikTok-Signature": tiktok_signature(body)}
    )
    assert answer.json()["applied"] == 1
    assert (await _state(tiktok))[:2] == ("publishing", "published")
    assert await _told(tiktok) == []


async def test_on_postgres_a_delivery_applies_once(postgres_url: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "media", DATABASE_URL=postgres_url)
    async with open_runtime(settings, apply_migrations=True) as runtime:
        world = await _world(runtime, "tiktok", "v_pub_pg", "act.open-1")
        async with world.web:
            body = tiktok_body("post.publish.complete", {"publish_id": "v_pub_pg"})
            headers = {"TikTok-Signature": tiktok_signature(body)}
            first = await world.web.post("/webhooks/tiktok", content=body, headers=headers)
            replay = await world.web.post("/webhooks/tiktok", content=body, headers=headers)
        assert (first.status_code, replay.status_code) == (200, 409)
        assert await _state(world) == (
            "published",
            "published",
            "https://www.tiktok.com/@cafe",
            None,
            1,
        )


async def test_a_post_a_publishing_run_holds_is_left_to_that_run(tiktok: World) -> None:
    async with tiktok.runtime.app.sessions.begin() as s:
        pub = await s.get(Publication, tiktok.publication_id)
        assert pub is not None
        pub.state, pub.lease_until = "uploading", utcnow() + timedelta(minutes=2)
    body = tiktok_body("post.publish.complete", {"publish_id": "v_pub_file~v2-1.123"})
    answer = await tiktok.web.post(
        "/webhooks/tiktok", content=body, headers={"TikTok-Signature": tiktok_signature(body)}
    )
    assert answer.json() == {"ok": True, "applied": 0, "ignored": 1}
    assert (await _state(tiktok))[:2] == ("publishing", "uploading")


async def test_an_event_for_another_account_or_post_is_ignored(tiktok: World) -> None:
    for body in (
        tiktok_body("post.publish.complete", {"publish_id": "v_pub_file~v2-1.123"}, "act.x"),
        tiktok_body("post.publish.complete", {"publish_id": "someone-elses"}),
        tiktok_body("authorization.removed", {"reason": 1}),
    ):
        answer = await tiktok.web.post(
            "/webhooks/tiktok", content=body, headers={"TikTok-Signature": tiktok_signature(body)}
        )
        assert answer.status_code == 200 and answer.json()["applied"] == 0
    assert (await _state(tiktok))[:2] == ("publishing", "unconfirmed")


async def test_meta_handshake_echoes_the_challenge_only_with_our_token(facebook: World) -> None:
    ok = await facebook.web.get(
        "/webhooks/meta",
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": VERIFY_TOKEN,
            "hub.challenge": "1158201444",
        },
    )
    assert ok.status_code == 200 and ok.text == "1158201444"
    assert ok.headers["content-type"].startswith("text/plain")
    wrong = await facebook.web.get(
        "/webhooks/meta",
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": "guess",
            "hub.challenge": "1158201444",
        },
    )
    assert wrong.status_code == 403 and "1158201444" not in wrong.text


async def test_a_signed_facebook_video_ready_publishes_the_reel(facebook: World) -> None:
    body = meta_body("9876543210", "ready")
    answer = await facebook.web.post(
        "/webhooks/meta", content=body, headers={"X-Hub-Signature-256": meta_signature(body)}
    )
    assert answer.status_code == 200 and answer.json()["applied"] == 1, answer.text
    assert (await _state(facebook))[:3] == (
        "published",
        "published",
        "https://www.facebook.com/reel/9876543210/",
    )
    told = await _told(facebook)
    assert len(told) == 1 and "• Facebook: https://www.facebook.com/reel/9876543210/" in told[0]


async def test_the_other_meta_apps_secret_signs_too(facebook: World) -> None:
    body = meta_body("9876543210", "error")
    answer = await facebook.web.post(
        "/webhooks/meta",
        content=body,
        headers={"X-Hub-Signature-256": meta_signature(body, INSTAGRAM_SECRET)},
    )
    assert answer.status_code == 200 and answer.json()["applied"] == 1
    assert (await _state(facebook))[:2] == ("failed", "failed")


@pytest.mark.parametrize(
    ("signature", "status"),
    [(None, 401), ("sha1=abc", 401), ("wrong", 403), ("altered", 403)],
)
async def test_bad_meta_deliveries_are_refused_and_change_nothing(
    facebook: World, signature: str | None, status: int
) -> None:
    body = meta_body("9876543210", "ready")
    headers = {}
    if signature == "wrong":
        headers = {"X-Hub-Signature-256": meta_signature(body, "not-ours")}
    elif signature == "altered":
        headers = {"X-Hub-Signature-256": meta_signature(body)}
        body = meta_body("9876543210", "error")
    elif signature is not None:
        headers = {"X-Hub-Signature-256": signature}
    answer = await facebook.web.post("/webhooks/meta", content=body, headers=headers)
    assert answer.status_code == status, answer.text
    assert await _state(facebook) == ("publishing", "unconfirmed", None, _ANY, 0)
    assert await _told(facebook) == []


async def test_a_replayed_meta_delivery_is_refused(facebook: World) -> None:
    body = meta_body("9876543210", "ready")
    headers = {"X-Hub-Signature-256": meta_signature(body)}
    assert (await facebook.web.post("/webhooks/meta", content=body, headers=headers)).is_success
    replay = await facebook.web.post("/webhooks/meta", content=body, headers=headers)
    assert replay.status_code == 409
    async with facebook.runtime.app.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(WebhookEvent)) == 1


async def test_webhooks_without_secrets_refuse_everything(runtime: Runtime) -> None:
    links = MediaLinks(
        signer=Signer(key=b"k" * 32, purpose="media"), store=runtime.app.store, public_url=None
    )
    web_app = create_web_app(links=links, app=runtime.app)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=web_app), base_url="http://t"
    ) as web:
        body = tiktok_body("post.publish.complete", {"publish_id": "x"})
        sig = tiktok_signature(body, secret="")
        tiktok = await web.post("/webhooks/tiktok", content=body, headers={"TikTok-Signature": sig})
        meta = await web.post("/webhooks/meta", content=b"{}", headers={"X-Hub-Signature-256": "x"})
        hello = await web.get(
            "/webhooks/meta", params={"hub.mode": "subscribe", "hub.challenge": "1"}
        )
    assert (tiktok.status_code, meta.status_code, hello.status_code) == (403, 403, 403)
    assert "not configured" in tiktok.json()["error"]


class _Anything:
    def __eq__(self, other: object) -> bool:
        return True


_ANY: Any = _Anything()
