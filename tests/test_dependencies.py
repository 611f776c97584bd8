"""The CVE floor (../shared/research/reliability-security.md §2): pyproject.toml's lower bounds reach it, and the
installed versions satisfy pyproject.toml.

pip-audit cannot reach its vulnerability data from these machines (it then skips every package and still prints
"No known vulnerabilities found"), so the floor is kept here, with the advisory that set each version.
"""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]

# package -> (first fixed version, the advisories that set it)
CVE_FLOOR: dict[str, tuple[str, str]] = {
    "aiohttp": ("3.14.1", "PYSEC-2026-2111, CVE-2026-22815/34516/34517, CVE-2025-69223..69229"),
    "python-engineio": ("4.13.3", "CVE-2026-48802, CVE-2026-48809"),
    "python-socketio": ("5.16.4", "CVE-2026-48804, CVE-2025-61765"),
    "aiortc": ("1.15.0", "parser hardening, SCTP"),
    "jinja2": ("3.1.6", "CVE-2025-27516"),
}


def _requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found = {}
    for line in project["dependencies"]:
        requirement = Requirement(line)
        found[requirement.name.lower()] = requirement
    return found


def _lower_bound(requirement: Requirement) -> Version | None:
    bounds = [Version(spec.version) for spec in requirement.specifier if spec.operator in (">=", "==", "~=")]
    return max(bounds) if bounds else None


@pytest.mark.parametrize("package", sorted(CVE_FLOOR))
def test_pyproject_lower_bound_reaches_the_cve_floor(package: str) -> None:
    floor, advisories = CVE_FLOOR[package]
    requirement = _requirements().get(package)
    assert requirement is not None, f"{package} is not a declared dependency"
    bound = _lower_bound(requirement)
    assert bound is not None and bound >= Version(floor), (
        f"{package}: lower bound {bound} is under the CVE floor {floor} ({advisories})")


@pytest.mark.parametrize("package", sorted(CVE_FLOOR))
def test_installed_version_is_at_or_above_the_cve_floor(package: str) -> None:
    floor, advisories = CVE_FLOOR[package]
    installed = Version(metadata.version(package))
    assert installed >= Version(floor), f"{package} {installed} is under {floor} ({advisories})"


def test_installed_versions_satisfy_pyproject() -> None:
    unmet = []
    for name, requirement in _requirements().items():
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        installed = metadata.version(name)
        if not requirement.specifier.contains(installed, prereleases=True):
            unmet.append(f"{name} {installed} does not satisfy {requirement.specifier}")
    assert unmet == []
