"""The jobs monitor on the web, through httpx against the real app: signing in with the one-time
link from `/admin status`, the page, and Retry and Cancel (role-checked, audited, CSRF-safe)."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from bot.runtime import Runtime, jobs_worker, open_runtime, running
from bot.web import create_web_app
from handlers.buttons import Verb, encode
from handlers.drafts import GENERATE_JOB
from handlers.port import Incoming, Reply
from handlers.router import handle
from services.admin_logins import AdminLogins, token_digest
from services.arq_jobs import JobState, find_job
from services.models import DraftState, utcnow
from services.queue import JOBS_QUEUE
from services.signing import Signer
from services.web_models import WebLogin
from tests.bot.admin_world import (
    NO_CRON,
    PUBLIC,
    SAME_SITE,
    SECRET,
    HeldWriter,
    audit_actions,
    deliver_chat,
    failed_generation,
    form_token,
    login_token,
    sign_in,
    with_writer,
)
from tests.conftest import make_settings
from tests.handlers.review_data import CHAT, TeamChat, make_video


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One short real video for the module."""
    return make_video(tmp_path_factory.mktemp("video"))


@pytest.fixture
async def runtime(tmp_path: Path, redis_server_url: str) -> AsyncIterator[Runtime]:
    settings = make_settings(
        tmp_path / "media", REDIS_URL=redis_server_url, SECRET_KEY=SECRET, PUBLIC_URL=PUBLIC
    )
    async with open_runtime(settings) as rt:
        yield rt


@pytest.fixture
async def team(runtime: Runtime) -> TeamChat:
    """olga owns the workspace; sam is a creator."""
    chat = TeamChat(runtime)
    await chat.say("/start")
    await chat.say("hello", user="sam")
    return chat


def client_for(runtime: Runtime, app: object = None) -> httpx.AsyncClient:
    assert runtime.app.links is not None
    web = create_web_app(links=runtime.app.links, app=app or runtime.app)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url=PUBLIC)


