"""Starting a fake's aiohttp app on a free loopback port, the same way for every fake; and
serving our own web app with uvicorn on a loopback listener."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from aiohttp import web


async def start_app(
    app: web.Application, *, shutdown_timeout: float = 0.5
) -> tuple[web.AppRunner, str]:
    """Serve `app` on 127.0.0.1 at a free port; the runner (to clean up) and `http://host:port`."""
    runner = web.AppRunner(app, shutdown_timeout=shutdown_timeout, handler_cancellation=True)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


def base_url(listener: socket.socket) -> str:
    """The http:// address of a listener."""
    host, port = listener.getsockname()[:2]
    return f"http://{host}:{port}"


@asynccontextmanager
async def serve_web(asgi: Any, listener: socket.socket) -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn on the listener until the block ends; its base URL."""
    server = uvicorn.Server(uvicorn.Config(asgi, log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("uvicorn stopped before it started")
        await asyncio.sleep(0.01)
    try:
        yield base_url(listener)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
