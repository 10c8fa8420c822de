"""Starting a fake's aiohttp app on a free loopback port, the same way for every fake."""

from __future__ import annotations

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
