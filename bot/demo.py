"""`socialbot demo`: a scripted console conversation through the whole flow."""

from __future__ import annotations

import json
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
from handlers.metrics import collect_workspace_metrics
from handlers.port import MediaKind, Reply
from handlers.router import handle
from services.metrics.outbox import METRICS_FILE
from services.models import Draft, Publication
from services.settings import Settings

DEFAULT_TOPIC = "our autumn menu"
STEP_TIMEOUT_S = 300.0
# What the demo types into each outbox post's metrics.json, standing in for an audience.
EXAMPLE_FIGURES = {
    "tiktok": {"views": 1200, "likes": 96, "comments": 14, "shares": 9, "watch_time_s": 2400},
    "youtube": {"views": 450, "likes": 31, "comments": 5, "shares": 2, "watch_time_s": 1800},
}


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
                files = await _conversation(app, console, topic, out)
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


async def _conversation(
    app: App, console: ConsoleChat, topic: str, out: TextIO
) -> list[tuple[str, Path]]:
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
    async with app.sessions() as session:
        posts = (
            await session.execute(
                select(Publication.platform, Publication.url).where(
                    Publication.draft_id == draft_id
                )
            )
        ).all()
        workspace_id = (
            await session.execute(select(Draft.workspace_id).where(Draft.id == draft_id))
        ).scalar_one()
    folders = [(str(p), Path(url2pathname(urlparse(str(url)).path))) for p, url in posts]
    await _play_the_audience(app, workspace_id, folders, out)
    stats = await _say(app, console, "/stats 1")
    if not stats or "Views 0 " in stats[0].text or "No figures" in stats[0].text:
        raise DemoFailed("/stats did not show the figures typed into the outbox")
    digest = await _say(app, console, "/digest 1")
    charts = [m.path for r in digest for m in r.media if m.kind is MediaKind.PHOTO]
    if not charts or not charts[0].is_file():
        raise DemoFailed("the digest had no chart")
    files = [("video", preview.media[0].path)]
    if preview.media[0].thumbnail:
        files.append(("thumbnail", preview.media[0].thumbnail))
    files += [(f"outbox {platform}", folder) for platform, folder in folders]
    files += [(f"figures {platform}", folder / METRICS_FILE) for platform, folder in folders]
    files.append(("digest chart", charts[0]))
    missing = [str(path) for _, path in files if not path.exists()]
    if missing:
        raise DemoFailed(f"files missing: {', '.join(missing)}")
    return files


async def _play_the_audience(
    app: App, workspace_id: int, folders: list[tuple[str, Path]], out: TextIO
) -> None:
    """Type example figures into each outbox post's metrics.json, then collect them."""
    out.write(
        "\n(demo) Nobody watches the local outbox, so the demo types example figures into "
        "each post's metrics.json, as a person would to try analytics:\n"
    )
    for platform, folder in folders:
        figures = EXAMPLE_FIGURES.get(platform, EXAMPLE_FIGURES["youtube"])
        (folder / METRICS_FILE).write_text(json.dumps(figures, indent=2) + "\n", "utf-8")
        out.write(f"(demo)   {folder / METRICS_FILE}: {json.dumps(figures)}\n")
    report = await collect_workspace_metrics(app, workspace_id)
    out.write(f"(demo) Collected them as the metrics job does: {report.summary()}\n\n")
    if report.problems:
        raise DemoFailed(f"collecting the figures failed: {report.summary()}")
