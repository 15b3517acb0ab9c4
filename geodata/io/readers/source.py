"""Open any file a province has (CSV, XLSX, GeoJSON, GeoPackage, Shapefile zip/folder, KML/KMZ)
as a stream of row batches with the user's row numbers.

GDAL (through pyogrio's Arrow stream) parses CSV and every vector format; openpyxl's read-only mode
streams XLSX. Nothing here interprets values: a batch carries the file's own columns as text or
native cell values, plus geometries when the format has them, so validation can quote the exact
value a user typed.

Files are hostile until read: every archive (zip, KMZ, XLSX) is inflated once here, counting the
bytes, before GDAL or openpyxl sees it (:func:`_check_zip`), and any error a parser raises on a
damaged file becomes one :class:`ReadError` naming the file, never a traceback.
"""

from __future__ import annotations

import os
import struct
import unicodedata
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyogrio
import shapely

from geodata.io.readers import text as txt
from geodata.io.readers.columns import norm
from geodata.io.readers.errors import ReadError
from planning.i18n import _

FORMATS = {
    ".csv": "csv", ".txt": "csv", ".tsv": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".geojson": "geojson",
    ".json": "geojson", ".gpkg": "gpkg", ".shp": "shp", ".kml": "kml", ".kmz": "kmz", ".zip": "zip",
    ".fgb": "fgb",
}
VECTOR = {"geojson", "gpkg", "shp", "kml", "kmz", "fgb"}
#: a zip whose members expand to more than this many times its size is refused (zip bomb), unless
#: they stay under the floor; never more than MAX_ZIP_BYTES
MAX_ZIP_RATIO = 200
MAX_ZIP_BYTES = 4 * 1024**3
ZIP_FLOOR = 64 * 1024**2
#: workbooks are smaller, and openpyxl streams only the worksheets: every other part (shared
#: strings above all: unique texts, which compress perhaps tenfold) is held in memory whole, so
#: each may inflate to at most XLSX_PART_RATIO times the file (at least the floor)
XLSX_FLOOR = 16 * 1024**2
XLSX_PART_RATIO = 30
_INFLATE_BLOCK = 1 << 20


@dataclass
class Batch:
    """A slice of the file: row numbers as users see them, the raw values, geometries if any."""

    rows: np.ndarray  #: int64, 1-based row (tabular: spreadsheet row; vector: feature number)
    frame: pd.DataFrame  #: the file's columns, values as read (text for CSV)
    geometry: np.ndarray | None = None  #: shapely geometries, None values for rows without one
    short: np.ndarray | None = None  #: CSV rows with fewer values than the header (truncated file?)


