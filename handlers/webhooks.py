"""Platform webhooks: a post finished (or failed) on the platform → its publication, at once.

The publish job checkpoints the platform's reference of each upload on its publication
(`remote_ref`: TikTok's publish_id, Facebook's video id) before the post can go public, and
then polls. A webhook naming that reference settles the publication without waiting for the
next poll, the way the job would: published (with the post's link) or failed (with why).

- A publication a publishing run holds (its lease is live) is left to that run, which is
  polling and sees the same outcome; one already settled is left as it is.
- When that was the draft's last unsettled post, the draft's state is settled too
  (`handlers.publish.final_state`) and its chat hears it, as at the end of a publish run.
- Each delivery is recorded (`WebhookEvent`, unique per platform and event key) in the same
  transaction as its effects, so a replay is refused and changes nothing.

What is used: TikTok's `post.publish.complete`, `post.publish.inbox_delivered`,
`post.publish.publicly_available` and `post.publish.failed`; Meta's Page `videos` field
(a video's encoding ended: ready or error). Instagram sends no event when a Reel is
published, so its deliveries are acknowledged and left to the poll.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.app import App
from handlers.port import Reply
from handlers.publish import final_state
from services.content import Platform
from services.drafts import transition
from services.models import (
    Draft,
    DraftState,
    DraftVersion,
    Publication,
    PublicationState,
    SocialAccount,
    utcnow,
)
from services.platforms import DISPLAY_NAMES
from services.publishers.facebook import FACEBOOK_WEB, reel_state
from services.publishers.tiktok import publish_failure as tiktok_failure
from services.publishers.tiktok import published_result as tiktok_result
from services.publishing import AccountNeedsReconnect, PublishResult
from services.web_models import WebhookEvent

log = structlog.get_logger(__name__)

_PENDING = (
    PublicationState.QUEUED,
    PublicationState.UPLOADING,
    PublicationState.PROCESSING,
    PublicationState.UNCONFIRMED,
)
_SETTLED = (PublicationState.PUBLISHED, PublicationState.FAILED)
_TIKTOK_DONE = {"post.publish.complete", "post.publish.inbox_delivered"}
_TIKTOK_PUBLIC = "post.publish.publicly_available"
_TIKTOK_FAILED = "post.publish.failed"


class Replayed(Exception):
    """This delivery was received before: it is refused and changes nothing."""


@dataclass(frozen=True)
class PostOutcome:
    """What a platform says became of one upload."""

    platform: str
    ref: str  # what the publish job checkpointed: TikTok's publish_id, Facebook's video id
    account_ref: str | None  # the account the event is for (TikTok open_id, Page id)
    published: bool
    post_id: str | None = None  # the public post's id, when the event gives it
    error: str | None = None  # why it failed, for people
    public_only: bool = False  # TikTok's publicly_available: the public id of a finished post


@dataclass(frozen=True)
class Receipt:
    """What a delivery did: how many publications it settled (or improved) and ignored."""

    applied: int
    ignored: int


def _content(payload: Mapping[str, Any]) -> dict[str, Any]:
    """TikTok's `content`: a JSON object serialised into a string (or, leniently, an object)."""
    raw = payload.get("content")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return {}
    return raw if isinstance(raw, dict) else {}


def tiktok_outcomes(payload: Mapping[str, Any]) -> list[PostOutcome]:
    """The outcome a TikTok delivery states, if it is a Content Posting event."""
    event, content = str(payload.get("event") or ""), _content(payload)
    publish_id = str(content.get("publish_id") or "")
    account = str(payload.get("user_openid") or "") or None
    if not publish_id:
        return []
    if event in _TIKTOK_DONE:
        return [PostOutcome("tiktok", publish_id, account, published=True)]
    if event == _TIKTOK_PUBLIC:
        post_id = str(content.get("post_id") or "") or None
        return [PostOutcome("tiktok", publish_id, account, True, post_id, public_only=True)]
    if event == _TIKTOK_FAILED:
        failure = tiktok_failure(str(content.get("reason") or "unknown"))
        error = str(failure)
        if isinstance(failure, AccountNeedsReconnect):
            error += ". Run /connect tiktok and publish again."
        return [PostOutcome("tiktok", publish_id, account, published=False, error=error)]
    return []


def meta_outcomes(payload: Mapping[str, Any]) -> list[PostOutcome]:
    """The outcomes a Meta delivery states: each Page video whose encoding ended."""
    if payload.get("object") != "page":
        return []  # Instagram has no event for a published Reel: the poll finds it
    found = []
    for entry in _dicts(payload.get("entry")):
        page = str(entry.get("id") or "") or None
        for change in _dicts(entry.get("changes")):
            value = change.get("value")
            if change.get("field") != "videos" or not isinstance(value, dict):
                continue
            video_id = str(value.get("id") or value.get("video_id") or "")
            status = value.get("status")
            stage, problem = _video_stage(status if isinstance(status, dict) else {})
            if not video_id or stage not in ("published", "failed"):
                continue
            error = None
            if stage == "failed":
                error = f"Facebook could not publish the reel: {problem}"
            found.append(PostOutcome("facebook", video_id, page, stage == "published", None, error))
    return found


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _video_stage(status: Mapping[str, Any]) -> tuple[str, str]:
    """(stage, problem) of a Page video's `status`: the phases when Meta sends them, else the
    `video_status` (ready: encoded and, for our reels, published; error or expired: failed)."""
    if any(key.endswith("_phase") for key in status):
        state = reel_state(status)
        return state.stage, state.problem
    video_status = str(status.get("video_status") or "")
    if video_status == "ready":
        return "published", ""
    if video_status in ("error", "expired"):
        return "failed", video_status
    return "processing", ""


