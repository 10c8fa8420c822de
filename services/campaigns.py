"""Campaigns in the database: finding them, claiming a slot's run, topics, and auto-publishing.

A run is claimed by inserting its `campaign_runs` row: (campaign, slot) is unique, so of two
workers (or a job re-run after a restart) the second insert fails and that worker does
nothing. The same transaction moves the campaign's `last_slot` forward only if it is still
active and still behind the slot (a compare-and-set), so a campaign paused, edited or already
past that slot is not run from a stale read. A run is at most once: a worker that dies between
its claim and the draft leaves that slot without a draft (the run row says `pending`).

Auto-publishing: a run made while the campaign had `auto_publish_after_s` keeps that delay; its
draft is approved by the campaign once its current version has been ready that long and
nobody rejected it. Pausing, stopping or `auto off` hands the drafts still waiting to people.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.cadence import Cadence, count_slots, latest_slot, next_slot
from services.models import (
    Campaign,
    CampaignRun,
    CampaignState,
    Draft,
    DraftState,
    DraftVersion,
    Workspace,
)
from services.scheduling import format_when

FEED_MEMORY = 200  # entry ids remembered per feed
RECENT_TOPICS = 30
STRANDED_AFTER = timedelta(minutes=10)  # a run pending this long lost its worker


class RunOutcome(StrEnum):
    """What a campaign run came to."""

    PENDING = "pending"  # claimed; the draft is being asked for
    DRAFTED = "drafted"  # a draft was requested; it waits for approval
    SKIPPED = "skipped"  # no topic: the list ran out, or the feed had nothing new
    REFUSED = "refused"  # the request was refused (role, budget, rate, bad template)
    FAILED = "failed"  # the topic source failed (feed unreachable or refused, writer error)
    AUTO_APPROVING = "auto_approving"  # the campaign is approving its draft now
    AUTO_APPROVED = "auto_approved"  # approved by the campaign after its deadline
    AUTO_REFUSED = "auto_refused"  # the campaign's approval was refused; people decide
    MANUAL = "manual"  # auto-publishing withdrawn (paused, stopped, auto off): people decide


def cadence_of(campaign: Campaign) -> Cadence:
    """A campaign's cadence from its columns."""
    return Cadence.stored(campaign.weekdays, campaign.times)


def next_run(campaign: Campaign, timezone: str, now: datetime) -> datetime | None:
    """When an active campaign runs next (UTC); None if it is paused or stopped."""
    if campaign.state != CampaignState.ACTIVE:
        return None
    return next_slot(cadence_of(campaign), timezone, now)


async def find_campaign(session: AsyncSession, workspace_id: int, name: str) -> Campaign | None:
    """The workspace's campaign called `name` (any case)."""
    return await session.scalar(
        select(Campaign).where(
            Campaign.workspace_id == workspace_id, func.lower(Campaign.name) == name.lower()
        )
    )


async def list_campaigns(session: AsyncSession, workspace_id: int) -> list[Campaign]:
    """The workspace's campaigns, oldest first."""
    rows = await session.scalars(
        select(Campaign).where(Campaign.workspace_id == workspace_id).order_by(Campaign.id)
    )
    return list(rows.all())


@dataclass(frozen=True)
class DueRun:
    """A campaign whose latest slot has come and has not run: the slot and how many earlier
    slots were missed (the bot was down)."""

    campaign: Campaign
    timezone: str
    slot: datetime
    missed: int


async def due_runs(session: AsyncSession, now: datetime) -> list[DueRun]:
    """Every active campaign's latest slot at or before `now`, if it is after its last one."""
    rows = await session.execute(
        select(Campaign, Workspace.timezone)
        .join(Workspace, Workspace.id == Campaign.workspace_id)
        .where(Campaign.state == CampaignState.ACTIVE.value)
        .order_by(Campaign.id)
    )
    due = []
    for campaign, timezone in rows.all():
        cadence = cadence_of(campaign)
        slot = latest_slot(cadence, timezone, now)
        last = campaign.last_slot
        if last is not None and slot <= last:
            continue
        missed = count_slots(cadence, timezone, last, slot) - 1 if last is not None else 0
        due.append(DueRun(campaign, timezone, slot, max(0, missed)))
    return due


class _Lost(Exception):
    """The campaign moved on (paused, edited, or past this slot) since it was read."""


