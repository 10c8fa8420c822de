"""The publishing job: post an approved draft to each of its platforms, once each.

Each platform goes to the workspace's connected account there, or to the local outbox when
none is connected. A publication is claimed by its idempotency key, so a job that runs again
skips what is already published. A publish whose answer was lost (`Unconfirmed`), or that a
killed worker left `uploading`, is first looked up on the platform (`Publisher.confirm`) and
only sent again when the platform has no such post. A run holds each publication with a lease
in the database, renewed while it publishes, so a killed worker's hold ends within two
JOB_LEASE_S and a later run takes the publication up. Busy platforms (`RetryLater`) and lost
answers make the whole job retry later (arq `Retry`, honouring Retry-After; a publication held
by another run waits for its lease only); the chat hears the outcome once, when every
publication has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from arq import Retry
from sqlalchemy import func, select, update
from sqlalchemy.exc import SQLAlchemyError

from handlers.actor import Actor, Forbidden, Refusal
from handlers.app import App
from handlers.drafts import PUBLISH_JOB
from handlers.observe import observed_publisher
from handlers.port import Reply
from services.accounts import OAUTH_KIND, options_for
from services.content import Platform, PlatformMeta
from services.drafts import current_version, get_draft, transition
from services.models import (
    Draft,
    DraftState,
    DraftVersion,
    Publication,
    PublicationState,
    Role,
    SocialAccount,
    Workspace,
    utcnow,
)
from services.platforms import DISPLAY_NAMES
from services.publishing import (
    AccountNeedsReconnect,
    Publisher,
    PublishError,
    PublishRequest,
    PublishResult,
    RetryLater,
    Unconfirmed,
    claim_publication,
    outbox_account,
)
from services.storage import MediaMissing
from services.video import RenderError, probe_media
from services.workspaces import at_least, audit

log = structlog.get_logger(__name__)

MAX_TRIES = 6  # runs of the job before a busy platform or a lost answer counts as failed
RETRY_BACKOFF_S = (30, 60, 120, 300, 600)
VIDEO_URL_TTL_S = 6 * 3600  # Meta fetches the video from this link within minutes


@dataclass(frozen=True)
class _Outcome:
    line: str
    retry_after: float | None = None  # set when this publication should be tried again
    held: bool = False  # another run holds it: wait for its lease to end, without backoff


async def publish_draft(ctx: dict[str, Any], draft_id: int) -> str:
    """Publish an approved draft's current version to each platform, once each."""
    app: App = ctx["app"]
    job_try = int(ctx.get("job_try", 1))
    async with app.sessions.begin() as session:
        draft = await session.get(Draft, draft_id)
        if draft is None:
            return "no such draft"
        starting = (DraftState.APPROVED, DraftState.SCHEDULED)
        if draft.state == DraftState.SCHEDULED and (draft.scheduled_at or utcnow()) > utcnow():
            return "scheduled for later"  # a stray wake-up: the scheduled time decides
        if draft.state in starting:
            await transition(session, draft_id, expected=starting, to=DraftState.PUBLISHING)
        elif draft.state != DraftState.PUBLISHING:
            return f"draft is {draft.state}"
        version = await current_version(session, draft)
        if version is None:
            raise RuntimeError(f"draft {draft_id} has no version {draft.current_version}")
        workspace = await session.get(Workspace, draft.workspace_id)
        assert workspace is not None
        metas = {m["platform"]: PlatformMeta.model_validate(m) for m in version.metadata_json}
        publications = []
        for platform in draft.platforms:
            account = await _account_for(session, draft.workspace_id, platform)
            publication = await claim_publication(
                session, draft_id=draft_id, version_id=version.id, account=account
            )
            publications.append((publication, account))
        options = dict(workspace.publish_options or {})
    last_try = job_try >= MAX_TRIES
    outcomes = []
    for publication, account in publications:
        outcomes.append(
            await _publish_one(
                app,
                draft,
                version,
                metas,
                publication,
                account,
                options,
                first_try=job_try == 1,  # a new publish run tries failed posts again
                last_try=last_try,
            )
        )
    waits = [o.retry_after for o in outcomes if o.retry_after is not None]
    if waits:
        defer = max(waits)
        if any(o.retry_after is not None and not o.held for o in outcomes):
            defer = max(defer, RETRY_BACKOFF_S[min(job_try, len(RETRY_BACKOFF_S)) - 1])
        log.info("publish.retry", draft_id=draft_id, job_try=job_try, defer_s=defer)
        raise Retry(defer=defer)
    async with app.sessions.begin() as session:
        states = (
            (
                await session.execute(
                    select(Publication.state).where(Publication.version_id == version.id)
                )
            )
            .scalars()
            .all()
        )
        final = final_state(states)
        await transition(session, draft_id, expected=DraftState.PUBLISHING, to=final)
    head = f"📣 Draft #{draft_id} v{version.number}: {final.value.replace('_', ' ')}."
    await app.chat.send(draft.chat_ref, Reply("\n".join([head, *(o.line for o in outcomes)])))
    return final.value


