"""PDF attachments: parsed with pypdf, refused when they carry active content, stored rewritten.

Active content is anything a viewer may run or open by itself: JavaScript (document-level names or ``/JS``
actions), additional actions (``/AA``: on page open, on field change…), an ``/OpenAction`` other than "show this
page", launch / submit / import / remote-go-to actions, embedded files and file-attachment annotations, XFA forms
and rich media. The whole object graph reachable from the trailer is walked (bounded), so an object stream or
an incremental update hides nothing. The stored file is re-written from that graph: bytes appended after the
document (a PDF+ZIP polyglot) and unreachable objects are dropped, and the open action is removed.
"""

from __future__ import annotations

import io
import logging

from pypdf import PdfReader, PdfWriter
from pypdf.errors import PyPdfError
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject, PdfObject

from .request_errors import InvalidRequest

__all__ = ["clean_pdf", "MAX_PDF_OBJECTS"]

MAX_PDF_OBJECTS = 200_000
# Keys whose mere presence means the document can act by itself.
_ACTIVE_KEYS = frozenset({"/JavaScript", "/JS", "/AA", "/EmbeddedFiles", "/XFA", "/RichMedia", "/RichMediaContent"})
# Action types (``/S``) that run code, open other files or send data away.
_ACTIVE_ACTIONS = frozenset({"/JavaScript", "/Launch", "/SubmitForm", "/ImportData", "/GoToR", "/GoToE",
                             "/Rendition", "/RichMediaExecute", "/Sound", "/Movie"})
_ACTIVE_ANNOTATIONS = frozenset({"/FileAttachment", "/RichMedia", "/Movie", "/Sound", "/Screen", "/3D"})
_REFUSED = "PDFs with active content ({what}) are not accepted: print it to a new PDF and attach that"


def clean_pdf(data: bytes) -> bytes:
    """The document rewritten without what lies outside its object graph; raise :class:`InvalidRequest` when it
    cannot be read, is encrypted or carries active content."""
    reader = _read(data)
    for obj in _walk(reader.trailer):
        _check(obj)
    return _rewrite(reader)


def _read(data: bytes) -> PdfReader:
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        encrypted = reader.is_encrypted
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise InvalidRequest("not a readable PDF") from exc
    if encrypted:
        raise InvalidRequest("password-protected PDFs cannot be checked: attach a copy without a password")
    return reader


def _walk(start: PdfObject) -> list[DictionaryObject]:
    """Every dictionary reachable from ``start`` (indirect objects resolved once each), each once."""
    seen: set[tuple[int, int]] = set()
    queue: list[PdfObject | None] = [start]
    found: list[DictionaryObject] = []
    try:
        while queue:
            obj = queue.pop()
            if isinstance(obj, IndirectObject):
                ref = (obj.idnum, obj.generation)
                if ref in seen:
                    continue
                seen.add(ref)
                if len(seen) > MAX_PDF_OBJECTS:
                    raise InvalidRequest("the PDF has too many objects to be checked")
                obj = obj.get_object()
            if isinstance(obj, DictionaryObject):
                found.append(obj)
                queue.extend(obj.values())
            elif isinstance(obj, ArrayObject):
                queue.extend(obj)
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise InvalidRequest("not a readable PDF") from exc
    return found


def _check(obj: DictionaryObject) -> None:
    for key in obj:
        if key in _ACTIVE_KEYS:
            raise InvalidRequest(_REFUSED.format(what=key.lstrip("/")))
    if obj.get("/S") in _ACTIVE_ACTIONS:
        raise InvalidRequest(_REFUSED.format(what=f"{str(obj['/S']).lstrip('/')} action"))
    if obj.get("/Subtype") in _ACTIVE_ANNOTATIONS and obj.get("/Type", "/Annot") == "/Annot":
        raise InvalidRequest(_REFUSED.format(what=f"{str(obj['/Subtype']).lstrip('/')} annotation"))
    if obj.get("/Type") == "/EmbeddedFile" or (obj.get("/Type") == "/Filespec" and "/EF" in obj):
        raise InvalidRequest(_REFUSED.format(what="embedded file"))
    opening = obj.get("/OpenAction")
    if isinstance(opening, IndirectObject):
        opening = opening.get_object()
    if isinstance(opening, DictionaryObject) and opening.get("/S") != "/GoTo":
        raise InvalidRequest(_REFUSED.format(what="OpenAction"))


def _rewrite(reader: PdfReader) -> bytes:
    try:
        writer = PdfWriter(clone_from=reader)
        writer.root_object.pop(NameObject("/OpenAction"), None)  # "open at page N": harmless, but not needed
        buffer = io.BytesIO()
        writer.write(buffer)
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        logging.getLogger(__name__).info("PDF rewrite failed: %s", type(exc).__name__)
        raise InvalidRequest("not a readable PDF") from exc
    return buffer.getvalue()
