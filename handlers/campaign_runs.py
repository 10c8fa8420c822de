"""The campaigns' periodic job: each due slot makes one draft, and overdue drafts auto-publish.

Every minute (and at start) a worker looks for active campaigns whose latest slot has come and
not run (services.campaigns.due_runs), claims the slot's run (the unique key: only one worker
gets it), picks the topic and asks for the draft through `handlers.drafts.request_draft`,
exactly as a member would, as the campaign's creator: the role, budget and rate checks apply,
and the preview is posted in the campaign's chat for approval. After an outage only the latest
slot runs, and the chat is told how many were missed.

Then it approves the campaign drafts whose auto-publish time has passed while they were still
up for review and not rejected, through the same approval path as the Approve button, as the
campaign's creator; an audit entry `campaign.auto_approve` records that it was the campaign.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from typing import Any

import structlog

from handlers.actor import Actor, Refusal
from handlers.app import App
from handlers.buttons import Verb
from handlers.drafts import press, request_draft
from handlers.parsing import RequestError
from handlers.port import Reply
from handlers.workspace_cmds import brand_of
from services.campaign_spec import TopicSource
from services.campaigns import (
    AutoDue,
    DueRun,
    RunOutcome,
    auto_publish_due,
    claim_auto,
    claim_run,
    due_runs,
    finish_run,
    move_list_on,
    next_list_topic,
    reclaim_run,
    remember_feed_entry,
    stranded_runs,
    unlinked_draft,
)
from services.feeds import FeedError, newest_unused, read_feed
from services.ideas import load_basis
from services.models import Campaign, CampaignRun, Member, Workspace, utcnow
from services.scheduling import format_when
from services.usage import UsageLog, usage_records
from services.workspaces import audit
from services.writer import WriterError

log = structlog.get_logger(__name__)

CAMPAIGN_CRON_JOB = "run_campaigns"
CAMPAIGN_JOB_TIMEOUT_S = 300
_KEY_COLON = re.compile(r"\s*:(?![/\d])")  # "Latte art: basics" must not read as a key


class NoTopic(Exception):
    """The source has no topic for this run; the message tells the chat what to do."""


async def run_campaigns(ctx: dict[str, Any]) -> str:
    """Make the drafts of the campaign slots that are due, then auto-publish what is overdue
    (periodic job)."""
    app: App = ctx["app"]
    now = utcnow()
    made = await fire_campaigns(app, now=now)
    approved = await auto_publish(app, now=now)
    return f"{made}; {approved}"


async def fire_campaigns(app: App, *, now: datetime) -> str:
    """Run each campaign slot due at `now` once; what `run_campaigns` does first."""
    async with app.sessions() as session:
        due = await due_runs(session, now)
    ran = 0
    for item in due:
        try:
            ran += await _fire(app, item, now)
        except Exception:  # one campaign's failure must not hold up the others
            log.exception("campaign.run_failed", campaign_id=item.campaign.id)
    ran += await _take_up_stranded(app, now)
    return f"{ran} campaign run{'s' if ran != 1 else ''}"


async def _take_up_stranded(app: App, now: datetime) -> int:
    """Finish runs whose worker died after claiming the slot: link the draft it made, if it
    got that far, else make the draft now (once: the run is reclaimed by compare-and-set)."""
    async with app.sessions() as session:
        stranded = await stranded_runs(session, now)
    ran = 0
    for run, due in stranded:
        async with app.sessions.begin() as session:
            if not await reclaim_run(session, run, now):
                continue
            draft_id = await unlinked_draft(session, run.campaign_id)
            if draft_id is not None:
                await finish_run(session, run.id, RunOutcome.DRAFTED, draft_id=draft_id)
        log.warning("campaign.stranded_run", run_id=run.id, draft_id=draft_id)
        if draft_id is None:
            try:
                ran += await _make(app, run, due, now)
            except Exception:
                log.exception("campaign.run_failed", campaign_id=due.campaign.id)
    return ran


async def _fire(app: App, due: DueRun, now: datetime) -> int:
    async with app.sessions.begin() as session:
        run = await claim_run(session, due)
    if run is None:
        return 0  # another worker has this slot, or the campaign changed meanwhile
    return await _make(app, run, due, now)


async def _make(app: App, run: CampaignRun, due: DueRun, now: datetime) -> int:
    campaign = due.campaign
    when = format_when(due.slot, due.timezone, now=now, zone=False)
    head = f"📅 Campaign “{campaign.name}” ({when})"
    if due.missed:
        runs = f"{due.missed} run{'s' if due.missed != 1 else ''}"
        head += f" missed {runs} while the bot was down; made one now"
    log.info("campaign.run", campaign_id=campaign.id, slot=due.slot.isoformat())
    async with app.sessions() as session:
        workspace = await session.get(Workspace, campaign.workspace_id)
        member = await session.get(Member, campaign.created_by)
    assert workspace is not None
    try:
        if member is None:
            raise Refusal("the member who made this campaign is gone; make it again")
        topic, used = await _topic(app, campaign, workspace, now)
    except NoTopic as exc:
        await _finish(app, run.id, RunOutcome.SKIPPED, error=str(exc))
        await app.chat.send(campaign.chat_ref, Reply(f"{head}: skipped, {exc}"))
        return 1
    except (FeedError, WriterError, Refusal) as exc:
        await _finish(app, run.id, RunOutcome.FAILED, error=str(exc))
        await app.chat.send(campaign.chat_ref, Reply(f"⚠️ {head}: skipped: {exc}"))
        return 1
    try:
        reply = await request_draft(
            app,
            Actor(workspace, member),
            campaign.chat_ref,
            request_text(topic, campaign),
            campaign_id=campaign.id,
        )
    except (Refusal, RequestError) as exc:
        await _finish(app, run.id, RunOutcome.REFUSED, topic=topic, error=str(exc))
        await app.chat.send(campaign.chat_ref, Reply(f"⚠️ {head} made no draft: {exc}"))
        return 1
    async with app.sessions.begin() as session:  # the topic counts as used once it is drafted
        if isinstance(used, int):
            await move_list_on(session, campaign.id, used)
        elif used is not None:
            await remember_feed_entry(session, campaign.id, used)
        draft_id = await unlinked_draft(session, campaign.id)
        await finish_run(session, run.id, RunOutcome.DRAFTED, topic=topic, draft_id=draft_id)
    await app.chat.send(campaign.chat_ref, replace(reply, text=f"{head}: {reply.text}"))
    return 1


async def _finish(
    app: App, run_id: int, outcome: RunOutcome, *, topic: str | None = None, error: str
) -> None:
    async with app.sessions.begin() as session:
        await finish_run(session, run_id, outcome, topic=topic, error=error[:2000])


def request_text(topic: str, campaign: Campaign) -> str:
    """The request a campaign's run makes, as a member would type it."""
    parts = [f"template:{campaign.template}"] if campaign.template else []
    parts.append("topic: " + _KEY_COLON.sub(" \u2013", topic))
    if campaign.platforms:
        parts.append(f"platforms: {', '.join(campaign.platforms)}")
    return " ".join(parts)


