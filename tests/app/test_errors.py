"""One error model: every kind of refusal has one row in ``app.errors.KINDS``, a refusal raised
anywhere answers as problem+json through one handler, and the CLI turns it into one line."""

from __future__ import annotations

import inspect

import pytest
import typer
from fastapi import FastAPI
from fastapi.testclient import TestClient

import geodata.errors
import planning.errors
from app import errors
from app.console import refused
from geodata.errors import (
    BtsplanError,
    Conflict,
    InvalidField,
    InvalidParameter,
    NotFound,
    StaleVersion,
    Unavailable,
)


def _kinds() -> list[type[BtsplanError]]:
    return [c for mod in (planning.errors, geodata.errors) for _, c in inspect.getmembers(mod, inspect.isclass)
            if issubclass(c, BtsplanError) and c.__module__ == mod.__name__]


def test_every_kind_has_its_own_row() -> None:
    kinds = _kinds()
    assert len(kinds) >= 10
    assert set(kinds) == set(errors.KINDS)
    assert set(geodata.errors.__all__) == {k.__name__ for k in kinds}


def test_a_subclass_without_a_row_answers_as_its_kind() -> None:
    class SiteGone(NotFound):
        pass

    class Odd(BtsplanError):
        pass

    assert errors.status_and_title(SiteGone("no site X")) == (404, "Not found")
    assert errors.status_and_title(Odd("?")) == (400, "Bad request")
    assert errors.status_and_title(StaleVersion("changed", 4)) == (409, "Version conflict")
    # a more specific title travels with the error, the status with its kind
    assert errors.status_and_title(InvalidField("needs a reason", "reason", title="Reason required")) == (
        422, "Reason required")


def _client(exc: Exception) -> TestClient:
    app = FastAPI()
    errors.install(app)

    @app.get("/boom")
    def boom() -> None:
        raise exc

    return TestClient(app)


@pytest.mark.parametrize("exc, status, body", [
    (InvalidField("is in the future", "date"), 422,
     {"title": "Invalid request", "detail": "date: is in the future", "field": "date"}),
    (InvalidParameter("bbox", "not four numbers"), 400,
     {"title": "Invalid query parameter", "detail": "bbox: not four numbers", "param": "bbox"}),
    (StaleVersion("segment X changed", 7), 409,
     {"title": "Version conflict", "detail": "segment X changed", "current_version": 7}),
    (Conflict("already exists", "name"), 409, {"title": "Conflict", "detail": "name: already exists", "field": "name"}),
    (NotFound("no plan 9"), 404, {"title": "Not found", "detail": "no plan 9"}),
])
def test_one_handler_renders_problem_json(exc: BtsplanError, status: int, body: dict[str, object]) -> None:
    r = _client(exc).get("/boom")
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json() == {"type": "about:blank", "status": status, "instance": "/boom", **body}


def test_unavailable_asks_to_retry() -> None:
    r = _client(Unavailable("the query took too long")).get("/boom")
    assert r.status_code == 503 and r.headers["retry-after"] == errors.RETRY_AFTER_S


@pytest.mark.parametrize("exc, code", [(NotFound("no cable segment 'X'"), 1), (Unavailable("cannot reach the database"), 2)])
def test_cli_says_one_line(exc: BtsplanError, code: int, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as e:
        refused(exc)
    assert e.value.exit_code == code
    err = capsys.readouterr().err
    assert [ln for ln in err.splitlines() if ln.strip()] == [f"error: {exc}"]
