"""`/campaign` and `/campaigns`: recurring drafts made on a cadence, managed from the chat.

Owners and approvers make, edit, pause, resume and stop campaigns; creators can list them.
The runs themselves are `handlers.campaign_runs`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.actor import Actor, Refusal
from handlers.app import App
from handlers.port import Reply
from services.cadence import latest_slot
from services.campaign_spec import (
    EXAMPLE,
    SOURCES_HELP,
    CampaignSpec,
    SpecError,
    TopicSource,
    describe_span,
    parse_spec,
    split_name,
)
from services.campaigns import (
    cadence_of,
    find_campaign,
    hand_to_people,
    list_campaigns,
    next_run,
)
from services.feeds import FeedError, read_feed
from services.models import Campaign, CampaignState, Role, utcnow
from services.scheduling import format_when
from services.templates import TemplateError, check_name, find_template, list_templates
from services.workspaces import at_least, audit

USAGE = (
    f"Use {EXAMPLE}\n"
    "Settings: every <days> <time> (e.g. every day 18:30, every weekday 8:00), "
    f"template:<name>, platforms: tiktok, youtube, {SOURCES_HELP}, "
    "auto 2h (publish unless someone rejects it within 2 h) or auto off (the default: "
    "nothing is published without approval).\n"
    "/campaigns lists them; /campaign pause|resume|stop “<name>”; "
    "/campaign edit “<name>” <settings>; /campaign topics “<name>” a; b; c adds topics."
)


async def campaign_command(app: App, actor: Actor, args: str, chat_ref: str) -> Reply:
    """`/campaign new|edit|pause|resume|stop|topics …`; alone, the list."""
    verb, _, rest = args.strip().partition(" ")
    verb = verb.lower()
    if verb in ("", "list"):
        return await campaigns_command(app, actor)
    if verb not in ("new", "edit", "pause", "resume", "stop", "topics"):
        raise Refusal(USAGE)
    require_manager(actor)
    try:
        if verb == "new":
            return await _new(app, actor, rest, chat_ref)
        if verb == "edit":
            return await _edit(app, actor, rest)
        if verb == "topics":
            return await _add_topics(app, actor, rest)
        return await _set_state(app, actor, verb, rest)
    except SpecError as exc:
        raise Refusal(str(exc)) from None


def require_manager(actor: Actor) -> None:
    """Refuse anyone below approver: only owners and approvers make or change campaigns."""
    if not at_least(actor.role, Role.APPROVER):
        raise Refusal("Only owners and approvers can manage campaigns; /campaigns lists them.")


async def campaigns_command(app: App, actor: Actor) -> Reply:
    """`/campaigns`: each campaign's cadence, template, source, state and next run."""
    if not at_least(actor.role, Role.CREATOR):
        raise Refusal("Viewers can't see campaigns. Ask an owner for the creator role.")
    now = utcnow()
    tz = actor.workspace.timezone
    async with app.sessions() as session:
        campaigns = await list_campaigns(session, actor.workspace.id)
    running = [c for c in campaigns if c.state != CampaignState.STOPPED]
    stopped = [c for c in campaigns if c.state == CampaignState.STOPPED]
    if not running:
        text = "No campaigns yet. " + USAGE.split("\n", 1)[0]
        if stopped:
            text += f"\nStopped: {', '.join(f'“{c.name}”' for c in stopped)}."
        return Reply(text)
    lines = [f"Campaigns (times in {tz}):"]
    for campaign in running:
        lines.append(f"• {describe(campaign, tz, now)}")
    if stopped:
        lines.append(f"Stopped: {', '.join(f'“{c.name}”' for c in stopped)}.")
    return Reply("\n".join(lines))


