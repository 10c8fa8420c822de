"""Read-only views of drafts: the list, one draft's status, and any version's preview."""

from __future__ import annotations

from sqlalchemy import select

from handlers.actor import Actor, Refusal
from handlers.app import App
from handlers.generate import preview
from handlers.port import Reply
from services.campaigns import auto_publish_line
from services.content import PlatformMeta, Script
from services.drafts import get_draft
from services.models import Draft, DraftState, DraftVersion, Publication
from services.publishing import problems_for
from services.storage import MediaMissing


async def list_drafts(app: App, actor: Actor) -> Reply:
    """`/drafts`: the workspace's latest drafts and their states."""
    async with app.sessions() as session:
        drafts = (
            (
                await session.execute(
                    select(Draft)
                    .where(Draft.workspace_id == actor.workspace.id)
                    .order_by(Draft.id.desc())
                    .limit(10)
                )
            )
            .scalars()
            .all()
        )
    if not drafts:
        return Reply("No drafts yet. Try /draft a 30 second short about our autumn menu")
    lines = ["Latest drafts:"]
    lines += [
        f"#{d.id} [{d.state}] {d.topic} ({', '.join(d.platforms)}, {d.duration_s} s)"
        for d in drafts
    ]
    return Reply("\n".join(lines))


async def draft_status(app: App, actor: Actor, args: str) -> Reply:
    """`/status <draft>`: a draft's state, versions and publications."""
    raw = args.strip().removeprefix("#")
    if not raw.isdigit() or len(raw) > 18:
        raise Refusal("Which draft? Use /status <number>, e.g. /status 3 (see /drafts).")
    async with app.sessions() as session:
        draft = await get_draft(session, actor.workspace.id, int(raw))
        if draft is None:
            raise Refusal(f"I can't find draft #{raw} in this workspace. See /drafts.")
        publications = (
            (
                await session.execute(
                    select(Publication)
                    .where(Publication.draft_id == draft.id)
                    .order_by(Publication.id)
                )
            )
            .scalars()
            .all()
        )
    lines = [
        f"Draft #{draft.id}: {draft.topic}",
        f"State: {draft.state} · version {draft.current_version} · "
        f"{', '.join(draft.platforms)} · {draft.duration_s} s · {draft.tone}",
    ]
    if draft.template:
        lines.append(f"Template: {draft.template.get('name')} (its format, as of the request)")
    if draft.error:
        lines.append(f"Last error: {draft.error}")
    for pub in publications:
        where = pub.url or pub.error or ""
        lines.append(f"• {pub.platform}: {pub.state} {where}".rstrip())
    return Reply("\n".join(lines))


async def show_version(app: App, actor: Actor, args: str) -> Reply:
    """`/show <draft> [version]`: post a version's preview again (old versions stay viewable)."""
    parts = args.replace("#", " ").replace("v", " ").split()
    if not 1 <= len(parts) <= 2 or not all(p.isdigit() and len(p) <= 18 for p in parts):
        raise Refusal("Use /show <draft> [version], e.g. /show 3 or /show 3 1.")
    draft_id = int(parts[0])
    async with app.sessions() as session:
        draft = await get_draft(session, actor.workspace.id, draft_id)
        if draft is None:
            raise Refusal(f"I can't find draft #{draft_id} in this workspace. See /drafts.")
        number = int(parts[1]) if len(parts) == 2 else draft.current_version
        version = await session.scalar(
            select(DraftVersion).where(
                DraftVersion.draft_id == draft_id, DraftVersion.number == number
            )
        )
        numbers = (
            await session.scalars(
                select(DraftVersion.number).where(DraftVersion.draft_id == draft_id)
            )
        ).all()
    if version is None:
        have = ", ".join(f"v{n}" for n in sorted(numbers)) or "none yet"
        raise Refusal(f"Draft #{draft_id} has no version {number} (versions: {have}).")
    script = Script.model_validate(version.script)
    metadata = tuple(PlatformMeta.model_validate(m) for m in version.metadata_json)
    try:  # on this machine, fetched from the media store if need be
        video = await app.store.local(version.video_path)
        await app.store.local(version.thumbnail_path)
    except MediaMissing:
        raise Refusal(
            f"The files of draft #{draft_id} v{number} are gone from the media store. "
            f"Use /edit {draft_id} <instruction> or Regenerate on its preview to make it again."
        ) from None
    problems = await problems_for(video, metadata, version.duration_s)
    note = None
    if draft.campaign_id is not None and number == draft.current_version:  # publishes itself?
        async with app.sessions() as session:
            note = await auto_publish_line(session, draft.id, number)
    reply = preview(
        draft, number, script, metadata, video.parent, version.duration_s, problems, note=note
    )
    current = number == draft.current_version and draft.state == DraftState.READY
    lines = [reply.text, "", _script_text(script)]
    if version.instruction:
        lines.insert(1, f"Edit: “{version.instruction}”")
    if not current:
        lines.append(
            f"(v{number} of {len(numbers)}; the draft is {draft.state} at v{draft.current_version})"
        )
    return Reply("\n".join(lines), buttons=reply.buttons if current else (), media=reply.media)


def _script_text(script: Script) -> str:
    scenes = [f"{i}. {s.narration} [{s.on_screen}]" for i, s in enumerate(script.scenes, 1)]
    return "\n".join([f"Hook: {script.hook}", *scenes, f"CTA: {script.call_to_action}"])


async def all_captions(app: App, actor: Actor, draft_id: int) -> Reply:
    """Every platform's title, caption and hashtags for a draft's current version."""
    async with app.sessions() as session:
        draft = await get_draft(session, actor.workspace.id, draft_id)
        if draft is None:
            raise Refusal(f"I can't find draft #{draft_id} in this workspace.")
        version = await session.scalar(
            select(DraftVersion).where(
                DraftVersion.draft_id == draft_id, DraftVersion.number == draft.current_version
            )
        )
    if version is None:
        raise Refusal(f"Draft #{draft_id} has no version yet.")
    blocks = [f"Draft #{draft_id} v{version.number}, per platform:"]
    for raw in version.metadata_json:
        meta = PlatformMeta.model_validate(raw)
        blocks.append(
            f"\n{meta.platform.value.capitalize()}\nTitle: {meta.title}\n"
            f"Caption: {meta.caption}\n{' '.join(meta.hashtags)}"
        )
    return Reply("\n".join(blocks))
