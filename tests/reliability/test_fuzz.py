"""Schemathesis against the live OpenAPI schema: every operation, with keys of every role; no 5xx,
responses conform to the schema. ``make test`` runs a bounded number of examples per operation
(``BTSPLAN_FUZZ_EXAMPLES``, default 15); ``make fuzz`` runs many more."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance
from hypothesis import HealthCheck, settings
from sqlalchemy import Engine

from geodata.store.keys import create_key
from app.main import create_app
from geodata.store.db import make_engine, session_factory
from geodata.settings import Settings
from tests.conftest import DatabaseFactory

EXAMPLES = int(os.environ.get("BTSPLAN_FUZZ_EXAMPLES", "15"))


@pytest.fixture(scope="module")
def fuzz_engine(db_factory: DatabaseFactory) -> Iterator[Engine]:
    url = db_factory.clone("spatialite", "demo")
    engine = make_engine(url)
    engine.info_url = url  # type: ignore[attr-defined]
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def role_headers(fuzz_engine: Engine) -> Iterator[dict[str, str]]:
    with session_factory(fuzz_engine)() as s, s.begin():
        keys = {
            "admin": create_key(s, "admin", name="fuzz-admin").secret,
            "planner": create_key(s, "planner", name="fuzz-planner").secret,
            "inspector": create_key(s, "inspector", name="fuzz-inspector").secret,
            "operator": create_key(s, "operator", operator="VTL", name="fuzz-op").secret,
        }
    yield keys


@pytest.fixture(scope="module")
def fuzz_app(fuzz_engine: Engine) -> Any:
    # generous rate limits: the fuzzer is not the brute-forcer the limiters are for
    return create_app(Settings(database_url=str(fuzz_engine.info_url), write_rate_per_minute=100_000,  # type: ignore[attr-defined]
                               anonymous_write_rate_per_minute=100_000, expensive_read_rate_per_minute=100_000))


# The schema does not depend on the database: load it at collection time from an app whose engine is
# never connected; every case is sent to the app on the fuzz database (``app=`` below).
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(Settings(database_url="sqlite:///:memory:")))
_roles = itertools.cycle(["admin", "planner", "inspector", "operator", None])


def _drops_authorization(case: Any) -> bool:
    """A negative case whose headers were generated without the required ``Authorization``: adding a
    key to it would turn it into a valid request, which the server rightly accepts."""
    meta = getattr(case, "meta", None)
    info = meta.components.get(ParameterLocation.HEADER) if meta is not None else None
    return (info is not None and info.mode == GenerationMode.NEGATIVE
            and "authorization" not in {k.lower() for k in (case.headers or {})})


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_api_conforms(case: Any, fuzz_app: Any, role_headers: dict[str, str]) -> None:
    role = next(_roles)
    headers = {"Authorization": f"Bearer {role_headers[role]}"} if role else {}
    if _drops_authorization(case):
        headers = {}  # the negative case is the missing key: send it without one
    # positive_data_acceptance is off: our rules are spatial and stateful (a valid point may lie outside
    # the province, a well-formed code may not exist), which JSON Schema cannot express; such requests
    # get a 4xx problem naming the field (see docs/security.md)
    excluded = [positive_data_acceptance]
    if case.operation.path == "/collections/{collectionId}/items":
        # OGC API Features Part 1 §7.15.4: a `limit` above the declared maximum "SHALL NOT result in an
        # error (instead use the maximum as the parameter value)"; the standard wins over the check
        excluded.append(negative_data_rejection)
    case.call_and_validate(headers=headers, app=fuzz_app, excluded_checks=excluded)
