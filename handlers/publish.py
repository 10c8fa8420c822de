"""The publishing job: post an approved draft to each of its platforms, once each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import select

from handlers.app import App
from handlers.port import Reply
from services.content import Platform, PlatformMeta
from services.drafts import current_version, transition
from services.models import (
    Draft,
    DraftState,
    DraftVersion,
    Publication,
    PublicationState,
    utcnow,
)
from services.publishing import (
    PublishError,
    PublishRequest,
    claim_publication,
    outbox_account,
)

log = structlog.get_logger(__name__)


async def publish_draft(ctx: dict[str, Any], draft_id: int) -> str:
    """Publish an approved draft's current version to each platform, once each."""
    app: App = ctx["app"]
    async with app.sessions.begin() as session:
        draft = await session.get(Draft, draft_id)
        if draft is None:
            return "no such draft"
        starting = (DraftState.APPROVED, DraftState.SCHEDULED)
        if draft.state in starting:
            await transition(session, draft_id, expected=starting, to=DraftState.PUBLISHING)
        elif draft.state != DraftState.PUBLISHING:
            return f"draft is {draft.state}"
        version = await current_version(session, draft)
        if version is None:
            raise RuntimeError(f"draft {draft_id} has no version {draft.current_version}")
        metas = {m["platform"]: PlatformMeta.model_validate(m) for m in version.metadata_json}
        publications = []
        for platform in draft.platforms:
            account = await outbox_account(session, draft.workspace_id, platform)
            publications.append(
                await claim_publication(
                    session, draft_id=draft_id, version_id=version.id, account=account
                )
            )
    lines = []
    for publication in publications:
        lines.append(await _publish_one(app, draft, version, metas, publication))
    async with app.sessions.begin() as session:
        states = (
            (
                await session.execute(
                    select(Publication.state).where(Publication.draft_id == draft_id)
                )
            )
            .scalars()
            .all()
        )
        ok = sum(s == PublicationState.PUBLISHED for s in states)
        final = (
            DraftState.PUBLISHED
            if ok == len(states)
            else DraftState.FAILED
            if ok == 0
            else DraftState.PARTIALLY_PUBLISHED
        )
        await transition(session, draft_id, expected=DraftState.PUBLISHING, to=final)
    head = f"📣 Draft #{draft_id} v{version.number}: {final.value.replace('_', ' ')}."
    await app.chat.send(draft.chat_ref, Reply("\n".join([head, *lines])))
    return final.value


async def _publish_one(
    app: App,
    draft: Draft,
    version: DraftVersion,
    metas: dict[str, PlatformMeta],
    publication: Publication,
) -> str:
    if publication.state == PublicationState.PUBLISHED:
        return f"• {publication.platform}: {publication.url}"
    request = PublishRequest(
        publication_id=publication.id,
        idempotency_key=publication.idempotency_key,
        draft_id=draft.id,
        version=version.number,
        video_path=Path(version.video_path),
        thumbnail_path=Path(version.thumbnail_path),
        meta=metas[publication.platform],
    )
    async with app.sessions.begin() as session:
        row = await session.get(Publication, publication.id)
        assert row is not None
        row.state = PublicationState.UPLOADING
    try:
        result = await app.publisher.publish(request)
    except PublishError as exc:
        async with app.sessions.begin() as session:
            row = await session.get(Publication, publication.id)
            assert row is not None
            row.state, row.error = PublicationState.FAILED, str(exc)
        return f"• {publication.platform}: failed: {exc}"
    async with app.sessions.begin() as session:
        row = await session.get(Publication, publication.id)
        assert row is not None
        row.state = PublicationState.PUBLISHED
        row.external_id, row.url, row.published_at = result.external_id, result.url, utcnow()
    return f"• {Platform(publication.platform).value}: {result.url}"
