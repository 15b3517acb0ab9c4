"""GeoJSON, GeoPackage, zipped Shapefile and KML writers for export layers.

GeoJSON (RFC 7946, WGS84) and KML are written as text streams, feature by feature, so the HTTP
layer can send them while reading the database. GeoPackage and Shapefile go through GDAL
(pyogrio), appending chunk by chunk. The Shapefile's .dbf limits names to 10 characters: the short
names are listed beside the full field names and Vietnamese labels in ``<layer>_fields.csv`` inside
the zip, and a ``.cpg`` says UTF-8 so QGIS/ArcGIS read the diacritics.

Language (``--lang`` / ``?lang``): titles, KML display names and values, and the Shapefile sidecar's labels
follow it. GeoJSON, GeoPackage and Shapefile attribute *values* stay codes (``building``, ``planned``): they
are data for GIS tools and scripts, which filter and symbolise on codes that do not change with the reader.
"""

from __future__ import annotations

import json
import math
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd
import shapely

from geodata.io.exports import Column, ExportLayer
from geodata.io.writers.tabular import _cell, _shown, _value_labels, csv_text
from planning.i18n import get_language


def _props(cols: list[Column], arrays: list[np.ndarray], i: int) -> dict[str, Any]:
    return {c.name: _cell(c, a[i]) for c, a in zip(cols, arrays, strict=True)}


def geojson_chunks(layer: ExportLayer) -> Iterator[bytes]:
    cols = layer.columns
    yield (f'{{"type":"FeatureCollection","name":{json.dumps(layer.name)},'
           f'"title":{json.dumps(layer.heading, ensure_ascii=False)},"features":[').encode()
    first = True
    for df in layer.chunks():
        arrays = [df[c.name].to_numpy(dtype=object) for c in cols]
        geoms = df["geometry"].to_numpy(dtype=object)
        gj = shapely.to_geojson(geoms) if len(geoms) else []
        parts = []
        for i in range(len(df)):
            feat = {"type": "Feature", "properties": _props(cols, arrays, i)}
            txt = json.dumps(feat, ensure_ascii=False, default=str)
            g = gj[i] if gj[i] is not None else "null"
            parts.append(("" if first else ",") + txt[:-1] + ',"geometry":' + g + "}")
            first = False
        yield "".join(parts).encode("utf-8")
    yield b"]}\n"


def _frame(layer: ExportLayer, df: pd.DataFrame, short: bool) -> Any:
    import geopandas as gpd

    data = {}
    for c in layer.columns:
        vals = [_cell(c, v) for v in df[c.name].to_numpy(dtype=object)]
        name = c.dbf if short else c.name
        if c.kind == "float":
            data[name] = pd.array([np.nan if v is None else v for v in vals], dtype="float64")
        elif c.kind == "int":
            data[name] = pd.array(vals, dtype="Int64")
        elif c.kind == "bool":
            data[name] = pd.array(vals, dtype="boolean") if not short else pd.array(
                [None if v is None else int(v) for v in vals], dtype="Int64")
        else:
            data[name] = pd.Series(vals, dtype=object)
    geoms = df["geometry"].to_numpy(dtype=object)
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"), crs="EPSG:4326")


def _write_ogr(layer: ExportLayer, path: Path, driver: str, short: bool,
               dataset_options: dict[str, str] | None = None, **opts: Any) -> int:
    import pyogrio

    n = 0
    for df in layer.chunks():
        gdf = _frame(layer, df, short)
        pyogrio.write_dataframe(gdf, path, layer=layer.name, driver=driver, append=n > 0, promote_to_multi=
                                layer.geometry_type != "Point",
                                dataset_options=None if n else dataset_options, **opts)
        n += len(gdf)
    if n == 0:  # an empty export is still a valid, typed layer
        gdf = _frame(layer, pd.DataFrame({**{c.name: [] for c in layer.columns}, "geometry": []}), short)
        pyogrio.write_dataframe(gdf, path, layer=layer.name, driver=driver, geometry_type=
                                "Point" if layer.geometry_type == "Point" else "MultiLineString",
                                dataset_options=dataset_options, **opts)
    return n


#: GeoPackage version written unless asked: 1.2 opens without warnings in GDAL ≤ 3.6 and older QGIS,
#: which flag GDAL's newer default (1.4) as unknown; nothing we write needs a later version
GPKG_VERSION = "1.2"


def write_gpkg(layer: ExportLayer, path: Path, version: str = GPKG_VERSION) -> int:
    path.unlink(missing_ok=True)
    return _write_ogr(layer, path, "GPKG", False, dataset_options={"VERSION": version})


def _check_short_names(cols: list[Column]) -> None:
    names = [c.dbf.lower() for c in cols]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ValueError(f"Shapefile field names clash after shortening: {', '.join(sorted(dupes))}")


def write_shp_zip(layer: ExportLayer, out: Path | IO[bytes]) -> int:
    """A zip with <layer>.shp/.shx/.dbf/.prj/.cpg and <layer>_fields.csv (short name → field, label)."""
    _check_short_names(layer.columns)
    with tempfile.TemporaryDirectory(prefix="btsplan-shp-") as tmp:
        shp = Path(tmp) / f"{layer.name}.shp"
        n = _write_ogr(layer, shp, "ESRI Shapefile", True, encoding="UTF-8")
        cpg = shp.with_suffix(".cpg")
        if not cpg.exists():
            cpg.write_text("UTF-8")
        side = csv_text(["short_name", "field", f"label_{get_language()}", "type"],
                        [[c.dbf, c.name, c.caption, c.kind] for c in layer.columns])
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for f in sorted(Path(tmp).iterdir()):
                z.write(f, f.name)
            z.writestr(f"{layer.name}_fields.csv", side)
    return n


