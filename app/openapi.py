"""The OpenAPI document tells clients the truth about errors and authentication.

Done once, centrally, instead of decorating every route: every operation gets a ``default``
problem+json response (RFC 9457) so 4xx/5xx answers conform to the schema; FastAPI's 422 is
re-typed as problem+json (that is what ``app.errors`` sends); operations whose key is optional
(public data that a key may widen; ``app.auth`` gives them the ``OptionalBearer`` scheme) declare ``security: [{}, {HTTPBearer: []}]`` so anonymous calls are
documented as allowed, while operations that require a role keep the bearer requirement. Public
operations that never look at the caller are documented the same way: :mod:`app.gate` checks a key
sent to any of them (a wrong one is 401).

Both documents must pass a validator, because OGC clients (GDAL, QGIS, OWSLib) read them: schemas
that routes hand over inline (``Model.model_json_schema()``) carry their own ``$defs``, which are
hoisted into ``components/schemas`` so every ``$ref`` resolves; and :func:`openapi30` rewrites the
JSON-Schema 2020-12 that FastAPI emits into the OpenAPI 3.0 schema dialect for ``/api``.

``/docs`` (Swagger UI) and ``/redoc`` are our own pages on assets vendored under ``app/static/vendor``
(``scripts/vendor_apidocs.sh``), started by files in ``app/static/apidocs``: they work with the
network cut and under the same strict Content-Security-Policy as the map (no inline script, no CDN).
"""

from __future__ import annotations

import copy
import html
import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse

from app.errors import PROBLEM

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["title", "status"],
    "additionalProperties": True,
}


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        doc.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        _hoist_defs(doc)
        ref = {"$ref": "#/components/schemas/Problem"}
        for item in doc.get("paths", {}).values():
            for op in item.values():
                if not isinstance(op, dict) or "responses" not in op:
                    continue
                responses = op["responses"]
                if "422" in responses:
                    responses["422"] = {"description": "Invalid request (problem details name the field)",
                                        "content": {PROBLEM: {"schema": ref}}}
                responses.setdefault("default", {"description": "Error (problem details)",
                                                  "content": {PROBLEM: {"schema": ref}}})
                security = op.get("security") or [{"OptionalBearer": []}]  # app.gate checks any key sent
                if any("OptionalBearer" in req for req in security):
                    # a key is optional here: anonymous calls are allowed (and documented as such)
                    op["security"] = [{}, *security]
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
    for path, page in (("/docs", _SWAGGER_PAGE), ("/redoc", _REDOC_PAGE)):
        app.add_api_route(path, _doc_page(app, page), methods=["GET", "HEAD"], include_in_schema=False)


_SWAGGER_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} — API (Swagger UI)</title>
<link rel="stylesheet" href="{root}/static/vendor/swagger-ui/swagger-ui.css"></head>
<body><div id="swagger-ui" data-openapi="{spec}"></div>
<script src="{root}/static/vendor/swagger-ui/swagger-ui-bundle.js"></script>
<script src="{root}/static/apidocs/swagger.js"></script></body></html>
"""

_REDOC_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} — API reference (ReDoc)</title></head>
<body><div id="redoc" data-openapi="{spec}"></div>
<script src="{root}/static/vendor/redoc/redoc.standalone.js"></script>
<script src="{root}/static/apidocs/redoc.js"></script></body></html>
"""


def _doc_page(app: FastAPI, template: str) -> Any:
    """An endpoint answering one documentation page; URLs carry the root path, as FastAPI's own pages do."""
    def page(request: Request) -> HTMLResponse:
        root = html.escape(str(request.scope.get("root_path", "")).rstrip("/"))
        spec = f"{root}{html.escape(app.openapi_url or '/openapi.json')}"
        return HTMLResponse(template.format(title=html.escape(app.title), root=root, spec=spec),
                            headers={"Cache-Control": "no-cache"})
    return page


def openapi30(app: FastAPI) -> str:
    """The app's document as OpenAPI 3.0.3 JSON, built once (the 3.1 document never changes after start)."""
    cached: str | None = getattr(app.state, "openapi30", None)
    if cached is None:
        doc = copy.deepcopy(app.openapi())
        doc["openapi"] = "3.0.3"
        doc.pop("jsonSchemaDialect", None)
        doc.pop("webhooks", None)
        doc.get("info", {}).pop("summary", None)
        doc.get("info", {}).get("license", {}).pop("identifier", None)
        doc.get("components", {}).pop("pathItems", None)
        cached = json.dumps(_schemas_to_30(doc), ensure_ascii=False)
        app.state.openapi30 = cached
    return cached


# --------------------------------------------------------------------------------------------
# $defs of inline schemas → components/schemas
# --------------------------------------------------------------------------------------------

_DEFS_REF = "#/$defs/"
_COMPONENT_REF = "#/components/schemas/"


