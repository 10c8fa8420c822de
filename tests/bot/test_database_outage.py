"""The database briefly unreachable (a proxy in front of PostgreSQL cut and restored): a clear
reply and no crash while it is down; the queued work is retried and finishes once it is back."""

from __future__ import annotations

from pathlib import Path

import pytest
from arq import Retry

from bot.runtime import open_runtime, retry_when_unavailable
from handlers.generate import generate_draft
from handlers.port import Incoming, Reply
from handlers.router import handle
from tests.conftest import PG_HOST, make_settings, postgres_database
from tests.fakes.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow


async def test_a_database_outage_is_survived(tmp_path: Path) -> None:
    async with postgres_database() as url, TcpProxy(host=PG_HOST, port=5432) as proxy:
        proxied = url.replace(f"@{PG_HOST}/", f"@127.0.0.1:{proxy.port}/")
        settings = make_settings(tmp_path / "media", DATABASE_URL=proxied)
        async with open_runtime(settings, apply_migrations=True) as runtime:
            app = runtime.app

            async def say(text: str) -> Reply:
                return (await handle(app, Incoming("console:t", "console:u", "u", text=text)))[0]

            await say("/start")
            assert "Draft #1 queued" in (await say("/draft a 6 second clip about tea")).text
            job = retry_when_unavailable(generate_draft)

            await proxy.cut()
            down = await say("/drafts")
            assert "can't reach my database" in down.text and "Nothing was changed" in down.text
            with pytest.raises(Retry):
                await job({"app": app, "job_try": 1}, 1, 1, None)

            await proxy.restore()
            assert "#1" in (await say("/drafts")).text
            assert await job({"app": app, "job_try": 2}, 1, 1, None) == "ready"
            assert "ready" in (await say("/status 1")).text