# --------------------------------------------------------------------------------------------
# KML: one style per mast class / severity / status, placemarks with all fields
# --------------------------------------------------------------------------------------------

#: KML colours are aabbggrr
STYLES = {
    "A1a": "ff50b000", "A1b": "ff20d080", "A2a": "ff0080ff", "A2b": "ff0000e0", "A2c": "ff800080",
    "violation": "ff0000e0", "warning": "ff00a5ff", "info": "ffd08020",
    "done": "ff50b000", "in_progress": "ff00a5ff", "planned": "ff0000e0",
    "unknown": "ff9e9e9e",
}


def _style_id(v: Any) -> str:
    s = str(v) if v is not None and not (isinstance(v, float) and math.isnan(v)) else "unknown"
    return s if s in STYLES else "unknown"


def _kml_coords(g: Any) -> str:
    return " ".join(f"{x:.9f},{y:.9f}" for x, y in shapely.get_coordinates(g))


def _kml_geometry(g: Any) -> str:
    if g is None:
        return ""
    t = g.geom_type
    if t == "Point":
        return f"<Point><coordinates>{g.x:.9f},{g.y:.9f}</coordinates></Point>"
    if t == "LineString":
        return f"<LineString><tessellate>1</tessellate><coordinates>{_kml_coords(g)}</coordinates></LineString>"
    if t == "Polygon":
        inner = "".join(f"<innerBoundaryIs><LinearRing><coordinates>{_kml_coords(r)}</coordinates></LinearRing>"
                        f"</innerBoundaryIs>" for r in g.interiors)
        return (f"<Polygon><outerBoundaryIs><LinearRing><coordinates>{_kml_coords(g.exterior)}</coordinates>"
                f"</LinearRing></outerBoundaryIs>{inner}</Polygon>")
    return "<MultiGeometry>" + "".join(_kml_geometry(p) for p in g.geoms) + "</MultiGeometry>"


def kml_chunks(layer: ExportLayer) -> Iterator[bytes]:
    cols = layer.columns
    point = layer.geometry_type == "Point"
    head = ['<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns="http://www.opengis.net/kml/2.2"><Document>',
            f"<name>{escape(layer.caption)}</name><description>{escape(layer.heading)}</description>"]
    for sid, colour in STYLES.items():
        if point:
            head.append(f'<Style id="{sid}"><IconStyle><color>{colour}</color><scale>1.0</scale><Icon><href>'
                        "http://maps.google.com/mapfiles/kml/shapes/placemark_circle.png</href></Icon></IconStyle>"
                        f"<LabelStyle><scale>0.7</scale></LabelStyle></Style>")
        else:
            head.append(f'<Style id="{sid}"><LineStyle><color>{colour}</color><width>3</width></LineStyle></Style>')
    head.append("<Schema name=\"{0}\" id=\"{0}\">".format(escape(layer.name)) + "".join(
        f'<SimpleField name="{escape(_kml_field(c.name))}" type="{_kml_type(c)}"><displayName>{escape(c.caption)}</displayName>'
        "</SimpleField>" for c in cols) + "</Schema>")
    head.append(f"<Folder><name>{escape(layer.name)}</name>")
    yield "".join(head).encode("utf-8")
    label = cols[0].name
    # KML is read by people (Google Earth's balloon): coded values as their labels in the current language,
    # like CSV and XLSX; the importer knows the labels of both languages as words for the codes
    shown = _value_labels(cols)
    for df in layer.chunks():
        arrays = [df[c.name].to_numpy(dtype=object) for c in cols]
        cls = df[layer.class_field].to_numpy(dtype=object) if layer.class_field in df else np.full(len(df), None)
        if layer.class_field == "derived_class" and "declared_class" in df:
            decl = df["declared_class"].to_numpy(dtype=object)
            cls = np.where(pd.isna(cls), decl, cls)
        geoms = df["geometry"].to_numpy(dtype=object)
        out = []
        for i in range(len(df)):
            props = {c.name: _shown(s, v) for c, s, v in zip(cols, shown, _props(cols, arrays, i).values(),
                                                                 strict=True)}
            data = "".join(f'<SimpleData name="{escape(_kml_field(k))}">{escape(_kml_text(v))}</SimpleData>'
                           for k, v in props.items() if v is not None)
            out.append(f"<Placemark><name>{escape(_kml_text(props.get(label)))}</name>"
                       f"<styleUrl>#{_style_id(cls[i])}</styleUrl>"
                       f'<ExtendedData><SchemaData schemaUrl="#{escape(layer.name)}">{data}</SchemaData></ExtendedData>'
                       f"{_kml_geometry(geoms[i])}</Placemark>")
        yield "".join(out).encode("utf-8")
    yield b"</Folder></Document></kml>\n"


def _kml_field(name: str) -> str:
    """KML readers show the placemark label as "Name": a data field called "name" would clash with it."""
    return "site_name" if name == "name" else name


def _kml_type(c: Column) -> str:
    return {"float": "double", "int": "int", "bool": "bool"}.get(c.kind, "string")


def _kml_text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)
