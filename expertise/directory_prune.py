"""``--prune``: professionals a new *full* ``Personne_activite`` extract no longer lists are marked inactive.

They are not deleted: requests, transitions and audit entries reference them by RPPS. An inactive professional is
no longer routed to and their FHIR resources say ``active: false``; one who comes back in a later extract is
reactivated. Only professionals that came from the extract (``source = 'rpps'``) are considered: entries imported
from a FHIR Bundle are not in the extract and are never pruned.

Pruning trusts the file to be complete, so it is refused when the file looks damaged or partial (see
:func:`prune_refusal`). The presence check re-reads the file's identifier column only, in bounded memory
(8 bytes per identifier), and is separate from the import's write path on purpose.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from .extract_reader import open_extract
from .models import Professional
from .qualifications_import import RppsSet
from .rpps_format import HEADER_NAMES, _normal

__all__ = ["PrunePlan", "plan_prune", "apply_prune", "prune_refusal", "has_inactive", "MAX_REJECT_SHARE",
           "MAX_PRUNE_SHARE"]

MAX_REJECT_SHARE = 0.01   # more rejected lines than this share of the file: a damaged or wrong file
MAX_PRUNE_SHARE = 0.10    # pruning more than this share of the active professionals: a partial (regional?) file
_CHUNK = 500


@dataclass(frozen=True)
class PrunePlan:
    """What a prune would change, computed from the file and the database (nothing written)."""

    listed: int                      # distinct RPPS identifiers in the file
    active: int                      # active professionals from the extract in the database
    deactivate: tuple[str, ...]      # active, absent from the file
    reactivate: tuple[str, ...]      # inactive, listed again
    truncated: bool                  # the file's last line is cut short (no end of line, missing fields)

    def summary(self, *, dry_run: bool) -> str:
        verb = "would be " if dry_run else ""
        shown = ", ".join(self.deactivate[:10]) + (", …" if len(self.deactivate) > 10 else "")
        text = (f"prune: {len(self.deactivate)} of {self.active} active professionals {verb}marked inactive "
                "(absent from this extract; kept, not deleted, because requests reference them; no longer routed)")
        if self.deactivate:
            text += f": {shown}"
        if self.reactivate:
            text += f"; {len(self.reactivate)} listed again {verb}reactivated"
        return text


def _identifiers(path: Path) -> tuple[RppsSet, bool]:
    """The RPPS identifiers of every line (rejected ones included: a line with a bad commune still says the
    professional is listed), and whether the last line is truncated."""
    _encoding, header = open_extract(path)
    names = header.rstrip("\r\n").split("|")
    wanted = _normal(HEADER_NAMES["rpps"])
    column = next(i for i, name in enumerate(names) if _normal(name) == wanted)
    width = len(names) - (names[-1].strip() == "")
    found = RppsSet()
    truncated = False
    for raw in _lines(path):
        cells = raw.split(b"|", column + 1)
        if len(cells) > column:
            value = cells[column].strip()
            if len(value) == 11 and value.isdigit():
                found.add(value.decode("ascii"))
        truncated = not raw.endswith(b"\n") and raw.count(b"|") + 1 < width
    return found, truncated


def _lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as stream:
        stream.readline()
        yield from stream


async def plan_prune(engine: AsyncEngine, path: Path) -> PrunePlan:
    """Compare the extract at ``path`` with the directory; :class:`ImportRefused` for an unusable file."""
    listed, truncated = _identifiers(path)
    deactivate: list[str] = []
    reactivate: list[str] = []
    active = 0
    async with engine.connect() as conn:
        result = await conn.stream(select(Professional.rpps, Professional.active)
                                   .where(Professional.source == "rpps").order_by(Professional.rpps)
                                   .execution_options(yield_per=10_000))
        async for rpps, is_active in result:
            present = rpps in listed
            if is_active:
                active += 1
                if not present:
                    deactivate.append(rpps)
            elif present:
                reactivate.append(rpps)
    return PrunePlan(len(listed), active, tuple(deactivate), tuple(reactivate), truncated)


def prune_refusal(plan: PrunePlan, *, lines: int, rejected: int, max_reject_share: float = MAX_REJECT_SHARE,
                  max_prune_share: float = MAX_PRUNE_SHARE) -> str | None:
    """Why pruning with this file is unsafe, or None. A professional is pruned for being *absent*, so a file
    that lost lines (cut download, wrong or regional file, many unreadable lines) would wrongly prune people."""
    if plan.truncated:
        return ("the file's last line is truncated (an interrupted download or copy?): pruning needs the complete "
                "extract")
    if plan.listed == 0:
        return "the file lists no professional"
    if lines and rejected > max_reject_share * lines:
        return (f"{rejected} of {lines} lines were rejected (more than {max_reject_share:.0%}): the file looks "
                "damaged or is not the expected extract; fix it or raise --prune-max-rejects")
    if plan.active and len(plan.deactivate) > max_prune_share * plan.active:
        return (f"it would mark {len(plan.deactivate)} of {plan.active} active professionals inactive (more than "
                f"{max_prune_share:.0%}): is this a partial (e.g. regional) extract? If the drop is real, raise "
                "--prune-max-share")
    return None


async def apply_prune(engine: AsyncEngine, plan: PrunePlan, now: datetime, *, deactivate: bool = True) -> None:
    """Write the plan (reactivations always; deactivations when ``deactivate``), in one transaction."""
    async with engine.begin() as conn:
        if deactivate:
            for chunk in _chunks(plan.deactivate):
                await conn.execute(update(Professional).where(Professional.rpps.in_(chunk), Professional.active)
                                   .values(active=False, inactive_since=now))
        for chunk in _chunks(plan.reactivate):
            await conn.execute(update(Professional).where(Professional.rpps.in_(chunk))
                               .values(active=True, inactive_since=None))


async def has_inactive(engine: AsyncEngine) -> bool:
    """Whether any professional is inactive (only then does a plain import need the reactivation pass)."""
    async with engine.connect() as conn:
        return bool(await conn.scalar(select(exists().where(Professional.active.is_(False)))))


def _chunks(keys: tuple[str, ...]) -> Iterator[list[str]]:
    for start in range(0, len(keys), _CHUNK):
        yield list(keys[start:start + _CHUNK])
