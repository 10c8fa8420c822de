"""The workspace media library: `/media` adds, lists and removes footage for new drafts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import structlog
from PIL import Image
from sqlalchemy import select

from handlers.actor import Actor, Refusal
from handlers.app import App
from handlers.port import Attachment, Reply
from services.models import MediaItem, Role
from services.storage import StoreUnavailable
from services.video import FootageError, RenderError, inspect_footage, probe_media
from services.workspaces import at_least, audit

log = structlog.get_logger(__name__)

USAGE = (
    "Send /media with a video or photo attached to add it to the library; "
    "/media list shows it; /media remove <number> takes one out."
)


async def media_command(app: App, actor: Actor, args: str, files: tuple[Attachment, ...]) -> Reply:
    """`/media` with attachments adds them; `/media list` and `/media remove <n>` manage."""
    words = args.split()
    if files:
        return await _add(app, actor, files)
    if words[:1] == ["list"] or not words:
        return await _list(app, actor)
    if words[0] == "remove" and len(words) == 2 and words[1].isdigit() and len(words[1]) < 18:
        return await _remove(app, actor, int(words[1]))
    raise Refusal(USAGE)


async def _add(app: App, actor: Actor, files: tuple[Attachment, ...]) -> Reply:
    if not at_least(actor.role, Role.CREATOR):
        raise Refusal("Viewers can't add media. Ask an owner for the creator role.")
    limit_mb = app.max_upload_bytes // (1024 * 1024)
    checked = []
    for file in files:  # check every file before keeping any
        size = file.path.stat().st_size
        if size > app.max_upload_bytes:
            raise Refusal(f"{_name(file)} is {size / 2**20:.0f} MB; the limit is {limit_mb} MB.")
        checked.append((file, await _inspect(file), size))
    library = app.media_dir / "library" / str(actor.workspace.id)
    library.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    kept: list[Path] = []
    try:
        async with app.sessions.begin() as session:
            for file, footage, size in checked:
                stored = library / f"{uuid.uuid4().hex}{footage.suffix}"
                await asyncio.to_thread(_copy_atomically, file.path, stored)
                kept.append(stored)
                await app.store.save(stored)
                session.add(item := _item(app, actor, file, footage, size, stored))
                await session.flush()
                await audit(
                    session, actor.workspace.id, actor.member.id, "media.add", f"media:{item.id}"
                )
                lines.append(f"#{item.id} {_describe(item)}")
    except StoreUnavailable:
        await _discard(app, kept)
        raise Refusal(
            "The media store is not answering; nothing was added. Try again soon."
        ) from None
    except BaseException:
        await _discard(app, kept)  # no file without its row
        raise
    return Reply(
        "Added to the media library:\n"
        + "\n".join(lines)
        + "\nNew drafts use the newest six videos or photos, and the newest audio as music."
    )


async def _discard(app: App, paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(StoreUnavailable):
            await app.store.delete(path)
        path.unlink(missing_ok=True)


def _item(
    app: App, actor: Actor, file: Attachment, footage: _Checked, size: int, stored: Path
) -> MediaItem:
    return MediaItem(
        workspace_id=actor.workspace.id,
        added_by=actor.member.id,
        kind=footage.kind,
        path=app.store.ref(stored),
        original_name=_name(file),
        size_bytes=size,
        width=footage.width,
        height=footage.height,
        duration_s=footage.duration_s,
    )


async def _list(app: App, actor: Actor) -> Reply:
    async with app.sessions() as session:
        items = (
            await session.scalars(
                select(MediaItem)
                .where(MediaItem.workspace_id == actor.workspace.id)
                .order_by(MediaItem.id.desc())
                .limit(30)
            )
        ).all()
    if not items:
        return Reply("The media library is empty. " + USAGE)
    return Reply(
        "Media library (newest first):\n" + "\n".join(f"#{i.id} {_describe(i)}" for i in items)
    )


async def _remove(app: App, actor: Actor, item_id: int) -> Reply:
    async with app.sessions.begin() as session:
        item = await session.get(MediaItem, item_id)
        if item is None or item.workspace_id != actor.workspace.id:
            raise Refusal(f"There is no media #{item_id} in this workspace. See /media list.")
        if not (at_least(actor.role, Role.APPROVER) or item.added_by == actor.member.id):
            raise Refusal("Only approvers, owners and whoever added it can remove media.")
        await session.delete(item)
        await audit(
            session, actor.workspace.id, actor.member.id, "media.remove", f"media:{item_id}"
        )
    try:
        await app.store.delete(item.path)
    except StoreUnavailable:  # the row is gone; the object is only space now
        log.warning("media.delete_failed", media=item_id)
    return Reply(f"Removed #{item_id} ({item.original_name}) from the media library.")


def _describe(item: MediaItem) -> str:
    length = f", {item.duration_s:.1f} s" if item.duration_s else ""
    size = f", {item.width}x{item.height}" if item.width else ""
    return f"{item.original_name} ({item.kind}{size}{length})"


def _name(file: Attachment) -> str:
    """The sender's file name, for replies only (never used as a path)."""
    return Path(file.filename).name[:100] or "the file"


def _copy_atomically(source: Path, target: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class _Checked:
    kind: str
    width: int
    height: int
    duration_s: float | None
    suffix: str  # from the content: ffmpeg picks image readers by the file name


async def _inspect(file: Attachment) -> _Checked:
    """What a file is, by its content: footage (video, image) or music (audio only)."""
    try:
        footage = await inspect_footage(file.path)
    except FootageError as exc:
        try:
            info = await probe_media(file.path)
        except RenderError:
            info = None
        if info is None or info.video_codec is not None or not info.audio_streams:
            what = f"{_name(file)} is not a video, image or audio I can use"
            raise Refusal(f"{what}: {exc}") from None
        return _Checked("audio", 0, 0, info.duration_s, ".audio")
    if footage.kind == "image":
        with Image.open(file.path) as image:
            suffix = f".{(image.format or 'png').lower()}"
    else:
        suffix = ".mp4"
    return _Checked(footage.kind, footage.width, footage.height, footage.duration_s, suffix)
