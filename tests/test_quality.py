"""The linter and the type checker pass on the whole code base, with the configuration in pyproject.toml.

Both run as subprocesses of the test interpreter (so the venv's ruff and mypy), from the repository root where
their configuration lives. mypy is incremental: a run after the first reuses ``.mypy_cache`` and takes well under
a second; a cold run (a fresh CI checkout) takes about 15 s.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["server", "signaling", "media", "expertise"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=110,
                          check=False)


def test_ruff_check_is_clean() -> None:
    result = _run("ruff", "check", *PACKAGES)
    assert result.returncode == 0, f"ruff check found problems:\n{result.stdout}{result.stderr}"


def test_mypy_strict_is_clean() -> None:
    # The packages and the strictness come from [tool.mypy] in pyproject.toml.
    result = _run("mypy")
    assert result.returncode == 0, f"mypy found problems:\n{result.stdout}{result.stderr}"
