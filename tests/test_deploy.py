"""docker-compose.yml and the Dockerfile name only settings and commands that exist.

No Docker engine runs here, so the compose file is not started; these checks catch the
drift that would break it (a renamed setting, a removed command, a service left out).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from bot.cli import _parser
from services.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_compose_runs_bot_workers_and_their_services() -> None:
    services = compose()["services"]
    assert {"bot", "worker", "migrate", "redis", "postgres", "minio"} <= set(services)
    for name in ("bot", "worker", "migrate"):
        command = services[name]["command"]
        assert _parser().parse_args(command).command == name
    assert services["worker"]["deploy"]["replicas"] >= 2


def test_compose_sets_only_real_settings() -> None:
    names = {f.alias for f in Settings.model_fields.values()}
    for name in ("bot", "worker", "migrate"):
        environment = compose()["services"][name]["environment"]
        assert set(environment) <= names, set(environment) - names
        assert environment["S3_ENDPOINT_URL"] == "http://minio:9000"
        assert environment["DATABASE_URL"].startswith("postgresql+asyncpg://")
        values = {k: _defaults(str(v)) for k, v in environment.items()}
        Settings(_env_file=None, **values)  # type: ignore[arg-type]


def _defaults(value: str) -> str:
    """Compose's `${NAME:-default}` as the default it falls back to."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def test_the_image_copies_every_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\w+) ", dockerfile, re.MULTILINE))
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert packages <= copied, packages - copied
