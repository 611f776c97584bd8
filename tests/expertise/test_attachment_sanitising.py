"""What is stored for an uploaded file (catalogue §4a 17–18): a clean copy, typed by its content, or a refusal."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from PIL import Image
from pypdf import PdfReader

from expertise import InvalidRequest, clean_name, sanitise_attachment
from tests import hostile_files as hostile


def test_a_photo_loses_its_exif_gps_and_is_turned_upright() -> None:
    sent = hostile.exif_gps_jpeg(size=(64, 48), orientation=6)  # 6: the camera was held on its side
    clean = sanitise_attachment(sent)
    stored = Image.open(io.BytesIO(clean.data))
    assert clean.content_type == "image/jpeg" and stored.format == "JPEG"
    assert not stored.getexif() and b"Exif" not in clean.data and b"taken at home" not in clean.data
    assert stored.size == (48, 64)


@pytest.mark.parametrize("build, kind, trailer", [
    (hostile.jpeg_with_zip, "image/jpeg", b"PK\x03\x04"),
    (hostile.png_with_html, "image/png", b"<script"),
    (hostile.pdf_with_zip, "application/pdf", b"PK\x03\x04"),
])
def test_a_polyglot_is_stored_without_its_second_file(build: Callable[[], bytes], kind: str, trailer: bytes) -> None:
    sent = build()
    assert trailer in sent
    clean = sanitise_attachment(sent)
    assert clean.content_type == kind and trailer not in clean.data


@pytest.mark.parametrize("build, message", [
    (hostile.pdf_open_action_js, "active content (OpenAction)"),
    (hostile.pdf_embedded_file, "active content (EmbeddedFiles)"),
    (lambda: hostile.SVG, "only JPEG, PNG and PDF"),
    (hostile.png_bomb, "not a readable PNG"),
    (lambda: hostile.png_bomb(8000, 8000), "too many pixels"),
])
def test_active_or_disguised_content_is_refused(build: Callable[[], bytes], message: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        sanitise_attachment(build())
    assert message in refused.value.message


def test_a_pdf_with_javascript_in_its_names_or_a_page_action_is_refused() -> None:
    from pypdf import PdfWriter
    from pypdf.generic import ArrayObject, DictionaryObject, NameObject, TextStringObject

    named = PdfWriter()
    named.add_blank_page(100, 100)
    script = DictionaryObject({NameObject("/S"): NameObject("/JavaScript"),
                               NameObject("/JS"): TextStringObject("app.launchURL('https://example.invalid')")})
    names = DictionaryObject({NameObject("/Names"): ArrayObject([TextStringObject("x"), named._add_object(script)])})
    named.root_object[NameObject("/Names")] = DictionaryObject({NameObject("/JavaScript"): named._add_object(names)})
    on_open = PdfWriter()
    page = on_open.add_blank_page(100, 100)
    page[NameObject("/AA")] = DictionaryObject({NameObject("/O"): DictionaryObject({
        NameObject("/S"): NameObject("/Launch"), NameObject("/F"): TextStringObject("cmd.exe")})})
    for writer in (named, on_open):
        buffer = io.BytesIO()
        writer.write(buffer)
        with pytest.raises(InvalidRequest, match="active content"):
            sanitise_attachment(buffer.getvalue())


def test_a_plain_pdf_is_rewritten_without_its_open_action() -> None:
    from pypdf import PdfWriter
    from pypdf.generic import ArrayObject, NameObject

    writer = PdfWriter()
    page = writer.add_blank_page(100, 100)
    writer.root_object[NameObject("/OpenAction")] = ArrayObject([page.indirect_reference, NameObject("/Fit")])
    buffer = io.BytesIO()
    writer.write(buffer)
    clean = sanitise_attachment(buffer.getvalue())
    reader = PdfReader(io.BytesIO(clean.data))
    assert len(reader.pages) == 1 and "/OpenAction" not in reader.trailer["/Root"]


@pytest.mark.parametrize("sent, stored", [
    ('"; rm -rf /.pdf', "pdf.pdf"),
    ('report"; filename=evil.html', "report_ filename_evil.pdf"),
    ("\u202egpj.exe", "gpj.pdf"),
    ("ecg\x00.png.pdf", "ecg_.png.pdf"),
    ("../../Électrocardiogramme du 3.pdf", "Électrocardiogramme du 3.pdf"),
    ("x" * 500 + ".pdf", "x" * 100 + ".pdf"),
    ("", "attachment.pdf"),
])
def test_file_names_are_sanitised(sent: str, stored: str) -> None:
    assert clean_name(sent, "pdf") == stored
