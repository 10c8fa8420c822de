"""Reviewer links without a browser: /review, the page, the video's range requests, decisions.

The real web app is driven through httpx's ASGI transport against a real runtime (SQLite,
embedded Redis); the chat is the console adapter fed by the chat queue.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from bot.runtime import Runtime, chat_worker, open_runtime
from bot.web import create_web_app
from handlers.actor import Refusal
from handlers.review_decision import ReviewForm, check_form
from services.models import (
    Approval,
    AuditEntry,
    Draft,
    DraftState,
    DraftVersion,
    Member,
    Role,
    utcnow,
)
from services.review_links import LinkAltered, LinkExpired, ReviewLinks
from services.signing import Signer
from services.web_models import ReviewLink
from tests.conftest import make_settings
from tests.handlers.review_data import SECRET, TeamChat, make_video

PUBLIC = "http://testserver"
SAME_SITE = {"Sec-Fetch-Site": "same-origin"}


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One short real video for the module."""
    return make_video(tmp_path_factory.mktemp("video"))


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    """SQLite and an embedded Redis, with SECRET_KEY and PUBLIC_URL (reviewer links on)."""
    settings = make_settings(tmp_path / "media", SECRET_KEY=SECRET, PUBLIC_URL=PUBLIC)
    async with open_runtime(settings) as rt:
        yield rt


@pytest.fixture
async def team(runtime: Runtime) -> TeamChat:
    """A workspace whose owner is olga, with sam as a creator and ann as an approver."""
    chat = TeamChat(runtime)
    await chat.say("/start")
    for name, role in (("sam", "creator"), ("ann", "approver")):
        await chat.say("hello", user=name)
        await chat.say(f"/role console:{name} {role}")
    return chat


