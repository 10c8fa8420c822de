"""Reviewer links: `/review <draft>` makes one; the page a client opens reads through here.

A link is for one version of one draft and takes one decision (handlers.review_decision).
The signed token in the URL is the capability; the ReviewLink row it names says until when
it is valid and what was decided.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.actor import Actor, Refusal
from handlers.app import App
from handlers.drafts import describe_state
from handlers.port import Reply
from services.content import PlatformMeta, Script
from services.drafts import get_draft
from services.models import Draft, DraftState, DraftVersion, Role, UsageRecord, Workspace, utcnow
from services.review_links import LinkAltered, LinkExpired
from services.scheduling import format_when
from services.stats import Cost, cost_of
from services.stats_inputs import Period, UsageLine
from services.storage import MediaMissing
from services.web_models import ReviewLink
from services.workspaces import at_least, audit

USAGE = "Use /review <draft>, e.g. /review 3 (see /drafts): a link a client can approve from."


async def review_command(app: App, actor: Actor, args: str, chat_ref: str) -> Reply:
    """`/review <draft>`: a signed link to a page where someone outside the chat decides on the
    draft's current version once; their decision is told in this chat."""
    if not at_least(actor.role, Role.APPROVER):
        raise Refusal(
            f"Only approvers and owners can send a draft out for review; your role is {actor.role}."
        )
    raw = args.strip().removeprefix("#")
    if not raw.isdigit() or len(raw) > 18:
        raise Refusal(USAGE)
    if app.reviews is None:
        raise Refusal(
            "Reviewer links need PUBLIC_URL (where the web app is reachable) and SECRET_KEY; "
            "ask whoever runs the bot to set them."
        )
    now = utcnow()
    async with app.sessions.begin() as session:
        draft = await get_draft(session, actor.workspace.id, int(raw))
        if draft is None:
            raise Refusal(f"I can't find draft #{raw} in this workspace. See /drafts.")
        if draft.state != DraftState.READY:
            raise Refusal(f"{describe_state(draft)} Only a draft up for review can be sent out.")
        link = ReviewLink(
            draft_id=draft.id,
            version=draft.current_version,
            nonce=secrets.token_urlsafe(24),
            chat_ref=chat_ref,
            created_by=actor.member.id,
            created_at=now,
            expires_at=now + timedelta(hours=app.reviews.ttl_h),
        )
        session.add(link)
        await session.flush()
        await audit(
            session,
            actor.workspace.id,
            actor.member.id,
            "review.link",
            f"draft:{draft.id}",
            link=link.id,
            version=link.version,
        )
    url = app.reviews.url_for(app.reviews.token_for(link.nonce, created_at=now))
    until = format_when(link.expires_at, actor.workspace.timezone)
    return Reply(
        f"🔗 Review link for draft #{draft.id} v{link.version}, valid until {until}:\n{url}\n"
        "Whoever opens it sees the video, script, captions and costs and can approve or ask "
        "for changes, once; the decision is posted here with their name."
    )


class LinkState(StrEnum):
    """What a valid link's page can offer."""

    OPEN = "open"  # the decision is still to be made
    DECIDED = "decided"  # decided on this link
    MOVED_ON = "moved_on"  # the team decided or made a new version meanwhile


class ProblemKind(StrEnum):
    """Why a link cannot be used for what was asked."""

    INVALID = "invalid"  # altered, unknown, or its draft is gone
    EXPIRED = "expired"
    DECIDED = "decided"  # a decision was already made on it
    MOVED_ON = "moved_on"  # the team decided or made a new version meanwhile


