"""OGC API Features Part 3 filters: CQL2 text and JSON, parsed by pygeofilter, translated to SQLAlchemy.

pygeofilter's own SQLAlchemy backend is not used: it needs GeoAlchemy2 comparators and
``ST_GeomFromEWKT`` (absent from SpatiaLite), reads BEFORE/AFTER as inclusive, and lets any column
name through. Walking its AST here keeps the rules of ``?name=value`` filters: only a collection's
queryables (plus its numeric and date properties) may be named, every value is a bound parameter
typed after its property, and a spatial test uses the SpatiaLite R*Tree exactly as ``bbox`` does.
Every error is an :class:`~geodata.errors.InvalidParameter` on ``filter`` saying where it went wrong.

``S_DWITHIN(geometry, <literal>, <metres>)`` (text) and ``{"op": "s_dwithin", "args": [..., ..., m]}``
(JSON) are read too: pygeofilter 0.4 (the newest release) has the AST node but neither grammar names
it, so the text grammar is pygeofilter's own extended by that one rule, and the JSON form is taken
apart around it. The distance is in metres in the province's metric CRS.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
import shapely.geometry
from lark import Lark, v_args
from lark.exceptions import UnexpectedInput
from pygeofilter import ast, values
from pygeofilter.parsers.cql2_json import parse as parse_json
from pygeofilter.parsers.cql2_text import parser as text_parser
from sqlalchemy import Table, and_, false, func, literal, not_, or_, true
from sqlalchemy.sql.elements import ColumnElement

from geodata.crs import transformer
from geodata.errors import InvalidParameter
from geodata.serve.features import Area, CollectionDef, OutputCrs, Prop, bbox_condition
from planning.i18n import _

#: ``filter-lang`` values; ``cql-text`` is the pre-1.0 name GDAL 3.6 and older still send.
TEXT_LANGS = ("cql2-text", "cql-text")
JSON_LANGS = ("cql2-json",)
FILTER_LANGS = (*TEXT_LANGS, *JSON_LANGS)
#: the names a filter may give the feature geometry
GEOMETRY_NAMES = ("geometry", "geom")
MAX_FILTER_CHARS = 20_000
#: chord error of the circle arcs that stand for a distance around a literal, as a share of the distance
_ARC_SEGMENTS = 64  # per quarter circle: 0.0075 % of the distance (7.5 cm at 1 km)

_COMPARISONS = {
    ast.Equal: lambda c, v: c == v,
    ast.NotEqual: lambda c, v: c != v,
    ast.LessThan: lambda c, v: c < v,
    ast.LessEqual: lambda c, v: c <= v,
    ast.GreaterThan: lambda c, v: c > v,
    ast.GreaterEqual: lambda c, v: c >= v,
}

_SPATIAL = {
    ast.GeometryIntersects: "ST_Intersects",
    ast.GeometryDisjoint: "ST_Disjoint",
    ast.GeometryContains: "ST_Contains",
    ast.GeometryWithin: "ST_Within",
    ast.GeometryTouches: "ST_Touches",
    ast.GeometryCrosses: "ST_Crosses",
    ast.GeometryOverlaps: "ST_Overlaps",
    ast.GeometryEquals: "ST_Equals",
}


def _bad(message: str) -> InvalidParameter:
    return InvalidParameter("filter", message)


@dataclass(frozen=True)
class Cql2Filter:
    """A parsed filter, the CRS of its geometry literals and the metric CRS distances are measured in;
    compiled per collection and backend."""

    node: ast.Node
    crs: OutputCrs
    metric_crs: str = "EPSG:9210"

    def condition(self, coll: CollectionDef, backend: str) -> ColumnElement[bool]:
        return _Translator(coll, backend, self.crs, self.metric_crs).predicate(self.node)


def parse(text: str, lang: str, crs: OutputCrs, metric_crs: str = "EPSG:9210") -> Cql2Filter:
    """``filter`` in ``lang`` (one of :data:`FILTER_LANGS`), else a 400 naming the position."""
    if len(text) > MAX_FILTER_CHARS:
        raise _bad(_("longer than {max_filter_chars} characters", max_filter_chars=MAX_FILTER_CHARS))
    if lang in TEXT_LANGS:
        return Cql2Filter(_parse_text(text), crs, metric_crs)
    if lang in JSON_LANGS:
        return Cql2Filter(_parse_json(text), crs, metric_crs)
    raise InvalidParameter("filter-lang", _("{lang!r} is not offered; use cql2-text (default) or cql2-json",
                                            lang=lang))


class _Transformer(text_parser.CQLTransformer):  # type: ignore[misc]
    """pygeofilter's transformer, plus the one rule the grammar below adds."""

    @v_args(inline=True)
    def dwithin_spatial_predicate(self, lhs: Any, rhs: Any, distance: Any) -> ast.DistanceWithin:
        return ast.DistanceWithin(lhs, rhs, distance, "meters")