def final_state(states: Sequence[str]) -> DraftState:
    """A draft's state once its posts have ended: published, failed, or partially published."""
    ok = sum(s == PublicationState.PUBLISHED for s in states)
    if ok == len(states):
        return DraftState.PUBLISHED
    return DraftState.FAILED if ok == 0 else DraftState.PARTIALLY_PUBLISHED


async def _account_for(session: Any, workspace_id: int, platform: str) -> SocialAccount:
    """The connected account on the platform (the first by id), else the local outbox."""
    connected = await session.scalar(
        select(SocialAccount)
        .where(
            SocialAccount.workspace_id == workspace_id,
            SocialAccount.platform == platform,
            SocialAccount.kind == OAUTH_KIND,
        )
        .order_by(SocialAccount.id)
        .limit(1)
    )
    if connected is not None:
        return connected  # type: ignore[no-any-return]
    return await outbox_account(session, workspace_id, platform)


@asynccontextmanager
async def _publisher_for(app: App, account: SocialAccount) -> AsyncIterator[Publisher]:
    if account.kind != OAUTH_KIND:
        yield observed_publisher(app, account.platform, app.publisher, outbox=True)
        return
    if app.accounts is None or app.platforms is None:
        raise AccountNeedsReconnect(
            "connected accounts need SECRET_KEY and PUBLIC_URL, which are not set on this worker"
        )
    platform = Platform(account.platform)
    async with AsyncExitStack() as stack:
        try:
            auth = await stack.enter_async_context(app.platforms.auth(platform))
        except LookupError:
            raise AccountNeedsReconnect(
                f"{platform.value.upper()}_CLIENT_ID and _CLIENT_SECRET are not set on this worker"
            ) from None
        tokens = app.accounts.tokens(account.id, auth)
        publisher = await stack.enter_async_context(app.platforms.publisher(platform, tokens))
        yield observed_publisher(app, platform.value, publisher, outbox=False)


async def _request(
    app: App,
    draft: Draft,
    version: DraftVersion,
    meta: PlatformMeta,
    publication: Publication,
    account: SocialAccount,
    options: dict[str, str],
) -> PublishRequest:
    video = await app.store.local(version.video_path)  # MediaMissing: the publish fails
    thumbnail = app.store.path(version.thumbnail_path)
    with contextlib.suppress(MediaMissing):  # a post without its cover is still a post
        thumbnail = await app.store.local(version.thumbnail_path)
    width, height = 1080, 1920  # what a render makes, if the file cannot be read here
    with contextlib.suppress(RenderError):
        info = await probe_media(video)
        width, height = info.width, info.height
    video_url = None
    if app.links is not None and account.kind == OAUTH_KIND:
        with contextlib.suppress(ValueError):  # a file outside the media folder gets no link
            video_url = app.links.url_for(video, ttl_s=VIDEO_URL_TTL_S)
    return PublishRequest(
        publication_id=publication.id,
        idempotency_key=publication.idempotency_key,
        draft_id=draft.id,
        version=version.number,
        video_path=video,
        thumbnail_path=thumbnail,
        meta=meta,
        duration_s=version.duration_s,
        width=width,
        height=height,
        account_id=account.external_id,
        options=options_for(options, Platform(account.platform)) | dict(account.extra or {}),
        remote_ref=publication.remote_ref,
        video_url=video_url,
    )


