"""The layers: bot → handlers → services, and chat libraries only in bot/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "services": {"bot", "handlers", "telegram", "discord"},
    "handlers": {"bot", "telegram", "discord"},
    "bot": set(),
}


def imported_roots(path: Path) -> set[str]:
    """Top-level package names a module imports (absolute imports only)."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_downwards(layer: str) -> None:
    files = sorted((ROOT / layer).rglob("*.py"))
    assert files, f"no modules in {layer}/"
    offenders = {
        str(f.relative_to(ROOT)): sorted(imported_roots(f) & FORBIDDEN[layer]) for f in files
    }
    assert {f: bad for f, bad in offenders.items() if bad} == {}


def test_checker_sees_violations(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import telegram.ext\nfrom handlers.router import handle\nfrom . import x\n")
    assert imported_roots(module) == {"telegram", "handlers"}
