"""Byte-level checks of delimited text before GDAL parses it: encoding, delimiter, header line,
row count limit, truncation.

Why: GDAL's CSV driver assumes UTF-8 and silently drops a final row cut inside a quoted value;
provincial files come in UTF-8, UTF-8 with BOM, Windows-1258 (with combining tone marks) and
Excel's UTF-16 "Unicode text". Everything here streams the file in blocks, so a 1 GB file costs
one pass of memory-bandwidth work and no more than a block of memory.
"""

from __future__ import annotations

import codecs
import os
import tempfile
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from geodata.io.readers.errors import ReadError
from planning.i18n import _

BLOCK = 1 << 20
DELIMITERS = {",": "COMMA", ";": "SEMICOLON", "\t": "TAB", "|": "PIPE"}


@dataclass
class TextInfo:
    """What the byte-level scan found out about a delimited text file."""

    encoding: str  #: Python codec name used to decode it
    label: str  #: what to tell the user ("UTF-8 with BOM", "Windows-1258 (CP1258)", …)
    lines: int  #: physical line count (records + header + embedded newlines + blank lines)
    blank_lines: int
    ends_with_newline: bool
    last_line: str  #: the final physical line (decoded), for the truncation check
    notes: list[str] = field(default_factory=list)


def _blocks(stream: IO[bytes]) -> Iterator[bytes]:
    while True:
        b = stream.read(BLOCK)
        if not b:
            return
        yield b


def _line_of(path_or_stream: Path | IO[bytes], offset: int) -> int:
    """1-based line number of a byte offset."""
    n = 1
    with _open(path_or_stream) as f:
        done = 0
        for b in _blocks(f):
            if done + len(b) >= offset:
                return n + b[: offset - done].count(b"\n")
            n += b.count(b"\n")
            done += len(b)
    return n


class _open:  # noqa: N801  (context manager that accepts a path or an already open binary stream)
    def __init__(self, src: Path | IO[bytes]) -> None:
        self.src = src
        self.f: IO[bytes] | None = None

    def __enter__(self) -> IO[bytes]:
        if isinstance(self.src, Path):
            self.f = open(self.src, "rb")  # noqa: SIM115
            return self.f
        self.src.seek(0)
        return self.src

    def __exit__(self, *exc: object) -> None:
        if self.f is not None:
            self.f.close()


def _decodes(src: Path | IO[bytes], encoding: str) -> int | None:
    """None if the whole stream decodes strictly with ``encoding``, else the byte offset that fails."""
    dec = codecs.getincrementaldecoder(encoding)(errors="strict")
    done = 0
    with _open(src) as f:
        for b in _blocks(f):
            try:
                dec.decode(b)
            except UnicodeDecodeError as exc:
                return done + exc.start
            done += len(b)
        try:
            dec.decode(b"", final=True)
        except UnicodeDecodeError:
            return done
    return None


def sniff_encoding(src: Path | IO[bytes], encoding: str | None = None) -> tuple[str, str]:
    """(codec, label) for the file, or :class:`ReadError` naming the line of the first bad byte."""
    with _open(src) as f:
        head = f.read(4096)
    if encoding:
        codec = codecs.lookup(encoding).name
        bad = _decodes(src, codec)
        if bad is not None:
            raise ReadError(_("the file is not valid {encoding}: undecodable byte at line {src}",
                              encoding=encoding, src=_line_of(src, bad)),
                            field="encoding", value=encoding)
        return codec, encoding
    if head.startswith(codecs.BOM_UTF8):
        bad = _decodes(src, "utf-8-sig")
        if bad is not None:
            raise ReadError(_("the file starts with a UTF-8 BOM but has invalid UTF-8 at line {src}",
                              src=_line_of(src, bad)),
                            field="encoding", value="utf-8")
        return "utf-8-sig", "UTF-8 with BOM"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", "UTF-16 (Excel 'Unicode text')"
    if b"\x00" in head:
        raise ReadError(_("the file is not text in UTF-8 or Windows-1258 (it has NUL bytes: UTF-16 without a "
                          "BOM, or not a CSV at all); save it as 'CSV UTF-8' from Excel"), field="encoding")
    bad = _decodes(src, "utf-8")
    if bad is None:
        return "utf-8", "UTF-8"
    bad1258 = _decodes(src, "cp1258")
    if bad1258 is None:
        return "cp1258", "Windows-1258 (CP1258)"
    raise ReadError(_("the file is neither UTF-8 (bad byte at line {src}) nor Windows-1258; save it as 'CSV "
                      "UTF-8' or pass --encoding", src=_line_of(src, bad)), field="encoding")


