"""Where media files are kept: the local folder, or an S3-compatible store shared by machines.

Files are made and read as local files under MEDIA_DIR (ffmpeg, the publishers and the chat
libraries all want a path). With an S3-compatible store configured, MEDIA_DIR is each
machine's cache and the bucket is the record: a file is saved to the bucket once it is
complete, before the database row that names it commits, and any machine that needs it
fetches it into its own MEDIA_DIR on first use. Files are never changed after they are saved
(each draft version and library item has a folder or name of its own), so a cached copy is
never stale.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any


class MediaMissing(FileNotFoundError):
    """A media file is neither on this machine nor in the store."""


class StoreUnavailable(ConnectionError):
    """The object store cannot be reached or refused the request; worth trying again later."""


class MediaStore:
    """Keeps the media files under one root folder available to every machine.

    The database and the chat queue name files by reference: the path relative to the root
    (`drafts/12/v1/video.mp4`), so machines with different MEDIA_DIRs agree. References
    written before there were references are absolute paths; they still resolve here.
    This base class is the local folder: everything runs on one machine, or the folder is
    shared (NFS and the like).
    """

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def ref(self, path: Path) -> str:
        """The reference of a file under the root; ValueError for anything outside it."""
        resolved = path.resolve()
        if not resolved.is_relative_to(self.root):
            raise ValueError(f"{path} is outside the media folder {self.root}")
        return resolved.relative_to(self.root).as_posix()

    def path(self, ref: str | Path) -> Path:
        """Where a reference's file is (or would be cached) on this machine."""
        path = Path(ref)
        if path.is_absolute():
            return path
        resolved = (self.root / path).resolve()
        if not resolved.is_relative_to(self.root):
            raise ValueError(f"{ref} is outside the media folder")
        return resolved

    async def save(self, path: Path) -> None:
        """Make a complete file under the root available to other machines (here: nothing
        to do, the file is where everyone reads it)."""
        self.ref(path)

    async def local(self, ref: str | Path) -> Path:
        """The file on this machine, fetched first if only the store has it."""
        path = self.path(ref)
        if not path.is_file():
            raise MediaMissing(f"the media file {path.name} is missing from {self.root}")
        return path

    async def delete(self, ref: str | Path) -> None:
        """Remove a file from this machine and from the store."""
        self.path(ref).unlink(missing_ok=True)

    async def check(self) -> None:
        """Raise StoreUnavailable unless the store answers (the folder always does)."""


class S3Store(MediaStore):
    """Media in an S3-compatible bucket (AWS S3, MinIO, …), cached under the local root.

    boto3 does the work in threads: its transfers stream in parts (8 MB by default), so a
    large video is never held in memory whole.
    """

    def __init__(
        self,
        root: Path,
        *,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        import boto3
        from botocore.config import Config

        super().__init__(root)
        self.bucket = bucket
        self._prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=Config(
                connect_timeout=10,
                read_timeout=60,
                retries={"max_attempts": 4, "mode": "standard"},
                s3={"addressing_style": "path"} if endpoint_url else {},
            ),
        )

    def key(self, ref: str | Path) -> str:
        """The object key of a file under the root."""
        return self._prefix + self.ref(self.path(ref))

    async def save(self, path: Path) -> None:
        """Upload the file (in parts when large)."""
        key = self.key(path)
        await self._call(self._client.upload_file, str(path), self.bucket, key)

    async def local(self, ref: str | Path) -> Path:
        """The cached copy, or the object downloaded next to it and renamed into place (a
        download cut short leaves no partial file under the real name)."""
        path, key = self.path(ref), self.key(ref)
        if path.is_file():
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".fetch-")
        os.close(fd)
        try:
            await self._call(self._client.download_file, self.bucket, key, tmp)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    async def delete(self, ref: str | Path) -> None:
        """Remove the object and the cached copy."""
        await self._call(self._client.delete_object, Bucket=self.bucket, Key=self.key(ref))
        self.path(ref).unlink(missing_ok=True)

    async def check(self) -> None:
        """The bucket answers."""
        await self._call(self._client.head_bucket, Bucket=self.bucket)

    async def create_bucket(self) -> None:
        """Create the bucket unless it exists (a fresh MinIO has none)."""
        try:
            await self.check()
        except MediaMissing:
            await self._call(self._client.create_bucket, Bucket=self.bucket)

    async def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return await asyncio.to_thread(method, *args, **kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code in {"404", "NoSuchKey", "NotFound"}:
                missing = f"the file is not in the media store (bucket {self.bucket})"
                raise MediaMissing(missing) from None
            raise StoreUnavailable(
                f"the media store refused the request ({code}: {error.get('Message', '')})"
            ) from exc
        except BotoCoreError as exc:
            raise StoreUnavailable(f"the media store cannot be reached: {exc}") from exc