async def _set(app: App, publication_id: int, **values: Any) -> None:
    async with app.sessions.begin() as session:
        await session.execute(
            update(Publication).where(Publication.id == publication_id).values(**values)
        )


async def _publish_one(
    app: App,
    draft: Draft,
    version: DraftVersion,
    metas: dict[str, PlatformMeta],
    publication: Publication,
    account: SocialAccount,
    options: dict[str, str],
    *,
    first_try: bool,
    last_try: bool,
) -> _Outcome:
    name = DISPLAY_NAMES[Platform(publication.platform)]
    where = "" if account.kind == OAUTH_KIND else " (local outbox)"
    if publication.state == PublicationState.PUBLISHED:
        return _Outcome(f"• {name}{where}: {publication.url}")
    if publication.state == PublicationState.FAILED and not first_try:
        return _Outcome(f"• {name}: failed: {publication.error}")
    publication, ours = await _claim(app, publication.id)
    if not ours:  # another run holds it (a second job, or a worker killed within the lease)
        until = publication.lease_until or utcnow()
        left = max(0.0, (until - utcnow()).total_seconds())
        return _Outcome(
            f"• {name}: being published by another worker", retry_after=left + 1.0, held=True
        )
    if publication.state == PublicationState.PUBLISHED:
        await _set(app, publication.id, lease_until=None)
        return _Outcome(f"• {name}{where}: {publication.url}")
    try:
        request = await _request(
            app, draft, version, metas[publication.platform], publication, account, options
        )
    except MediaMissing:
        message = f"the video of v{version.number} is gone from the media store"
        await _fail(app, publication.id, message)
        return _Outcome(f"• {name}: failed: {message}")

    async def checkpoint(remote_ref: str) -> None:
        await _set(app, publication.id, remote_ref=remote_ref)
        nonlocal request
        request = dataclasses.replace(request, remote_ref=remote_ref)

    maybe_posted = publication.state in (PublicationState.UNCONFIRMED, PublicationState.UPLOADING)
    try:
        async with _holding(app, publication), _publisher_for(app, account) as publisher:
            result: PublishResult | None = None
            if maybe_posted:
                result = await publisher.confirm(request)  # never send twice blindly
                log.info("publish.confirm", publication=publication.id, found=bool(result))
            if result is None:
                await _set(
                    app,
                    publication.id,
                    state=PublicationState.UPLOADING,
                    attempts=publication.attempts + 1,
                )
                result = await publisher.publish(request, checkpoint)
    except Unconfirmed as exc:
        await _set(
            app,
            publication.id,
            state=PublicationState.UNCONFIRMED,
            error=str(exc),
            lease_until=None,
        )
        if last_try:
            return _Outcome(
                f"• {name}: not confirmed — {exc}. Check {name} before posting it again."
            )
        return _Outcome(f"• {name}: checking", retry_after=30.0)
    except RetryLater as exc:
        if last_try:
            await _fail(app, publication.id, f"{exc} (gave up after several tries)")
            return _Outcome(f"• {name}: failed: {exc} (gave up after several tries)")
        await _set(
            app, publication.id, state=PublicationState.QUEUED, error=str(exc), lease_until=None
        )
        return _Outcome(f"• {name}: waiting", retry_after=exc.retry_after or 30.0)
    except AccountNeedsReconnect as exc:
        message = f"{exc}. Run /connect {publication.platform} and publish again."
        await _fail(app, publication.id, message)
        return _Outcome(f"• {name}: failed: {message}")
    except PublishError as exc:
        await _fail(app, publication.id, str(exc))
        return _Outcome(f"• {name}: failed: {exc}")
    await _set(
        app,
        publication.id,
        state=PublicationState.PUBLISHED,
        external_id=result.external_id,
        url=result.url,
        published_at=utcnow(),
        error=None,
        lease_until=None,
    )
    return _Outcome(f"• {name}{where}: {result.url}")


