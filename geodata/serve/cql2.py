"""OGC API Features Part 3 filters: CQL2 text and JSON, parsed by pygeofilter, translated to SQLAlchemy.

pygeofilter's own SQLAlchemy backend is not used: it needs GeoAlchemy2 comparators and
``ST_GeomFromEWKT`` (absent from SpatiaLite), reads BEFORE/AFTER as inclusive, and lets any column
name through. Walking its AST here keeps the rules of ``?name=value`` filters: only a collection's
queryables (plus its numeric and date properties) may be named, every value is a bound parameter
typed after its property, and a spatial test uses the SpatiaLite R*Tree exactly as ``bbox`` does.
Every error is an :class:`~geodata.errors.InvalidParameter` on ``filter`` saying where it went wrong.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
import shapely.geometry
from lark.exceptions import UnexpectedInput
from pygeofilter import ast, values
from pygeofilter.parsers.cql2_json import parse as parse_json
from pygeofilter.parsers.cql2_text import parse as parse_text
from sqlalchemy import Table, and_, false, func, literal, not_, or_, true
from sqlalchemy.sql.elements import ColumnElement

from geodata.crs import transformer
from geodata.errors import InvalidParameter
from geodata.serve.features import Area, CollectionDef, OutputCrs, Prop, bbox_condition

#: ``filter-lang`` values; ``cql-text`` is the pre-1.0 name GDAL 3.6 and older still send.
TEXT_LANGS = ("cql2-text", "cql-text")
JSON_LANGS = ("cql2-json",)
FILTER_LANGS = (*TEXT_LANGS, *JSON_LANGS)
#: the names a filter may give the feature geometry
GEOMETRY_NAMES = ("geometry", "geom")
MAX_FILTER_CHARS = 20_000

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
    """A parsed filter and the CRS of its geometry literals; compiled per collection and backend."""

    node: ast.Node
    crs: OutputCrs

    def condition(self, coll: CollectionDef, backend: str) -> ColumnElement[bool]:
        return _Translator(coll, backend, self.crs).predicate(self.node)


def parse(text: str, lang: str, crs: OutputCrs) -> Cql2Filter:
    """``filter`` in ``lang`` (one of :data:`FILTER_LANGS`), else a 400 naming the position."""
    if len(text) > MAX_FILTER_CHARS:
        raise _bad(f"longer than {MAX_FILTER_CHARS} characters")
    if lang in TEXT_LANGS:
        return Cql2Filter(_parse_text(text), crs)
    if lang in JSON_LANGS:
        return Cql2Filter(_parse_json(text), crs)
    raise InvalidParameter("filter-lang", f"{lang!r} is not offered; use cql2-text (default) or cql2-json")


def _parse_text(text: str) -> ast.Node:
    try:
        return parse_text(text)  # type: ignore[no-any-return]
    except UnexpectedInput as e:
        near = text[max(0, e.pos_in_stream or 0):][:20] if e.pos_in_stream is not None else ""
        where = f"line {e.line}, column {e.column}"
        raise _bad(f"CQL2 syntax error at {where}" + (f" near {near!r}" if near else " (unexpected end)")) from None
    except Exception as e:  # pygeofilter's transformer raises plain errors on bad literals
        raise _bad(f"invalid CQL2 text: {e}") from None


def _parse_json(text: str) -> ast.Node:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise _bad(f"invalid JSON at line {e.lineno}, column {e.colno} (character {e.pos}): {e.msg}") from None
    try:
        node = parse_json(_standard_between(doc))
    except Exception as e:
        raise _bad(f"invalid CQL2 JSON: {e}") from None
    if not isinstance(node, ast.Node):
        raise _bad("CQL2 JSON must be an operation object ({\"op\": …, \"args\": […]})")
    return node


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
    def __init__(self, coll: CollectionDef, backend: str, crs: OutputCrs) -> None:
        self.coll = coll
        self.table: Table = coll.table
        self.backend = backend
        self.crs = crs

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
            col, _ = self.scalar(node.lhs)
            return col.is_not(None) if node.not_ else col.is_(None)
        if isinstance(node, ast.Like):
            return self._like(node)
        if isinstance(node, ast.SpatialComparisonPredicate):
            return self._spatial(node)
        if isinstance(node, ast.BBox):
            self.geometry(node.lhs)
            return self._spatial_area(shapely.box(node.minx, node.miny, node.maxx, node.maxy), "ST_Intersects")
        if isinstance(node, ast.TemporalPredicate):
            return self._temporal(node)
        raise _bad(f"{type(node).__name__} is not supported; use comparisons, LIKE, IN, BETWEEN, IS NULL, "
                   "S_INTERSECTS and the other S_ functions, T_BEFORE/T_AFTER/T_DURING/T_EQUALS")

    # -- operands
    def prop(self, node: Any) -> Prop:
        if not isinstance(node, ast.Attribute):
            raise _bad(f"expected a property name, found {node!r}")
        prop = self.coll.filterables.get(node.name)
        if prop is None:
            raise _bad(f"unknown property {node.name!r}; filterable properties of {self.coll.id}: "
                       f"{', '.join(sorted(self.coll.filterables))}")
        return prop

    def scalar(self, node: Any) -> tuple[Any, Prop]:
        """A queryable's column, or ``lower(column)`` for CASEI(property)."""
        if isinstance(node, ast.Function) and node.name == "lower" and len(node.arguments) == 1:
            col, prop = self.scalar(node.arguments[0])
            if prop.type != "string":
                raise _bad(f"CASEI needs a text property; {prop.name!r} is {prop.type}")
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
            raise _bad(f"property {prop.name!r} is {'a ' + t if t != 'integer' else 'an integer'}; "
                       f"{v!r} is not (dates are written DATE('2024-01-31'))")
        if t == "date" and isinstance(v, dt.datetime):
            return _naive_utc(v).date()
        if t == "date-time":
            return _naive_utc(v) if isinstance(v, dt.datetime) else dt.datetime.combine(v, dt.time.min)
        return v

    def geometry(self, node: Any) -> None:
        if not (isinstance(node, ast.Attribute) and node.name in GEOMETRY_NAMES):
            raise _bad(f"a spatial function compares the feature geometry (`geometry`), not {node!r}")

    # -- predicates
    def _comparison(self, node: Any) -> ColumnElement[bool]:
        col, prop = self.scalar(node.lhs)
        return _COMPARISONS[type(node)](col, self.value(prop, node.rhs))  # type: ignore[no-any-return]

    def _like(self, node: Any) -> ColumnElement[bool]:
        col, prop = self.scalar(node.lhs)
        if prop.type != "string":
            raise _bad(f"LIKE needs a text property; {prop.name!r} is {prop.type}")
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
        rhs = node.rhs
        if isinstance(rhs, values.Geometry):
            shape = shapely.geometry.shape(rhs.geometry)
        elif isinstance(rhs, values.Envelope):
            shape = shapely.box(rhs.x1, rhs.y1, rhs.x2, rhs.y2)
        else:
            raise _bad(f"the second argument of a spatial function must be a geometry literal, not {rhs!r}")
        return self._spatial_area(shape, _SPATIAL[type(node)])

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
            raise _bad(f"temporal functions need a date property; {prop.name!r} is {prop.type}")
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
            raise _bad(f"{type(node).__name__} is not supported on an instant property; "
                       "use T_BEFORE, T_AFTER, T_DURING (an interval) or T_EQUALS (an instant)")
        return and_(col.is_not(None), *conds)


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
        raise _bad("a geometry literal is invalid or cannot be transformed to WGS 84")
    return shape