class LinkProblem(Exception):
    """A link that cannot be used for what was asked; `kind` says which page to show."""

    def __init__(self, kind: ProblemKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class ReviewPage:
    """What the reviewer page shows."""

    link: ReviewLink
    draft: Draft
    state: LinkState
    note: str  # a sentence about the state (why there is nothing to decide)
    script: Script | None
    metadata: tuple[PlatformMeta, ...]
    duration_s: float
    bill: Cost
    expires: str  # when the link expires, in the workspace's zone
    decided: str | None  # when it was decided, ditto


async def find_link(app: App, token: str) -> ReviewLink:
    """The unexpired link a token names; LinkProblem (invalid or expired) otherwise."""
    if app.reviews is None:
        raise LinkProblem(ProblemKind.INVALID, "Reviewer links are switched off on this bot.")
    try:
        nonce = app.reviews.nonce_of(token)
    except LinkAltered:
        raise LinkProblem(ProblemKind.INVALID, _INVALID) from None
    except LinkExpired:
        raise LinkProblem(ProblemKind.EXPIRED, _EXPIRED) from None
    async with app.sessions() as session:
        link = await session.scalar(select(ReviewLink).where(ReviewLink.nonce == nonce))
    if link is None:  # signed by us, but the row is gone (the draft was deleted)
        raise LinkProblem(ProblemKind.INVALID, _INVALID)
    if link.expires_at <= utcnow():
        raise LinkProblem(ProblemKind.EXPIRED, _EXPIRED)
    return link


_INVALID = (
    "This review link is not valid: it may have been cut short or changed when it was copied. "
    "Open it exactly as you received it, or ask the team for a new one."
)
_EXPIRED = "This review link has expired. Ask the team for a new one."


def moved_on(link: ReviewLink, draft: Draft) -> str | None:
    """Why the team has moved past the link's version, or None while it is up for review."""
    if draft.current_version != link.version:
        return (
            f"The team has made v{draft.current_version} of this draft since this link was "
            f"sent for v{link.version}; ask them for a link to the new version."
        )
    if draft.state != DraftState.READY:
        return describe_state(draft)
    return None


async def review_page(app: App, token: str) -> ReviewPage:
    """Everything the page of a valid link shows; LinkProblem for an invalid or expired one."""
    link = await find_link(app, token)
    async with app.sessions() as session:
        draft = await session.get(Draft, link.draft_id)
        workspace = await session.get(Workspace, draft.workspace_id) if draft else None
        version = await _version(session, link)
        rows = (
            await session.execute(
                select(
                    UsageRecord.kind,
                    UsageRecord.quantity,
                    UsageRecord.cost_usd,
                    UsageRecord.created_at,
                ).where(UsageRecord.draft_id == link.draft_id)
            )
        ).all()
    if draft is None or workspace is None or version is None:
        raise LinkProblem(ProblemKind.INVALID, _INVALID)
    usage = [UsageLine(kind, float(q), float(c), at) for kind, q, c, at in rows]
    ever = Period(datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))
    why = moved_on(link, draft)
    state = LinkState.DECIDED if link.decision else LinkState.MOVED_ON if why else LinkState.OPEN
    tz = workspace.timezone
    return ReviewPage(
        link=link,
        draft=draft,
        state=state,
        note=why or "",
        script=Script.model_validate(version.script) if version.script else None,
        metadata=tuple(PlatformMeta.model_validate(m) for m in version.metadata_json),
        duration_s=version.duration_s,
        bill=cost_of(usage, ever),
        expires=format_when(link.expires_at, tz),
        decided=format_when(link.decided_at, tz) if link.decided_at else None,
    )


async def _version(session: AsyncSession, link: ReviewLink) -> DraftVersion | None:
    found: DraftVersion | None = await session.scalar(
        select(DraftVersion).where(
            DraftVersion.draft_id == link.draft_id, DraftVersion.number == link.version
        )
    )
    return found


async def review_media(app: App, token: str, kind: str) -> Path:
    """The video ("video") or thumbnail ("poster") of a valid link's version, on this machine;
    LinkProblem for a bad link, MediaMissing when the file is gone."""
    link = await find_link(app, token)
    async with app.sessions() as session:
        version = await _version(session, link)
    if version is None:
        raise MediaMissing(f"draft {link.draft_id} v{link.version}")
    ref = version.video_path if kind == "video" else version.thumbnail_path
    if not ref:
        raise MediaMissing(f"draft {link.draft_id} v{link.version} {kind}")
    return await app.store.local(ref)
