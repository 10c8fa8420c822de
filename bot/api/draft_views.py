"""Drafts as the API shows them: read from the database, files as signed expiring links."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.api.schemas import (
    ApprovalOut,
    DraftDetail,
    DraftPage,
    DraftSummary,
    Files,
    PlatformText,
    PublicationOut,
    VersionOut,
)
from services.links import MediaLinks
from services.models import Approval, Draft, DraftVersion, Member, Publication, utcnow
from services.storage import MediaStore

FILE_LINK_TTL_S = 3600
API = "/api/v1"


def summary(draft: Draft, requested_by: str | None, base: str) -> DraftSummary:
    """A draft's list entry."""
    return DraftSummary(
        id=draft.id,
        state=draft.state,
        topic=draft.topic,
        platforms=list(draft.platforms),
        duration_s=draft.duration_s,
        tone=draft.tone,
        aspects=list(draft.aspects or ["9:16"]),
        current_version=draft.current_version,
        scheduled_at=draft.scheduled_at,
        template=(draft.template or {}).get("name"),
        error=draft.error,
        requested_by=requested_by,
        chat=draft.chat_ref,
        created_at=draft.created_at,
        updated_at=draft.updated_at,
        url=f"{base}{API}/drafts/{draft.id}",
    )


async def load_summary(session: AsyncSession, draft_id: int, base: str) -> DraftSummary:
    """A draft's list entry, read now (after a handler changed it)."""
    draft = await session.get(Draft, draft_id, populate_existing=True)
    assert draft is not None
    return summary(draft, await _name(session, draft.requested_by), base)


async def page(
    session: AsyncSession,
    workspace_id: int,
    *,
    limit: int,
    offset: int,
    state: str | None,
    base: str,
) -> DraftPage:
    """A page of the workspace's drafts, newest first."""
    where = [Draft.workspace_id == workspace_id]
    if state is not None:
        where.append(Draft.state == state)
    total = int(await session.scalar(select(func.count()).select_from(Draft).where(*where)) or 0)
    rows = (
        await session.execute(
            select(Draft, Member.display_name)
            .outerjoin(Member, Member.id == Draft.requested_by)
            .where(*where)
            .order_by(Draft.id.desc())
            .limit(limit)
            .offset(offset)
        )
    ).all()
    items = [summary(draft, name, base) for draft, name in rows]
    following = None
    if offset + limit < total:
        query = f"limit={limit}&offset={offset + limit}" + (f"&state={state}" if state else "")
        following = f"{base}{API}/drafts?{query}"
    return DraftPage(items=items, total=total, limit=limit, offset=offset, next=following)


async def detail(
    session: AsyncSession, draft: Draft, *, links: MediaLinks, store: MediaStore, base: str
) -> DraftDetail:
    """A draft with every version (files as signed links), decision and post."""
    versions = (
        await session.scalars(
            select(DraftVersion)
            .where(DraftVersion.draft_id == draft.id)
            .order_by(DraftVersion.number)
        )
    ).all()
    approvals = (
        await session.execute(
            select(Approval, Member.display_name)
            .join(Member, Member.id == Approval.member_id)
            .where(Approval.draft_id == draft.id)
            .order_by(Approval.id)
        )
    ).all()
    publications = (
        await session.scalars(
            select(Publication).where(Publication.draft_id == draft.id).order_by(Publication.id)
        )
    ).all()
    head = summary(draft, await _name(session, draft.requested_by), base)
    return DraftDetail(
        **head.model_dump(),
        request_text=draft.request_text,
        versions=[_version(v, links, store, base) for v in versions],
        approvals=[
            ApprovalOut(version=a.version, decision=a.decision, by=name, at=a.created_at)
            for a, name in approvals
        ],
        publications=[
            PublicationOut(
                platform=p.platform,
                state=p.state,
                url=p.url,
                error=p.error,
                published_at=p.published_at,
            )
            for p in publications
        ],
    )


def _version(version: DraftVersion, links: MediaLinks, store: MediaStore, base: str) -> VersionOut:
    def link(ref: str) -> str:
        token = links.token_for(store.path(ref), ttl_s=FILE_LINK_TTL_S)
        return f"{base}/media/{token}"

    return VersionOut(
        number=version.number,
        created_at=version.created_at,
        duration_s=version.duration_s,
        instruction=version.instruction,
        script=dict(version.script),
        metadata=[
            PlatformText(
                platform=str(m.get("platform", "")),
                title=str(m.get("title", "")),
                caption=str(m.get("caption", "")),
                hashtags=[str(h) for h in m.get("hashtags", [])],
            )
            for m in version.metadata_json
        ],
        files=Files(
            video=link(version.video_path),
            thumbnail=link(version.thumbnail_path),
            audio=link(version.audio_path),
            by_aspect={aspect: link(ref) for aspect, ref in (version.outputs or {}).items()},
            expires_at=utcnow() + timedelta(seconds=FILE_LINK_TTL_S),
        ),
    )


async def _name(session: AsyncSession, member_id: int) -> str | None:
    return await session.scalar(select(Member.display_name).where(Member.id == member_id))
