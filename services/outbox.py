"""The local outbox publisher: each post is a folder with the video, thumbnail, manifest and
an editable metrics.json."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from pathlib import Path

from services.metrics.outbox import METRICS_FILE, blank_metrics
from services.models import utcnow
from services.publishing import (
    Checkpoint,
    PublishError,
    PublishRequest,
    PublishResult,
    no_checkpoint,
)


class OutboxPublisher:
    """Writes `outbox/<platform>/<publication-id>/` atomically; a second call writes nothing."""

    def __init__(self, *, root: Path) -> None:
        self._root = root

    async def publish(
        self, request: PublishRequest, checkpoint: Checkpoint = no_checkpoint
    ) -> PublishResult:
        """Write the post's folder (or find the one already written) and return its path."""
        return await asyncio.to_thread(self._publish, request)

    async def confirm(self, request: PublishRequest) -> PublishResult | None:
        """The post's folder if it was written."""
        final = self._root / request.meta.platform.value / str(request.publication_id)
        return self._result(final) if (final / "manifest.json").exists() else None

    def _publish(self, request: PublishRequest) -> PublishResult:
        platform_dir = self._root / request.meta.platform.value
        final = platform_dir / str(request.publication_id)
        if (final / "manifest.json").exists():
            return self._result(final)
        if not request.video_path.is_file():
            raise PublishError(f"the video file is missing: {request.video_path}")
        platform_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=platform_dir))
        try:
            shutil.copyfile(request.video_path, staging / "video.mp4")
            shutil.copyfile(request.thumbnail_path, staging / "thumbnail.png")
            manifest = {
                "publication_id": request.publication_id,
                "idempotency_key": request.idempotency_key,
                "platform": request.meta.platform.value,
                "title": request.meta.title,
                "caption": request.meta.caption,
                "hashtags": list(request.meta.hashtags),
                "draft_id": request.draft_id,
                "version": request.version,
                "published_at": utcnow().isoformat(),
            }
            (staging / "manifest.json").write_text(
                json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8"
            )
            # The figures a person edits to play the audience (read by services.metrics).
            (staging / METRICS_FILE).write_text(
                json.dumps(blank_metrics(), indent=2) + "\n", encoding="utf-8"
            )
            try:
                os.rename(staging, final)
            except OSError:
                if not (final / "manifest.json").exists():
                    raise
                shutil.rmtree(staging)  # a concurrent call finished first
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return self._result(final)

    @staticmethod
    def _result(folder: Path) -> PublishResult:
        return PublishResult(external_id=folder.name, url=folder.resolve().as_uri())
