"""Reading an FAQ file as text and telling which format it is."""
from __future__ import annotations

import codecs
from pathlib import Path

from supportbot.kb.importers.model import FaqImportError

MAX_BYTES = 50 * 1024 * 1024
FORMATS = ("csv", "tsv", "qnamaker", "markdown", "html")
_EXTENSIONS = {
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".txt": None, ".md": "markdown",
    ".markdown": "markdown", ".mdown": "markdown", ".html": "html", ".htm": "html",
    ".xhtml": "html",
}
_QNAMAKER_COLUMNS = {"metadata", "qnaid", "suggestedquestions", "iscontextonly", "prompts"}
_BINARY = {b"PK\x03\x04": "a ZIP archive (an Excel .xlsx or Word .docx file?)",
           b"%PDF": "a PDF document", b"\xd0\xcf\x11\xe0": "an old Office document (.xls/.doc)"}


def read_source(path: Path, encoding: str | None = None) -> str:
    """The text of `path`; a FaqImportError naming the file when it cannot be read as text."""
    try:
        if path.is_dir():
            raise FaqImportError(f"{path} is a folder; give an FAQ file (.csv, .tsv, .md, .html)")
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise FaqImportError(f"{path} is {size // (1024 * 1024)} MB; the limit is "
                                 f"{MAX_BYTES // (1024 * 1024)} MB (split the file)")
        data = path.read_bytes()
    except FileNotFoundError:
        raise FaqImportError(f"{path}: no such file") from None
    except OSError as exc:
        raise FaqImportError(f"cannot read {path}: {exc.strerror or exc}") from None
    for magic, what in _BINARY.items():
        if data.startswith(magic):
            raise FaqImportError(f"{path} is {what}, not text; save the FAQ as CSV (UTF-8), "
                                 "Markdown or HTML and import that")
    return decode(data, path, encoding)


def decode(data: bytes, path: Path, encoding: str | None = None) -> str:
    """Bytes -> text: a BOM decides (UTF-8/UTF-16), else UTF-8 or the `encoding` given."""
    if encoding is None:
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            encoding = "utf-16"  # "Unicode text" from Excel
        else:
            encoding = "utf-8-sig"
    try:
        text = data.decode(encoding)
    except LookupError:
        raise FaqImportError(f"unknown encoding {encoding!r} (for {path})") from None
    except UnicodeDecodeError as exc:
        raise FaqImportError(
            f"{path} is not {encoding.removesuffix('-sig').upper()} text (byte "
            f"0x{data[exc.start]:02x} at offset {exc.start}); save it as UTF-8 (Excel: "
            "'CSV UTF-8') or pass its encoding, e.g. --encoding cp1251") from None
    if "\x00" in text:
        raise FaqImportError(f"{path} holds binary data (NUL characters), not text")
    return text.removeprefix("\ufeff")


def detect_format(path: Path, text: str) -> str:
    """One of FORMATS, from the file's extension and, where that is not enough, its content."""
    by_extension = _EXTENSIONS.get(path.suffix.lower())
    first_line = text.lstrip().split("\n", 1)[0]
    if by_extension in ("csv", "tsv", None) and "\t" in first_line:
        columns = {c.strip().strip('"').lower().replace(" ", "") for c in first_line.split("\t")}
        if {"question", "answer"} <= columns and columns & _QNAMAKER_COLUMNS:
            return "qnamaker"
    if by_extension is not None:
        return by_extension
    head = text.lstrip()[:2000].lower()
    if head.startswith(("<!doctype html", "<html")) or "<body" in head or "<details" in head:
        return "html"
    if "\t" in first_line:
        return "tsv"
    if ("," in first_line or ";" in first_line) and not first_line.startswith("#"):
        return "csv"
    return "markdown"
