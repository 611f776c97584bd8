"""Import of the two other RPPS extract files: ``PS_LibreAcces_SavoirFaire`` and ``PS_LibreAcces_Dipl_AutExerc``.

Both list, per professional, person-level facts (not tied to a practice site), one per line: the savoir-faire
(specialties, competences, DESC, capacities...) and the diplomas and authorisations to practise. They refer to
professionals of the ``Personne_activite`` file, which must be imported first (a line whose RPPS is not in the
directory is rejected).

The properties of the activity importer hold: columns found by header name, encoding detected, the file streamed in
batches of whole professionals (one transaction each), a professional's list replaced only when it changed
(inserted / updated / unchanged, so a re-import is idempotent), rejected lines in the reject file, dry run, summary.
A professional absent from the file keeps the rows stored earlier (see ``directory_prune`` for absent professionals).
"""

from __future__ import annotations

import logging
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from sqlalchemy import String, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.schema import Table

from .directory_errors import DirectoryError, ImportRefused
from .directory_import import RejectFile, import_summary, refuse_rejects
from .extract_reader import INVALID_TEXT, is_storable_text, refuse_truncated
from .models import Diploma, Professional, SavoirFaire
from .rpps_format import _normal, detect_encoding

__all__ = ["RppsSet", "ListFormat", "SAVOIR_FAIRE", "DIPLOMAS", "ListImportReport", "import_list", "sniff_extract"]

logger = logging.getLogger(__name__)

_IDENTITY = {"id_type": "Type d'identifiant PP", "rpps": "Identifiant PP",
             "national_id": "Identification nationale PP", "family_name": "Nom d'exercice"}


@dataclass(frozen=True)
class ListFormat:
    """One of the person-level extract files: header names of the stored fields, which are required, the table."""

    kind: str                      # the --format name
    file_name: str                 # the published file's prefix, for messages
    rows_label: str                # for the summary: "savoir-faire rows"
    fields: dict[str, str]         # stored field → header name, in the table's column order
    required: tuple[str, ...]      # fields that must be present in the header and non-empty on a line
    table: Table
    keyed: bool                    # rows have a natural key (savoir-faire: type + code); diplomas are a list

    def header_names(self) -> dict[str, str]:
        return {**_IDENTITY, **self.fields}


SAVOIR_FAIRE = ListFormat(
    kind="savoirfaire", file_name="PS_LibreAcces_SavoirFaire", rows_label="savoir-faire rows",
    fields={"type_code": "Code type savoir-faire", "code": "Code savoir-faire",
            "type_label": "Libellé type savoir-faire", "label": "Libellé savoir-faire"},
    required=("type_code", "code"), table=SavoirFaire.__table__, keyed=True)  # type: ignore[arg-type]

DIPLOMAS = ListFormat(
    kind="diplomas", file_name="PS_LibreAcces_Dipl_AutExerc", rows_label="diploma/authorisation rows",
    fields={"diploma_type_code": "Code type diplôme obtenu", "diploma_type": "Libellé type diplôme obtenu",
            "diploma_code": "Code diplôme obtenu", "diploma": "Libellé diplôme obtenu",
            "authorisation_type_code": "Code type autorisation", "authorisation_type": "Libellé type autorisation",
            "discipline_code": "Code discipline autorisation", "discipline": "Libellé discipline autorisation"},
    required=(), table=Diploma.__table__, keyed=False)  # type: ignore[arg-type]

_FORMATS = (SAVOIR_FAIRE, DIPLOMAS)


def sniff_extract(path: Path) -> str:
    """``savoirfaire``, ``diplomas`` or ``rpps`` (activities), from the header row's column names."""
    with path.open("rb") as stream:
        first = stream.readline(1 << 16)
    try:
        names = {_normal(n) for n in first.decode(detect_encoding(first)).rstrip("\r\n").split("|")}
    except (UnicodeDecodeError, ImportRefused):
        return "rpps"  # let the activity importer explain what is wrong with the file
    if _normal("Code commune (coord. structure)") in names:
        return "rpps"
    for fmt in _FORMATS:
        if _normal(fmt.fields[next(iter(fmt.fields))]) in names:
            return fmt.kind
    return "rpps"


