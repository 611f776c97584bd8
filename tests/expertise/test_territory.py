"""The shipped territory reference table."""

from __future__ import annotations

import pytest

from expertise import departement_of, territory
from expertise.territory import NATIONAL, NEIGHBOUR, SAME_COMMUNE, SAME_DEPARTEMENT, SAME_REGION


def test_every_departement_has_a_known_region_and_metropolitan_ones_have_neighbours() -> None:
    places = territory()
    assert len([d for d in places.region_of if not d.startswith("97")]) == 96
    assert {"971", "972", "973", "974", "976"} <= set(places.region_of)
    for dep, region in places.region_of.items():
        assert region in places.regions, dep
        if not dep.startswith("97"):
            assert places.neighbours[dep], dep
    assert len({r for d, r in places.region_of.items() if not d.startswith("97")}) == 13


def test_neighbours_are_symmetric_and_real_departements() -> None:
    places = territory()
    for dep, around in places.neighbours.items():
        assert dep not in around
        for other in around:
            assert other in places.region_of, (dep, other)
            assert dep in places.neighbours[other], (dep, other)


@pytest.mark.parametrize(("commune", "expected"), [
    ("75056", "75"), ("2A004", "2A"), ("2b033", "2B"), ("97411", "974"), ("97608", "976"), ("01053", "01"),
    ("20004", None), ("7505", None), ("", None), ("AB123", None),
])
def test_departement_of_commune(commune: str, expected: str | None) -> None:
    assert departement_of(commune) == expected


def test_proximity_levels() -> None:
    places = territory()
    lyon = "69123"
    assert places.proximity(lyon, "69123", "69") == SAME_COMMUNE
    assert places.proximity(lyon, "69266", "69") == SAME_DEPARTEMENT
    assert places.proximity(lyon, "38185", "38") == NEIGHBOUR
    assert places.proximity(lyon, "63113", "63") == SAME_REGION  # Clermont-Ferrand: same region, not adjacent
    assert places.proximity(lyon, "75056", "75") == NATIONAL
    assert places.proximity(None, "75056", "75") == NATIONAL
    assert places.proximity("2A004", "2B033", "2B") == NEIGHBOUR


@pytest.mark.parametrize(("one", "other", "adjacent"), [
    # Short land borders that are easy to miss, and pairs separated only by water or by a third département.
    ("59", "80", True), ("07", "84", True), ("77", "95", True), ("54", "67", True), ("83", "84", True),
    ("01", "73", True), ("12", "15", True),
    ("14", "76", False),   # the Seine estuary, no land border
    ("55", "57", False),   # Meurthe-et-Moselle's northern strip runs between them
    ("75", "91", False), ("13", "07", False), ("2A", "06", False),
])
def test_tricky_neighbour_pairs(one: str, other: str, adjacent: bool) -> None:
    assert (other in territory().neighbours[one]) is adjacent
