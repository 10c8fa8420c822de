"""Database engine, sessions and migrations (Alembic) for SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Select, event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

SessionFactory = async_sessionmaker[AsyncSession]
T = TypeVar("T")


def make_engine(url: str) -> AsyncEngine:
    """An async engine; SQLite gets WAL, foreign keys and a busy timeout for concurrent use."""
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            # The driver's own BEGIN is off: SQLAlchemy's SQLite recipe, so that SAVEPOINTs
            # work and every transaction takes the write lock up front (BEGIN IMMEDIATE), which
            # makes concurrent writers wait instead of failing with "database is locked".
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn):  # type: ignore[no-untyped-def]
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_async_engine(url, pool_pre_ping=True)


def make_sessions(engine: AsyncEngine) -> SessionFactory:
    """A session factory whose objects stay readable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    """Alembic configuration pointing at the bundled migrations and the given database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _upgrade(url: str) -> None:
    command.upgrade(alembic_config(url), "head")


async def migrate(url: str) -> None:
    """Apply all migrations up to head (Alembic runs its own event loop, so in a thread)."""
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(_upgrade, url)


async def get_or_create(session: AsyncSession, query: Select[Any], make: Callable[[], T]) -> T:
    """The row `query` finds, or a new one from `make`; safe against a concurrent insert."""
    found: T | None = (await session.execute(query)).scalar_one_or_none()
    if found is not None:
        return found
    try:
        async with session.begin_nested():
            row = make()
            session.add(row)
            await session.flush()
    except IntegrityError:  # someone inserted it between our read and our write
        row = (await session.execute(query)).scalar_one()
    return row
