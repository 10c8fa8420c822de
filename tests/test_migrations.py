"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

import services.web_models  # noqa: F401  (registers the web side's tables in Base.metadata)
from services.db import make_engine, migrate
from services.models import Base
from tests.conftest import postgres_database


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": False})
    return list(compare_metadata(context, Base.metadata))


async def _check(url: str) -> None:
    await migrate(url)
    await migrate(url)  # a second run is a no-op
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
    finally:
        await engine.dispose()


async def test_sqlite(tmp_path: Path) -> None:
    await _check(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")


@pytest.mark.slow
async def test_postgres() -> None:
    async with postgres_database() as url:
        await _check(url)
