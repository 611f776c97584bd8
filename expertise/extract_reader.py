"""Reading the extract in chunks of validated lines (bounded memory: one chunk at a time).

Parsing and writing run one after the other: overlapping them in one process made the database driver's thread
wait for the interpreter lock on every row it binds (twice slower). A second parsing process did not help either:
unpickling a chunk in the importing process costs about what parsing it does (both allocate every cell).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

from .directory_errors import ImportRefused
from .rpps_format import Header, LineError, ValidLine, detect_encoding

__all__ = ["Chunk", "open_extract", "parse_chunks", "read_chunks", "refuse_truncated", "TRUNCATED_HINT",
           "is_storable_text", "INVALID_TEXT"]
_SAMPLE = 1 << 20
_TAIL = 1 << 16
TRUNCATED_HINT = "pass --accept-truncated to import it anyway (the cut line is then rejected)"
INVALID_TEXT = "holds a character that is not valid text (a lone surrogate or a NUL), which cannot be stored"


def is_storable_text(text: str) -> bool:
    """False for text holding a NUL or a lone UTF-16 surrogate. A strict decoder never yields a surrogate, but a
    faulty one would, and the database write would then fail for the whole batch. Encoding is the cheapest
    check (about 0.2 µs for a non-ASCII line, run millions of times per national import)."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class Chunk:
    lines: list[ValidLine]
    rejected: list[tuple[int, str, str]]  # (line number, reason, content)
    nbytes: int
    last_line: int


def open_extract(path: Path) -> tuple[str, str]:
    """Encoding and header row of ``path``; :class:`ImportRefused` when either is unusable."""
    with path.open("rb") as stream:
        sample = stream.read(_SAMPLE)
    encoding = detect_encoding(sample)
    first = sample.split(b"\n", 1)[0]
    try:
        header = first.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ImportRefused(f"the header row is not valid {encoding}") from exc
    Header(header)  # refuses a header without the required columns
    return encoding, header


def last_line_cut(path: Path, width: int) -> bool:
    """Whether the file ends inside a line: no end of line after its last line, which has fewer than ``width``
    fields (an interrupted download or copy). Reads only the end of the file."""
    with path.open("rb") as stream:
        size = stream.seek(0, 2)
        stream.seek(max(0, size - _TAIL))
        tail = stream.read()
    if not tail or tail.endswith(b"\n"):
        return False
    last = tail.rsplit(b"\n", 1)[-1]
    return bool(last.strip()) and last.count(b"|") + 1 < width


def refuse_truncated(path: Path, width: int) -> None:
    """:class:`ImportRefused` for a file whose last line was cut: importing it would replace its professional's
    rows with fewer, so nothing is written unless the operator accepts it."""
    if last_line_cut(path, width):
        raise ImportRefused("the file's last line is cut short (no end of line and missing fields): the file looks "
                            f"truncated; {TRUNCATED_HINT}")


def parse_chunks(path: Path, encoding: str, header_text: str, chunk_lines: int) -> Iterator[Chunk]:
    header = Header(header_text)
    with path.open("rb") as stream:
        pending = len(stream.readline())
        lines: list[ValidLine] = []
        rejected: list[tuple[int, str, str]] = []
        number = 1
        for number, raw in enumerate(stream, start=2):
            pending += len(raw)
            complete = raw.endswith(b"\n")
            try:
                text = raw.decode(encoding).rstrip("\r\n")
            except UnicodeDecodeError:
                rejected.append((number, f"not valid {encoding} (the encoding detected from the file's start)",
                                 raw.decode("latin-1").rstrip("\r\n")))
                continue
            if not is_storable_text(text):
                rejected.append((number, INVALID_TEXT, raw.decode("latin-1").rstrip("\r\n")))
                continue
            if not text.strip():
                continue
            parsed = header.parse(number, text, raw.rstrip(b"\r\n"), complete=complete)
            if isinstance(parsed, LineError):
                rejected.append((number, parsed.reason, text))
            else:
                lines.append(parsed)
                if len(lines) >= chunk_lines:
                    yield Chunk(lines, rejected, pending, number)
                    lines, rejected, pending = [], [], 0
        yield Chunk(lines, rejected, pending, number)


async def read_chunks(path: Path, encoding: str, header_text: str, chunk_lines: int) -> AsyncIterator[Chunk]:
    for chunk in parse_chunks(path, encoding, header_text, chunk_lines):
        yield chunk