@pytest.fixture
async def web(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(runtime) as client:
        yield client


async def approve(team: TeamChat, draft_id: int) -> Reply:
    """olga presses Approve under the draft's preview."""
    press = Incoming(CHAT, "console:olga", "olga", button=encode(Verb.APPROVE, draft_id))
    return (await handle(team.app, press))[0]


# signing in


async def test_the_login_link_signs_an_owner_in_once(
    team: TeamChat, web: httpx.AsyncClient
) -> None:
    refused = await team.say("/admin status", user="sam")
    assert "Only an owner" in refused.text and "/admin/login/" not in refused.text
    # In the team's chat an owner gets the status, and no link anyone there could use.
    in_group = await team.say("/admin status")
    assert "Queues" in in_group.text and "/admin/login/" not in in_group.text
    assert "private chat" in in_group.text
    sams_dm = Incoming("console:dm-sam", "console:sam", "sam", "/admin status", private=True)
    assert "Only an owner" in (await handle(team.app, sams_dm))[0].text
    token = await login_token(team)
    async with team.app.sessions() as session:
        stored = (await session.scalars(select(WebLogin.nonce))).all()
    assert stored == [token_digest(token)]  # only the hash is kept

    # A link preview (a GET) uses nothing up: the page only offers a button.
    for _ in range(2):
        page = await web.get(f"/admin/login/{token}")
        assert page.status_code == 200 and "Sign in" in page.text
    done = await web.post(f"/admin/login/{token}", headers=SAME_SITE)
    assert done.status_code == 303 and done.headers["location"] == "/admin"
    cookie = done.headers["set-cookie"].lower()
    for part in ("httponly", "samesite=strict", "path=/admin", "max-age=28800"):
        assert part in cookie
    assert "secure" not in cookie  # PUBLIC_URL is http here
    monitor = await web.get("/admin")
    assert monitor.status_code == 200 and "Jobs monitor" in monitor.text
    assert '<meta http-equiv="refresh"' in monitor.text

    async with client_for(team.runtime) as other:
        again = await other.post(f"/admin/login/{token}", headers=SAME_SITE)
        assert again.status_code == 410 and "already been used" in again.text
        assert "/admin status" in again.text
        assert "already been used" in (await other.get(f"/admin/login/{token}")).text
        assert (await other.get("/admin")).status_code == 401
    assert (await audit_actions(team)).count("admin.login") == 1


async def test_expired_and_unknown_links_are_refused(
    team: TeamChat, web: httpx.AsyncClient
) -> None:
    token = await login_token(team)
    async with team.app.sessions.begin() as session:
        await session.execute(update(WebLogin).values(expires_at=utcnow() - timedelta(seconds=1)))
    for response in (
        await web.get(f"/admin/login/{token}"),
        await web.post(f"/admin/login/{token}", headers=SAME_SITE),
    ):
        assert response.status_code == 410 and "expired" in response.text
    altered = await web.post(f"/admin/login/{token[:-2]}xy", headers=SAME_SITE)
    assert altered.status_code == 410 and "not one of ours" in altered.text
    assert "set-cookie" not in altered.headers
    assert (await web.get("/admin")).status_code == 401


async def test_without_a_valid_session_the_page_asks_to_sign_in(
    team: TeamChat, web: httpx.AsyncClient
) -> None:
    none = await web.get("/admin")
    assert none.status_code == 401
    assert "Sign-in required" in none.text and "/admin status" in none.text
    assert "Traceback" not in none.text
    logins = team.app.admin_logins
    assert logins is not None
    genuine = logins.seal(1, 1, ())
    tampered = genuine[:-3] + ("AAA" if not genuine.endswith("AAA") else "BBB")
    expired = logins.signer.sign(
        json.dumps({"m": 1, "w": 1, "g": [], "f": "x"}), ttl_s=8 * 3600, now=0
    )
    for cookie in (tampered, expired, "nonsense"):
        answer = await web.get("/admin", headers={"Cookie": f"socialbot_admin={cookie}"})
        assert answer.status_code == 401 and "session has ended" in answer.text
    signed = await web.get("/admin", headers={"Cookie": f"socialbot_admin={genuine}"})
    assert signed.status_code == 200


async def test_the_cookie_is_secure_when_the_public_url_is_https(team: TeamChat) -> None:
    logins = AdminLogins(
        signer=Signer(key=SECRET.encode(), purpose="admin-session"),
        public_url="https://bot.example.com",
    )
    app = dataclasses.replace(team.app, admin_logins=logins)
    token = await login_token(team)
    async with client_for(team.runtime, app) as client:
        done = await client.post(f"/admin/login/{token}", headers=SAME_SITE)
    assert done.status_code == 303 and "secure" in done.headers["set-cookie"].lower()


async def test_an_owner_made_approver_is_refused_at_once(
    team: TeamChat, web: httpx.AsyncClient
) -> None:
    await team.say("/role console:sam owner")
    await sign_in(web, team, user="sam")
    assert (await web.get("/admin")).status_code == 200
    await team.say("/role console:sam approver")
    refused = await web.get("/admin")
    assert refused.status_code == 403
    assert "for owners" in refused.text and "approver" in refused.text


# the page, retry and cancel


async def test_a_failed_generation_is_listed_and_retried(
    team: TeamChat, web: httpx.AsyncClient
) -> None:
    draft_id = await failed_generation(team)
    await sign_in(web, team)
    page = (await web.get("/admin")).text
    assert "generate_draft" in page and f"draft #{draft_id}" in page
    assert "the model refused: try another topic" in page
    assert re.search(r"/admin/jobs/generate%3A1%3A1%3A1/retry", page)
    token = form_token(page)

    done = await web.post(
        "/admin/jobs/generate:1:1:1/retry", data={"form_token": token}, headers=SAME_SITE
    )
    assert done.status_code == 303
    after = (await web.get("/admin")).text
    assert "asked for a new version of draft #1" in after
    assert (await team.draft(draft_id)).state == DraftState.GENERATING
    queued = await find_job(team.app.queue, JOBS_QUEUE, "generate:1:1:2", now=utcnow())
    assert queued.state is JobState.QUEUED and queued.function == GENERATE_JOB
    assert "Retry" not in after.split("Recent jobs")[1]  # the draft is being made again
    actions = await audit_actions(team)
    assert actions[-2:] == ["draft.regenerate", "job.retry"]
    await deliver_chat(team)
    assert any("new version of draft #1" in t and "jobs monitor" in t for t in team.texts())

    again = await web.post(
        "/admin/jobs/generate:1:1:1/retry", data={"form_token": token}, headers=SAME_SITE
    )
    assert again.status_code == 303
    refused = (await web.get("/admin")).text
    assert "is being made right now" in refused and "Nothing was changed" in refused
    assert (await audit_actions(team)).count("job.retry") == 1


async def test_posts_without_the_form_token_or_from_another_site_are_refused(
    team: TeamChat, web: httpx.AsyncClient
) -> None:
    await failed_generation(team)
    await sign_in(web, team)
    token = form_token((await web.get("/admin")).text)
    url = "/admin/jobs/generate:1:1:1/retry"
    attempts = [
        ({}, SAME_SITE),  # no form token
        ({"form_token": "guessed"}, SAME_SITE),
        ({"form_token": token}, {"Sec-Fetch-Site": "cross-site"}),
        ({"form_token": token}, {"Origin": "https://evil.example"}),
    ]
    before = await audit_actions(team)
    for data, headers in attempts:
        refused = await web.post(url, data=data, headers=headers)
        assert refused.status_code == 403 and "nothing was done" in refused.text
    assert (await team.draft(1)).state == DraftState.FAILED
    assert await audit_actions(team) == before


async def test_cancelling_a_queued_generation_fails_the_draft_and_tells_the_chat(
    team: TeamChat, web: httpx.AsyncClient
) -> None:
    await team.say("/draft a 6 second clip about tea")
    await sign_in(web, team)
    page = (await web.get("/admin")).text
    waiting = page.split('id="waiting"')[1].split("</table>")[0]
    assert "generate:1:1:1" in waiting and "v1: draft requested" in waiting
    done = await web.post(
        "/admin/jobs/generate:1:1:1/cancel",
        data={"form_token": form_token(page)},
        headers=SAME_SITE,
    )
    assert done.status_code == 303
    assert "cancelled the making of draft #1" in (await web.get("/admin")).text
    draft = await team.draft(1)
    assert draft.state == DraftState.FAILED and "cancelled by olga" in (draft.error or "")
    gone = await find_job(team.app.queue, JOBS_QUEUE, "generate:1:1:1", now=utcnow())
    assert gone.state is JobState.GONE
    assert (await audit_actions(team))[-1] == "job.cancel"
    await deliver_chat(team)
    assert any("cancelled the making of draft #1" in t for t in team.texts())


async def test_cancelling_a_running_generation_aborts_it_on_its_worker(
    team: TeamChat, web: httpx.AsyncClient
) -> None:
    held = HeldWriter()
    await team.say("/draft a 6 second clip about tea")
    await sign_in(web, team)
    async with running(jobs_worker(with_writer(team.runtime, held), **NO_CRON)):
        await held.started.wait()
        page = (await web.get("/admin")).text
        row = page.split('id="running"')[1].split("</table>")[0]
        # The stage the worker is at: the held writer has not finished the script.
        assert "generate:1:1:1" in row and "v1: writing the script" in row and "Cancel" in row
        done = await web.post(
            "/admin/jobs/generate:1:1:1/cancel",
            data={"form_token": form_token(page)},
            headers=SAME_SITE,
        )
        assert done.status_code == 303
        after = (await web.get("/admin")).text
    assert "cancelled the making of draft #1" in after
    recent = after.split('id="recent"')[1].split("</table>")[0]
    assert "generate:1:1:1" in recent and "cancelled" in recent
    assert (await team.draft(1)).state == DraftState.FAILED
    assert (await audit_actions(team))[-1] == "job.cancel"


async def test_what_cannot_be_cancelled_or_retried_is_refused_clearly(
    team: TeamChat, web: httpx.AsyncClient
) -> None:
    await failed_generation(team)
    for text in ("/start", "/draft a 6 second clip about coffee"):  # another team's draft 2
        await handle(team.app, Incoming("console:other", "console:zoe", "zoe", text=text))
    await sign_in(web, team)
    page = (await web.get("/admin")).text
    assert "generate:1:1:1" in page and "generate:2:1:1" not in page
    token = {"form_token": form_token(page)}
    cases = [
        ("/admin/jobs/generate:1:1:1/cancel", "already ended"),
        ("/admin/jobs/nope/retry", "I know of no job nope"),
        ("/admin/jobs/generate:2:1:1/cancel", "not about a draft of this workspace"),
    ]
    for url, expected in cases:
        assert (await web.post(url, data=token, headers=SAME_SITE)).status_code == 303
        answer = (await web.get("/admin")).text
        assert expected in answer and "Nothing was changed" in answer, expected
    assert "job.cancel" not in await audit_actions(team)


async def test_cancelling_a_scheduled_wake_up_unschedules_and_a_publish_is_not_called_back(
    team: TeamChat, web: httpx.AsyncClient, video: Path
) -> None:
    draft_id = await team.ready_draft(video)
    await team.say(f"/schedule {draft_id} in 2 hours")
    approved = await approve(team, draft_id)
    assert "Scheduled for" in approved.text
    await sign_in(web, team)
    page = (await web.get("/admin")).text
    waiting = page.split('id="waiting"')[1].split("</table>")[0]
    wake = re.search(r'data-job="([^"]+)"', waiting)
    assert wake is not None and "due later" in waiting and "Cancel" in waiting
    token = {"form_token": form_token(page)}
    url = f"/admin/jobs/{wake.group(1)}/cancel"
    assert (await web.post(url, data=token, headers=SAME_SITE)).status_code == 303
    assert "no longer scheduled" in (await web.get("/admin")).text
    assert (await team.draft(draft_id)).state == DraftState.READY
    gone = await find_job(team.app.queue, JOBS_QUEUE, wake.group(1), now=utcnow())
    assert gone.state is JobState.GONE
    assert (await audit_actions(team))[-2:] == ["draft.unschedule", "job.cancel"]

    await approve(team, draft_id)  # now: the publish job waits for a worker
    page = (await web.get("/admin")).text
    assert f"publish:{draft_id}" in page
    url = f"/admin/jobs/publish:{draft_id}/cancel"
    assert (await web.post(url, data=token, headers=SAME_SITE)).status_code == 303
    refused = (await web.get("/admin")).text
    assert "can&#39;t be called back" in refused and "Nothing was changed" in refused
    assert (await team.draft(draft_id)).state == DraftState.APPROVED
