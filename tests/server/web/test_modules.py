"""Module preloading: a page lists its whole ES module graph, so the browser fetches it in one round."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from server.web.modules import ModuleGraph
from tests.fakes import Browser, join_as_patient, make_user, new_consultation


def _write(directory: Path, files: dict[str, str]) -> None:
    for name, source in files.items():
        (directory / name).write_text(source, encoding="utf-8")


def test_dependencies_are_the_transitive_imports_nearest_first(tmp_path: Path) -> None:
    _write(tmp_path, {
        "page.js": "import { a } from './a.js';\nimport {\n  b,\n  c,\n} from \"./b.js\";\nimport './side.js';\n",
        "a.js": "export { deep } from './deep.js';\nexport const a = 1; // not an import: from './no.js'\n",
        "b.js": "import { a } from './a.js';\nimport { page } from './page.js';\nexport const b = 2, c = 3;\n",
        "deep.js": "export const deep = 4;\n",
        "side.js": "window.side = true;\n",
    })
    graph = ModuleGraph(tmp_path, "/static/js/")
    assert graph.dependencies("page.js") == ["a.js", "b.js", "side.js", "deep.js"]
    assert graph.dependencies("deep.js") == []
    assert graph.dependencies("missing.js") == []


def test_script_tags_preload_every_dependency_before_the_entry(tmp_path: Path) -> None:
    _write(tmp_path, {"page.js": "import { a } from './a.js';\n", "a.js": "export const a = 1;\n"})
    tags = str(ModuleGraph(tmp_path, "/static/js/").script_tags("page.js"))
    assert tags.splitlines() == [
        '<link rel="modulepreload" href="/static/js/a.js">',
        '<script type="module" src="/static/js/page.js"></script>',
    ]


async def test_patient_page_preloads_its_whole_module_graph(live_server: Any) -> None:
    await make_user(live_server)
    async with Browser(live_server) as doctor:
        assert (await doctor.login()).status == 303
        created = await new_consultation(doctor)
    patient = await join_as_patient(live_server, created["link"]["url"])
    try:
        html = await (await patient.session.get("/visit")).text()
        preloaded = re.findall(r'<link rel="modulepreload" href="(/static/js/[\w.-]+)">', html)
        # call.js is imported by visit.js, relay.js by call.js, boot.js by i18n.js: three levels deep.
        assert {"/static/js/call.js", "/static/js/relay.js", "/static/js/boot.js"} <= set(preloaded)
        assert html.index('rel="modulepreload"') < html.index('src="/static/js/visit.js"')
        for href in preloaded:  # every hint names a module the server really serves
            response = await patient.session.get(href)
            assert response.status == 200 and "javascript" in response.content_type
    finally:
        await patient.session.close()
