"""The API's harness: the real web app with the API mounted, on a real runtime (SQLite and
the loopback Redis server), a workspace made in the console chat, and keys made the way an
owner makes them: /apikey in a private chat, through the router."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from bot.api import ApiConfig
from bot.console import ConsoleChat
from bot.runtime import Runtime, chat_worker, open_runtime
from bot.web import create_web_app
from handlers.port import Incoming, Reply
from handlers.router import handle
from services.links import MediaLinks
from services.signing import Signer
from tests.conftest import make_settings, run_jobs

CHAT = "console:team"
OWNER = "olga"
SECRET = b"api-tests-secret-key-0123456789abcdef"
KEY = re.compile(r"sbk_[A-Za-z0-9_-]{43}")


@dataclass
class World:
    """A workspace whose owner is olga, its chat, and the web app serving the API."""

    runtime: Runtime
    console: ConsoleChat
    config: ApiConfig
    client: httpx.AsyncClient

    def web(self, **config: Any) -> FastAPI:
        """The web app with the API configured as given (on top of the world's config)."""
        return web_app(self.runtime, replace(self.config, **config))

    async def say(
        self, text: str, *, user: str = OWNER, chat: str = CHAT, private: bool = False
    ) -> Reply:
        """What the bot answers `user` typing `text` in `chat`."""
        incoming = Incoming(chat, f"console:{user}", user, text=text, private=private)
        return (await handle(self.runtime.app, incoming))[0]

    async def dm(self, text: str, *, user: str = OWNER) -> Reply:
        """What the bot answers in `user`'s private chat with it."""
        return await self.say(text, user=user, chat=f"console:dm-{user}", private=True)

    async def new_key(self, name: str = "ci-bot", role: str = "", *, user: str = OWNER) -> str:
        """A key made with /apikey new in a private chat: the secret shown once."""
        reply = await self.dm(f"/apikey new {name} {role}".strip(), user=user)
        found = KEY.search(reply.text)
        assert found, reply.text
        return found.group(0)

    async def tokens(self, secret: str) -> dict[str, Any]:
        """The token pair a key is exchanged for."""
        answer = await self.client.post("/api/v1/auth/token", json={"api_key": secret})
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    async def headers(self, name: str = "ci-bot", role: str = "") -> dict[str, str]:
        """An Authorization header for a new key."""
        pair = await self.tokens(await self.new_key(name, role))
        return {"Authorization": f"Bearer {pair['access_token']}"}

    async def deliver(self) -> list[Reply]:
        """Deliver what was sent to the chat (the chat queue only); what the chat got."""
        before = len(self.console.replies)
        worker = chat_worker(self.runtime, {"console": self.console}, burst=True, poll_delay=0)
        try:
            await worker.run_check()
        finally:
            await worker.close()
        return self.console.replies[before:]

    async def drain(self) -> None:
        """Run every queued job, then deliver what they sent to the chat."""
        await run_jobs(self.runtime, self.console)


def web_app(runtime: Runtime, config: ApiConfig) -> FastAPI:
    """The web app `socialbot run` serves, with the API configured by `config`."""
    links = MediaLinks(
        signer=Signer(key=SECRET, purpose="media"), store=runtime.app.store, public_url=None
    )
    return create_web_app(links=links, app=runtime.app, api=config)


@pytest.fixture
async def runtime(tmp_path: Path, redis_server_url: str) -> AsyncIterator[Runtime]:
    """The application on SQLite and the loopback Redis server."""
    settings = make_settings(
        tmp_path / "media", REDIS_URL=redis_server_url, SECRET_KEY=SECRET.decode()
    )
    async with open_runtime(settings) as rt:
        yield rt


@pytest.fixture
async def world(runtime: Runtime) -> AsyncIterator[World]:
    """olga's workspace, and an httpx client on the web app (rate limit out of the way)."""
    console = ConsoleChat(out=io.StringIO(), chat_ref=CHAT)
    config = ApiConfig(secret_key=SECRET, rate_limit_per_min=10_000)
    transport = httpx.ASGITransport(app=web_app(runtime, config))
    async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
        world = World(runtime, console, config, client)
        reply = await world.say("/start")
        assert "owner" in reply.text
        yield world
