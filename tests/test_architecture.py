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


# --- server layout (issue #10) ---
SERVER = ROOT / "server"
COMPOSITION_ROOT = {"__init__", "__main__", "app", "cli", "config", "keys"}


def server_imports(path: Path) -> set[str]:
    """Absolute names of the server modules and packages that ``path`` imports (relative imports resolved)."""
    package = path.relative_to(ROOT).with_suffix("").parts
    package = package if path.name == "__init__.py" else package[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            base = ".".join(package[:len(package) - node.level + 1]) if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            found |= {module} | {f"{module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {name for name in found if name.startswith("server.") or name == "server"}


def subpackage_graph() -> dict[str, set[str]]:
    subpackages = {p.name for p in SERVER.iterdir() if (p / "__init__.py").is_file()}
    graph: dict[str, set[str]] = {name: set() for name in subpackages}
    for name in subpackages:
        for path in (SERVER / name).rglob("*.py"):
            for imported in server_imports(path):
                parts = imported.split(".")
                if len(parts) > 1 and parts[1] in subpackages and parts[1] != name:
                    graph[name].add(parts[1])
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return []

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return []


def test_server_subpackages_import_each_other_without_circles() -> None:
    graph = subpackage_graph()
    assert len(graph) >= 2
    assert find_cycle(graph) == []


def test_top_level_server_is_only_the_composition_root() -> None:
    modules = {p.stem for p in SERVER.glob("*.py")}
    assert modules == COMPOSITION_ROOT
    strays = [p.name for p in SERVER.iterdir() if p.is_dir() and p.name != "__pycache__"
              and not (p / "__init__.py").is_file()]
    assert strays == []


def test_every_server_subpackage_says_what_it_is() -> None:
    for init in SERVER.glob("*/__init__.py"):
        assert ast.get_docstring(ast.parse(init.read_text())), init