@dataclass(frozen=True)
class ListImportReport:
    source: str
    encoding: str
    lines: int
    inserted: int      # professionals who had no row before
    updated: int       # professionals whose rows changed
    unchanged: int
    rejected: int
    rows: int          # rows written (or that would be)
    rows_label: str
    dry_run: bool

    def summary(self) -> str:
        return import_summary(self, self.rows, self.rows_label)


class _Header:
    def __init__(self, text: str, fmt: ListFormat) -> None:
        names = text.rstrip("\r\n").split("|")
        if names and names[-1].strip() == "":
            names.pop()  # trailing "|" on every line
        self.width = len(names)
        positions: dict[str, int] = {}
        for index, name in enumerate(names):
            positions.setdefault(_normal(name), index)
        wanted = fmt.header_names()
        found = {f: positions.get(_normal(h)) for f, h in wanted.items()}
        missing = [wanted[f] for f in ("rpps", *fmt.required) if found[f] is None]
        if missing:
            raise ImportRefused("the header lacks required column(s): " + ", ".join(repr(m) for m in missing)
                                + f"; is this a {fmt.file_name} file?")
        self.positions = found
        self.fields = tuple(fmt.fields)
        self.required = fmt.required
        # Every list column is a String: its length bounds the cell.
        self.limits = {f: cast(String, fmt.table.c[f].type).length or 0 for f in fmt.fields}


@dataclass(frozen=True)
class _Line:
    number: int
    rpps: str
    family_name: str
    row: tuple[str, ...]  # the stored fields, in ``fmt.fields`` order


def _parse(header: _Header, number: int, text: str, complete: bool) -> _Line | str:
    """A valid line, or the reason it is rejected."""
    parts = text.split("|")
    if len(parts) == header.width + 1 and parts[-1] == "":
        parts.pop()
    if len(parts) != header.width:
        if not complete and len(parts) < header.width:
            return f"truncated last line: {len(parts)} of {header.width} fields, no end of line"
        return f"expected {header.width} fields, found {len(parts)}"

    def cell(name: str) -> str:
        at = header.positions.get(name)
        return parts[at].strip() if at is not None else ""

    id_type, rpps, national_id = cell("id_type"), cell("rpps"), cell("national_id")
    if id_type and id_type != "8":
        return f"identifier type {id_type!r} is not RPPS (8); only RPPS professionals are kept"
    if len(rpps) != 11 or not rpps.isdigit():
        return f"RPPS identifier must be 11 digits, got {len(rpps)} character(s)"
    if national_id and national_id != "8" + rpps:
        return "national identifier does not match the RPPS identifier"
    row = tuple(cell(f) for f in header.fields)
    for name, value in zip(header.fields, row, strict=True):
        if len(value) > header.limits[name]:
            return f"{name} is longer than {header.limits[name]} characters"
    for name in header.required:
        if not row[header.fields.index(name)]:
            return f"empty {name!r}"
    if not any(row):
        return "no diploma, authorisation or savoir-faire on the line"
    return _Line(number, rpps, cell("family_name"), row)


@dataclass
class _Group:
    rpps: str
    first_line: int
    continuation: bool
    rows: list[tuple[str, ...]] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # 'Nom d'exercice' of each line, checked against the directory


class RppsSet:
    """RPPS identifiers already handled in this run, 8 bytes each (the file is sorted; a set for the rest)."""

    def __init__(self) -> None:
        self._sorted = array("q")
        self._extra: set[int] = set()

    def __len__(self) -> int:
        return len(self._sorted) + len(self._extra)

    def add(self, rpps: str) -> None:
        value = int(rpps)
        if not self._sorted or value > self._sorted[-1]:
            self._sorted.append(value)
        elif rpps not in self:
            self._extra.add(value)

    def __contains__(self, rpps: object) -> bool:
        value = int(str(rpps))
        at = bisect_left(self._sorted, value)
        return (at < len(self._sorted) and self._sorted[at] == value) or value in self._extra


@dataclass
class _Counts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rows: int = 0


