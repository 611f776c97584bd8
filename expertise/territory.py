"""French territory reference: INSEE commune code → département → region, and neighbouring départements.

The table ships in ``expertise/data/territory.json`` (no run-time download). Proximity levels, used to rank
specialists: 0 same commune, 1 same département, 2 neighbouring département, 3 same region, 4 national.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = ["Territory", "territory", "departement_of", "SAME_COMMUNE", "SAME_DEPARTEMENT", "NEIGHBOUR",
           "SAME_REGION", "NATIONAL"]

SAME_COMMUNE, SAME_DEPARTEMENT, NEIGHBOUR, SAME_REGION, NATIONAL = range(5)


def departement_of(commune: str) -> str | None:
    """Département of an INSEE commune code: 2 characters (2A/2B for Corsica), 3 for overseas (97x)."""
    code = commune.strip().upper()
    if len(code) != 5:
        return None
    if code.startswith("97"):
        return code[:3]
    if code[:2] in ("2A", "2B") or code[:2].isdigit():
        return code[:2] if code[:2] != "20" else None  # "20" never appears since 1976: Corsica is 2A/2B
    return None


@dataclass(frozen=True)
class Territory:
    regions: dict[str, str]                   # region code → name
    region_of: dict[str, str]                 # département → region code
    names: dict[str, str]                     # département → name
    neighbours: dict[str, frozenset[str]]     # département → neighbouring départements

    def region_departements(self, region: str) -> frozenset[str]:
        return frozenset(d for d, r in self.region_of.items() if r == region)

    def proximity(self, origin_commune: str | None, commune: str | None, departement: str | None) -> int:
        """Proximity level of a practice (``commune``/``departement``) seen from ``origin_commune``."""
        origin_dep = departement_of(origin_commune) if origin_commune else None
        if origin_dep is None:
            return NATIONAL
        if commune is not None and commune == origin_commune:
            return SAME_COMMUNE
        dep = departement or (departement_of(commune) if commune else None)
        if dep is None:
            return NATIONAL
        if dep == origin_dep:
            return SAME_DEPARTEMENT
        if dep in self.neighbours.get(origin_dep, frozenset()):
            return NEIGHBOUR
        region = self.region_of.get(origin_dep)
        if region is not None and self.region_of.get(dep) == region:
            return SAME_REGION
        return NATIONAL


@cache
def territory() -> Territory:
    """The shipped reference table (read once; immutable)."""
    raw = json.loads(resources.files(__package__).joinpath("data/territory.json").read_text("utf-8"))
    deps = raw["departements"]
    return Territory(
        regions=dict(raw["regions"]),
        region_of={d: v["region"] for d, v in deps.items()},
        names={d: v["name"] for d, v in deps.items()},
        neighbours={d: frozenset(v["neighbours"]) for d, v in deps.items()},
    )
