"""What the handlers and jobs work with: sessions, queue, chat sender, writer, voice, storage."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from arq import ArqRedis

from handlers.port import ChatSender
from services.accounts import AccountService
from services.admin_logins import AdminLogins
from services.db import SessionFactory
from services.links import MediaLinks
from services.publishers.registry import PlatformClients
from services.publishing import Publisher
from services.review_links import ReviewLinks
from services.storage import MediaStore
from services.usage import Prices
from services.voice import Voice
from services.writer import RequestReader, Writer


@dataclass(frozen=True)
class App:
    """The collaborators of every use case, built once at the entry point."""

    sessions: SessionFactory
    queue: ArqRedis
    chat: ChatSender
    writer: Writer
    voice: Voice
    publisher: Publisher
    media_dir: Path
    store: MediaStore  # where media files are kept (MEDIA_DIR, or S3 with it as the cache)
    reader: RequestReader | None = None
    prices: Prices = field(default_factory=Prices)
    max_upload_bytes: int = 200 * 1024 * 1024
    generations_per_hour: int = 20  # per member: drafts, edits and regenerations (0: no limit)
    job_lease_s: float = 60.0  # JOB_LEASE_S: how soon a killed worker's work is taken up
    fetch_allow: tuple[str, ...] = ()  # FETCH_ALLOW: internal hosts feeds may come from
    accounts: AccountService | None = None  # None without SECRET_KEY and PUBLIC_URL
    platforms: PlatformClients | None = None
    links: MediaLinks | None = None
    reviews: ReviewLinks | None = None  # reviewer links; None without SECRET_KEY and PUBLIC_URL
    admin_logins: AdminLogins | None = None  # /admin web sign-in; None without both, too

    @property
    def voice_name(self) -> str:
        """Which voice engine speaks, for replies."""
        return type(self.voice).__name__.removesuffix("Voice") or "voice"

    @property
    def drafts_dir(self) -> Path:
        """Where draft versions' files live."""
        return self.media_dir / "drafts"

    @property
    def digests_dir(self) -> Path:
        """Where digest charts are written."""
        return self.media_dir / "digests"