_DWITHIN_RULE = """
%extend spatial_predicate: "S_DWITHIN"i "(" expression "," expression "," full_number ")" -> dwithin_spatial_predicate
"""

_TEXT_PARSER = Lark(
    Path(text_parser.__file__).with_name("grammar.lark").read_text(encoding="utf-8") + _DWITHIN_RULE,
    parser="lalr", maybe_placeholders=False, transformer=_Transformer(),
    import_paths=[str(Path(text_parser.__file__).parents[1])],
)


def _parse_text(text: str) -> ast.Node:
    try:
        return _TEXT_PARSER.parse(text)
    except UnexpectedInput as e:
        near = text[max(0, e.pos_in_stream or 0):][:20] if e.pos_in_stream is not None else ""
        raise _bad(_("CQL2 syntax error at line {line}, column {column} near {near!r}", line=e.line, column=e.column,
                     near=near) if near else
                   _("CQL2 syntax error at line {line}, column {column} (unexpected end)", line=e.line,
                     column=e.column)) from None
    except Exception as e:  # pygeofilter's transformer raises plain errors on bad literals
        raise _bad(_("invalid CQL2 text: {e}", e=e)) from None


def _parse_json(text: str) -> ast.Node:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise _bad(_("invalid JSON at line {lineno}, column {colno} (character {pos}): {msg}",
                     lineno=e.lineno, colno=e.colno, pos=e.pos, msg=e.msg)) from None
    try:
        node = _json_node(_standard_between(doc))
    except InvalidParameter:
        raise
    except Exception as e:
        raise _bad(_("invalid CQL2 JSON: {e}", e=e)) from None
    if not isinstance(node, ast.Node):
        raise _bad(_("CQL2 JSON must be an operation object ({\"op\": …, \"args\": […]})"))
    return node


def _has_dwithin(doc: Any) -> bool:
    if isinstance(doc, list):
        return any(_has_dwithin(v) for v in doc)
    return isinstance(doc, dict) and (str(doc.get("op", "")).lower() == "s_dwithin"
                                      or any(_has_dwithin(v) for v in doc.values()))


def _json_node(doc: Any) -> Any:
    """pygeofilter's reading of a CQL2 JSON document, except around ``s_dwithin`` (which it does not
    know): that operation and the and/or/not above it are built here, their operands by pygeofilter."""
    if not _has_dwithin(doc):
        return parse_json(doc)
    op = str(doc.get("op", "")).lower() if isinstance(doc, dict) else ""
    args = doc.get("args") if isinstance(doc, dict) else None
    if not isinstance(args, list):
        raise _bad(_("s_dwithin may appear only inside and, or and not operations"))
    if op == "s_dwithin":
        if len(args) != 3 or isinstance(args[2], bool) or not isinstance(args[2], int | float):
            raise _bad(_("s_dwithin takes three arguments: the geometry property, a geometry and a distance "
                         "in metres"))
        return ast.DistanceWithin(parse_json(args[0]), parse_json(args[1]), args[2], "meters")
    if op in ("and", "or"):
        return (ast.And if op == "and" else ast.Or).from_items(*[_json_node(a) for a in args])
    if op == "not" and len(args) == 1:
        return ast.Not(_json_node(args[0]))
    raise _bad(_("s_dwithin may appear only inside and, or and not operations"))