async def claim_run(session: AsyncSession, due: DueRun) -> CampaignRun | None:
    """Insert the slot's run and move the campaign's last slot to it; None if another worker
    has the slot or the campaign changed meanwhile."""
    campaign = due.campaign
    try:
        async with session.begin_nested():
            run = CampaignRun(
                campaign_id=campaign.id,
                slot=due.slot,
                auto_publish_after_s=campaign.auto_publish_after_s,
                outcome=RunOutcome.PENDING.value,
            )
            session.add(run)
            await session.flush()
            moved = await session.execute(
                update(Campaign)
                .where(
                    Campaign.id == campaign.id,
                    Campaign.state == CampaignState.ACTIVE.value,
                    or_(Campaign.last_slot.is_(None), Campaign.last_slot < due.slot),
                )
                .values(last_slot=due.slot)
                .execution_options(synchronize_session=False)
            )
            if not moved.rowcount:  # type: ignore[attr-defined]
                raise _Lost
    except (IntegrityError, _Lost):
        return None
    return run


async def stranded_runs(session: AsyncSession, now: datetime) -> list[tuple[CampaignRun, DueRun]]:
    """Runs still pending `STRANDED_AFTER` after a worker took them on: that worker died
    between claiming the slot and recording its draft (active campaigns only)."""
    rows = await session.execute(
        select(CampaignRun, Campaign, Workspace.timezone)
        .join(Campaign, Campaign.id == CampaignRun.campaign_id)
        .join(Workspace, Workspace.id == Campaign.workspace_id)
        .where(
            CampaignRun.outcome == RunOutcome.PENDING.value,
            CampaignRun.claimed_at < now - STRANDED_AFTER,
            Campaign.state == CampaignState.ACTIVE.value,
        )
        .order_by(CampaignRun.id)
    )
    return [(run, DueRun(c, tz, run.slot, 0)) for run, c, tz in rows.all()]


async def reclaim_run(session: AsyncSession, run: CampaignRun, now: datetime) -> bool:
    """Take a stranded run on (compare-and-set on when it was last taken); False if another
    worker just did."""
    result = await session.execute(
        update(CampaignRun)
        .where(
            CampaignRun.id == run.id,
            CampaignRun.outcome == RunOutcome.PENDING.value,
            CampaignRun.claimed_at == run.claimed_at,
        )
        .values(claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def next_list_topic(session: AsyncSession, campaign_id: int) -> tuple[int, str] | None:
    """The list's next topic and its place; None when the list has run out."""
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None or campaign.next_topic >= len(campaign.topics):
        return None
    return campaign.next_topic, campaign.topics[campaign.next_topic]


async def move_list_on(session: AsyncSession, campaign_id: int, used: int) -> None:
    """Count the topic at place `used` as done (if the list is still there)."""
    await session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.next_topic == used)
        .values(next_topic=used + 1)
        .execution_options(synchronize_session=False)
    )


async def remember_feed_entry(session: AsyncSession, campaign_id: int, entry_id: str) -> None:
    """Keep `entry_id` among the feed's used entries (the newest `FEED_MEMORY`)."""
    campaign = await session.get(Campaign, campaign_id, with_for_update=True)
    if campaign is not None:
        campaign.feed_seen = [*campaign.feed_seen, entry_id][-FEED_MEMORY:]
        await session.flush()


async def finish_run(
    session: AsyncSession,
    run_id: int,
    outcome: RunOutcome,
    *,
    topic: str | None = None,
    draft_id: int | None = None,
    error: str | None = None,
) -> None:
    """Record what a run came to."""
    values: dict[str, object] = {"outcome": outcome.value, "error": error}
    if topic is not None:
        values["topic"] = topic[:400]
    if draft_id is not None:
        values["draft_id"] = draft_id
    await session.execute(update(CampaignRun).where(CampaignRun.id == run_id).values(**values))


async def unlinked_draft(session: AsyncSession, campaign_id: int) -> int | None:
    """The newest draft the campaign made that no run names yet (the one just requested)."""
    linked = select(CampaignRun.draft_id).where(CampaignRun.draft_id.is_not(None))
    return await session.scalar(
        select(func.max(Draft.id)).where(Draft.campaign_id == campaign_id, Draft.id.not_in(linked))
    )


