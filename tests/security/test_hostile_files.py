"""Hostile and malformed files given to the importer: zip bombs that lie about their sizes, damaged or
booby-trapped workbooks. Each is refused with one error naming the file: never a traceback, never
inflated in full (the archive's real bytes are counted while reading, whatever it declares).

No HTTP path takes an import file (uploads are inspection photos), so the CLI is the front door;
the hostile files are built here, in ``tmp_path``."""

from __future__ import annotations

import io
import resource
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import xlsxwriter
from sqlalchemy import Engine
from typer.testing import CliRunner

from app.cli import cli
from geodata.io.readers import ReadError, open_source
from tests.conftest import db_url

GIB = 1024**3


# --------------------------------------------------------------------------------------------
# building archives byte by byte (so they can lie)
# --------------------------------------------------------------------------------------------

@dataclass
class Member:
    name: str
    raw: bytes  #: the deflate stream as stored
    declared: int  #: the uncompressed size the headers claim
    crc: int
    flags: int = 0


def deflated(data: bytes, name: str) -> Member:
    """An honest member."""
    c = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return Member(name, c.compress(data) + c.flush(), len(data), zlib.crc32(data))


def repeated(name: str, head: bytes, block: bytes, times: int, tail: bytes, declared: int | None = None) -> Member:
    """``head + block * times + tail`` deflated without ever building it: after a full flush the
    compressor forgets what came before, so the block's compressed bytes can simply be repeated.
    ``declared`` (default: the truth) is the size the headers claim; the CRC is that of the truth
    when honest, else of the first ``declared`` bytes, so a reader trusting the header finds nothing
    wrong."""
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    first = c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)
    one = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    assert c.compress(block) + c.flush(zlib.Z_FULL_FLUSH) == one
    last = c.compress(tail) + c.flush()
    size = len(head) + len(block) * times + len(tail)
    if declared is None:
        crc = zlib.crc32(head)
        for _ in range(times):
            crc = zlib.crc32(block, crc)
        declared, crc = size, zlib.crc32(tail, crc)
    else:
        crc = zlib.crc32((head + block * (declared // len(block) + 1))[:declared])
    return Member(name, first + one * times + last, declared, crc)


def zip_bytes(members: list[Member]) -> bytes:
    out, central = b"", b""
    for m in members:
        name = m.name.encode()
        local = struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, m.flags, 8, 0, 0x21, m.crc, len(m.raw), m.declared,
                            len(name), 0)
        central += struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, 20, m.flags, 8, 0, 0x21, m.crc, len(m.raw),
                               m.declared, len(name), 0, 0, 0, 0, 0, len(out)) + name
        out += local + name + m.raw
    return out + central + struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central),
                                       len(out), 0)


# --------------------------------------------------------------------------------------------
# zip bombs
# --------------------------------------------------------------------------------------------

ZEROS = b"\0" * (1 << 20)


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _refused_fast(path: Path, fragment: str) -> ReadError:
    """Opening ``path`` fails with ``fragment`` in well under the time (and memory) inflating it takes."""
    peak, t0 = _peak_rss(), time.perf_counter()
    with pytest.raises(ReadError) as err:
        with open_source(path) as src:
            for _ in src.batches():
                pass
    assert time.perf_counter() - t0 < 10
    assert _peak_rss() - peak < 256 * 1024**2
    assert fragment in str(err.value) and err.value.error.value == path.name
    return err.value


