"""An S3-compatible server on loopback: moto's server, which speaks the S3 REST protocol
(signed requests, multipart uploads, ranged gets) to any S3 client, boto3 included.

MinIO is what docker-compose.yml runs; its server is a Go binary that no package registry
here carries, so the tests use moto's server for the same wire protocol.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from moto.server import ThreadedMotoServer

ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key"  # moto accepts any pair; the client still signs with it


@dataclass(frozen=True)
class S3Server:
    """Where the server listens and the credentials to give the client."""

    endpoint_url: str
    server: ThreadedMotoServer

    def settings(self, bucket: str) -> dict[str, str]:
        """The S3_* settings pointing a socialbot process at this server."""
        return {
            "S3_BUCKET": bucket,
            "S3_ENDPOINT_URL": self.endpoint_url,
            "S3_ACCESS_KEY_ID": ACCESS_KEY,
            "S3_SECRET_ACCESS_KEY": SECRET_KEY,
            "S3_REGION": "us-east-1",
        }

    def stop(self) -> None:
        """Stop serving (the store's calls then fail to connect)."""
        self.server.stop()


@contextmanager
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server on a free loopback port, for the duration of the block."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield S3Server(f"http://127.0.0.1:{port}", server)
    finally:
        server.stop()
