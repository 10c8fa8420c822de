"""`socialbot demo`: a scripted console conversation through the whole flow."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import TextIO
from urllib.parse import urlparse
from urllib.request import url2pathname

from sqlalchemy import select

from bot.console import ConsoleChat
from bot.runtime import chat_worker, jobs_worker, open_runtime, running
from handlers.app import App
from handlers.buttons import Verb, encode
from handlers.port import MediaKind, Reply
from handlers.router import handle
from services.models import Publication
from services.settings import Settings

DEFAULT_TOPIC = "our autumn menu"
STEP_TIMEOUT_S = 300.0


class DemoFailed(Exception):
    """A step of the demo did not happen."""


async def run_demo(settings: Settings, *, topic: str, out: TextIO = sys.stdout) -> int:
    """Run draft → preview → approve → publish → digest; 0 only if every step happened."""
    started = time.monotonic()
    console = ConsoleChat(out=out, chat_ref="console:demo", user="demo")
    async with open_runtime(settings) as runtime:
        app = runtime.app
        async with running(jobs_worker(runtime), chat_worker(runtime, {"console": console})):
            try:
                files = await _conversation(app, console, topic)
            except (DemoFailed, TimeoutError) as exc:
                out.write(f"\nDEMO FAILED: {exc or 'a step timed out'}\n")
                return 1
    out.write(f"\nDemo finished in {time.monotonic() - started:.1f} s. Files:\n")
    for label, path in files:
        out.write(f"  {label}: {path}\n")
    return 0


async def _say(app: App, console: ConsoleChat, line: str) -> list[Reply]:
    console.echo(line)
    incoming = console.incoming(line)
    if incoming is None:
        return []
    replies = await handle(app, incoming)
    for reply in replies:
        await console.render(console.chat_ref, reply)
    return replies


async def _conversation(app: App, console: ConsoleChat, topic: str) -> list[tuple[str, Path]]:
    await _say(app, console, "/start")
    request = f"/draft a 25 second short about {topic} for TikTok and YouTube, upbeat"
    replies = await _say(app, console, request)
    match = re.search(r"Draft #(\d+) queued", replies[0].text if replies else "")
    if match is None:
        raise DemoFailed(f"the draft was not queued: {replies[0].text if replies else ''}")
    draft_id = int(match.group(1))
    approve = encode(Verb.APPROVE, draft_id)
    preview = await console.wait_for(
        lambda r: any(b.id == approve for b in r.buttons) and bool(r.media),
        timeout=STEP_TIMEOUT_S,
    )
    number = console.number_of(approve)
    assert number is not None
    replies = await _say(app, console, str(number))
    if not replies or "approved" not in replies[0].text:
        raise DemoFailed(f"approval was refused: {replies[0].text if replies else ''}")
    result = await console.wait_for(
        lambda r: r.text.startswith(f"📣 Draft #{draft_id} "), timeout=STEP_TIMEOUT_S
    )
    if "published" not in result.text.splitlines()[0]:
        raise DemoFailed(f"publishing did not succeed: {result.text}")
    digest = await _say(app, console, "/digest 1")
    charts = [m.path for r in digest for m in r.media if m.kind is MediaKind.PHOTO]
    if not charts or not charts[0].is_file():
        raise DemoFailed("the digest had no chart")
    files = [("video", preview.media[0].path)]
    if preview.media[0].thumbnail:
        files.append(("thumbnail", preview.media[0].thumbnail))
    async with app.sessions() as session:
        posts = (
            await session.execute(
                select(Publication.platform, Publication.url).where(
                    Publication.draft_id == draft_id
                )
            )
        ).all()
    files += [
        (f"outbox {platform}", Path(url2pathname(urlparse(str(url)).path)))
        for platform, url in posts
    ]
    files.append(("digest chart", charts[0]))
    missing = [str(path) for _, path in files if not path.exists()]
    if missing:
        raise DemoFailed(f"files missing: {', '.join(missing)}")
    return files