def describe(campaign: Campaign, timezone: str, now: datetime) -> str:
    """One campaign on a line: name, cadence, template, platforms, source, state, next run."""
    parts = [f"“{campaign.name}” — {cadence_of(campaign).describe()}"]
    parts.append(f"template {campaign.template}" if campaign.template else "no template")
    if campaign.platforms:
        parts.append(", ".join(campaign.platforms))
    parts.append(_source(campaign))
    if campaign.auto_publish_after_s:
        parts.append(f"auto-publishes {describe_span(campaign.auto_publish_after_s)} after preview")
    else:
        parts.append("waits for approval")
    upcoming = next_run(campaign, timezone, now)
    state = campaign.state if upcoming is None else f"next {_when(upcoming, timezone, now)}"
    return " · ".join([*parts, state])


def _when(at: datetime, timezone: str, now: datetime) -> str:
    return format_when(at, timezone, now=now, zone=False)


def _source(campaign: Campaign) -> str:
    source = TopicSource(campaign.source)
    if source is TopicSource.LIST:
        left = max(0, len(campaign.topics) - campaign.next_topic)
        return f"topics: {left} of {len(campaign.topics)} left"
    if source is TopicSource.FEED:
        return f"feed {campaign.feed_url}"
    return "ideas from the writer"


async def _new(app: App, actor: Actor, text: str, chat_ref: str) -> Reply:
    if not text.strip():
        return Reply(f"Start a campaign in one line.\n{USAGE}")
    name, rest = split_name(text)
    spec = parse_spec(rest)
    if spec.cadence is None:
        raise Refusal(f"When should “{name}” run? Add e.g. every mon,thu 9:00. {EXAMPLE}")
    if spec.source is None:
        raise Refusal(f"Where do the topics of “{name}” come from? Add {SOURCES_HELP}.")
    now = utcnow()
    tz = actor.workspace.timezone
    feed_title = await _check_feed(app, spec)
    async with app.sessions.begin() as session:
        await _check_template(session, actor, spec)
        existing = await find_campaign(session, actor.workspace.id, name)
        if existing is not None and existing.state != CampaignState.STOPPED:
            raise Refusal(
                f"There is already a campaign called “{existing.name}”; "
                f"change it with /campaign edit “{existing.name}” …, or pick another name."
            )
        if existing is not None:  # a stopped campaign gives its name up
            existing.name = f"{existing.name[:45]} (stopped #{existing.id})"
            await session.flush()
        campaign = Campaign(
            workspace_id=actor.workspace.id,
            chat_ref=chat_ref,
            name=name,
            weekdays=list(spec.cadence.weekdays),
            times=spec.cadence.clocks,
            template=spec.template,
            platforms=[p.value for p in spec.platforms] if spec.platforms else None,
            source=spec.source.value,
            topics=list(spec.topics),
            next_topic=0,
            feed_url=spec.feed_url,
            feed_seen=[],
            auto_publish_after_s=spec.auto_publish_after_s,
            state=CampaignState.ACTIVE.value,
            created_by=actor.member.id,
            # The slots before now are not owed: the first run is the next slot.
            last_slot=latest_slot(spec.cadence, tz, now),
        )
        session.add(campaign)
        await session.flush()
        await audit(
            session,
            actor.workspace.id,
            actor.member.id,
            "campaign.create",
            f"campaign:{campaign.id}",
            name=name,
            cadence=spec.cadence.describe(),
            source=spec.source.value,
        )
    upcoming = next_run(campaign, tz, now)
    assert upcoming is not None
    lines = [
        f"📅 Campaign “{name}” made: {spec.cadence.describe()} ({tz}), "
        + ("template " + spec.template if spec.template else "no template")
        + f", {_source(campaign)}"
        + (f" (“{feed_title}”)" if feed_title else "")
        + ".",
        f"First run: {_when(upcoming, tz, now)}. Each run posts its draft here for review.",
        _auto_sentence(campaign.auto_publish_after_s),
    ]
    return Reply("\n".join(lines))


def _auto_sentence(seconds: int | None) -> str:
    if seconds is None:
        return "Nothing is published without approval."
    return (
        f"A draft nobody rejects within {describe_span(seconds)} of its preview is approved "
        "and published automatically; each preview says when."
    )


