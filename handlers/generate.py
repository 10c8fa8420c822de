"""The generation job: write (or revise), voice and render one version of a draft."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import select

from handlers.app import App
from handlers.buttons import draft_buttons
from handlers.observe import observe_render, service_call, service_name
from handlers.port import Media, MediaKind, Reply
from handlers.workspace_cmds import brand_of
from services.campaigns import auto_publish_line
from services.content import Brand, Brief, Platform, PlatformMeta, Script
from services.drafts import brief_of, transition
from services.models import Draft, DraftState, DraftVersion, MediaItem, Workspace
from services.publishing import describe_problems, problems_for
from services.storage import MediaMissing, StoreUnavailable
from services.templates import snapshot_spec
from services.usage import Usage, UsageLog, usage_records
from services.video import Aspect, Footage, render_short
from services.writer import EditUnsupported, WriterError

log = structlog.get_logger(__name__)

STAGES = ("writing the script", "recording the voice", "rendering the video")
MAX_FOOTAGE = 6


@dataclass(frozen=True)
class Job:
    """What one run of the generation job works from, read once at its start."""

    draft: Draft
    version: int
    brief: Brief
    brand: Brand
    voice_id: str | None
    footage: tuple[Footage, ...]
    music: Path | None
    instruction: str | None
    previous: Script | None


def making_key(draft_id: int) -> str:
    """The Redis key holding the stage the draft's version being made is at (for the jobs
    monitor); it lapses an hour after the last stage began."""
    return f"socialbot:making:{draft_id}"


async def _at_stage(app: App, draft: Draft, version: int, done: int) -> None:
    """Tell the draft's chat how far its version is, and note the stage for the jobs monitor."""
    await app.chat.send(draft.chat_ref, _progress(draft.id, version, done))
    if done < len(STAGES):
        await app.queue.set(making_key(draft.id), f"{STAGES[done]}", ex=3600)
    else:
        await app.queue.delete(making_key(draft.id))


def _progress(draft_id: int, version: int, done: int) -> Reply:
    marks = [
        ("✅" if i < done else "⏳" if i == done else "▫️") + f" {s}" for i, s in enumerate(STAGES)
    ]
    head = f"Draft #{draft_id} v{version}: " + ("ready" if done >= len(STAGES) else "working…")
    return Reply("\n".join([head, *marks]), edit_key=f"progress:{draft_id}:{version}")


async def generate_draft(
    ctx: dict[str, Any], draft_id: int, version: int, instruction: str | None = None
) -> str:
    """Make version `version` of a draft (revising the last by `instruction`) and preview it."""
    app: App = ctx["app"]
    job = await _start(app, draft_id, version, instruction)
    if job is None:
        return "nothing to do"
    final_dir = app.drafts_dir / str(draft_id) / f"v{version}"
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    for stale in final_dir.parent.glob(f".v{version}-*"):  # a run of this job that was killed
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".v{version}-", dir=final_dir.parent))
    try:
        reply = await _make(app, job, staging, final_dir)
    except EditUnsupported as exc:
        await _give_up(app, job, staging, str(exc), keep_previous=True)
        return "edit unsupported"
    except StoreUnavailable:  # the job runs again (retry_when_unavailable); nothing is lost
        shutil.rmtree(staging, ignore_errors=True)
        raise
    except Exception as exc:
        log.exception("generate.failed", draft_id=draft_id, version=version)
        await _give_up(app, job, staging, _reason(exc), keep_previous=job.previous is not None)
        return "failed"
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    await _at_stage(app, job.draft, version, len(STAGES))
    await app.chat.send(job.draft.chat_ref, reply)
    return "ready"


async def _start(app: App, draft_id: int, version: int, instruction: str | None) -> Job | None:
    async with app.sessions.begin() as session:
        draft = await session.get(Draft, draft_id)
        if draft is None or draft.current_version >= version:
            return None
        if draft.state == DraftState.REQUESTED:
            await transition(
                session, draft_id, expected=DraftState.REQUESTED, to=DraftState.GENERATING
            )
        elif draft.state != DraftState.GENERATING:
            return None
        workspace = await session.get(Workspace, draft.workspace_id)
        assert workspace is not None
        previous = None
        if draft.current_version:
            row = await session.scalar(
                select(DraftVersion.script).where(
                    DraftVersion.draft_id == draft_id,
                    DraftVersion.number == draft.current_version,
                )
            )
            previous = Script.model_validate(row) if row else None
        items = (
            (
                await session.execute(
                    select(MediaItem)
                    .where(MediaItem.workspace_id == workspace.id, MediaItem.kind != "audio")
                    .order_by(MediaItem.id.desc())
                    .limit(MAX_FOOTAGE)
                )
            )
            .scalars()
            .all()
        )
        template = snapshot_spec(draft.template)
        music_query = (
            select(MediaItem.path)
            .where(MediaItem.workspace_id == workspace.id, MediaItem.kind == "audio")
            .order_by(MediaItem.id.desc())
            .limit(1)
        )
        music = None
        if template is not None and template.music is not None:  # the template's, if still there
            music = await session.scalar(music_query.where(MediaItem.id == template.music))
        if music is None:
            music = await session.scalar(music_query)
    footage = []
    for m in items:  # on this machine: fetched from the media store if need be
        with contextlib.suppress(MediaMissing):
            path = await app.store.local(m.path)
            footage.append(Footage(path, m.kind, m.duration_s, m.width, m.height))  # type: ignore[arg-type]
    music_path = None
    if music:
        with contextlib.suppress(MediaMissing):
            music_path = await app.store.local(music)
    return Job(
        draft=draft,
        version=version,
        brief=brief_of(draft),
        brand=brand_of(workspace),
        voice_id=(template.voice_id if template else None) or workspace.voice_id,
        footage=tuple(footage),
        music=music_path,
        instruction=instruction,
        previous=previous,
    )