def _hoist_defs(doc: dict[str, Any]) -> None:
    """Move every nested ``$defs`` into ``components/schemas`` and point its refs there.

    A ``$ref: #/$defs/Link`` is resolved against the document root, where no ``$defs`` exists; a
    definition that differs from a component of the same name gets a suffixed name of its own.
    """
    components: dict[str, Any] = doc.setdefault("components", {}).setdefault("schemas", {})
    renames: dict[int, dict[str, str]] = {}

    def collect(node: Any) -> None:
        if isinstance(node, list):
            for v in node:
                collect(v)
        elif isinstance(node, dict):
            defs = node.pop("$defs", None)
            if isinstance(defs, dict):
                names = renames.setdefault(id(node), {})
                for name, schema in defs.items():
                    collect(schema)
                    names[name] = _place(components, name, schema)
                _rewrite_refs(node, names)
            for v in node.values():
                collect(v)

    collect(doc.get("paths", {}))
    collect(components)


def _place(components: dict[str, Any], name: str, schema: Any) -> str:
    candidate, n = name, 1
    while candidate in components and components[candidate] != schema:
        n += 1
        candidate = f"{name}{n}"
    components[candidate] = schema
    return candidate


def _rewrite_refs(node: Any, names: dict[str, str]) -> None:
    if isinstance(node, list):
        for v in node:
            _rewrite_refs(v, names)
    elif isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_DEFS_REF):
            name = ref[len(_DEFS_REF):]
            node["$ref"] = _COMPONENT_REF + names.get(name, name)
        for v in node.values():
            _rewrite_refs(v, names)


# --------------------------------------------------------------------------------------------
# OpenAPI 3.1 (JSON Schema 2020-12) → OpenAPI 3.0 schema objects
# --------------------------------------------------------------------------------------------

#: what an OpenAPI 3.0 Schema Object may hold (besides x- extensions); anything else is 2020-12 only
_SCHEMA_30_KEYS = frozenset({
    "title", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength",
    "minLength", "pattern", "maxItems", "minItems", "uniqueItems", "maxProperties", "minProperties",
    "required", "enum", "type", "allOf", "oneOf", "anyOf", "not", "items", "properties",
    "additionalProperties", "description", "format", "default", "nullable", "discriminator", "readOnly",
    "writeOnly", "example", "externalDocs", "deprecated", "xml",
})
_NULL = {"type": "null"}


def _schemas_to_30(node: Any) -> Any:
    """Walk the document (not a schema): convert every Schema Object found where OpenAPI puts one."""
    if isinstance(node, list):
        return [_schemas_to_30(v) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "schema":
            out[key] = _schema_30(value)
        elif key == "schemas" and isinstance(value, dict):
            out[key] = {name: _schema_30(s) for name, s in value.items()}
        else:
            out[key] = _schemas_to_30(value)
    return out


def _schema_30(schema: Any) -> Any:
    """One schema: nullability becomes ``nullable``, tuples become ``items``, ``const`` an ``enum``, …"""
    if not isinstance(schema, dict):
        return schema
    node = dict(schema)
    nullable = _pop_null(node)
    if "const" in node:
        node["enum"] = [node.pop("const")]
    examples = node.pop("examples", None)
    if isinstance(examples, list) and examples and "example" not in node:
        node["example"] = examples[0]
    for bound, flag in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = node.get(bound)
        if isinstance(value, int | float) and not isinstance(value, bool):
            node[flag] = value
            node[bound] = True
    prefix = node.pop("prefixItems", None)
    if isinstance(prefix, list) and "items" not in node:
        kinds = [s for i, s in enumerate(prefix) if s not in prefix[:i]]
        node["items"] = kinds[0] if len(kinds) == 1 else {"anyOf": kinds}
    if node.get("type") == "array" and "items" not in node:
        node["items"] = {}
    ref = node.pop("$ref", None)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-"):
            out[key] = value
        elif key not in _SCHEMA_30_KEYS:
            continue
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: _schema_30(s) for name, s in value.items()}
        elif key in ("allOf", "anyOf", "oneOf") and isinstance(value, list):
            out[key] = [_schema_30(s) for s in value]
        elif key in ("items", "not", "additionalProperties"):
            out[key] = _schema_30(value)
        else:
            out[key] = value
    if ref is not None:
        # a 3.0 $ref ignores its siblings: keep them meaningful by wrapping the ref
        out = {"allOf": [{"$ref": ref}], **out} if out or nullable else {"$ref": ref}
    if nullable:
        out["nullable"] = True
    return out


def _pop_null(node: dict[str, Any]) -> bool:
    """Take the null alternative out of ``type``/``anyOf``/``oneOf``; True when there was one."""
    found = False
    kind = node.get("type")
    if kind == "null":
        del node["type"]
        found = True
    elif isinstance(kind, list):
        rest = [k for k in kind if k != "null"]
        found = len(rest) < len(kind)
        if len(rest) == 1:
            node["type"] = rest[0]
        else:
            del node["type"]
            if rest:
                node["anyOf"] = [{"type": k} for k in rest]
    for key in ("anyOf", "oneOf"):
        alts = node.get(key)
        if isinstance(alts, list) and _NULL in alts:
            found = True
            rest = [a for a in alts if a != _NULL]
            del node[key]
            if len(rest) == 1 and not (set(rest[0]) & set(node)):
                node.update(rest[0])
            elif rest:
                node[key] = rest
    return found