async def _check_feed(app: App, spec: CampaignSpec) -> str | None:
    """Fetch the feed once, so a URL that can't be used is refused now; its title."""
    if spec.source is not TopicSource.FEED or spec.feed_url is None:
        return None
    try:
        feed = await read_feed(spec.feed_url, allow=app.fetch_allow)
    except FeedError as exc:
        raise Refusal(str(exc)) from None
    if not feed.entries:
        raise Refusal(f"The feed “{feed.title}” has no entries to take topics from.")
    return feed.title


async def _check_template(session: AsyncSession, actor: Actor, spec: CampaignSpec) -> None:
    if spec.template is None:
        return
    try:
        name = check_name(spec.template)
    except TemplateError as exc:
        raise Refusal(str(exc)) from None
    if await find_template(session, actor.workspace.id, name) is None:
        names = [t.name for t in await list_templates(session, actor.workspace.id)]
        have = f"Templates here: {', '.join(names)}." if names else "There are no templates yet."
        raise Refusal(f"There is no template “{name}”. {have} /template save makes one.")


async def _named(session: AsyncSession, actor: Actor, text: str) -> tuple[Campaign, str]:
    """The campaign named at the start of `text` (in quotes, or an existing name), and the rest."""
    text = text.strip()
    if not text:
        raise Refusal(
            "Name the campaign, e.g. /campaign pause “Monday tips”; /campaigns lists them."
        )
    campaigns = await list_campaigns(session, actor.workspace.id)
    if text[:1] in "\"“«'„" and text:
        name, rest = split_name(text)
        found = next((c for c in campaigns if c.name.lower() == name.lower()), None)
    else:
        lowered = text.lower()
        matches = [
            c
            for c in campaigns
            if lowered.startswith(c.name.lower())
            and lowered[len(c.name) : len(c.name) + 1] in ("", " ")
        ]
        found = max(matches, key=lambda c: len(c.name), default=None)
        name = text.split(" every ", 1)[0][:60]
        rest = text[len(found.name) :].strip() if found else ""
    if found is None:
        names = ", ".join(f"“{c.name}”" for c in campaigns if c.state != CampaignState.STOPPED)
        have = f"Campaigns here: {names}." if names else "There are no campaigns here yet."
        raise Refusal(f"I can't find a campaign called “{name or text[:60]}”. {have}")
    return found, rest


async def _set_state(app: App, actor: Actor, verb: str, text: str) -> Reply:
    now = utcnow()
    tz = actor.workspace.timezone
    async with app.sessions.begin() as session:
        campaign, _ = await _named(session, actor, text)
        state = CampaignState(campaign.state)
        if state is CampaignState.STOPPED:
            raise Refusal(f"“{campaign.name}” is stopped; start a new one with /campaign new.")
        handed = 0
        if verb == "resume":
            if state is CampaignState.ACTIVE:
                raise Refusal(f"“{campaign.name}” is already running.")
            # Slots that passed while paused are not owed: carry on from the next one.
            campaign.last_slot = latest_slot(cadence_of(campaign), tz, now)
            campaign.state = CampaignState.ACTIVE.value
        elif verb == "pause":
            if state is CampaignState.PAUSED:
                raise Refusal(f"“{campaign.name}” is already paused; /campaign resume restarts it.")
            campaign.state = CampaignState.PAUSED.value
            handed = await hand_to_people(session, campaign.id)
        else:
            campaign.state = CampaignState.STOPPED.value
            handed = await hand_to_people(session, campaign.id)
        await audit(
            session,
            actor.workspace.id,
            actor.member.id,
            f"campaign.{verb}",
            f"campaign:{campaign.id}",
        )
    waiting = ""
    if handed:
        drafts = (
            "1 of its drafts waiting for review now needs"
            if handed == 1
            else (f"{handed} of its drafts waiting for review now need")
        )
        waiting = f" {drafts} an approval to publish."
    if verb == "resume":
        upcoming = next_run(campaign, tz, now)
        assert upcoming is not None
        return Reply(f"▶️ “{campaign.name}” resumed; next run {_when(upcoming, tz, now)}.")
    if verb == "pause":
        return Reply(f"⏸ “{campaign.name}” paused: no runs until /campaign resume.{waiting}")
    return Reply(f"⏹ “{campaign.name}” stopped: it makes no more drafts.{waiting}")