async def _fail(app: App, publication_id: int, message: str) -> None:
    await _set(app, publication_id, state=PublicationState.FAILED, error=message, lease_until=None)


def _lease(app: App) -> timedelta:
    """How long a hold lasts unrenewed: twice arq's JOB_LEASE_S, so a missed renewal or two
    (a slow database) does not lose it, and a killed worker's posts wait minutes, not more."""
    return timedelta(seconds=app.job_lease_s * 2)


async def _claim(app: App, publication_id: int) -> tuple[Publication, bool]:
    """Hold the publication for a lease (compare-and-set in the database, so it holds across
    workers and a Redis flush): its fresh row, and whether the hold is ours (if not, the row's
    `lease_until` says when the other run's ends). A run that dies leaves its lease to expire;
    the next run then confirms before posting."""
    now = utcnow()
    async with app.sessions.begin() as session:
        result = await session.execute(
            update(Publication)
            .where(
                Publication.id == publication_id,
                (Publication.lease_until.is_(None)) | (Publication.lease_until < now),
            )
            .values(lease_until=now + _lease(app))
        )
        row = await session.get(Publication, publication_id, populate_existing=True)
        assert row is not None
        session.expunge(row)
        return row, bool(result.rowcount)  # type: ignore[attr-defined]


@asynccontextmanager
async def _holding(app: App, publication: Publication) -> AsyncIterator[None]:
    """Renew the claimed publication's lease every quarter of it while the block runs."""
    lease = _lease(app)

    async def renew(held: datetime) -> None:
        while True:
            await asyncio.sleep(lease.total_seconds() / 4)
            later = utcnow() + lease
            try:
                async with app.sessions.begin() as session:
                    # Only while the lease is still the one we set: a run that took it over
                    # after ours lapsed (or our own end, which clears it) is never extended.
                    result = await session.execute(
                        update(Publication)
                        .where(Publication.id == publication.id, Publication.lease_until == held)
                        .values(lease_until=later)
                    )
            except (SQLAlchemyError, OSError) as exc:  # try again next time; the lease has slack
                log.warning(
                    "publish.lease_renewal_failed", publication=publication.id, error=str(exc)
                )
                continue
            if not result.rowcount:  # type: ignore[attr-defined]
                log.warning("publish.lease_lost", publication=publication.id)
                return
            held = later

    assert publication.lease_until is not None  # set by _claim
    task = asyncio.create_task(renew(publication.lease_until))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def publish_again(app: App, actor: Actor, args: str) -> Reply:
    """/publish <draft>: try again the posts that failed (after /connect, say); approvers."""
    if not at_least(actor.role, Role.APPROVER):
        raise Forbidden(f"Only approvers and owners can publish; your role is {actor.role}.")
    words = args.split()
    if len(words) != 1 or not words[0].lstrip("#").isdigit():
        raise Refusal("Use /publish <draft number> to try its failed posts again.")
    draft_id = int(words[0].lstrip("#"))
    again = (DraftState.PARTIALLY_PUBLISHED, DraftState.FAILED)
    async with app.sessions.begin() as session:
        draft = await get_draft(session, actor.workspace.id, draft_id)
        if draft is None:
            raise Refusal(f"I can't find draft #{draft_id} in this workspace.")
        posts = await session.scalar(
            select(func.count()).select_from(Publication).where(Publication.draft_id == draft_id)
        )
        if draft.state not in again or not posts:
            raise Refusal(
                f"Draft #{draft_id} is {draft.state.replace('_', ' ')}: /publish only retries "
                "a draft whose posts failed after it was approved."
            )
        await transition(session, draft_id, expected=again, to=DraftState.PUBLISHING)
        await audit(
            session, actor.workspace.id, actor.member.id, "draft.publish_again", f"draft:{draft_id}"
        )
    await app.queue.enqueue_job(
        PUBLISH_JOB, draft_id, _job_id=f"publish:{draft_id}:again:{uuid.uuid4().hex[:8]}"
    )
    return Reply(f"📣 Publishing draft #{draft_id} again: the failed posts are tried once more.")