class _LineReader:
    """Valid lines of the file, streamed; invalid ones go to the reject file. ``last`` is the last line number."""

    def __init__(self, path: Path, encoding: str, header: _Header, rejects: RejectFile) -> None:
        self._path, self._encoding, self._header, self._rejects = path, encoding, header, rejects
        self.last = 1
        self.nbytes = 0  # read since the last call of :meth:`take_bytes`

    def take_bytes(self) -> int:
        taken, self.nbytes = self.nbytes, 0
        return taken

    def __iter__(self) -> Iterator[_Line]:
        encoding = self._encoding
        with self._path.open("rb") as stream:
            self.nbytes += len(stream.readline())
            for number, raw in enumerate(stream, start=2):
                self.last = number
                self.nbytes += len(raw)
                complete = raw.endswith(b"\n")
                try:
                    text = raw.decode(encoding).rstrip("\r\n")
                except UnicodeDecodeError:
                    self._rejects.write(number, f"not valid {encoding} (the encoding detected from the file's start)",
                                        raw.decode("latin-1").rstrip("\r\n"))
                    continue
                if not is_storable_text(text):
                    self._rejects.write(number, INVALID_TEXT, raw.decode("latin-1").rstrip("\r\n"))
                    continue
                if not text.strip():
                    continue
                parsed = _parse(self._header, number, text, complete)
                if isinstance(parsed, str):
                    self._rejects.write(number, parsed, text)
                else:
                    yield parsed


def open_list(path: Path, fmt: ListFormat) -> tuple[str, _Header]:
    with path.open("rb") as stream:
        sample = stream.read(1 << 20)
    encoding = detect_encoding(sample)
    try:
        text = sample.split(b"\n", 1)[0].decode(encoding)
    except UnicodeDecodeError as exc:
        raise ImportRefused(f"the header row is not valid {encoding}") from exc
    return encoding, _Header(text, fmt)


async def import_list(engine: AsyncEngine, path: Path, fmt: ListFormat, *, rejects: RejectFile,
                      dry_run: bool = False, batch_lines: int = 5000,
                      progress: Callable[[int], None] | None = None, atomic: bool = False,
                      accept_truncated: bool = False) -> ListImportReport:
    """Import ``path`` (a ``fmt`` file) for the professionals already in the directory.

    :raises ImportRefused: wrong encoding or header, a truncated file (unless ``accept_truncated``), or with
        ``atomic`` any rejected line; nothing is written then.
    :raises DirectoryError: a batch failed to write; earlier batches stay committed (re-running is idempotent),
        except with ``atomic`` (one transaction).
    """
    encoding, header = open_list(path, fmt)
    if not accept_truncated:
        refuse_truncated(path, header.width)
    commit = not atomic
    counts, seen = _Counts(), RppsSet()
    batch: dict[str, _Group] = {}
    size = 0
    lines = _LineReader(path, encoding, header, rejects)
    async with engine.connect() as conn:
        for line in lines:
            group = batch.get(line.rpps)
            if group is None:
                if size >= batch_lines:
                    await _flush(conn, fmt, batch, counts, seen, rejects, dry_run, commit)
                    batch, size = {}, 0
                    if progress is not None:
                        progress(lines.take_bytes())
                group = batch[line.rpps] = _Group(line.rpps, line.number, line.rpps in seen)
            group.rows.append(line.row)
            group.numbers.append(line.number)
            group.names.append(line.family_name)
            size += 1
        await _flush(conn, fmt, batch, counts, seen, rejects, dry_run, commit)
        if progress is not None:
            progress(lines.take_bytes())
        if atomic:
            if rejects.count:
                await conn.rollback()
                raise refuse_rejects(rejects.count)
            await conn.commit()
    return ListImportReport(fmt.kind, encoding, lines.last - 1, counts.inserted, counts.updated, counts.unchanged,
                            rejects.count, counts.rows, fmt.rows_label, dry_run)


def _drop_duplicates(fmt: ListFormat, group: _Group, rejects: RejectFile) -> None:
    first: dict[tuple[str, ...], int] = {}
    rows, numbers = [], []
    for row, number in zip(group.rows, group.numbers, strict=True):
        key = _key(fmt, row)
        if key in first:
            rejects.write(number, f"duplicate line: same RPPS and {fmt.rows_label[:-5]} as line {first[key]}",
                          "|".join(row))
            continue
        first[key] = number
        rows.append(row)
        numbers.append(number)
    group.rows, group.numbers = rows, numbers


