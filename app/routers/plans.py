"""Firms' plan submissions over HTTP: create (idempotent), edit drafts, submit, review, decide, report.

Who may do what:
- ``operator`` keys create, edit and submit their own firm's plans and read only those; another
  firm's plan id answers 404 (not 403), so ids reveal nothing.
- ``planner`` keys take plans under review and decide (approve / return / reject, item by item).
- ``admin`` and ``inspector`` keys read every plan.
- What a firm reads of other firms' pending plans (reports, previews, counts) and of the staff who
  acted on its plan (history) is cut to need to know: see ``redact_for_operator`` and docs/security.md.

Concurrency: every plan carries ``lock_version`` (also sent as the ``ETag``). Send it back (body
``lock_version`` or ``If-Match``) and a stale value answers 409; even without it, two simultaneous
writers are serialised by the optimistic lock and the loser gets 409, never a lost update.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError

from app.auth import AnyKey, AnyKeyExpensiveRead, OperatorOnly, PlannerOnly, Principal
from app.deps import MAX_OFFSET, EngineDep, SettingsDep
from app.errors import Problem
from app.negotiation import prefers_html
from app.plan_report import DOCX, XLSX, cached_render
from app.schemas import IsoDate
from geodata.work import appraisal as gapp
from geodata.work import plans as gp
from geodata.store.db import transaction
from geodata.store.meta import data_version
from planning.appraisal import redact_for_operator
from planning.plan_items import parse_plan, plan_json_schema
from planning.vocab import DECISIONS_NEEDING_REASON, ItemDecisionValue, PlanDecision, PlanStatus
from planning import i18n
from planning.findings import localise_messages
from planning.i18n import N_, _

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from geodata.store.models import PlanSubmission

router = APIRouter(tags=["plans"])

PlanId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Plan id")]
GEOJSON_TYPES = ("application/json", "application/geo+json")
IfMatch = Annotated[str | None, Header(description='The plan\'s ETag (its lock_version), e.g. "3"',
                                       pattern=r'^\s*(W/)?("\d{1,10}"|\d{1,10}|\*)\s*$', max_length=20)]


def _scope(who: Principal) -> str | None:
    """The firm an operator key is limited to; ``None`` for staff (they see every firm)."""
    return who.operator if who.role == "operator" else None


def _firm_summary(plan: PlanSubmission) -> dict[str, Any]:
    """The headline of a plan as its firm reads it (counts of the redacted report)."""
    return gp.summary(plan, staff=False)


def _if_match(if_match: IfMatch = None) -> int | None:
    """The ``lock_version`` the client read, from ``If-Match``; ``None`` when it sent none or ``*``."""
    if if_match is None or not if_match.strip() or if_match.strip() == "*":
        return None
    v = if_match.strip().removeprefix("W/").strip('"')
    if not v.isdigit():
        raise Problem(400, N_("Bad If-Match"), _("If-Match must be the plan's ETag, e.g. \"3\""), field="If-Match")
    return int(v)


#: ``If-Match`` parsed before the handler runs (after the key is checked)
ExpectedVersion = Annotated[int | None, Depends(_if_match)]


def _etag(lock_version: int) -> dict[str, str]:
    return {"ETag": f'"{lock_version}"'}


def _tagged(out: dict[str, Any]) -> JSONResponse:
    """A plan document with its ``lock_version`` as ETag, ready to be sent back as ``If-Match``."""
    return JSONResponse(out, headers=_etag(out["lock_version"]))


def _change(engine: Engine, plan_id: int, operator: str | None,
            write: Callable[[Session, PlanSubmission], object],
            summarise: Callable[[PlanSubmission], dict[str, Any]] = gp.summary) -> JSONResponse:
    """One write to one plan in its own transaction. The answer is summarised inside the transaction,
    after the write, so its ETag is the new ``lock_version``; ``operator`` limits which plans are found."""
    with transaction(engine) as session:
        plan = gp.get_plan(session, plan_id, operator)
        write(session, plan)
        out = summarise(plan)
    return _tagged(out)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number in JSON")


async def _parse(request: Request, settings: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in GEOJSON_TYPES:
        raise Problem(415, N_("Unsupported media type"), _("send the plan as application/geo+json or "
                                                           "application/json"),
                      field="Content-Type")
    raw = await request.body()  # at most max_plan_bytes and nested sanely: app.gate saw to it
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Problem(400, N_("Invalid JSON"), _("the body is not valid UTF-8 JSON: {exc}",
                                                 exc=exc)) from None
    res = parse_plan(body, max_features=settings.max_plan_features)
    if not res.ok:
        first = res.errors[0]
        raise Problem(422, N_("Invalid plan"), f"{first.path}: {first.message}"
                      + (f" (and {len(res.errors) - 1} more problem(s))" if len(res.errors) > 1 else ""),
                      errors=[e.as_dict() for e in res.errors])
    return body, res.features


def _check_sites(session: Any, operator: str, features: list[dict[str, Any]]) -> None:
    errs = gp.check_against_sites(session, operator, features)
    if errs:
        raise Problem(422, N_("Invalid plan"), f"{errs[0].path}: {errs[0].message}"
                      + (f" (and {len(errs) - 1} more problem(s))" if len(errs) > 1 else ""),
                      errors=[e.as_dict() for e in errs])


_PLAN_BODY = {"requestBody": {"required": True, "content": {
    t: {"schema": plan_json_schema()} for t in ("application/geo+json", "application/json")}}}


@router.post("/plans", status_code=201, summary="Submit a plan dossier (GeoJSON FeatureCollection) as a draft",
             openapi_extra=_PLAN_BODY,
             responses={200: {"description": "Idempotent replay: the plan created earlier with this key"},
                        409: {"description": "Idempotency-Key reused with a different body"},
                        413: {"description": "Body or feature count over the limit"},
                        422: {"description": "Invalid item: `errors` names feature index and field"}})
async def create_plan(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    who: OperatorOnly,
    idempotency_key: Annotated[str | None, Header(max_length=200, description="Replay-safe key")] = None,
) -> JSONResponse:
    """Items: ``properties.item`` ∈ new_site | change_site | remove_site | share_site | cable_route
    (``site_code`` for changes, removals and sharing). The whole collection is validated; any invalid
    feature rejects the submission (422 listing every feature index and field) and nothing is stored."""
    body, features = await _parse(request, settings)
    assert who.operator is not None
    key = (idempotency_key or "").strip() or None
    for attempt in (1, 2):
        try:
            with transaction(engine) as session:
                if not key or gp.by_idempotency_key(session, who.operator, key) is None:
                    _check_sites(session, who.operator, features)
                res = gp.create_plan(session, who.operator, who.actor, body, features, key)
                out = _firm_summary(res.plan)
            break
        except IntegrityError:
            # the same Idempotency-Key raced us and won: the retry answers as a replay (200) or 409
            if key is None or attempt == 2:
                raise
    return JSONResponse(out, status_code=201 if res.created else 200, headers={
        **_etag(out["lock_version"]), "Location": f"/plans/{out['id']}"})


@router.get("/plans", summary="List plans (operators: their own firm's only)")
def list_plans(
    engine: EngineDep,
    who: AnyKey,
    status: Annotated[PlanStatus | None, Query()] = None,
    operator: Annotated[str | None, Query(max_length=20, description="Staff only: one firm")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    scope = _scope(who) or operator
    with transaction(engine) as session:
        rows, total = gp.list_plans(session, scope, status, limit, offset)
        return {"plans": [gp.summary(p, who.is_staff) for p in rows], "numberMatched": total,
                "numberReturned": len(rows)}


@router.get("/plans/{plan_id}", summary="One plan with its items, decisions and history")
def get_plan(plan_id: PlanId, engine: EngineDep, who: AnyKey) -> JSONResponse:
    with transaction(engine) as session:
        plan = gp.get_plan(session, plan_id, _scope(who))
        out = gp.detail(session, plan, who.is_staff)
    return _tagged(out)


@router.put("/plans/{plan_id}", summary="Replace the items of a draft or returned plan", openapi_extra=_PLAN_BODY)
async def update_plan(
    plan_id: PlanId,
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    who: OperatorOnly,
    expected: ExpectedVersion,
) -> JSONResponse:
    body, features = await _parse(request, settings)

    def replace_items(session: Session, plan: PlanSubmission) -> None:
        _check_sites(session, plan.operator, features)
        gp.update_draft(session, plan, who.actor, body, features, expected)

    return _change(engine, plan_id, who.operator, replace_items, _firm_summary)


@router.post("/plans/{plan_id}/submit", summary="Freeze a version and generate the appraisal report")
def submit_plan(
    plan_id: PlanId,
    engine: EngineDep,
    settings: SettingsDep,
    who: OperatorOnly,
    expected: ExpectedVersion,
) -> JSONResponse:
    with transaction(engine) as session:
        plan = gp.get_plan(session, plan_id, who.operator)
        if plan.status not in gp.EDITABLE:
            raise gp.PlanConflict(_("plan {id} is {status}; only draft or returned plans can be submitted",
                                    id=plan.id, status=plan.status))
        features, lock = gp.features_of(plan), plan.lock_version
    # the appraisal reads sites, zones and other firms' plans outside the write transaction
    report = gapp.build_report(engine, settings, plan_id, who.operator or "", features)
    return _change(engine, plan_id, who.operator, lambda session, plan: gp.submit(
        session, plan, who.actor, report, expected if expected is not None else lock), _firm_summary)


@router.post("/plans/{plan_id}/review", summary="Planner takes a submitted plan under review")
def review_plan(
    plan_id: PlanId,
    engine: EngineDep,
    who: PlannerOnly,
    expected: ExpectedVersion,
) -> JSONResponse:
    return _change(engine, plan_id, None,
                   lambda session, plan: gp.start_review(session, plan, who.actor, expected))


class ItemDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    index: int = Field(ge=0, description="0-based index of the item in the plan")
    decision: ItemDecisionValue
    reason: str | None = Field(None, max_length=2000)


class DecisionIn(BaseModel):
    # "return" and "reject" need a reason: said in the schema too, so clients and fuzzers know
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "if": {"properties": {"decision": {"enum": list(DECISIONS_NEEDING_REASON)}}, "required": ["decision"]},
        "then": {"required": ["reason"], "properties": {"reason": {"type": "string", "pattern": "\\S"}}},
    })
    decision: PlanDecision
    reason: str | None = Field(None, max_length=4000, description="Required to return or reject")
    lock_version: int | None = Field(None, ge=1, description="The lock_version you read (409 if stale)")
    items: list[ItemDecisionIn] = Field(default_factory=list, max_length=10000,
                                        description="Item-level decisions; unlisted items follow the plan decision")


@router.post("/plans/{plan_id}/decision", summary="Planner decides: approve | return | reject (item by item)")
def decide_plan(
    plan_id: PlanId,
    body: DecisionIn,
    engine: EngineDep,
    settings: SettingsDep,
    who: PlannerOnly,
    if_match: IfMatch = None,
) -> JSONResponse:
    """Approving turns approved items into planned sites / segments, site changes, removals and sharing."""
    expected = body.lock_version if body.lock_version is not None else _if_match(if_match)
    items = [gp.ItemDecision(d.index, d.decision, d.reason) for d in body.items]
    return _change(engine, plan_id, None,
                   lambda session, plan: gp.decide(session, plan, who.actor, body.decision, body.reason, items,
                                                   expected, settings.metric_crs),
                   lambda plan: {**gp.summary(plan), "applied": (plan.items or {}).get("applied")})


@router.get("/plans/{plan_id}/report", summary="Appraisal report: JSON, printable HTML, XLSX, or the issued "
                                               "document (Báo cáo kết quả thẩm định) as DOCX or PDF",
            responses={200: {"content": {"application/json": {}, "text/html": {}, XLSX: {}, DOCX: {},
                                         "application/pdf": {}}}})
def plan_report(
    plan_id: PlanId,
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    who: AnyKeyExpensiveRead,
    format: Annotated[Literal["json", "html", "xlsx", "docx", "pdf"] | None,
                      Query(description="Default: from Accept, else json")] = None,
    as_of: Annotated[IsoDate | None, Query(description="Appraisal date of a preview (default today): the province "
                                                       "outline and the units in force that day; a submitted "
                                                       "report keeps its own date")] = None,
) -> Response:
    """The report frozen at submission; for a draft, a live preview (``"preview": true``) dated ``as_of``.

    Rendered reports are cached by everything they depend on (see :func:`app.plan_report.report_cache`);
    a cached preview keeps the ``generated_at`` of the appraisal it shows."""
    fmt = format or _negotiate(request.headers.get("accept", ""))
    with transaction(engine) as session:
        plan = gp.get_plan(session, plan_id, _scope(who))
        stored, operator, features = plan.report, plan.operator, gp.features_of(plan)
        title, status, version = plan.title, plan.status, plan.version
        preview = stored is None or status in gp.EDITABLE
        key = (plan_id, plan.lock_version, data_version(session.connection()),
               gp.pending_fingerprint(session, plan_id, operator) if preview else None, who.is_staff,
               i18n.get_language(), as_of if preview else None)

    def build() -> dict[str, Any]:
        base = {**gapp.build_report(engine, settings, plan_id, operator, features, as_of), "preview": True} \
            if preview else stored
        report = {**localise_messages(base), "plan_id": plan_id, "title": title, "status": status, "version": version}
        return report if who.is_staff else redact_for_operator(report)

    out = cached_render(request.app.state, key, build, fmt)
    headers = {"Content-Disposition": f'attachment; filename="plan-{plan_id}-v{version}-appraisal.{fmt}"'} \
        if fmt in ("xlsx", "docx", "pdf") else None
    return Response(out.body, media_type=out.media_type, headers=headers)


def _negotiate(accept: str) -> str:
    accept = accept.lower()
    for media, fmt in ((XLSX, "xlsx"), (DOCX, "docx"), ("application/pdf", "pdf")):
        if media in accept:
            return fmt
    return "html" if prefers_html(accept) else "json"
