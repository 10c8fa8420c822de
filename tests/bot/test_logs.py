"""No token, key or secret reaches a log line: structlog events and stdlib records alike."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import structlog

from bot.logs import REDACTED, configure_logging
from tests.conftest import make_settings

BOT_TOKEN = "123456789:AAEhBP0av28gSh3v-ZYxCmX_abcdefghijk"
OPENAI_KEY = "sk-proj-3f9c2a7be4d14c0f9a1e"
CLIENT_SECRET = "GOCSPX-9hT2kq_Zr4mXvYp1"
ACCESS = "EAAGm0PX4ZCpsBAKZCe1x"


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level, structlog.get_config()
    path = tmp_path / "socialbot.log"
    settings = make_settings(
        tmp_path,
        TELEGRAM_BOT_TOKEN=BOT_TOKEN,
        OPENAI_API_KEY=OPENAI_KEY,
        YOUTUBE_CLIENT_SECRET=CLIENT_SECRET,
        SECRET_KEY="correct horse battery staple",
    )
    configure_logging(level="DEBUG", file=path, secrets=settings.secret_values())
    yield path
    for handler in root.handlers:
        handler.close()
    root.handlers[:], _, config = saved[0], saved[1], saved[2]
    root.setLevel(saved[1])
    structlog.configure(**config)


async def test_secrets_and_credentials_are_redacted(log_file: Path) -> None:
    log = structlog.get_logger("test")
    log.info("telegram.start", token=BOT_TOKEN, note="using the bot")
    log.warning("openai.call", headers={"Authorization": f"Bearer {OPENAI_KEY}"})
    log.info("db", url="postgresql+asyncpg://bot:hunter2hunter@db.internal:5432/socialbot")
    try:
        raise RuntimeError(f"token exchange failed for client_secret={CLIENT_SECRET}")
    except RuntimeError:
        log.exception("oauth.failed")
    logging.getLogger("telegram.ext").info(
        "calling https://api.telegram.org/bot%s/getUpdates", BOT_TOKEN
    )
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
    async with httpx.AsyncClient(transport=transport) as client:  # httpx logs each request URL
        await client.get(
            "https://graph.facebook.com/v21.0/me/accounts",
            params={"fields": "id,name", "access_token": ACCESS},
        )

    text = log_file.read_text()
    for secret in (BOT_TOKEN, OPENAI_KEY, CLIENT_SECRET, ACCESS, "hunter2hunter"):
        assert secret not in text
    assert text.count(REDACTED) >= 6
    assert "using the bot" in text and "telegram.start" in text  # the rest stays readable
    assert "graph.facebook.com/v21.0/me/accounts" in text and "fields=id" in text
    assert "postgresql+asyncpg://bot:[redacted]@db.internal" in text
