"""The OpenAPI document tells clients the truth about errors and authentication.

Done once, centrally, instead of decorating every route: every operation gets a ``default``
problem+json response (RFC 9457) so 4xx/5xx answers conform to the schema; FastAPI's 422 is
re-typed as problem+json (that is what ``app.errors`` sends); operations whose key is optional
(public data that a key may widen; ``app.auth`` gives them the ``OptionalBearer`` scheme) declare ``security: [{}, {HTTPBearer: []}]`` so anonymous calls are
documented as allowed, while operations that require a role keep the bearer requirement. Public
operations that never look at the caller are documented the same way: :mod:`app.gate` checks a key
sent to any of them (a wrong one is 401).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

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
        ref = {"$ref": "#/components/schemas/Problem"}
        for path, item in doc.get("paths", {}).items():
            for method, op in item.items():
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