async def recent_topics(session: AsyncSession, campaign_id: int) -> list[str]:
    """The topics of the campaign's latest runs, newest first."""
    rows = await session.scalars(
        select(CampaignRun.topic)
        .where(CampaignRun.campaign_id == campaign_id, CampaignRun.topic.is_not(None))
        .order_by(CampaignRun.slot.desc())
        .limit(RECENT_TOPICS)
    )
    return [t for t in rows.all() if t]


async def hand_to_people(session: AsyncSession, campaign_id: int) -> int:
    """Withdraw auto-publishing from the campaign's drafts still waiting; how many."""
    result = await session.execute(
        update(CampaignRun)
        .where(
            CampaignRun.campaign_id == campaign_id,
            CampaignRun.outcome == RunOutcome.DRAFTED.value,
            CampaignRun.auto_publish_after_s.is_not(None),
        )
        .values(outcome=RunOutcome.MANUAL.value)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def _waiting() -> tuple[ColumnElement[bool], ...]:
    return (
        CampaignRun.outcome == RunOutcome.DRAFTED.value,
        CampaignRun.auto_publish_after_s.is_not(None),
        Draft.state == DraftState.READY.value,
    )


async def auto_publish_at(session: AsyncSession, draft_id: int, version: int) -> datetime | None:
    """When a campaign draft's `version` publishes by itself unless rejected; None if never."""
    row = (
        await session.execute(
            select(CampaignRun.auto_publish_after_s, DraftVersion.created_at)
            .join(Draft, Draft.id == CampaignRun.draft_id)
            .join(
                DraftVersion,
                and_(DraftVersion.draft_id == Draft.id, DraftVersion.number == version),
            )
            .where(CampaignRun.draft_id == draft_id, *_waiting())
        )
    ).first()
    if row is None or row.auto_publish_after_s is None:
        return None
    ready_at: datetime = row.created_at
    return ready_at + timedelta(seconds=row.auto_publish_after_s)


async def auto_publish_line(session: AsyncSession, draft_id: int, version: int) -> str | None:
    """The preview's line about publishing by itself, in the workspace's zone; None if not."""
    at = await auto_publish_at(session, draft_id, version)
    if at is None:
        return None
    timezone = await session.scalar(
        select(Workspace.timezone)
        .join(Draft, Draft.workspace_id == Workspace.id)
        .where(Draft.id == draft_id)
    )
    when = format_when(at, timezone or "UTC")
    return f"⏱ Publishes automatically at {when} unless someone rejects it."


@dataclass(frozen=True)
class AutoDue:
    """A campaign draft whose time to be rejected has passed."""

    run_id: int
    draft_id: int
    campaign_id: int
    campaign_name: str
    created_by: int
    workspace_id: int
    chat_ref: str
    deadline: datetime


async def auto_publish_due(session: AsyncSession, now: datetime) -> list[AutoDue]:
    """Campaign drafts still ready and unrejected whose auto-publish time has come."""
    rows = await session.execute(
        select(
            CampaignRun.id,
            CampaignRun.draft_id,
            CampaignRun.auto_publish_after_s,
            DraftVersion.created_at,
            Campaign.id,
            Campaign.name,
            Campaign.created_by,
            Campaign.workspace_id,
            Draft.chat_ref,
        )
        .join(Draft, Draft.id == CampaignRun.draft_id)
        .join(
            DraftVersion,
            and_(DraftVersion.draft_id == Draft.id, DraftVersion.number == Draft.current_version),
        )
        .join(Campaign, Campaign.id == CampaignRun.campaign_id)
        .where(*_waiting())
        .order_by(CampaignRun.id)
    )
    due = []
    for run_id, draft_id, after_s, ready_at, campaign_id, name, by, workspace_id, chat in rows:
        if draft_id is None or after_s is None:  # excluded by the query; for the type checker
            continue
        deadline = ready_at + timedelta(seconds=after_s)
        if deadline <= now:
            due.append(
                AutoDue(run_id, draft_id, campaign_id, name, by, workspace_id, chat, deadline)
            )
    return due


async def claim_auto(session: AsyncSession, run_id: int) -> bool:
    """Take a run's auto-approval (compare-and-set on its outcome); False if someone has."""
    result = await session.execute(
        update(CampaignRun)
        .where(CampaignRun.id == run_id, CampaignRun.outcome == RunOutcome.DRAFTED.value)
        .values(outcome=RunOutcome.AUTO_APPROVING.value)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
