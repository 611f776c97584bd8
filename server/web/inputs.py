"""Checking text at the edge: every path parameter, query string, form body and JSON body is valid Unicode.

Python happily holds text that cannot be written anywhere: a JSON escape ``"\\udcff"`` decodes to a lone UTF-16
surrogate, which later fails to encode when a page renders it or a database stores it (one such patient name
made the practitioner's console answer 500 from then on). Percent-encoded bytes that are not UTF-8 are silently
turned into U+FFFD by the URL and form decoders, which hides the fault. The checks below work on the raw bytes
or the decoded values and name the field at fault, so the client gets a 400 saying what to fix.

NUL (U+0000) is refused with them: no field of ours holds it, and PostgreSQL cannot store it in text.
JSON nesting is bounded (a 30,000-deep array otherwise overflows the decoder's recursion and answers 500).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote_to_bytes

from ..platform.errors import Invalid

__all__ = ["MAX_JSON_DEPTH", "parse_json", "check_urlencoded", "check_path", "invalid_text_field", "is_valid_text"]

MAX_JSON_DEPTH = 32
# A lone surrogate (valid UTF-8 text never decodes to one) or NUL.
_BAD_CHAR = re.compile("[\ud800-\udfff\x00]")
# JSON strings (skipped) or the brackets that open and close nesting.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def is_valid_text(value: str) -> bool:
    """True when ``value`` holds no lone surrogate and no NUL."""
    if value.isascii():  # the common case, checked without a scan
        return "\x00" not in value
    return _BAD_CHAR.search(value) is None


def _describe(field: str, where: str) -> str:
    return (f"{field} in the {where} is not valid text (it holds a character that is not valid Unicode, "
            "such as a lone surrogate or a NUL)")


def invalid_text_field(data: Any, path: str = "") -> str | None:
    """The path (``a.b[2]``) of the first string, key included, that is not valid text; None when all are."""
    stack: list[tuple[str, Any]] = [(path, data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            if not is_valid_text(value):
                return where or "the body"
        elif isinstance(value, dict):
            for key, item in reversed(list(value.items())):
                child = f"{where}.{key}" if where else str(key)
                if not is_valid_text(key):
                    return f"{where}.<a field name>" if where else "a field name"
                stack.append((child, item))
        elif isinstance(value, list):
            stack.extend((f"{where}[{index}]", item) for index, item in reversed(list(enumerate(value))))
    return None


def _check_depth(text: str) -> None:
    depth = 0
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise Invalid(f"the JSON body is nested too deeply (at most {MAX_JSON_DEPTH} levels)")
        elif token in "]}":
            depth -= 1


def parse_json(raw: bytes) -> Any:
    """The JSON value of ``raw``; :class:`Invalid` naming the fault (encoding, syntax, depth, text of a field)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Invalid("the body is not valid UTF-8 text") from exc
    _check_depth(text)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise Invalid("the body is not valid JSON") from exc
    field = invalid_text_field(data)
    if field is not None:
        # Field names are echoed back: keep a hostile one short and printable.
        raise Invalid(_describe(_printable(field), "JSON body"))
    return data


def _printable(text: str) -> str:
    cleaned = _BAD_CHAR.sub("\ufffd", text)
    return cleaned if len(cleaned) <= 80 else cleaned[:77] + "..."


def _pairs(raw: bytes) -> Iterable[tuple[bytes, bytes]]:
    for part in raw.split(b"&"):
        if part:
            name, _, value = part.partition(b"=")
            yield name, value


def _decode_strictly(encoded: bytes, *, plus_is_space: bool = True) -> str | None:
    """The text of percent-encoded ``encoded``, or None when its bytes are not UTF-8 or it is not valid text."""
    if plus_is_space:
        encoded = encoded.replace(b"+", b" ")
    try:
        text = unquote_to_bytes(encoded).decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if is_valid_text(text) else None


def check_urlencoded(raw: bytes, where: str) -> None:
    """Refuse a query string or form body whose names or values are not UTF-8 text, naming the field."""
    for name, value in _pairs(raw):
        decoded_name = _decode_strictly(name)
        if decoded_name is None:
            raise Invalid(_describe("a field name", where))
        if _decode_strictly(value) is None:
            raise Invalid(_describe(_printable(decoded_name), where))


def check_path(raw_path: bytes, params: Mapping[str, str]) -> None:
    """Refuse a path (without its query) whose percent-encoded bytes are not UTF-8 text, naming the path
    parameter at fault."""
    if _decode_strictly(raw_path, plus_is_space=False) is not None:
        return
    for name, value in params.items():
        if _decode_strictly(value.encode("utf-8", "surrogateescape"), plus_is_space=False) is None:
            raise Invalid(_describe(name, "address"))
    raise Invalid(_describe("the path", "address"))