async def receive(app: App, *, platform: str, key: str, outcomes: list[PostOutcome]) -> Receipt:
    """Record the delivery and apply its outcomes in one transaction, then tell the chats.

    Raises `Replayed` (nothing changed) when this platform's event key was seen before."""
    notices: list[tuple[str, Reply]] = []
    applied = 0
    now = utcnow()
    async with app.sessions.begin() as session:
        session.add(WebhookEvent(platform=platform, event_key=key, received_at=now))
        try:
            await session.flush()
        except IntegrityError:
            raise Replayed(f"this {platform} event was already received") from None
        for outcome in outcomes:
            done, notice = await _apply(session, outcome, now)
            applied += done
            if notice is not None:
                notices.append(notice)
    for chat_ref, reply in notices:
        await app.chat.send(chat_ref, reply)
    log.info("webhook.received", platform=platform, applied=applied, events=len(outcomes))
    return Receipt(applied, len(outcomes) - applied)


async def _apply(
    session: AsyncSession, outcome: PostOutcome, now: datetime
) -> tuple[bool, tuple[str, Reply] | None]:
    """Settle the publication the outcome names; (whether it changed, what to tell a chat)."""
    found = (
        await session.execute(
            select(Publication, SocialAccount)
            .join(SocialAccount, SocialAccount.id == Publication.account_id)
            .where(
                Publication.platform == outcome.platform,
                or_(Publication.remote_ref == outcome.ref, Publication.external_id == outcome.ref),
            )
            .order_by(Publication.id.desc())
            .limit(1)
        )
    ).first()
    if found is None:
        return False, None  # not one of ours (another app's post, or one made by hand)
    publication, account = found
    if outcome.account_ref and account.external_id != outcome.account_ref:
        return False, None
    if outcome.public_only and publication.state == PublicationState.PUBLISHED:
        return await _better_link(session, publication, account, outcome), None
    values: dict[str, Any] = {"state": PublicationState.FAILED, "error": outcome.error}
    if outcome.published:
        result = _link(outcome, account)
        values = {
            "state": PublicationState.PUBLISHED,
            "external_id": result.external_id,
            "url": result.url,
            "published_at": now,
            "error": None,
        }
    changed = await session.execute(
        update(Publication)
        .where(
            Publication.id == publication.id,
            Publication.state.in_([s.value for s in _PENDING]),
            or_(Publication.lease_until.is_(None), Publication.lease_until < now),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if not changed.rowcount:  # type: ignore[attr-defined]
        return False, None  # settled already, or a publishing run holds it and will see it
    return True, await _settle_draft(session, publication)


def _link(outcome: PostOutcome, account: SocialAccount) -> PublishResult:
    """Where the finished post is, as the platform's publisher would say."""
    if outcome.platform == Platform.TIKTOK:
        data = {"publicaly_available_post_id": [outcome.post_id]} if outcome.post_id else {}
        return tiktok_result(outcome.ref, data, (account.extra or {}).get("username") or None)
    return PublishResult(external_id=outcome.ref, url=f"{FACEBOOK_WEB}/reel/{outcome.ref}/")


async def _better_link(
    session: AsyncSession, publication: Publication, account: SocialAccount, outcome: PostOutcome
) -> bool:
    """A published post's public id and link, once TikTok has made it public."""
    if outcome.post_id is None or publication.external_id == outcome.post_id:
        return False
    result = _link(outcome, account)
    await session.execute(
        update(Publication)
        .where(Publication.id == publication.id)
        .values(external_id=result.external_id, url=result.url)
        .execution_options(synchronize_session=False)
    )
    return True


async def _settle_draft(
    session: AsyncSession, publication: Publication
) -> tuple[str, Reply] | None:
    """Settle the draft when this was its last unsettled post; what to tell its chat."""
    rows = (
        await session.execute(
            select(Publication.platform, Publication.state, Publication.url, Publication.error)
            .where(Publication.version_id == publication.version_id)
            .order_by(Publication.id)
        )
    ).all()
    if any(state not in _SETTLED for _, state, _, _ in rows):
        return None  # the publishing run still on the others reports them all at its end
    draft = await session.get(Draft, publication.draft_id, populate_existing=True)
    version = await session.get(DraftVersion, publication.version_id)
    if draft is None or version is None:
        return None
    final = final_state([state for _, state, _, _ in rows])
    if draft.state in (DraftState.FAILED, DraftState.PARTIALLY_PUBLISHED):
        if draft.state == final:
            return None
        # The run gave up on this post (it stayed unconfirmed); the platform says otherwise.
        await transition(
            session, draft.id, expected=DraftState(draft.state), to=DraftState.PUBLISHING
        )
    elif draft.state != DraftState.PUBLISHING:
        return None
    if not await transition(session, draft.id, expected=DraftState.PUBLISHING, to=final):
        return None  # the publishing run settled it first, and tells the chat itself
    lines = [f"📣 Draft #{draft.id} v{version.number}: {final.value.replace('_', ' ')}."]
    for platform, state, url, error in rows:
        name = DISPLAY_NAMES[Platform(platform)]
        lines.append(
            f"• {name}: {url}"
            if state == PublicationState.PUBLISHED
            else f"• {name}: failed: {error}"
        )
    lines.append(f"({DISPLAY_NAMES[Platform(publication.platform)]} told us so directly.)")
    return draft.chat_ref, Reply("\n".join(lines))
