"""Settings: names from DESIGN.md, `.env` support, one clear line for a malformed value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_need_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.redis_url is None and settings.database_url is None
    assert settings.sqlalchemy_url.startswith("sqlite+aiosqlite:///")
    assert settings.sqlalchemy_url.endswith("data/socialbot.db")


def test_env_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("REDIS_URL=redis://cache:6379/2\nWEB_PORT=9000\n")
    settings = load_settings()
    assert (settings.redis_url, settings.web_port) == ("redis://cache:6379/2", 9000)


def test_postgres_url_gets_the_async_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://bot@db/socialbot")
    assert load_settings().sqlalchemy_url == "postgresql+asyncpg://bot@db/socialbot"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WEB_PORT", "eighty"),
        ("WEB_PORT", "70000"),
        ("DATABASE_URL", "mysql://x"),
        ("REDIS_URL", "localhost:6379"),
        ("PUBLIC_URL", "bot.example.com"),
        ("LOG_LEVEL", "loud"),
    ],
)
def test_malformed_setting_names_itself(
    name: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"setting {name} is malformed:") and "\n" not in message


def test_cli_stops_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "WEB_PORT"} | {"WEB_PORT": "abc"}
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "migrate"],
        cwd=tmp_path,
        env=env | {"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "socialbot: setting WEB_PORT is malformed: "
        "Input should be a valid integer, unable to parse string as an integer"
    ]
    assert not (tmp_path / "data").exists()
