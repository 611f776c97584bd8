"""Real Chromium (Debian's) driven by Playwright, inside network namespaces the tests create."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI
from tests.e2e.lab import CHROMIUM_FLAGS, Lab, LabServer, lab_available

pytestmark = pytest.mark.browser


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    reason = lab_available()
    if reason:
        if IN_CI:
            pytest.fail(f"browser tests must run in CI: {reason}")
        pytest.skip(reason)
    lab = Lab(f"lcn{os.getpid() % 100000}", tmp_path)
    lab.down()
    lab.up()
    try:
        yield lab
    finally:
        lab.down()


@pytest.fixture
def lab_server(lab: Lab) -> Iterator[LabServer]:
    server = LabServer(lab)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def browsers(lab: Lab) -> AsyncIterator[dict[str, Any]]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        practitioner = await playwright.chromium.launch(executable_path=str(lab.wrappers[lab.srv]),
                                                        args=CHROMIUM_FLAGS)
        patient = await playwright.chromium.launch(executable_path=str(lab.wrappers[lab.pat]), args=CHROMIUM_FLAGS)
        try:
            yield {"playwright": playwright, "practitioner": practitioner, "patient": patient}
        finally:
            await practitioner.close()
            await patient.close()