def scan(src: Path | IO[bytes], codec: str, max_lines: int | None) -> TextInfo:
    """Count lines (stopping early past ``max_lines``) and keep the tail for truncation checks."""
    lines = blank = 0
    tail = b""
    prev_end = b"\n"
    utf16 = codec.startswith("utf-16") or codec.startswith("utf_16")
    with _open(src) as f:
        for b in _blocks(f):
            if utf16:  # count on decoded text is simpler and UTF-16 files are small Excel exports
                break
            lines += b.count(b"\n")
            blank += b.count(b"\n\n") + b.count(b"\n\r\n") + (1 if prev_end == b"\n" and b[:1] == b"\n" else 0)
            prev_end = b[-1:]
            tail = (tail + b)[-65536:]
            if max_lines is not None and lines > max_lines:
                return TextInfo(codec, codec, lines, blank, False, "", [])
    if utf16:
        with _open(src) as f:
            text = f.read().decode(codec)
        lines = text.count("\n")
        blank = text.count("\n\n") + text.count("\n\r\n")
        tail_text = text[-65536:]
        ends = text.endswith("\n")
    else:
        tail_text = tail.decode(codec, errors="replace")
        ends = tail.endswith(b"\n")
    if not ends:
        lines += 1
    last = tail_text.rstrip("\r\n").rsplit("\n", 1)[-1]
    return TextInfo(codec, codec, lines, blank, ends, last)


def first_lines(src: Path | IO[bytes], codec: str, n: int = 30) -> list[str]:
    with _open(src) as f:
        head = f.read(256 * 1024)
    text = head.decode(codec, errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.splitlines()[:n]


def sniff_delimiter(line: str) -> str:
    """The delimiter that splits the header line best (quotes respected)."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def unbalanced_quotes(line: str) -> bool:
    return line.count('"') % 2 == 1


def transcode_to_utf8(src: Path | IO[bytes], codec: str, skip_lines: int = 0) -> Path:
    """A temporary UTF-8 (NFC) copy of the file for GDAL, without the first ``skip_lines`` lines.

    Windows-1258 writes tone marks as combining characters; NFC makes 'Lê Chân' compare equal to
    the same name typed on a modern keyboard.
    """
    fd, name = tempfile.mkstemp(prefix="btsplan-import-", suffix=".csv")
    dec = codecs.getincrementaldecoder(codec)(errors="strict")
    pending = ""
    to_skip = skip_lines
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as out, _open(src) as f:
        for b in _blocks(f):
            text = pending + dec.decode(b)
            # keep a possibly incomplete combining sequence for the next block
            cut = len(text)
            while cut > 0 and unicodedata.combining(text[cut - 1]):
                cut -= 1
            cut = max(cut - 1, 0)
            pending, text = text[cut:], text[:cut]
            while to_skip and text:
                i = text.find("\n")
                if i < 0:
                    text = ""
                    break
                text = text[i + 1:]
                to_skip -= 1
            out.write(unicodedata.normalize("NFC", text.lstrip("\ufeff") if out.tell() == 0 else text))
        rest = pending + dec.decode(b"", final=True)
        while to_skip and rest:
            i = rest.find("\n")
            rest = "" if i < 0 else rest[i + 1:]
            to_skip -= 1
        out.write(unicodedata.normalize("NFC", rest))
    return Path(name)
