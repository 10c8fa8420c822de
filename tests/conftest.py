"""Shared fixtures: real databases (SQLite, PostgreSQL) and real Redis (embedded, server)."""

from __future__ import annotations

import getpass
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio

from bot.console import ConsoleChat
from bot.runtime import Runtime, chat_worker, jobs_worker
from services.db import SessionFactory, make_engine, make_sessions, migrate
from services.settings import Settings

PG_HOST = os.environ.get("TEST_PG_HOST", "127.0.0.1")
PG_ADMIN_DB = os.environ.get("TEST_PG_DATABASE", "test")
REDIS_SERVER = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
# Our own database number on the shared server; tests flush only this one.
# One Redis database per pytest-xdist worker (gw0, gw1, ...), counted up from TEST_REDIS_DB.
XDIST_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
REDIS_TEST_DB = int(os.environ.get("TEST_REDIS_DB", "13")) + XDIST_WORKER


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A fresh PostgreSQL database of our own, dropped afterwards."""
    name = f"socialbot_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(host=PG_HOST, database=PG_ADMIN_DB)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield f"postgresql+asyncpg://{getpass.getuser()}@{PG_HOST}/{name}"
    admin = await asyncpg.connect(host=PG_HOST, database=PG_ADMIN_DB)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@asynccontextmanager
async def redis_server_database() -> AsyncIterator[str]:
    """The Redis server on loopback, on a database number of our own, flushed before and after."""
    url = f"{REDIS_SERVER}/{REDIS_TEST_DB}"
    client = redis.asyncio.Redis.from_url(url)
    await client.flushdb()
    yield url
    await client.flushdb()
    await client.aclose()


def make_settings(media_dir: Path, **values: object) -> Settings:
    """Settings for a test: nothing from the environment or a `.env` file."""
    return Settings(_env_file=None, MEDIA_DIR=media_dir, **values)  # type: ignore[call-arg]


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for one test."""
    async with postgres_database() as url:
        yield url


@pytest.fixture
async def redis_server_url() -> AsyncIterator[str]:
    """The loopback Redis server's test database for one test."""
    async with redis_server_database() as url:
        yield url


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[SessionFactory]:
    """Sessions on a migrated SQLite database of the test's own."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    await migrate(url)
    engine = make_engine(url)
    yield make_sessions(engine)
    await engine.dispose()


async def run_jobs(runtime: Runtime, console: ConsoleChat) -> None:
    """Run every queued job to the end, then deliver what the jobs sent to the console chat."""
    for worker in (
        jobs_worker(runtime, burst=True, poll_delay=0),
        chat_worker(runtime, {"console": console}, burst=True, poll_delay=0),
    ):
        try:
            await worker.run_check()
        finally:
            await worker.close()
