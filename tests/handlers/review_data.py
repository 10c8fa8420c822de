"""A team chat with a draft up for review, for the reviewer-link tests (handlers and browser).

The draft is stored directly (no render job): its script and captions come from the offline
writer, its video is a short real H.264/AAC file made with the bundled ffmpeg, so a browser
can play it and the platform checks made on approval pass.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

from sqlalchemy import select

from bot.console import ConsoleChat
from bot.runtime import Runtime
from handlers.port import Incoming, Reply
from handlers.router import handle
from services.content import Brief, Platform
from services.models import Draft, DraftState, DraftVersion, Member, UsageRecord
from services.usage import UsageLog
from services.video_ffmpeg import ffmpeg_exe
from tests.conftest import run_jobs

CHAT = "console:team"
SECRET = "review-tests-secret-key-0123456789"


def make_video(folder: Path) -> Path:
    """A 4 s 360x640 test pattern with a tone (H.264 + AAC, moov first) and its thumbnail."""
    folder.mkdir(parents=True, exist_ok=True)
    video = folder / "video.mp4"
    pattern = ["-f", "lavfi", "-i", "testsrc2=size=360x640:rate=25:duration=4"]
    tone = ["-f", "lavfi", "-i", "sine=frequency=440:duration=4"]
    encode = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"]
    run = [ffmpeg_exe(), "-v", "error", "-y"]
    subprocess.run(
        [*run, *pattern, *tone, *encode, "-shortest", "-movflags", "+faststart", str(video)],
        check=True,
    )
    thumb = ["-ss", "1", "-i", str(video), "-frames:v", "1", str(folder / "thumbnail.png")]
    subprocess.run([*run, *thumb], check=True)
    return video


class TeamChat:
    """The team's console chat: people type, workers run when the test says."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.app = runtime.app
        self.console = ConsoleChat(out=io.StringIO(), chat_ref=CHAT)

    async def say(self, text: str, *, user: str = "olga") -> Reply:
        """What the bot answers `user`'s message (rendered in the chat too)."""
        replies = await handle(self.app, Incoming(CHAT, f"console:{user}", user, text=text))
        assert len(replies) == 1
        await self.console.render(CHAT, replies[0])
        return replies[0]

    async def drain(self) -> None:
        """Run the queued jobs, then deliver what they sent to this chat."""
        await run_jobs(self.runtime, self.console)

    def texts(self) -> list[str]:
        """Everything the chat has shown so far."""
        return [r.text for r in self.console.replies]

    async def ready_draft(self, video: Path, *, requested_by: str = "olga") -> int:
        """A draft for TikTok and YouTube with a finished v1 (the offline writer's script)."""
        brief = Brief("cold brew at home", (Platform.TIKTOK, Platform.YOUTUBE), 4, "calm")
        script = await self.app.writer.write(brief, usage=UsageLog())
        metadata = await self.app.writer.metadata(brief, script, usage=UsageLog())
        async with self.app.sessions.begin() as session:
            member = await session.scalar(select(Member).where(Member.display_name == requested_by))
            assert member is not None
            draft = Draft(
                workspace_id=member.workspace_id,
                chat_ref=CHAT,
                requested_by=member.id,
                request_text="a short about cold brew at home",
                topic=brief.topic,
                platforms=[p.value for p in brief.platforms],
                duration_s=4,
                tone="calm",
                state=DraftState.READY,
                current_version=1,
            )
            session.add(draft)
            await session.flush()
            folder = self.app.drafts_dir / str(draft.id) / "v1"
            folder.mkdir(parents=True)
            shutil.copyfile(video, folder / "video.mp4")
            shutil.copyfile(video.parent / "thumbnail.png", folder / "thumbnail.png")
            session.add(
                DraftVersion(
                    draft_id=draft.id,
                    number=1,
                    script=script.model_dump(mode="json"),
                    metadata_json=[m.model_dump(mode="json") for m in metadata],
                    words=[],
                    audio_path="",
                    video_path=self.app.store.ref(folder / "video.mp4"),
                    thumbnail_path=self.app.store.ref(folder / "thumbnail.png"),
                    duration_s=4.0,
                )
            )
            session.add_all(
                UsageRecord(
                    workspace_id=member.workspace_id,
                    draft_id=draft.id,
                    kind=kind,
                    provider="test",
                    quantity=quantity,
                    cost_usd=cost,
                )
                for kind, quantity, cost in [
                    ("llm_input_tokens", 2500, 0.000375),
                    ("llm_output_tokens", 900, 0.00054),
                    ("voice_chars", 420, 0.126),
                    ("render_seconds", 6.5, 0.0),
                ]
            )
        return draft.id

    async def review_link(self, draft_id: int, *, user: str = "olga") -> str:
        """The token of a fresh reviewer link for the draft, made with /review."""
        reply = await self.say(f"/review {draft_id}", user=user)
        found = re.search(r"/review/(\S+)", reply.text)
        assert found, reply.text
        return found.group(1)

    async def draft(self, draft_id: int) -> Draft:
        """The draft as stored now."""
        async with self.app.sessions() as session:
            draft = await session.get(Draft, draft_id)
        assert draft is not None
        return draft
