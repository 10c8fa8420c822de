"""arq job functions: make a draft version, publish a draft. Both are safe to run twice."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import select

from handlers.app import App
from handlers.buttons import draft_buttons
from handlers.port import Media, MediaKind, Reply
from services.content import Platform, PlatformMeta, Script
from services.drafts import brief_of, current_version, transition
from services.models import (
    Draft,
    DraftState,
    DraftVersion,
    Publication,
    PublicationState,
    UsageRecord,
    utcnow,
)
from services.publishing import (
    PublishError,
    PublishRequest,
    claim_publication,
    outbox_account,
)
from services.video import render_short

log = structlog.get_logger(__name__)

STAGES = ("writing the script", "recording the voice", "rendering the video")


def _progress(draft_id: int, version: int, done: int) -> Reply:
    marks = [
        ("✅" if i < done else "⏳" if i == done else "▫️") + f" {s}" for i, s in enumerate(STAGES)
    ]
    head = f"Draft #{draft_id} v{version}: " + ("ready" if done >= len(STAGES) else "working…")
    return Reply("\n".join([head, *marks]), edit_key=f"progress:{draft_id}:{version}")


async def generate_draft(ctx: dict[str, Any], draft_id: int, version: int) -> str:
    """Write, voice and render version `version` of a draft, then post its preview."""
    app: App = ctx["app"]
    async with app.sessions.begin() as session:
        draft = await session.get(Draft, draft_id)
        if draft is None or draft.current_version >= version:
            return "nothing to do"
        if draft.state == DraftState.REQUESTED:
            await transition(
                session, draft_id, expected=DraftState.REQUESTED, to=DraftState.GENERATING
            )
        elif draft.state != DraftState.GENERATING:
            return f"draft is {draft.state}"
    chat_ref = draft.chat_ref
    final_dir = app.drafts_dir / str(draft_id) / f"v{version}"
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".v{version}-", dir=final_dir.parent))
    started = time.monotonic()
    try:
        brief = brief_of(draft)
        await app.chat.send(chat_ref, _progress(draft_id, version, 0))
        script = await app.writer.write(brief, take=version)
        metadata = await app.writer.metadata(brief, script)
        await app.chat.send(chat_ref, _progress(draft_id, version, 1))
        voiceover = await app.voice.speak(script.narration(), staging / "voice.wav")
        await app.chat.send(chat_ref, _progress(draft_id, version, 2))
        rendered = await render_short(
            voiceover=voiceover, script=script, out_dir=staging, seed=draft_id * 1000 + version
        )
        if final_dir.exists():  # left by an earlier run of this job that died before committing
            shutil.rmtree(final_dir)
        staging.rename(final_dir)
        async with app.sessions.begin() as session:
            session.add(
                DraftVersion(
                    draft_id=draft_id,
                    number=version,
                    script=script.model_dump(mode="json"),
                    metadata_json=[m.model_dump(mode="json") for m in metadata],
                    words=[[w.word, w.start, w.end] for w in voiceover.words],
                    audio_path=str(final_dir / voiceover.audio_path.name),
                    video_path=str(final_dir / rendered.video_path.name),
                    thumbnail_path=str(final_dir / rendered.thumbnail_path.name),
                    duration_s=rendered.duration_s,
                    render_seconds=time.monotonic() - started,
                )
            )
            session.add_all(
                [
                    UsageRecord(
                        workspace_id=draft.workspace_id,
                        draft_id=draft_id,
                        kind="voice_chars",
                        provider="espeak-ng",
                        quantity=len(script.narration()),
                    ),
                    UsageRecord(
                        workspace_id=draft.workspace_id,
                        draft_id=draft_id,
                        kind="render_seconds",
                        provider="ffmpeg",
                        quantity=time.monotonic() - started,
                    ),
                ]
            )
            await transition(
                session,
                draft_id,
                expected=DraftState.GENERATING,
                to=DraftState.READY,
                current_version=version,
                error=None,
            )
    except Exception as exc:
        shutil.rmtree(staging, ignore_errors=True)
        log.exception("generate.failed", draft_id=draft_id, version=version)
        async with app.sessions.begin() as session:
            await transition(
                session,
                draft_id,
                expected=DraftState.GENERATING,
                to=DraftState.FAILED,
                error=str(exc)[:2000] or type(exc).__name__,
            )
        await app.chat.send(
            chat_ref,
            Reply(
                f"⚠️ Draft #{draft_id} v{version} could not be made: {exc}. "
                "Press Regenerate to try again.",
                buttons=draft_buttons(draft_id),
            ),
        )
        return "failed"
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    await app.chat.send(chat_ref, _progress(draft_id, version, len(STAGES)))
    await app.chat.send(
        chat_ref, preview(draft, version, script, metadata, final_dir, rendered.duration_s)
    )
    log.info(
        "generate.done", draft_id=draft_id, version=version, seconds=time.monotonic() - started
    )
    return "ready"


def preview(
    draft: Draft,
    version: int,
    script: Script,
    metadata: tuple[PlatformMeta, ...],
    folder: Path,
    duration_s: float,
) -> Reply:
    """The preview message: video, the first platform's metadata, and the decision buttons."""
    first = metadata[0]
    lines = [
        f"🎬 Draft #{draft.id} v{version} is ready for review ({script.writer} writer).",
        f"“{draft.topic}” · {duration_s:.1f} s · {', '.join(draft.platforms)}",
        "",
        f"{first.platform.value.capitalize()} title: {first.title}",
        f"Caption: {first.caption}",
        " ".join(first.hashtags),
    ]
    video = Media(
        MediaKind.VIDEO,
        folder / "video.mp4",
        caption=first.title,
        thumbnail=folder / "thumbnail.png",
    )
    return Reply("\n".join(lines), buttons=draft_buttons(draft.id), media=(video,))


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
