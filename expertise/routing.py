"""Choosing the specialist a request is offered to. Pure: the caller supplies candidates and their loads.

Order: territory proximity first (same commune, département, neighbour, region, national), then whether the
specialist speaks the patient's language, then how full they are (open requests / capacity), then the RPPS
number so the choice is deterministic. Full specialists, excluded ones (already offered this request, or the
requester themself) are skipped.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from .request_ports import CandidateLike

__all__ = ["RankedCandidate", "rank_candidates"]


@dataclass(frozen=True)
class RankedCandidate:
    rpps: str
    name: str
    proximity: int
    load: int
    capacity: int
    speaks_language: bool


def rank_candidates(candidates: Sequence[CandidateLike], loads: Mapping[str, int], *, language: str | None,
                    exclude: Collection[str] = ()) -> list[RankedCandidate]:
    ranked: list[RankedCandidate] = []
    seen: set[str] = set()
    for candidate in candidates:
        if candidate.rpps in exclude or candidate.rpps in seen:
            continue
        seen.add(candidate.rpps)
        load = loads.get(candidate.rpps, 0)
        if candidate.capacity <= 0 or load >= candidate.capacity:
            continue
        speaks = language is None or language in candidate.languages
        ranked.append(RankedCandidate(candidate.rpps, candidate.name, candidate.proximity, load,
                                      candidate.capacity, speaks))
    ranked.sort(key=lambda c: (c.proximity, not c.speaks_language, c.load / c.capacity, c.rpps))
    return ranked