@pytest.mark.parametrize("suffix, member", [(".kmz", "doc.kml"), (".zip", "sites.csv"), (".zip", "sites.geojson")])
def test_archive_lying_about_its_size_is_refused_before_inflating(tmp_path: Path, suffix: str, member: str) -> None:
    """2 KB declared (with the CRC of those 2 KB: a reader that trusts the header sees a sound file),
    1 GiB inside: counted while inflating, refused at the allowance."""
    path = tmp_path / f"bomb{suffix}"
    path.write_bytes(zip_bytes([repeated(member, b"", ZEROS, GIB // len(ZEROS), b"", declared=2048)]))
    assert path.stat().st_size < 2 * 1024**2
    err = _refused_fast(path, "refused as a zip bomb")
    assert member in str(err) and "declares 2,048" in str(err)


def test_honest_bomb_is_refused_without_inflating(tmp_path: Path) -> None:
    path = tmp_path / "honest.kmz"
    path.write_bytes(zip_bytes([repeated("doc.kml", b"", ZEROS, GIB // len(ZEROS), b"")]))
    t0 = time.perf_counter()
    _refused_fast(path, f"declares {GIB:,} bytes")
    assert time.perf_counter() - t0 < 1  # the central directory was enough


def test_member_shorter_than_declared_is_damaged(tmp_path: Path) -> None:
    kml = b"<kml xmlns='http://www.opengis.net/kml/2.2'><Document></Document></kml>"
    m = deflated(kml, "doc.kml")
    m.declared = 10 * len(kml)
    path = tmp_path / "short.kmz"
    path.write_bytes(zip_bytes([m]))
    _refused_fast(path, "not a valid zip archive")


def test_encrypted_member_is_refused(tmp_path: Path) -> None:
    m = deflated(b"code,operator\nA,VTL\n", "sites.csv")
    m.flags = 0x1
    path = tmp_path / "locked.zip"
    path.write_bytes(zip_bytes([m]))
    _refused_fast(path, "encrypted")


# --------------------------------------------------------------------------------------------
# hostile and malformed workbooks
# --------------------------------------------------------------------------------------------

def workbook_parts(rows: int = 45) -> dict[str, bytes]:
    """A sound workbook (shared strings included) as its parts, to be damaged part by part."""
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf)
    ws = wb.add_worksheet()
    ws.write_row(0, 0, ["code", "operator", "lon", "lat", "name"])
    for r in range(1, rows):
        ws.write_row(r, 0, [f"HF-{r}", "VTL", 106.68, 20.86, f"Trạm {r}"])
    wb.close()
    import zipfile

    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        return {n: z.read(n) for n in z.namelist()}


def xlsx(parts: dict[str, bytes], *special: Member) -> bytes:
    names = {m.name for m in special}
    return zip_bytes([deflated(data, n) for n, data in parts.items() if n not in names] + list(special))


def _sheet_cut_after_header(parts: dict[str, bytes]) -> bytes:
    """Rows 1-44 sound, then an unclosed row: the header is found, the failure comes mid-read."""
    sheet = parts["xl/worksheets/sheet1.xml"]
    return sheet.replace(b"</sheetData>", b'<row r="50"><c r="A50"><v>1</v></sheetData>')


def _bad_string_index(parts: dict[str, bytes]) -> bytes:
    return parts["xl/worksheets/sheet1.xml"].replace(b'<c r="A40" t="s"><v>', b'<c r="A40" t="s"><v>99999')


SHARED_HEAD = b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
SI = b"<si><t>x</t></si>" * 4096
LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE sst [<!ENTITY a "aaaaaaaaaa">'
          + b"".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(9))
          + b']><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>&j;</t></si></sst>')

HOSTILE_XLSX: dict[str, Callable[[dict[str, bytes]], bytes]] = {
    "not_a_zip": lambda p: b"code,operator,lon,lat\nA,VTL,106.68,20.86\n",
    "truncated": lambda p: xlsx(p)[: len(xlsx(p)) // 2],
    "broken_header_xml": lambda p: xlsx({**p, "xl/worksheets/sheet1.xml": p["xl/worksheets/sheet1.xml"][:300]}),
    "broken_xml_mid_sheet": lambda p: xlsx({**p, "xl/worksheets/sheet1.xml": _sheet_cut_after_header(p)}),
    "bad_shared_string_index": lambda p: xlsx({**p, "xl/worksheets/sheet1.xml": _bad_string_index(p)}),
    "no_content_types": lambda p: xlsx({n: d for n, d in p.items() if n != "[Content_Types].xml"}),
    "no_workbook": lambda p: xlsx({n: d for n, d in p.items() if n != "xl/workbook.xml"}),
    "billion_laughs": lambda p: xlsx({**p, "xl/sharedStrings.xml": LAUGHS}),
    "huge_shared_strings": lambda p: xlsx(p, repeated("xl/sharedStrings.xml", SHARED_HEAD, SI, 4096, b"</sst>")),
    "huge_shared_strings_lying": lambda p: xlsx(p, repeated("xl/sharedStrings.xml", SHARED_HEAD, SI, 4096,
                                                            b"</sst>", declared=4096)),
}


def _hostile(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.xlsx"
    path.write_bytes(HOSTILE_XLSX[name](workbook_parts()))
    return path


def test_the_workbook_builder_makes_sound_workbooks(tmp_path: Path) -> None:
    path = tmp_path / "sound.xlsx"
    path.write_bytes(xlsx(workbook_parts()))
    with open_source(path) as src:
        assert src.columns == ["code", "operator", "lon", "lat", "name"]
        assert sum(len(b.rows) for b in src.batches()) == 44


@pytest.mark.parametrize("name", sorted(HOSTILE_XLSX))
def test_hostile_workbook_is_one_read_error_naming_the_file(tmp_path: Path, name: str) -> None:
    err = _refused_fast(_hostile(tmp_path, name), "")
    assert "\n" not in str(err)


def test_cli_import_of_hostile_files_is_one_line_each(empty_db: Engine, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from geodata.settings import get_settings

    files = [_hostile(tmp_path, name) for name in sorted(HOSTILE_XLSX)]
    bomb = tmp_path / "bomb.kmz"
    bomb.write_bytes(zip_bytes([repeated("doc.kml", b"", ZEROS, GIB // len(ZEROS), b"", declared=2048)]))
    monkeypatch.setenv("BTSPLAN_DATABASE_URL", db_url(empty_db))
    get_settings.cache_clear()
    try:
        for path in [*files, bomb]:
            r = CliRunner().invoke(cli, ["import", "sites", str(path)])
            assert r.exit_code == 1, (path.name, r.output, r.exception)
            lines = [ln for ln in r.output.strip().splitlines() if not ln.startswith("· ")]  # notes on the file
            assert len(lines) == 1 and lines[0].startswith(f"error: {path.name} not imported"), r.output
            assert "Traceback" not in r.output
    finally:
        get_settings.cache_clear()