@dataclass
class Source:
    """An opened input file. Iterate :meth:`batches`; call :meth:`close` (or use ``with``)."""

    path: Path
    fmt: str
    columns: list[str]
    crs: str | None = None  #: CRS the file declares (WKT or EPSG), None if it declares none
    has_geometry: bool = False
    geometry_type: str | None = None
    encoding: str | None = None
    n_rows: int | None = None  #: data rows (exact or estimated) for the progress bar
    header_row: int = 1
    notes: list[str] = field(default_factory=list)
    gdal_path: str | None = None
    layer: str | None = None
    open_options: dict[str, str] = field(default_factory=dict)
    sheet: Any = None
    _temp: list[Path] = field(default_factory=list)
    _tail_error: ReadError | None = None

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for p in self._temp:
            try:
                p.unlink()
            except OSError:
                pass
        self._temp.clear()

    # -- reading -------------------------------------------------------------------------------
    def batches(self, size: int = 100_000) -> Iterator[Batch]:
        """The rows in batches; a parser's failure half-way becomes one :class:`ReadError` saying
        how far the file was read."""
        last = self.header_row
        try:
            for batch in self._xlsx_batches(size) if self.fmt == "xlsx" else self._gdal_batches(size):
                last = int(batch.rows[-1])
                yield batch
        except ReadError:
            raise
        except Exception as exc:  # noqa: BLE001  (GDAL's, openpyxl's or the XML parser's own words)
            raise ReadError(_("cannot read the file past row {last:,} (damaged?): {exc}",
                              last=last, exc=_gdal_msg(exc)), field="file",
                            value=self.path.name) from None
        if self._tail_error is not None:
            raise self._tail_error

    def _gdal_batches(self, size: int) -> Iterator[Batch]:
        assert self.gdal_path is not None
        offset = self.header_row if self.fmt == "csv" else 0
        start = 0
        kwargs: dict[str, Any] = dict(self.open_options)
        if self.layer is not None:
            kwargs["layer"] = self.layer
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            with pyogrio.open_arrow(self.gdal_path, batch_size=size, use_pyarrow=True, **kwargs) as (meta, reader):
                geom_col = meta.get("geometry_name") or "wkb_geometry"
                for rb in _prefetch(reader):
                    n = rb.num_rows
                    if n == 0:
                        continue
                    names = rb.schema.names
                    geometry = None
                    if geom_col in names and self.has_geometry:
                        wkb = rb.column(names.index(geom_col)).to_numpy(zero_copy_only=False)
                        geometry = shapely.from_wkb(wkb, on_invalid="ignore")
                        rb = rb.drop_columns([geom_col])
                    frame = rb.to_pandas()
                    frame.columns = [_nfc(c) for c in frame.columns]
                    short = None
                    if self.fmt == "csv" and len(frame.columns) > 1:
                        # GDAL leaves missing trailing fields NULL while empty ones are "": a row with
                        # NULLs at the end had fewer values than the header.
                        short = frame.iloc[:, -1].isna().to_numpy()
                    rows = np.arange(start + 1, start + n + 1, dtype=np.int64) + offset
                    start += n
                    yield Batch(rows, frame, geometry, short)

    def _xlsx_batches(self, size: int) -> Iterator[Batch]:
        import openpyxl

        wb = openpyxl.load_workbook(self.path, read_only=True, data_only=True)
        try:
            ws = wb[self.sheet]
            ncol = len(self.columns)
            buf: list[tuple[Any, ...]] = []
            rows: list[int] = []
            r = self.header_row
            try:
                for r, values in enumerate(ws.iter_rows(min_row=self.header_row + 1, values_only=True),
                                           start=self.header_row + 1):
                    vals = tuple(values[:ncol]) + (None,) * max(0, ncol - len(values))
                    if all(v is None or (isinstance(v, str) and not v.strip()) for v in vals):
                        continue
                    buf.append(tuple(_nfc(v) if isinstance(v, str) else v for v in vals))
                    rows.append(r)
                    if len(buf) >= size:
                        yield Batch(np.array(rows, dtype=np.int64),
                                    pd.DataFrame(buf, columns=self.columns, dtype=object))
                        buf, rows = [], []
            except Exception as exc:  # noqa: BLE001  (openpyxl or the XML parser on a damaged sheet)
                raise ReadError(_("cannot read sheet {sheet!r} past row {r:,} (damaged?): {exc}",
                                  sheet=self.sheet, r=r, exc=_gdal_msg(exc)),
                                field="file", value=self.path.name) from None
            if buf:
                yield Batch(np.array(rows, dtype=np.int64), pd.DataFrame(buf, columns=self.columns, dtype=object))
        finally:
            wb.close()