async def _make(app: App, job: Job, staging: Path, final_dir: Path) -> Reply:
    draft, version = job.draft, job.version
    started = time.monotonic()
    usage = UsageLog()
    await _at_stage(app, draft, version, 0)
    writer = service_name("writer", app.writer)
    async with service_call(app, writer, not_theirs=(EditUnsupported,)):
        if job.instruction and job.previous is not None:
            script = await app.writer.revise(
                job.brief, job.previous, job.instruction, brand=job.brand, usage=usage
            )
        else:
            script = await app.writer.write(job.brief, take=version, brand=job.brand, usage=usage)
        metadata = await app.writer.metadata(job.brief, script, brand=job.brand, usage=usage)
    await _at_stage(app, draft, version, 1)
    async with service_call(app, service_name("voice", app.voice)):
        voiceover = await app.voice.speak(
            script.narration(), staging / "voice.wav", voice_id=job.voice_id, usage=usage
        )
    await _at_stage(app, draft, version, 2)
    rendered = await render_short(
        voiceover=voiceover,
        script=script,
        out_dir=staging,
        seed=draft.id * 1000 + version,
        footage=job.footage,
        music=job.music,
        aspects=[Aspect(a) for a in draft.aspects],
    )
    if final_dir.exists():  # left by an earlier run of this job that died before committing
        shutil.rmtree(final_dir)
    staging.rename(final_dir)
    for file in sorted(final_dir.iterdir()):  # in the media store before the row names them
        await app.store.save(file)
    seconds = time.monotonic() - started
    usage.add(Usage("render_seconds", "ffmpeg", round(seconds, 2), app.prices.render_cost(seconds)))
    async with app.sessions.begin() as session:
        session.add(
            DraftVersion(
                draft_id=draft.id,
                number=version,
                script=script.model_dump(mode="json"),
                metadata_json=[m.model_dump(mode="json") for m in metadata],
                words=[[w.word, w.start, w.end] for w in voiceover.words],
                audio_path=app.store.ref(final_dir / voiceover.audio_path.name),
                video_path=app.store.ref(final_dir / rendered.video_path.name),
                thumbnail_path=app.store.ref(final_dir / rendered.thumbnail_path.name),
                outputs={
                    a.value: app.store.ref(final_dir / p.name) for a, p in rendered.outputs.items()
                },
                duration_s=rendered.duration_s,
                render_seconds=seconds,
                instruction=job.instruction,
            )
        )
        session.add_all(usage_records(draft.workspace_id, draft.id, usage))
        await transition(
            session,
            draft.id,
            expected=DraftState.GENERATING,
            to=DraftState.READY,
            current_version=version,
            pending_instruction=None,
            error=None,
        )
    log.info("generate.done", draft_id=draft.id, version=version, seconds=seconds)
    await observe_render(app, seconds)
    problems = await problems_for(
        final_dir / rendered.video_path.name, metadata, rendered.duration_s
    )
    note = None
    if draft.campaign_id is not None:  # a campaign's draft may publish by itself
        async with app.sessions() as session:
            note = await auto_publish_line(session, draft.id, version)
    return preview(
        draft, version, script, metadata, final_dir, rendered.duration_s, problems, note=note
    )


async def _give_up(app: App, job: Job, staging: Path, reason: str, *, keep_previous: bool) -> None:
    """Remove partial files; back to the last good version if there is one, else failed."""
    shutil.rmtree(staging, ignore_errors=True)
    draft, version = job.draft, job.version
    to = DraftState.READY if keep_previous else DraftState.FAILED
    async with app.sessions.begin() as session:
        await transition(
            session, draft.id, expected=DraftState.GENERATING, to=to, error=reason[:2000]
        )
    if keep_previous:
        text = (
            f"⚠️ Draft #{draft.id}: v{version} was not made: {reason}\n"
            f"The draft is unchanged (v{draft.current_version} is still up for review)."
        )
    else:
        text = (
            f"⚠️ Draft #{draft.id} v{version} could not be made: {reason} "
            "Press Regenerate to try again."
        )
    await app.chat.send(draft.chat_ref, Reply(text, buttons=draft_buttons(draft.id)))


def _reason(exc: Exception) -> str:
    """One line for the chat: the error's own message (its last line, for ffmpeg's output)."""
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    text = lines[0] if isinstance(exc, WriterError) else lines[-1]
    return text[:500].rstrip(".") + "."


def preview(
    draft: Draft,
    version: int,
    script: Script,
    metadata: tuple[PlatformMeta, ...],
    folder: Path,
    duration_s: float,
    problems: Mapping[Platform, list[str]] | None = None,
    *,
    note: str | None = None,
) -> Reply:
    """The preview message: video, the first platform's metadata, what does not fit a
    platform's rules (approval is refused until it does), a `note` (a campaign draft's
    auto-publish time), and the decision buttons."""
    first = metadata[0]
    lines = [
        f"🎬 Draft #{draft.id} v{version} is ready for review ({script.writer} writer).",
        f"“{draft.topic}” · {duration_s:.1f} s · {', '.join(draft.platforms)}",
        "",
        f"{first.platform.value.capitalize()} title: {first.title}",
        f"Caption: {first.caption}",
        " ".join(first.hashtags),
    ]
    if problems:
        lines += ["", "Does not fit yet (approval waits until it does):"]
        lines += describe_problems(problems)
    if note:
        lines += ["", note]
    video = Media(
        MediaKind.VIDEO,
        folder / "video.mp4",
        caption=first.title,
        thumbnail=folder / "thumbnail.png",
    )
    return Reply("\n".join(lines), buttons=draft_buttons(draft.id), media=(video,))