async def _topic(
    app: App, campaign: Campaign, workspace: Workspace, now: datetime
) -> tuple[str, int | str | None]:
    """This run's topic, and where it came from: its place in the list or the feed entry's id
    (counted as used once the draft is made, so a refused run leaves it for the next)."""
    source = TopicSource(campaign.source)
    if source is TopicSource.LIST:
        async with app.sessions() as session:
            found = await next_list_topic(session, campaign.id)
        if found is None:
            raise NoTopic(
                f"its topic list has run out. Add more with /campaign topics "
                f"“{campaign.name}” a; b; c"
            )
        place, topic = found
        return topic, place
    if source is TopicSource.FEED:
        feed = await read_feed(campaign.feed_url or "", allow=app.fetch_allow)
        entry = newest_unused(feed, set(campaign.feed_seen))
        if entry is None:
            raise NoTopic(f"nothing new in the feed “{feed.title}” since the last run")
        return entry.title, entry.id
    return await _idea(app, workspace, now), None


async def _idea(app: App, workspace: Workspace, now: datetime) -> str:
    """A topic the writer suggests from the brand and the team's best posts, not a recent one."""
    usage = UsageLog()
    try:
        async with app.sessions() as session:
            basis = await load_basis(
                session,
                workspace.id,
                brand=brand_of(workspace),
                timezone=workspace.timezone,
                now=now,
            )
        ideas = await app.writer.ideas(basis, count=1, usage=usage)
    finally:
        async with app.sessions.begin() as session:
            session.add_all(usage_records(workspace.id, None, usage))
    if not ideas:
        raise NoTopic(
            "the writer has no new idea that isn't a recent topic. Give topics with "
            "/campaign edit “<name>” topics: a; b; c"
        )
    return ideas[0].topic


async def auto_publish(app: App, *, now: datetime) -> str:
    """Approve each campaign draft whose auto-publish time has passed, unrejected."""
    async with app.sessions() as session:
        due = await auto_publish_due(session, now)
    approved = 0
    for item in due:
        try:
            approved += await _auto_approve(app, item)
        except Exception:
            log.exception("campaign.auto_approve_failed", draft_id=item.draft_id)
    return f"{approved} auto-approved"


async def _auto_approve(app: App, due: AutoDue) -> int:
    async with app.sessions.begin() as session:
        if not await claim_auto(session, due.run_id):
            return 0
        workspace = await session.get(Workspace, due.workspace_id)
        member = await session.get(Member, due.created_by)
    assert workspace is not None
    note = f"⏱ Nobody rejected draft #{due.draft_id} of campaign “{due.campaign_name}” in time"
    try:
        if member is None:
            raise Refusal("the member who made the campaign is gone")
        reply = await press(app, Actor(workspace, member), Verb.APPROVE, due.draft_id)
    except Refusal as exc:
        async with app.sessions.begin() as session:
            await finish_run(session, due.run_id, RunOutcome.AUTO_REFUSED, error=str(exc)[:2000])
        await app.chat.send(
            due.chat_ref, Reply(f"{note}, but it could not be approved: {exc} Approve it by hand.")
        )
        return 0
    except Exception:  # the database or queue failed: the next run of the job tries again
        async with app.sessions.begin() as session:
            await finish_run(session, due.run_id, RunOutcome.DRAFTED)
        raise
    async with app.sessions.begin() as session:
        await finish_run(session, due.run_id, RunOutcome.AUTO_APPROVED)
        await audit(
            session,
            due.workspace_id,
            due.created_by,
            "campaign.auto_approve",
            f"draft:{due.draft_id}",
            campaign=due.campaign_name,
            deadline=due.deadline.isoformat(),
        )
    reply = replace(reply, text=f"{note}.\n{reply.text}", settles=False)
    await app.chat.send(due.chat_ref, reply)
    return 1