def _key(fmt: ListFormat, row: tuple[str, ...]) -> tuple[str, ...]:
    """Savoir-faire rows are keyed by (type, code), the table's primary key; diploma rows by their whole content."""
    return row[:2] if fmt.keyed else row


_CHUNK = 500


def _chunks(keys: list[str]) -> Iterator[list[str]]:
    """Fixed-size IN lists (padded with an impossible key): one statement shape for the drivers' caches."""
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start:start + _CHUNK]
        yield chunk + [""] * (_CHUNK - len(chunk))


async def _flush(conn: AsyncConnection, fmt: ListFormat, batch: dict[str, _Group], counts: _Counts, seen: RppsSet,
                 rejects: RejectFile, dry_run: bool, commit: bool = True) -> None:
    if not batch:
        return
    keys = list(batch)
    table = fmt.table
    columns = [table.c[f] for f in fmt.fields]
    known: dict[str, str] = {}
    stored: dict[str, list[tuple[str, ...]]] = {}
    for chunk in _chunks(keys):
        known.update((await conn.execute(select(Professional.rpps, Professional.family_name)
                                         .where(Professional.rpps.in_(chunk)))).all())
        order = [table.c.rpps, *([table.c.position] if "position" in table.c else columns)]
        for rpps, *values in (await conn.execute(select(table.c.rpps, *columns).where(table.c.rpps.in_(chunk))
                                                 .order_by(*order))).all():
            stored.setdefault(rpps, []).append(tuple(v or "" for v in values))
    inserts: list[dict[str, Any]] = []
    replace: list[str] = []
    for rpps, group in batch.items():
        seen.add(rpps)
        name = known.get(rpps)
        if name is None:
            for number, row in zip(group.numbers, group.rows, strict=True):
                rejects.write(number, f"RPPS {rpps} is not in the directory: import the "
                                      "PS_LibreAcces_Personne_activite file first", "|".join(row))
            continue
        if any(n and n != name for n in group.names):
            # A line naming somebody else under this RPPS is a wrong identifier: it is not attached to them.
            kept = [i for i, n in enumerate(group.names) if not n or n == name]
            for i in set(range(len(group.rows))) - set(kept):
                rejects.write(group.numbers[i], f"'Nom d'exercice' {group.names[i]!r} differs from the directory "
                                                f"entry of RPPS {rpps}", "|".join(group.rows[i]))
            group.rows = [group.rows[i] for i in kept]
            group.numbers = [group.numbers[i] for i in kept]
        _drop_duplicates(fmt, group, rejects)
        if not group.rows:
            continue
        before = stored.get(rpps, [])
        if group.continuation:
            # Lines of a professional split apart in the file: add what is not stored yet.
            held = {_key(fmt, r) for r in before}
            rows = [r for r in group.rows if _key(fmt, r) not in held]
            start = len(before)
        else:
            same = sorted(before) == sorted(group.rows) if fmt.keyed else before == group.rows
            if same:
                counts.unchanged += 1
                continue
            if before:
                counts.updated += 1
                replace.append(rpps)
            else:
                counts.inserted += 1
            rows, start = group.rows, 0
        for offset, row in enumerate(rows):
            record: dict[str, Any] = {"rpps": rpps, **dict(zip(fmt.fields, row, strict=True))}
            if not fmt.keyed:
                record["position"] = start + offset
            inserts.append(record)
    counts.rows += len(inserts)
    if dry_run:
        await conn.rollback()
        return
    try:
        for chunk in _chunks(replace):
            await conn.execute(delete(table).where(table.c.rpps.in_(chunk)))
        if inserts:
            await conn.execute(insert(table), inserts)
        if commit:
            await conn.commit()
    except Exception as exc:
        await conn.rollback()
        first = min(g.first_line for g in batch.values())
        logger.exception("%s import batch from line %d failed", fmt.kind, first)
        raise DirectoryError(f"writing the batch that starts at line {first} failed ({type(exc).__name__}); "
                             "earlier batches are committed and a re-run resumes idempotently") from exc
