"""What an uploaded file is, read from its bytes, never from its name or a declared type.

API.md takes images (jpg/jpeg, png) and documents (pdf, doc, docx). The signatures of JPEG,
PNG and PDF (and of whatever is refused, to say what it was) are filetype's; the two Office
formats are containers that other formats share, so their contents decide:

- doc: an OLE2 compound file (the container of xls, ppt, msi and msg too) whose directory
  holds the `WordDocument` stream ([MS-DOC] 2.1.1), read with olefile;
- docx: a ZIP package (the container of xlsx, pptx, jar, apk, odt too) whose
  `[Content_Types].xml` declares the main part a WordprocessingML document (ECMA-376 part 2;
  a macro-enabled .docm or a .dotx template declares another type and is refused).
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from typing import BinaryIO

import filetype
import olefile

IMAGE, DOCUMENT = "image", "document"
OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_SIGNATURE = b"PK\x03\x04"
HEAD_BYTES = 8192  # filetype reads at most 8 KB
# The part that names a ZIP package's type is small; reading more of it would only let a
# crafted archive (a "zip bomb") make us inflate gigabytes.
CONTENT_TYPES_MAX_BYTES = 1024 * 1024
DOCX_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
_MAIN_PART = re.compile(
    rb"<Override\b[^>]*\bPartName=\"/word/document\.xml\"[^>]*\bContentType=\"([^\"]+)\""
    rb"|<Override\b[^>]*\bContentType=\"([^\"]+)\"[^>]*\bPartName=\"/word/document\.xml\"",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class FileType:
    kind: str  # IMAGE or DOCUMENT
    extension: str  # without the dot: the name a stored file gets
    content_type: str
    label: str  # in words, for error details

    @property
    def extensions(self) -> tuple[str, ...]:
        """The extensions a file of this type may keep in its name."""
        return ("jpg", "jpeg") if self.extension == "jpg" else (self.extension,)


JPEG = FileType(IMAGE, "jpg", "image/jpeg", "a JPEG image")
PNG = FileType(IMAGE, "png", "image/png", "a PNG image")
PDF = FileType(DOCUMENT, "pdf", "application/pdf", "a PDF document")
DOC = FileType(DOCUMENT, "doc", "application/msword", "a Word 97-2003 document")
DOCX = FileType(
    DOCUMENT,
    "docx",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "a Word document",
)
ALLOWED = (JPEG, PNG, PDF, DOC, DOCX)
BY_MIME = {t.content_type: t for t in (JPEG, PNG, PDF)}


class NotAllowed(ValueError):
    """A file of a type the API does not take; `what` says what it seems to be."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def sniff(file: BinaryIO) -> FileType:
    """The type of a seekable binary file, by its content; NotAllowed for any other."""
    file.seek(0)
    head = file.read(HEAD_BYTES)
    file.seek(0)
    if not head:
        raise NotAllowed("an empty file")
    if head.startswith(OLE_SIGNATURE):
        return _ole(file)
    if head.startswith(ZIP_SIGNATURE):
        return _zip(file, head)
    guess = filetype.guess(head)
    if guess is not None and guess.mime in BY_MIME:
        return BY_MIME[guess.mime]
    raise NotAllowed(_described(guess))


def _described(guess) -> str:
    if guess is None:
        return "a file of unknown type"
    return f"a .{guess.extension} file ({guess.mime})"


def _ole(file: BinaryIO) -> FileType:
    try:
        with olefile.OleFileIO(file) as ole:
            is_word = ole.exists("WordDocument")
    except Exception:  # olefile raises OSError and others on a damaged container
        is_word = False
    finally:
        file.seek(0)
    if not is_word:
        raise NotAllowed("an OLE2 file that is not a Word document (e.g. .xls, .ppt, .msi)")
    return DOC


def _zip(file: BinaryIO, head: bytes) -> FileType:
    try:
        with zipfile.ZipFile(file) as package:
            with package.open("[Content_Types].xml") as part:
                types = part.read(CONTENT_TYPES_MAX_BYTES)
    except (zipfile.BadZipFile, KeyError, OSError, RuntimeError, ValueError, EOFError):
        types = b""
    finally:
        file.seek(0)
    found = _MAIN_PART.search(types)
    main = (found.group(1) or found.group(2)).decode("ascii", "replace") if found else ""
    if main.lower() == DOCX_MAIN:
        return DOCX
    if main:
        raise NotAllowed(f"an Office package of another type ({main})")
    raise NotAllowed(_described(filetype.guess(head)))
