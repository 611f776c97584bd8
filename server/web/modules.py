"""The pages' ES module graphs, so that a page asks for every module it needs at once.

Without help a browser discovers a module's imports only after fetching and parsing it: the patient page's
modules came in three sequential rounds (visit.js, then call.js and its siblings, then boot.js), each over new
HTTP/1.1 connections, which cost the join a few hundred milliseconds on a slow phone or machine. Listing the
whole graph as ``<link rel="modulepreload">`` next to the entry script lets the preload scanner fetch all of it in
one round. Only a hint: the browser still follows the real imports, so a stale list costs time, never
correctness.
"""

from __future__ import annotations

import re
from pathlib import Path

from markupsafe import Markup, escape

__all__ = ["ModuleGraph"]

# Static relative imports of our own modules: `import {a, b} from './x.js'`, `export {c} from './y.js'`,
# `import './z.js'`. The pages use no dynamic import and no bare specifiers.
_IMPORT = re.compile(r"""^\s*(?:import|export)\b[^'";]*?['"](\./[\w.-]+\.js)['"]""", re.MULTILINE)


class ModuleGraph:
    """Module dependency closure of the scripts in one directory, each file read once."""

    def __init__(self, directory: Path, url_prefix: str) -> None:
        self._directory = directory
        self._prefix = url_prefix
        self._imports: dict[str, tuple[str, ...]] = {}

    def dependencies(self, entry: str) -> list[str]:
        """Every module ``entry`` imports, directly or not, breadth first (nearest first), without ``entry``."""
        seen, order, queue = {entry}, [], [entry]
        while queue:
            for name in self._direct(queue.pop(0)):
                if name not in seen:
                    seen.add(name)
                    order.append(name)
                    queue.append(name)
        return order

    def script_tags(self, entry: str) -> Markup:
        """The entry's ``<script type="module">`` preceded by a modulepreload link for each dependency."""
        links = [f'<link rel="modulepreload" href="{escape(self._prefix + name)}">'
                 for name in self.dependencies(entry)]
        script = f'<script type="module" src="{escape(self._prefix + entry)}"></script>'
        return Markup("\n".join([*links, script]))

    def _direct(self, name: str) -> tuple[str, ...]:
        if name not in self._imports:
            path = self._directory / name
            source = path.read_text(encoding="utf-8") if path.is_file() else ""
            self._imports[name] = tuple(dict.fromkeys(match.removeprefix("./") for match in _IMPORT.findall(source)))
        return self._imports[name]