async def _add_topics(app: App, actor: Actor, text: str) -> Reply:
    async with app.sessions.begin() as session:
        campaign, rest = await _named(session, actor, text)
        spec = parse_spec(f"topics: {rest}" if not rest.lower().startswith("topics:") else rest)
        if TopicSource(campaign.source) is not TopicSource.LIST:
            raise Refusal(
                f"“{campaign.name}” takes its topics from {_source(campaign)}; "
                f"/campaign edit “{campaign.name}” topics: a; b; c switches it to a list."
            )
        campaign.topics = [*campaign.topics, *spec.topics]
        left = len(campaign.topics) - campaign.next_topic
        await audit(
            session,
            actor.workspace.id,
            actor.member.id,
            "campaign.topics",
            f"campaign:{campaign.id}",
            added=len(spec.topics),
        )
    return Reply(
        f"Added {len(spec.topics)} topic{'s' if len(spec.topics) != 1 else ''} to "
        f"“{campaign.name}”: {left} to go, next “{campaign.topics[campaign.next_topic]}”."
    )


async def _edit(app: App, actor: Actor, text: str) -> Reply:
    now = utcnow()
    tz = actor.workspace.timezone
    async with app.sessions() as session:
        campaign, rest = await _named(session, actor, text)
    spec = parse_spec(rest)
    if not spec.given:
        raise Refusal(f"What should change? {USAGE.split(chr(10), 2)[1]}")
    if campaign.state == CampaignState.STOPPED:
        raise Refusal(f"“{campaign.name}” is stopped; start a new one with /campaign new.")
    await _check_feed(app, spec)
    changes: list[str] = []
    async with app.sessions.begin() as session:
        await _check_template(session, actor, spec)
        row = await session.get(Campaign, campaign.id, with_for_update=True)
        assert row is not None
        if spec.cadence is not None:
            row.weekdays, row.times = list(spec.cadence.weekdays), spec.cadence.clocks
            row.last_slot = latest_slot(spec.cadence, tz, now)  # from the next slot on
            changes.append(spec.cadence.describe())
        if "template" in spec.given:
            row.template = spec.template
            changes.append(f"template {spec.template}" if spec.template else "no template")
        if "platforms" in spec.given:
            row.platforms = [p.value for p in spec.platforms] if spec.platforms else None
            changes.append(", ".join(row.platforms) if row.platforms else "default platforms")
        if spec.source is not None:
            row.source, row.feed_url = spec.source.value, spec.feed_url
            if spec.source is TopicSource.LIST:
                row.topics, row.next_topic = list(spec.topics), 0
            if spec.source is TopicSource.FEED:
                row.feed_seen = []
            changes.append(_source(row))
        if "auto" in spec.given:
            row.auto_publish_after_s = spec.auto_publish_after_s
            if spec.auto_publish_after_s is None:
                await hand_to_people(session, row.id)
            changes.append(_auto_sentence(spec.auto_publish_after_s).rstrip("."))
        await audit(
            session,
            actor.workspace.id,
            actor.member.id,
            "campaign.edit",
            f"campaign:{row.id}",
            changes=sorted(spec.given),
        )
    upcoming = next_run(row, tz, now)
    after = f" Next run {_when(upcoming, tz, now)}." if upcoming else f" It is {row.state}."
    return Reply(f"✏️ “{row.name}” now: {'; '.join(changes)}.{after}")
