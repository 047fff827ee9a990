"""The type of a file is read from its bytes: real minimal files of each type, and the
look-alikes that share their containers."""

import io

import pytest

from tests.uploads import samples
from uploads.sniff import DOC, DOCX, JPEG, PDF, PNG, NotAllowed, sniff


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (samples.JPEG, JPEG),
        (samples.png(), PNG),
        (samples.pdf(), PDF),
        (samples.doc(), DOC),
        (samples.docx(), DOCX),
    ],
    ids=["jpg", "png", "pdf", "doc", "docx"],
)
def test_each_allowed_type_is_recognised(content, expected):
    file = io.BytesIO(content)
    assert sniff(file) == expected
    assert file.tell() == 0  # left for the storage to read from the start


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (samples.EXE, "a .exe file (application/x-msdownload)"),
        (samples.zip_archive(), "a .zip file (application/zip)"),
        # Excel in Word's OLE2 container, and in Word's ZIP package.
        (samples.ole("Workbook"), "an OLE2 file that is not a Word document"),
        (
            samples.ooxml(samples.XLSX_MAIN, "xl/workbook.xml"),
            "a .xlsx file (application/vnd.openxmlformats-officedocument.spreadsheetml.sheet)",
        ),
        # A macro-enabled Word document renamed .docx: its package says what it is.
        (samples.ooxml(samples.DOCM_MAIN), "application/vnd.ms-word.document.macroEnabled"),
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "a .gif file (image/gif)"),
        (b"just some text", "a file of unknown type"),
        (b"", "an empty file"),
        # Signatures with nothing valid behind them.
        (samples.doc()[:600], "an OLE2 file that is not a Word document"),
        (b"PK\x03\x04" + b"\x00" * 100, "a .zip file"),
    ],
    ids=["exe", "zip", "xls", "xlsx", "docm", "gif", "text", "empty", "broken-ole", "broken-zip"],
)
def test_other_types_are_refused_and_named(content, said):
    with pytest.raises(NotAllowed) as refused:
        sniff(io.BytesIO(content))
    assert said in refused.value.what
