"""Export writers: an :class:`geodata.io.exports.ExportLayer` (or a GeoDataFrame, through
``geodata.io.exports.layer_from_frame``) → CSV, XLSX, GeoJSON, GeoPackage, KML or zipped Shapefile.

Two entry points serve the CLI and the HTTP layer alike:

* ``write(layer, fmt, out)`` writes to a path (or a binary file object);
* ``stream(layer, fmt)`` yields bytes for a streaming HTTP response: CSV, GeoJSON and KML are
  produced chunk by chunk as the database is read; XLSX, GeoPackage and Shapefile need a seekable
  file, so they are built in a temporary file that is then streamed and deleted.

``FORMATS[fmt]`` gives the file suffix and media type, ``filename(layer, fmt)`` the download name.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from geodata.io.exports import ExportLayer
from geodata.io.writers import tabular, vector


@dataclass(frozen=True)
class Format:
    suffix: str
    media_type: str
    streamed: bool  #: produced chunk by chunk (no temporary file)


FORMATS: dict[str, Format] = {
    "csv": Format(".csv", "text/csv; charset=utf-8", True),
    "xlsx": Format(".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", False),
    "geojson": Format(".geojson", "application/geo+json", True),
    "gpkg": Format(".gpkg", "application/geopackage+sqlite3", False),
    "kml": Format(".kml", "application/vnd.google-earth.kml+xml", True),
    "shp": Format(".shp.zip", "application/zip", False),
}
#: the HTTP spelling of a format (``sites.shp.zip``) → format key
BY_SUFFIX = {f.suffix.lstrip("."): k for k, f in FORMATS.items()}

_STREAMS: dict[str, Callable[[ExportLayer], Iterator[bytes]]] = {
    "csv": tabular.csv_chunks, "geojson": vector.geojson_chunks, "kml": vector.kml_chunks,
}


def check_format(fmt: str) -> str:
    f = BY_SUFFIX.get(fmt, fmt)
    if f not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    return f


def filename(layer: ExportLayer, fmt: str) -> str:
    return f"{layer.name}{FORMATS[check_format(fmt)].suffix}"


def output_path(out: Path, fmt: str) -> Path:
    """Where ``--out`` really goes: a Shapefile export is a zip, so 'sites.shp' becomes 'sites.shp.zip'."""
    fmt = check_format(fmt)
    if fmt == "shp" and out.suffix.lower() != ".zip":
        return out.with_name(out.name + ".zip")
    return out


def _write_file(layer: ExportLayer, fmt: str, path: Path) -> None:
    if fmt == "xlsx":
        tabular.write_xlsx(str(path), [tabular.layer_sheet(layer)])
    elif fmt == "gpkg":
        vector.write_gpkg(layer, path)
    elif fmt == "shp":
        vector.write_shp_zip(layer, path)
    else:
        with open(path, "wb") as f:
            for block in _STREAMS[fmt](layer):
                f.write(block)


def write(layer: ExportLayer, fmt: str, out: Path | str | IO[bytes]) -> Path | None:
    """Write ``layer`` as ``fmt`` to a path (returned, after :func:`output_path`) or a binary file."""
    fmt = check_format(fmt)
    if isinstance(out, str | Path):
        path = output_path(Path(out), fmt)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".part-{path.name}")
        try:
            _write_file(layer, fmt, tmp)
            os.replace(tmp, path)  # a failed export never leaves a half-written file under the real name
        finally:
            tmp.unlink(missing_ok=True)
        return path
    for block in stream(layer, fmt):
        out.write(block)
    return None


def stream(layer: ExportLayer, fmt: str, block_size: int = 1 << 16) -> Iterator[bytes]:
    """Bytes of the export, for ``StreamingResponse``; temporary files are removed when done."""
    fmt = check_format(fmt)
    if fmt in _STREAMS:
        yield from _STREAMS[fmt](layer)
        return
    fd, name = tempfile.mkstemp(prefix="btsplan-export-", suffix=FORMATS[fmt].suffix)
    os.close(fd)
    path = Path(name)
    try:
        path.unlink()
        _write_file(layer, fmt, path)
        with open(path, "rb") as f:
            while b := f.read(block_size):
                yield b
    finally:
        path.unlink(missing_ok=True)


__all__ = ["BY_SUFFIX", "FORMATS", "Format", "check_format", "filename", "output_path", "stream", "write"]