def _prefetch(batches: Any, depth: int = 2) -> Iterator[Any]:
    """Read the next Arrow batches in a thread while the caller works on the current one: GDAL parses
    without holding the GIL, so reading and validating overlap on two cores."""
    import queue
    import threading

    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def run() -> None:
        try:
            for b in batches:
                while not stop.is_set():
                    try:
                        q.put(b, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # handed to the consumer
            q.put(exc)

    t = threading.Thread(target=run, name="btsplan-read", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        t.join()


def _nfc(v: Any) -> Any:
    return unicodedata.normalize("NFC", v) if isinstance(v, str) else v


def _header_score(cells: list[Any], known: set[str]) -> int:
    return sum(1 for c in cells if c is not None and norm(str(c)) in known)


def _find_header(rows: list[list[Any]], known: set[str]) -> int:
    """Index of the header among the first rows: the one naming most known fields (titles above it,
    as Excel reports have, are skipped); 0 when none names two."""
    best, best_score = 0, 1
    for i, cells in enumerate(rows):
        s = _header_score(cells, known)
        if s > best_score:
            best, best_score = i, s
    return best


def detect_format(path: Path) -> str:
    if path.is_dir():
        return "shp"
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ReadError(_("unsupported file type {suffix!r}; use one of {values} (or a folder holding a "
                          "Shapefile)",
                          suffix=path.suffix,
                          values=', '.join(sorted(FORMATS))), field="file", value=path.name)
    return fmt


def _check_zip(path: Path, what: str = "zip archive", floor: int = ZIP_FLOOR,
               cap: Callable[[str], int | None] | None = None) -> list[zipfile.ZipInfo]:
    """The archive's members, once every one has been inflated here and its bytes counted.

    Declared sizes are the attacker's to write: a KMZ may declare 2 KB and inflate to 1 GiB, and
    GDAL's /vsizip/ inflates to the end of the stream whatever the header says. So the deflate
    stream itself is inflated (in 1 MiB blocks, nothing kept) and reading stops as soon as the
    archive passes its allowance: ``MAX_ZIP_RATIO`` times its size (at least ``floor``, at most
    ``MAX_ZIP_BYTES``), or a member the ``cap(name)`` of its own. A member holding other than it
    declares is refused too: the reader that comes next would believe the header."""
    size = path.stat().st_size
    allowance = min(MAX_ZIP_BYTES, max(floor, MAX_ZIP_RATIO * size))
    try:
        with zipfile.ZipFile(path) as z, open(path, "rb") as f:
            infos = [i for i in z.infolist() if not i.is_dir()]
            declared = sum(i.file_size for i in infos)
            if declared > allowance:  # an honest bomb is refused without inflating anything
                raise ReadError(_("the {what} declares {declared:,} bytes inflated from {size:,}: refused as "
                                  "a zip bomb",
                                  what=what, declared=declared, size=size), field="file", value=path.name)
            total = 0
            for info in infos:
                own = cap(info.filename) if cap is not None else None
                budget = allowance - total if own is None else min(allowance - total, own)
                total += _inflated_size(z, f, info, budget, size, path)
    except (zipfile.BadZipFile, zlib.error, EOFError, struct.error) as exc:
        raise ReadError(_("the file is not a valid {what} (damaged or truncated?): {exc}",
                          what=what, exc=_gdal_msg(exc)), field="file",
                        value=path.name) from None
    except NotImplementedError as exc:  # a compression method Python (and GDAL) cannot read
        raise ReadError(_("the {what} uses a compression it cannot be read with: {exc}",
                          what=what, exc=_gdal_msg(exc)), field="file",
                        value=path.name) from None
    return infos


def _inflated_size(z: zipfile.ZipFile, f: Any, info: zipfile.ZipInfo, budget: int, size: int, path: Path) -> int:
    """Bytes ``info`` really inflates to, raising :class:`ReadError` as soon as they pass ``budget``."""
    if info.flag_bits & 0x1:
        raise ReadError(_("{filename} in the archive is encrypted",
                          filename=info.filename), field="file", value=path.name)
    if info.compress_type != zipfile.ZIP_DEFLATED:  # stored (bounded by the file) or bz2/lzma: bounded by zipfile
        n = 0
        with z.open(info) as member:
            while block := member.read(_INFLATE_BLOCK):
                n += len(block)
                if n > budget:
                    raise _bomb(info, n, path)
        return n
    f.seek(info.header_offset)
    head = f.read(30)
    if len(head) < 30 or head[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"no local header for {info.filename}")
    name_len, extra_len = struct.unpack("<HH", head[26:30])
    start = info.header_offset + 30 + name_len + extra_len
    f.seek(start)
    left = size - start  # the stream may run on past its declared compressed size, never past the file
    d = zlib.decompressobj(-zlib.MAX_WBITS)
    n, data = 0, b""
    while not d.eof:
        if not data:
            data = f.read(min(_INFLATE_BLOCK, left))
            left -= len(data)
            if not data:
                n += len(d.flush())
                break
        n += len(d.decompress(data, _INFLATE_BLOCK))
        data = d.unconsumed_tail
        if n > budget:
            raise _bomb(info, n, path)
    if not d.eof or n != info.file_size:
        raise zipfile.BadZipFile(f"{info.filename} declares {info.file_size:,} bytes but "
                                 + ("its data is cut short" if not d.eof else f"inflates to {n:,}"))
    return n


def _bomb(info: zipfile.ZipInfo, n: int, path: Path) -> ReadError:
    return ReadError(_("{filename} in the archive inflates past {n:,} bytes (it declares {file_size:,}) from "
                       "a {st_size:,}-byte file: refused as a zip bomb",
                       filename=info.filename, n=n, file_size=info.file_size,
                       st_size=path.stat().st_size), field="file", value=path.name)


def open_source(path: str | Path, *, sheet: str | None = None, encoding: str | None = None,
                max_rows: int | None = None, known_columns: set[str] | None = None) -> Source:
    """Open ``path`` for reading in batches. ``sheet`` is an XLSX sheet (name or 1-based number) or a
    layer of a GeoPackage/KML/zip. ``max_rows`` makes an over-long file fail before it is parsed.
    ``known_columns`` (normalised names) helps find the header row below a title in CSV/XLSX."""
    p = Path(path)
    if not p.exists():
        raise ReadError(_("file not found: {p}", p=p), field="file", value=str(p))
    if p.is_file() and p.stat().st_size == 0:
        raise ReadError(_("the file is empty"), field="file", value=p.name)
    fmt = detect_format(p)
    try:
        return _open(p, fmt, sheet, encoding, max_rows, known_columns or set())
    except ReadError:
        raise
    except Exception as exc:  # noqa: BLE001  (a damaged or hostile file can make any parser fail)
        raise ReadError(_("cannot read the file as {value} (damaged, or not what its name says?): {exc}",
                          value=fmt.upper(), exc=_gdal_msg(exc)), field="file", value=p.name) from None


def _open(p: Path, fmt: str, sheet: str | None, encoding: str | None, max_rows: int | None,
          known: set[str]) -> Source:
    if fmt == "csv":
        return _open_csv(p, encoding, max_rows, known)
    if fmt == "xlsx":
        return _open_xlsx(p, sheet, max_rows, known)
    if fmt == "zip":
        infos = _check_zip(p)
        members = [i.filename for i in infos]
        inner = [m for m in members if Path(m).suffix.lower() in (".shp", ".gpkg", ".geojson", ".json", ".kml", ".csv",
                                                                 ".fgb")]
        if not inner:
            raise ReadError(_("the zip holds no Shapefile, GeoPackage, GeoJSON, KML or CSV ({value})",
                              value=', '.join(members[:8])),
                            field="file", value=p.name)
        shp = [m for m in inner if m.lower().endswith(".shp")]
        if len(shp) > 1 and sheet is None:
            raise ReadError(_("the zip holds several Shapefiles ({shp}); choose one with --sheet NAME",
                              shp=', '.join(shp)),
                            field="file", value=p.name)
        member = shp[0] if len(shp) == 1 else inner[0]
        if sheet is not None:
            chosen = [m for m in inner if Path(m).stem == sheet or m == sheet]
            if chosen:
                member, sheet = chosen[0], None
        if member.lower().endswith(".csv"):
            import tempfile

            with zipfile.ZipFile(p) as z:
                fd, tmpname = tempfile.mkstemp(prefix="btsplan-import-", suffix=".csv")
                with os.fdopen(fd, "wb") as out, z.open(member) as src:
                    # stream out, stopping as soon as the line limit is exceeded
                    lines = 0
                    while chunk := src.read(txt.BLOCK):
                        out.write(chunk)
                        lines += chunk.count(b"\n")
                        if max_rows is not None and lines > max_rows + 50:
                            out.close()
                            os.unlink(tmpname)
                            raise ReadError(_("{member} in the zip has more than {max_rows:,} rows "
                                              "(BTSPLAN_MAX_IMPORT_ROWS)",
                                              member=member, max_rows=max_rows), field="file", value=p.name)
            src_obj = _open_csv(Path(tmpname), encoding, max_rows, known)
            src_obj._temp.append(Path(tmpname))
            src_obj.path = p
            src_obj.notes.append(_("read {member} from the zip", member=member))
            return src_obj
        sub = Path(member).suffix.lower()
        return _open_vector(p, f"/vsizip/{p}/{member}", FORMATS.get(sub, "shp"), sheet, encoding, max_rows)
    if p.is_dir():
        shps = sorted(p.glob("*.shp")) + sorted(p.glob("*.SHP"))
        if not shps:
            raise ReadError(_("the folder holds no Shapefile (.shp)"), field="file", value=str(p))
        if len(shps) > 1 and sheet is None:
            raise ReadError(_("the folder holds several Shapefiles ({values}); choose one with --sheet NAME",
                              values=', '.join(s.name for s in shps)), field="file", value=str(p))
        chosen = [s for s in shps if s.stem == sheet] if sheet else shps
        if not chosen:
            raise ReadError(_("no Shapefile named {sheet!r} in the folder",
                              sheet=sheet), field="--sheet", value=str(sheet))
        return _open_vector(p, str(chosen[0]), "shp", None, encoding, max_rows)
    if fmt == "kmz":
        # read the KML inside through /vsizip/: GDAL's LIBKML driver opening the .kmz itself drops the
        # ExtendedData schema fields (seen with GDAL 3.12)
        kmls = [i.filename for i in _check_zip(p) if i.filename.lower().endswith(".kml")]
        if not kmls:
            raise ReadError(_("the KMZ holds no .kml document"), field="file", value=p.name)
        member = "doc.kml" if "doc.kml" in kmls else kmls[0]
        return _open_vector(p, f"/vsizip/{p}/{member}", "kmz", sheet, encoding, max_rows)
    return _open_vector(p, str(p), fmt, sheet, encoding, max_rows)


def _open_vector(p: Path, gdal_path: str, fmt: str, layer: str | None, encoding: str | None,
                 max_rows: int | None) -> Source:
    if fmt == "shp":
        base = gdal_path[:-4] if gdal_path.lower().endswith(".shp") else gdal_path
        if gdal_path.startswith("/vsizip/"):
            cpg_present = any(m.lower() == (base.split(f"/vsizip/{p}/", 1)[-1] + ".cpg").lower()
                              for m in zipfile.ZipFile(p).namelist())
        else:
            cpg_present = Path(base + ".cpg").exists() or Path(base + ".CPG").exists()
        if not cpg_present and encoding is None:
            notes = ["no .cpg beside the Shapefile: text read as GDAL guesses (pass --encoding to override)"]
        else:
            notes = []
    else:
        notes = []
    try:
        layers = pyogrio.list_layers(gdal_path)
    except Exception as exc:  # noqa: BLE001  (GDAL says why in its own words)
        raise ReadError(_("GDAL cannot open the file: {exc}",
                          exc=_gdal_msg(exc)), field="file", value=p.name) from None
    if len(layers) == 0:
        raise ReadError(_("the file holds no layer (empty?)"), field="file", value=p.name)
    names = [str(x[0]) for x in layers]
    if layer is None:
        if len(names) > 1 and fmt in ("gpkg",):
            raise ReadError(_("the file has several layers ({names}); choose one with --sheet NAME",
                              names=', '.join(names)),
                            field="--sheet")
        layer = names[0]
    elif layer not in names:
        raise ReadError(_("no layer {layer!r} in the file (layers: {names})",
                          layer=layer, names=', '.join(names)), field="--sheet", value=layer)
    opts: dict[str, str] = {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            info = pyogrio.read_info(gdal_path, layer=layer, encoding=encoding, force_feature_count=fmt != "kml")
    except Exception as exc:  # noqa: BLE001
        raise ReadError(_("GDAL cannot read the file: {exc}",
                          exc=_gdal_msg(exc)), field="file", value=p.name) from None
    if encoding is not None and encoding.lower().replace("-", "") not in ("utf8",):
        # Arrow needs UTF-8: GDAL recodes Shapefile text itself through the ENCODING open option
        if fmt == "shp":
            opts["ENCODING"] = encoding
        else:
            raise ReadError(_("--encoding is only used for CSV and Shapefile input, not {fmt}",
                              fmt=fmt), field="--encoding",
                            value=encoding)
    n = int(info.get("features") or 0)
    if n < 0:
        n = 0
    if max_rows is not None and n > max_rows:
        raise ReadError(_("the file has {n:,} features, more than the limit of {max_rows:,} "
                          "(BTSPLAN_MAX_IMPORT_ROWS)", n=n, max_rows=max_rows),
                        field="file", value=p.name)
    if n == 0 and info.get("features") == 0:
        raise ReadError(_("the file has no features (empty layer)"), field="file", value=p.name)
    crs = info.get("crs")
    return Source(path=p, fmt=fmt, columns=[_nfc(str(c)) for c in info["fields"]], crs=crs,
                  has_geometry=info.get("geometry_type") is not None, geometry_type=info.get("geometry_type"),
                  encoding=info.get("encoding"), n_rows=n or None, notes=notes, gdal_path=gdal_path,
                  layer=layer, open_options=opts)


def _gdal_msg(exc: BaseException) -> str:
    """The first line of what the parser said (the exception's name when it said nothing)."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _open_csv(p: Path, encoding: str | None, max_rows: int | None, known: set[str]) -> Source:
    codec, label = txt.sniff_encoding(p, encoding)
    head = txt.first_lines(p, codec, 30)
    if not any(line.strip(" \t,;\r\n\ufeff") for line in head):
        raise ReadError(_("the file is empty (no header, no rows)"), field="file", value=p.name)
    delim = txt.sniff_delimiter(next(line for line in head if line.strip(" \t,;\r\n\ufeff")))
    cells = [[c.strip().strip('"') for c in line.split(delim)] for line in head]
    header_idx = _find_header(cells, known) if known else 0
    # skip blank/title lines above the header
    while header_idx < len(cells) - 1 and not any(cells[header_idx]):
        header_idx += 1
    info = txt.scan(p, codec, None if max_rows is None else max_rows + header_idx + 1)
    if max_rows is not None and info.lines - info.blank_lines - header_idx - 1 > max_rows:
        raise ReadError(_("the file has more than {max_rows:,} rows (limit BTSPLAN_MAX_IMPORT_ROWS); split "
                          "it or raise the limit", max_rows=max_rows), field="file", value=p.name)
    notes = [_("encoding: {encoding}; delimiter {delimiter!r}", encoding=label, delimiter=delim)]
    if header_idx:
        notes.append(_("header found on row {value} (rows above it skipped as a title)",
                       value=header_idx + 1))
    if info.blank_lines:
        notes.append(_("{blank_lines} blank line(s) skipped: row numbers after them count records",
                       blank_lines=info.blank_lines))
    temp: list[Path] = []
    gdal_path = str(p)
    if codec not in ("utf-8", "utf-8-sig", "utf_8", "utf_8_sig"):
        tmp = txt.transcode_to_utf8(p, codec, skip_lines=header_idx)
        temp.append(tmp)
        gdal_path = str(tmp)
    elif header_idx:
        with open(p, "rb") as f:
            for _skip in range(header_idx):
                f.readline()
            off = f.tell()
        gdal_path = f"/vsisubfile/{off}_{p.stat().st_size - off},{p}"
    opts = {"SEPARATOR": txt.DELIMITERS.get(delim, "COMMA"), "AUTODETECT_TYPE": "NO", "KEEP_GEOM_COLUMNS": "YES",
            "HEADERS": "YES"}
    try:
        # the Arrow stream's metadata names the columns without GDAL counting every row (read_info would)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            with pyogrio.open_arrow(gdal_path, batch_size=1, use_pyarrow=True, **opts) as (meta, _reader):
                pass
    except Exception as exc:  # noqa: BLE001
        for t in temp:
            t.unlink(missing_ok=True)
        raise ReadError(_("GDAL cannot read the CSV: {exc}",
                          exc=_gdal_msg(exc)), field="file", value=p.name) from None
    columns = [_nfc(str(c)) for c in meta["fields"]]
    has_geom = meta.get("geometry_type") is not None
    src = Source(path=p, fmt="csv", columns=columns, crs=None, has_geometry=has_geom,
                 geometry_type=meta.get("geometry_type"), encoding=label,
                 n_rows=max(info.lines - info.blank_lines - header_idx - 1, 0), header_row=header_idx + 1,
                 notes=notes, gdal_path=gdal_path, open_options=opts, _temp=temp)
    if not info.ends_with_newline and txt.unbalanced_quotes(info.last_line):
        src._tail_error = ReadError(_("the file ends inside a quoted value: it looks truncated (the last row "
                                      "was cut off)"), field="file", value=info.last_line[:60], row=None)
    return src


def _open_xlsx(p: Path, sheet: str | None, max_rows: int | None, known: set[str]) -> Source:
    import openpyxl

    part_cap = max(XLSX_FLOOR, XLSX_PART_RATIO * p.stat().st_size)
    _check_zip(p, "XLSX workbook", XLSX_FLOOR,
               lambda name: None if name.lower().startswith("xl/worksheets/") else part_cap)
    try:
        wb = openpyxl.load_workbook(p, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001  (zipfile/XML errors: damaged workbook)
        raise ReadError(_("cannot open the workbook: {exc}",
                          exc=_gdal_msg(exc)), field="file", value=p.name) from None
    try:
        names = wb.sheetnames
        if sheet is None:
            ws_name = names[0]
        elif sheet in names:
            ws_name = sheet
        elif str(sheet).isdigit() and 1 <= int(sheet) <= len(names):
            ws_name = names[int(sheet) - 1]
        else:
            raise ReadError(_("no sheet {sheet!r} (sheets: {names})",
                              sheet=sheet, names=', '.join(names)), field="--sheet", value=str(sheet))
        ws = wb[ws_name]
        head: list[list[Any]] = []
        for values in ws.iter_rows(min_row=1, max_row=30, values_only=True):
            head.append(list(values))
        if not any(any(v is not None and str(v).strip() for v in r) for r in head):
            raise ReadError(_("sheet {ws_name!r} is empty", ws_name=ws_name), field="file", value=p.name)
        idx = _find_header(head, known) if known else 0
        while idx < len(head) - 1 and not any(v is not None and str(v).strip() for v in head[idx]):
            idx += 1
        header = list(head[idx])
        while header and (header[-1] is None or not str(header[-1]).strip()):
            header.pop()
        columns = [_nfc(str(c).strip()) if c is not None else f"column_{i + 1}" for i, c in enumerate(header)]
        dims = ws.max_row
        if max_rows is not None and dims is not None and dims - idx - 1 > max_rows:
            # the dimension may count formatted empty rows: confirm by counting real rows, stopping early
            n = 0
            for values in ws.iter_rows(min_row=idx + 2, values_only=True):
                if any(v is not None for v in values):
                    n += 1
                    if n > max_rows:
                        raise ReadError(_("sheet {ws_name!r} has more than {max_rows:,} rows "
                                          "(BTSPLAN_MAX_IMPORT_ROWS)",
                                          ws_name=ws_name, max_rows=max_rows), field="file", value=p.name)
    finally:
        wb.close()
    notes = [f"sheet {ws_name!r}"]
    if idx:
        notes.append(_("header found on row {value} (rows above it skipped as a title)", value=idx + 1))
    return Source(path=p, fmt="xlsx", columns=columns, n_rows=None if dims is None else max(dims - idx - 1, 0),
                  header_row=idx + 1, notes=notes, sheet=ws_name)