def _standard_between(node: Any) -> Any:
    """CQL2 1.0 writes ``between`` as ``[value, low, high]``; pygeofilter 0.4 reads the draft's
    ``[value, [low, high]]``. Rewriting only that shape keeps the parser pygeofilter's."""
    if isinstance(node, list):
        return [_standard_between(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _standard_between(v) for k, v in node.items()}
    args = out.get("args")
    if out.get("op") == "between" and isinstance(args, list) and len(args) == 3:
        out["args"] = [args[0], [args[1], args[2]]]
    return out


class _Translator:
    def __init__(self, coll: CollectionDef, backend: str, crs: OutputCrs, metric_crs: str) -> None:
        self.coll = coll
        self.table: Table = coll.table
        self.backend = backend
        self.crs = crs
        self.metric_crs = metric_crs

    # -- logic
    def predicate(self, node: Any) -> ColumnElement[bool]:
        if isinstance(node, ast.And):
            return and_(self.predicate(node.lhs), self.predicate(node.rhs))
        if isinstance(node, ast.Or):
            return or_(self.predicate(node.lhs), self.predicate(node.rhs))
        if isinstance(node, ast.Not):
            return not_(self.predicate(node.sub_node))
        if isinstance(node, ast.Include):
            return true() if not node.not_ else false()
        if isinstance(node, ast.Comparison):
            return self._comparison(node)
        if isinstance(node, ast.Between):
            col, prop = self.scalar(node.lhs)
            cond = col.between(self.value(prop, node.low), self.value(prop, node.high))
            return not_(cond) if node.not_ else cond
        if isinstance(node, ast.In):
            col, prop = self.scalar(node.lhs)
            cond = col.in_([self.value(prop, v) for v in node.sub_nodes])
            return not_(cond) if node.not_ else cond
        if isinstance(node, ast.IsNull):
            col, _kind = self.scalar(node.lhs)
            return col.is_not(None) if node.not_ else col.is_(None)
        if isinstance(node, ast.Like):
            return self._like(node)
        if isinstance(node, ast.DistanceWithin):
            return self._dwithin(node)
        if isinstance(node, ast.SpatialComparisonPredicate):
            return self._spatial(node)
        if isinstance(node, ast.BBox):
            self.geometry(node.lhs)
            return self._spatial_area(shapely.box(node.minx, node.miny, node.maxx, node.maxy), "ST_Intersects")
        if isinstance(node, ast.TemporalPredicate):
            return self._temporal(node)
        raise _bad(_("{name} is not supported; use comparisons, LIKE, IN, BETWEEN, IS NULL, S_INTERSECTS and "
                     "the other S_ functions, S_DWITHIN, T_BEFORE/T_AFTER/T_DURING/T_EQUALS",
                     name=type(node).__name__))

    # -- operands
    def prop(self, node: Any) -> Prop:
        if not isinstance(node, ast.Attribute):
            raise _bad(_("expected a property name, found {node!r}", node=node))
        prop = self.coll.filterables.get(node.name)
        if prop is None:
            raise _bad(_("unknown property {name!r}; filterable properties of {id}: {values}",
                         name=node.name, id=self.coll.id, values=', '.join(sorted(self.coll.filterables))))
        return prop

    def scalar(self, node: Any) -> tuple[Any, Prop]:
        """A queryable's column, or ``lower(column)`` for CASEI(property)."""
        if isinstance(node, ast.Function) and node.name == "lower" and len(node.arguments) == 1:
            col, prop = self.scalar(node.arguments[0])
            if prop.type != "string":
                raise _bad(_("CASEI needs a text property; {name!r} is {type}",
                             name=prop.name, type=prop.type))
            return func.lower(col), prop
        prop = self.prop(node)
        return self.table.c[prop.column], prop

    def value(self, prop: Prop, v: Any) -> Any:
        """``v`` as the property's type, so each side of a comparison agrees on both backends."""
        if isinstance(v, ast.Function) and v.name == "lower" and len(v.arguments) == 1:
            return func.lower(literal(self.value(prop, v.arguments[0])))
        t = prop.type
        ok = {"string": isinstance(v, str),
              "number": isinstance(v, int | float) and not isinstance(v, bool),
              "integer": isinstance(v, int) and not isinstance(v, bool),
              "boolean": isinstance(v, bool),
              "date": isinstance(v, dt.date),
              "date-time": isinstance(v, dt.date)}.get(t, False)
        if not ok:
            raise _bad(_("property {name!r} is {value}; {v!r} is not (dates are written DATE('2024-01-31'))",
                         name=prop.name, value='a ' + t if t != 'integer' else 'an integer', v=v))
        if t == "date" and isinstance(v, dt.datetime):
            return _naive_utc(v).date()
        if t == "date-time":
            return _naive_utc(v) if isinstance(v, dt.datetime) else dt.datetime.combine(v, dt.time.min)
        return v

    def geometry(self, node: Any) -> None:
        if not (isinstance(node, ast.Attribute) and node.name in GEOMETRY_NAMES):
            raise _bad(_("a spatial function compares the feature geometry (`geometry`), not {node!r}",
                         node=node))

    # -- predicates
    def _comparison(self, node: Any) -> ColumnElement[bool]:
        col, prop = self.scalar(node.lhs)
        return _COMPARISONS[type(node)](col, self.value(prop, node.rhs))  # type: ignore[no-any-return]

    def _like(self, node: Any) -> ColumnElement[bool]:
        col, prop = self.scalar(node.lhs)
        if prop.type != "string":
            raise _bad(_("LIKE needs a text property; {name!r} is {type}", name=prop.name, type=prop.type))
        pattern = node.pattern
        if not isinstance(pattern, str):
            pattern = self.value(prop, pattern)
        cond = col.like(pattern, escape="\\")
        if self.backend != "postgis" and isinstance(pattern, str) and not isinstance(node.lhs, ast.Function):
            # SQLite's LIKE ignores ASCII case; CQL2's LIKE does not: GLOB keeps the case
            cond = and_(cond, col.op("GLOB")(_like_to_glob(pattern)))
        return not_(cond) if node.not_ else cond

    def _spatial(self, node: Any) -> ColumnElement[bool]:
        self.geometry(node.lhs)
        return self._spatial_area(_literal(node.rhs), _SPATIAL[type(node)])

    def _dwithin(self, node: Any) -> ColumnElement[bool]:
        """Features within ``distance`` metres of the literal, measured in the metric CRS: for sites
        exactly, on their stored metric coordinates; for other geometries, as intersecting the
        literal's buffer drawn in that CRS (its arcs within :data:`_ARC_SEGMENTS`' chord error)."""
        self.geometry(node.lhs)
        d = node.distance
        if isinstance(d, bool) or not isinstance(d, int | float) or not np.isfinite(d) or d < 0:
            raise _bad(_("the S_DWITHIN distance must be a number of metres, 0 or more, not {d!r}", d=d))
        fwd = transformer("EPSG:4326", self.metric_crs)
        inv = transformer(self.metric_crs, "EPSG:4326")
        metric = shapely.transform(_to_lonlat(_literal(node.rhs), self.crs),
                                   lambda xy: np.column_stack(fwd.transform(xy[:, 0], xy[:, 1])))

        def lonlat_area(reach: float) -> Any:
            ring = shapely.segmentize(metric.buffer(reach, quad_segs=_ARC_SEGMENTS), max(reach / 8, 1.0))
            return shapely.transform(ring, lambda xy: np.column_stack(inv.transform(xy[:, 0], xy[:, 1])))

        if "x_m" not in self.table.c:
            area = lonlat_area(float(d))
            return bbox_condition(self.table, self.backend, Area(tuple(shapely.bounds(area).tolist()), area))
        # an index-using envelope a little larger than the reach, then the metric distance itself
        x0, y0, x1, y1 = shapely.bounds(lonlat_area(float(d) * 1.001 + 1.0)).tolist()
        near = bbox_condition(self.table, self.backend, Area((x0, y0, x1, y1), shapely.box(x0, y0, x1, y1)))
        t = self.table
        within = func.ST_Distance(func.ST_Point(t.c.x_m, t.c.y_m), func.ST_GeomFromText(literal(shapely.to_wkt(metric)), 0)) <= d
        return and_(near, t.c.x_m.is_not(None), within)

    def _spatial_area(self, shape: Any, fn: str) -> ColumnElement[bool]:
        shape = _to_lonlat(shape, self.crs)
        if fn == "ST_Intersects":
            x0, y0, x1, y1 = shapely.bounds(shape).tolist()
            return bbox_condition(self.table, self.backend, Area((x0, y0, x1, y1), shape))
        other = func.ST_GeomFromText(literal(shapely.to_wkt(shape)), 4326)
        return getattr(func, fn)(self.table.c.geom, other)  # type: ignore[no-any-return]

    def _temporal(self, node: Any) -> ColumnElement[bool]:
        col, prop = self.scalar(node.lhs)
        if prop.type not in ("date", "date-time"):
            raise _bad(_("temporal functions need a date property; {name!r} is {type}",
                         name=prop.name, type=prop.type))
        rhs = node.rhs
        if isinstance(rhs, values.Interval):
            start = None if rhs.start is None else self.value(prop, rhs.start)
            end = None if rhs.end is None else self.value(prop, rhs.end)
        else:
            start = end = self.value(prop, rhs)
        conds: list[ColumnElement[bool]]
        if isinstance(node, ast.TimeAfter):
            conds = [col > end] if end is not None else [false()]
        elif isinstance(node, ast.TimeBefore):
            conds = [col < start] if start is not None else [false()]
        elif isinstance(node, ast.TimeDuring) and isinstance(rhs, values.Interval):
            conds = [c for c in ((col > start) if start is not None else None,
                                 (col < end) if end is not None else None) if c is not None]
        elif isinstance(node, ast.TimeEquals) and not isinstance(rhs, values.Interval):
            conds = [col == start]
        else:
            raise _bad(_("{name} is not supported on an instant property; use T_BEFORE, T_AFTER, T_DURING "
                         "(an interval) or T_EQUALS (an instant)", name=type(node).__name__))
        return and_(col.is_not(None), *conds)


def _literal(rhs: Any) -> Any:
    """The shapely geometry of a spatial function's literal (in ``filter-crs``)."""
    if isinstance(rhs, values.Geometry):
        return shapely.geometry.shape(rhs.geometry)
    if isinstance(rhs, values.Envelope):
        return shapely.box(rhs.x1, rhs.y1, rhs.x2, rhs.y2)
    raise _bad(_("the second argument of a spatial function must be a geometry literal, not {rhs!r}",
                 rhs=rhs))


def _naive_utc(v: dt.datetime) -> dt.datetime:
    return v.astimezone(dt.UTC).replace(tzinfo=None) if v.tzinfo is not None else v


def _like_to_glob(pattern: str) -> str:
    """A CQL2 LIKE pattern (``%``, ``_``, ``\\`` escape) as the equivalent SQLite GLOB pattern."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            i += 1
            ch = pattern[i]
            out.append(f"[{ch}]" if ch in "*?[" else ch)
        elif ch == "%":
            out.append("*")
        elif ch == "_":
            out.append("?")
        else:
            out.append(f"[{ch}]" if ch in "*?[" else ch)
        i += 1
    return "".join(out)


def _to_lonlat(shape: Any, crs: OutputCrs) -> Any:
    """A geometry literal in ``filter-crs`` → WGS 84 lon/lat (the storage CRS)."""
    if crs.swap:
        shape = shapely.transform(shape, lambda xy: xy[:, ::-1])
    if crs.epsg not in (None, 4326):
        t = transformer(crs.pyproj, "EPSG:4326")
        shape = shapely.transform(shape, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
    if not shapely.is_valid(shape) or not np.isfinite(shapely.bounds(shape)).all():
        raise _bad(_("a geometry literal is invalid or cannot be transformed to WGS 84"))
    return shape