@pytest.fixture
async def web(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """The web app, through httpx's ASGI transport."""
    assert runtime.app.links is not None
    app = create_web_app(links=runtime.app.links, app=runtime.app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as client:
        yield client


async def deliver_chat(team: TeamChat) -> None:
    """Deliver what was sent to the chat (no other jobs run)."""
    worker = chat_worker(team.runtime, {"console": team.console}, burst=True, poll_delay=0)
    try:
        await worker.run_check()
    finally:
        await worker.close()


async def link_count(team: TeamChat) -> int:
    async with team.app.sessions() as session:
        return len((await session.scalars(select(ReviewLink.id))).all())


async def link_row(team: TeamChat) -> ReviewLink:
    async with team.app.sessions() as session:
        return (await session.execute(select(ReviewLink))).scalar_one()


# /review in the chat


async def test_review_gives_a_signed_link_for_approvers_and_owners(
    team: TeamChat, video: Path
) -> None:
    draft_id = await team.ready_draft(video)
    refused = await team.say(f"/review {draft_id}", user="sam")
    assert "Only approvers and owners" in refused.text and "creator" in refused.text
    reply = await team.say(f"/review {draft_id}", user="ann")
    assert f"Review link for draft #{draft_id} v1" in reply.text
    assert re.search(rf"{PUBLIC}/review/\S+", reply.text)
    link = await link_row(team)
    assert (link.draft_id, link.version, link.chat_ref) == (draft_id, 1, "console:team")
    assert timedelta(hours=71.9) < link.expires_at - link.created_at <= timedelta(hours=72)
    async with team.app.sessions() as session:
        actions = (await session.scalars(select(AuditEntry.action))).all()
    assert "review.link" in actions


@pytest.mark.parametrize(
    ("args", "expected"),
    [("", "Use /review <draft>"), ("abc", "Use /review <draft>"), ("99", "can't find draft #99")],
)
async def test_review_with_bad_arguments_says_what_to_do(
    team: TeamChat, args: str, expected: str
) -> None:
    assert expected in (await team.say(f"/review {args}")).text


async def test_review_of_a_draft_not_up_for_review_is_refused(team: TeamChat, video: Path) -> None:
    draft_id = await team.ready_draft(video)
    async with team.app.sessions.begin() as session:
        await session.execute(update(Draft).values(state=DraftState.APPROVED))
    reply = await team.say(f"/review {draft_id}")
    assert "is already approved" in reply.text and "Only a draft up for review" in reply.text
    assert await link_count(team) == 0


async def test_review_without_public_url_says_which_settings(tmp_path: Path, video: Path) -> None:
    settings = make_settings(tmp_path / "media", SECRET_KEY=SECRET)
    async with open_runtime(settings) as runtime:
        team = TeamChat(runtime)
        await team.say("/start")
        draft_id = await team.ready_draft(video)
        reply = await team.say(f"/review {draft_id}")
    assert "PUBLIC_URL" in reply.text and "SECRET_KEY" in reply.text


# The page


async def test_the_page_shows_video_script_captions_and_bill(
    team: TeamChat, video: Path, web: httpx.AsyncClient
) -> None:
    draft_id = await team.ready_draft(video)
    token = await team.review_link(draft_id)
    page = await web.get(f"/review/{token}")
    assert page.status_code == 200
    html = page.text
    assert f'src="/review/{token}/video"' in html and "playsinline" in html
    async with team.app.sessions() as session:
        version = (await session.execute(select(DraftVersion))).scalar_one()
    hook = version.script["hook"]
    assert _escaped(hook) in html
    for meta in version.metadata_json:
        assert _escaped(meta["title"]) in html and _escaped(meta["caption"]) in html
        assert " ".join(meta["hashtags"]) in html
    assert "TikTok" in html and "YouTube" in html
    assert "$0.13: model tokens 2,500 in / 900 out, voice 420 characters, rendering 6 s" in html
    assert 'name="decision" value="approve"' in html and 'value="changes"' in html
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    addresses = re.findall(r'(?:src|href|action|poster)="([^"]*)"', html)
    assert addresses and all(a.startswith("/") for a in addresses), addresses  # ours only
    css = await web.get("/static/style.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]


def _escaped(text: str) -> str:
    return html.escape(text, quote=True)


async def test_the_video_answers_range_requests(
    team: TeamChat, video: Path, web: httpx.AsyncClient
) -> None:
    token = await team.review_link(await team.ready_draft(video))
    whole = await web.get(f"/review/{token}/video")
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
    assert whole.content == video.read_bytes()
    size = video.stat().st_size
    part = await web.get(f"/review/{token}/video", headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 1000-1999/{size}"
    assert part.content == video.read_bytes()[1000:2000]
    tail = await web.get(f"/review/{token}/video", headers={"Range": "bytes=-100"})
    assert tail.status_code == 206 and tail.content == video.read_bytes()[-100:]
    beyond = await web.get(f"/review/{token}/video", headers={"Range": f"bytes={size + 10}-"})
    assert beyond.status_code == 416
    poster = await web.get(f"/review/{token}/poster")
    assert poster.status_code == 200 and poster.content.startswith(b"\x89PNG")
    assert (await web.get(f"/review/{token[:-2]}xx/video")).status_code == 404


# Decisions


async def test_approve_counts_like_a_members_and_is_told_in_the_chat(
    team: TeamChat, video: Path, web: httpx.AsyncClient
) -> None:
    draft_id = await team.ready_draft(video)
    token = await team.review_link(draft_id)
    form = {"decision": "approve", "name": "Jane Client", "comment": "Lovely"}
    answer = await web.post(f"/review/{token}", data=form, headers=SAME_SITE)
    assert answer.status_code == 303 and answer.headers["location"] == f"/review/{token}"
    assert (await team.draft(draft_id)).state == DraftState.APPROVED
    async with team.app.sessions() as session:
        approval = (await session.execute(select(Approval))).scalar_one()
        member = await session.get(Member, approval.member_id)
        entries = (await session.execute(select(AuditEntry.action, AuditEntry.member_id))).all()
    assert member is not None and member.display_name == "Jane Client"
    assert member.role == Role.APPROVER and member.user_ref.startswith("review:")
    assert ("draft.approve", member.id) in entries
    link = await link_row(team)
    assert (link.decision, link.reviewer_name, link.comment) == ("approve", "Jane Client", "Lovely")
    await team.drain()  # the publish job runs as after a press of Approve
    told = [t for t in team.texts() if t.startswith("🔗 Reviewer link")]
    assert len(told) == 1
    assert "Jane Client approved it." in told[0] and "“Lovely”" in told[0]
    assert f"Draft #{draft_id} approved by Jane Client" in told[0]
    assert any(t.startswith(f"📣 Draft #{draft_id} v1: published") for t in team.texts())

    shown = await web.get(f"/review/{token}")
    assert "Approved</strong> by Jane Client" in shown.text and "<form" not in shown.text
    again = {"decision": "changes", "name": "Mallory", "comment": "redo"}
    second = await web.post(f"/review/{token}", data=again, headers=SAME_SITE)
    assert second.status_code == 409
    assert "A decision was already made" in second.text
    assert (await link_row(team)).reviewer_name == "Jane Client"
    assert (await team.draft(draft_id)).state != DraftState.GENERATING


async def test_request_changes_is_an_edit_with_the_comment(
    team: TeamChat, video: Path, web: httpx.AsyncClient
) -> None:
    draft_id = await team.ready_draft(video)
    token = await team.review_link(draft_id)
    missing = {"decision": "changes", "name": "Jane", "comment": "  "}
    refused = await web.post(f"/review/{token}", data=missing, headers=SAME_SITE)
    assert refused.status_code == 400 and "Say what should change" in refused.text
    assert (await link_row(team)).decision is None
    form = {"decision": "changes", "name": "Jane", "comment": "new hook: Cold brew in 4 seconds!"}
    answer = await web.post(f"/review/{token}", data=form, headers=SAME_SITE)
    assert answer.status_code == 303
    draft = await team.draft(draft_id)
    assert draft.state == DraftState.GENERATING
    assert draft.pending_instruction == "new hook: Cold brew in 4 seconds!"
    await deliver_chat(team)
    told = [t for t in team.texts() if t.startswith("🔗 Reviewer link")]
    assert told and "Jane asked for changes: “new hook: Cold brew in 4 seconds!”" in told[0]
    assert f"Revising draft #{draft_id} into v2" in told[0]
    shown = await web.get(f"/review/{token}")
    assert "Changes requested</strong> by Jane" in shown.text


async def test_a_decision_the_draft_refuses_records_nothing(
    team: TeamChat, video: Path, web: httpx.AsyncClient
) -> None:
    draft_id = await team.ready_draft(video)
    token = await team.review_link(draft_id)
    for file in (team.app.drafts_dir / str(draft_id) / "v1").glob("video.mp4"):
        file.unlink()  # approval checks the video against the platforms' rules
    form = {"decision": "approve", "name": "Jane"}
    answer = await web.post(f"/review/{token}", data=form, headers=SAME_SITE)
    assert answer.status_code == 409 and "gone from the media store" in answer.text
    assert "Nothing was recorded" in answer.text
    assert (await link_row(team)).decision is None
    assert (await team.draft(draft_id)).state == DraftState.READY
    async with team.app.sessions() as session:
        assert (await session.scalars(select(Approval))).all() == []
    await deliver_chat(team)
    told = [t for t in team.texts() if t.startswith("🔗 Reviewer link")]
    assert len(told) == 1 and "Jane tried to approve it, but it was refused" in told[0]


async def test_when_the_team_moved_on_the_link_takes_no_decision(
    team: TeamChat, video: Path, web: httpx.AsyncClient
) -> None:
    draft_id = await team.ready_draft(video)
    token = await team.review_link(draft_id)
    await team.say(f"/edit {draft_id} shorter")
    page = await web.get(f"/review/{token}")
    assert page.status_code == 200 and "Nothing to decide here" in page.text
    assert "<form" not in page.text
    form = {"decision": "approve", "name": "Jane"}
    answer = await web.post(f"/review/{token}", data=form, headers=SAME_SITE)
    assert answer.status_code == 409 and "is being made right now" in answer.text
    assert (await link_row(team)).decision is None


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
    ],
)
async def test_posts_from_other_sites_are_refused(
    team: TeamChat, video: Path, web: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    draft_id = await team.ready_draft(video)
    token = await team.review_link(draft_id)
    form = {"decision": "approve", "name": "Jane"}
    answer = await web.post(f"/review/{token}", data=form, headers=headers)
    assert answer.status_code == 403 and "from another website" in answer.text
    assert (await link_row(team)).decision is None
    assert (await team.draft(draft_id)).state == DraftState.READY


async def test_a_post_from_its_own_origin_is_accepted(
    team: TeamChat, video: Path, web: httpx.AsyncClient
) -> None:
    token = await team.review_link(await team.ready_draft(video))
    form = {"decision": "approve", "name": "Jane"}
    answer = await web.post(f"/review/{token}", data=form, headers={"Origin": PUBLIC})
    assert answer.status_code == 303


# Altered and expired links


async def test_altered_and_expired_links_get_a_clear_page(
    team: TeamChat, video: Path, web: httpx.AsyncClient
) -> None:
    draft_id = await team.ready_draft(video)
    token = await team.review_link(draft_id)
    payload, expires, mac = token.split(".")
    for altered in (f"{payload}.{int(expires) + 3600}.{mac}", token[:-3], "nonsense", f"x{token}"):
        page = await web.get(f"/review/{altered}")
        assert page.status_code == 404, altered
        assert "Link not valid" in page.text and "Traceback" not in page.text
        posted = await web.post(
            f"/review/{altered}", data={"decision": "approve", "name": "J"}, headers=SAME_SITE
        )
        assert posted.status_code == 404
    link = await link_row(team)
    assert team.app.reviews is not None
    old = team.app.reviews.token_for(link.nonce, created_at=utcnow() - timedelta(hours=73))
    page = await web.get(f"/review/{old}")
    assert page.status_code == 410 and "expired" in page.text
    async with team.app.sessions.begin() as session:  # the row's expiry counts too
        await session.execute(update(ReviewLink).values(expires_at=utcnow()))
    page = await web.get(f"/review/{token}")
    assert page.status_code == 410
    posted = await web.post(
        f"/review/{token}", data={"decision": "approve", "name": "J"}, headers=SAME_SITE
    )
    assert posted.status_code == 410
    assert (await team.draft(draft_id)).state == DraftState.READY


def test_tokens_tell_altered_from_expired() -> None:
    links = ReviewLinks(signer=Signer(key=b"k", purpose="review"), public_url=PUBLIC)
    now = utcnow()
    token = links.token_for("abc", created_at=now)
    assert links.nonce_of(token) == "abc"
    assert links.url_for(token) == f"{PUBLIC}/review/{token}"
    with pytest.raises(LinkExpired):
        links.nonce_of(links.token_for("abc", created_at=now - timedelta(hours=73)))
    other = ReviewLinks(signer=Signer(key=b"k", purpose="media"), public_url=PUBLIC)
    for bad in (other.token_for("abc", created_at=now), token.replace(".", "..", 1), ""):
        with pytest.raises(LinkAltered):
            links.nonce_of(bad)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (ReviewForm("maybe", "Jane"), "Choose Approve or Request changes"),
        (ReviewForm("approve", " \t"), "Type your name"),
        (ReviewForm("approve", "J" * 81), "under 80"),
        (ReviewForm("changes", "Jane", "x" * 1001), "keep it under 1000"),
    ],
)
def test_form_checks_say_what_to_fix(form: ReviewForm, message: str) -> None:
    with pytest.raises(Refusal, match=message):
        check_form(form)


def test_names_and_comments_lose_control_characters() -> None:
    checked = check_form(ReviewForm("changes", "Jane\x00\nDoe", "a\r\nb\u202e"))
    assert (checked.name, checked.comment) == ("Jane Doe", "a b")
