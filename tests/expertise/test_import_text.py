"""A directory import line holding text that cannot be stored (a lone surrogate, as only a faulty decoder makes,
or a NUL) is a reject with its line number; the other lines import."""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import expertise.extract_reader as extract_reader
from tests.expertise.test_fhir_import import BUNDLE
from tests.expertise.test_fhir_import import run as run_fhir
from tests.expertise.test_import import SAMPLE, expected, run, stored

BROKEN = "lucarne_broken_utf8"


def _lookup(name: str) -> codecs.CodecInfo | None:
    if name != BROKEN:
        return None
    utf8 = codecs.lookup("utf-8")
    # A decoder that lets bad bytes through as lone surrogates instead of failing.
    return codecs.CodecInfo(utf8.encode, lambda data, errors="strict": utf8.decode(data, "surrogateescape"),
                            name=BROKEN)


@pytest.fixture
def broken_decoder() -> Iterator[str]:
    codecs.register(_lookup)
    try:
        yield BROKEN
    finally:
        codecs.unregister(_lookup)


def _with_bad_byte(tmp_path: Path) -> Path:
    raw = SAMPLE.read_bytes().split(b"\n")
    raw[3] = raw[3].replace(b"|Commune ", b"|Commune \xff", 1)
    raw[5] = raw[5].replace(b"|Commune ", b"|Commune \x00", 1)
    path = tmp_path / "broken.txt"
    path.write_bytes(b"\n".join(raw))
    return path


def test_the_reader_rejects_a_lone_surrogate_with_its_line_number(tmp_path: Path, broken_decoder: str) -> None:
    path = _with_bad_byte(tmp_path)
    header = path.read_bytes().split(b"\n", 1)[0].decode("utf-8")
    chunks = list(extract_reader.parse_chunks(path, broken_decoder, header, 1000))
    rejected = [(number, reason) for chunk in chunks for number, reason, _ in chunk.rejected]
    assert rejected == [(4, extract_reader.INVALID_TEXT), (6, extract_reader.INVALID_TEXT)]
    assert sum(len(chunk.lines) for chunk in chunks) == len(header and path.read_bytes().splitlines()) - 3


async def test_an_import_through_a_faulty_decoder_rejects_the_line_and_imports_the_rest(
        db: Any, tmp_path: Path, broken_decoder: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine, sessions = db
    # The faulty decoder stands for any decoding fault upstream of the line checks.
    monkeypatch.setattr(extract_reader, "detect_encoding", lambda sample: broken_decoder)
    _, lines = expected(SAMPLE)
    report, rejected = await run(engine, _with_bad_byte(tmp_path))
    assert [(row[0], row[1]) for row in rejected] == [("4", extract_reader.INVALID_TEXT),
                                                     ("6", extract_reader.INVALID_TEXT)]
    assert report.activities == lines - 2 and (await stored(sessions))[1] == lines - 2


async def test_a_fhir_entry_with_a_lone_surrogate_is_rejected_with_its_number(db: Any, tmp_path: Path) -> None:
    engine, _ = db
    document = json.loads(BUNDLE.read_text("utf-8"))
    practitioners = [n for n, e in enumerate(document["entry"], start=1)
                     if e["resource"]["resourceType"] == "Practitioner" and e["resource"].get("name")]
    first = practitioners[0]
    document["entry"][first - 1]["resource"]["name"][0]["family"] = "Mor\udcffeau"
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(document), "utf-8")  # ASCII JSON: the surrogate travels as an escape
    report, rejected = await run_fhir(engine, path)
    assert extract_reader.INVALID_TEXT in rejected[first]
    assert report.inserted == 1
