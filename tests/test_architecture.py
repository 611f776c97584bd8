"""The package boundaries from STYLE.md, checked on the source: domains never import each other or the host,
and the host uses only a domain's public names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "signaling": {"server", "media", "expertise", "aiortc", "sqlalchemy", "aiohttp"},
    "media": {"server", "signaling", "expertise", "socketio"},
    "expertise": {"server", "signaling", "media", "aiohttp", "socketio"},
}
DOMAINS = set(FORBIDDEN)


def imports(path: Path) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, node.lineno))
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_domain_packages_stay_independent(package: str) -> None:
    offences = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in (ROOT / package).rglob("*.py")
        for name, line in imports(path)
        if name.split(".")[0] in FORBIDDEN[package]
    ]
    assert offences == []


def test_server_uses_only_public_domain_names() -> None:
    offences = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in (ROOT / "server").rglob("*.py")
        for name, line in imports(path)
        if name.split(".")[0] in DOMAINS and "." in name
    ]
    assert offences == []
