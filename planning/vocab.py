"""The words of the domain, each spelled once: mast classes, severities, check names, statuses, mounts.

The database columns, the checks, the API schemas, the exports and the CLI all accept and emit these
values, so they are defined here and imported everywhere; a new status or class is one edit. Each
vocabulary is a ``Literal`` (for type checkers and request schemas) and the tuple of its values in
their meaningful order (for validation, listings and table columns). Pure: imports only ``typing``.
User-facing labels (Vietnamese names, colours) stay with the code that shows them.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

# --- mast classes (TTLT 15/2016) ------------------------------------------------------------------
MastClass = Literal["A1a", "A1b", "A2a", "A2b", "A2c"]
#: In the circular's order, least to most imposing: tables and tile counts list them so, and the
#: classifier stores a class as its index here.
MAST_CLASSES: Final[tuple[MastClass, ...]] = get_args(MastClass)
#: Derived class when the site's data does not decide one.
UNKNOWN_CLASS: Final = "unknown"
#: Every derived class; "unknown" last, as the last column of per-class counts.
DERIVED_CLASSES: Final[tuple[str, ...]] = (*MAST_CLASSES, UNKNOWN_CLASS)

# --- findings -------------------------------------------------------------------------------------
Severity = Literal["violation", "warning", "info"]
#: Most severe first: findings and site cards are sorted so, violations on top.
SEVERITIES: Final[tuple[Severity, ...]] = get_args(Severity)
#: Sort key of a severity (0 = most severe); unknown values sort after all of these.
SEVERITY_RANK: Final[dict[str, int]] = {s: i for i, s in enumerate(SEVERITIES)}

CheckName = Literal["a1-routes", "spacing"]
#: The batch checks, in the order a full run performs and reports them.
CHECK_NAMES: Final[tuple[CheckName, ...]] = get_args(CheckName)
#: ``findings.check`` of a declared class that differs from the derived one (recorded with the classes).
CLASS_MISMATCH_CHECK: Final = "class-mismatch"
#: ``findings.check`` of a violation an inspector recorded on site.
INSPECTION_CHECK: Final = "inspection"

# --- sites, routes and zones ----------------------------------------------------------------------
SiteStatus = Literal["planned", "built", "removed"]
#: Life-cycle order of a site.
SITE_STATUSES: Final[tuple[SiteStatus, ...]] = get_args(SiteStatus)
#: Sites that stand or will stand: monitoring and the statistics count these; removed ones are history.
LIVE_SITE_STATUSES: Final[tuple[SiteStatus, ...]] = SITE_STATUSES[:2]

Mount = Literal["building", "ground", "structure"]
#: Where a mast stands — on a building, on the ground, on another structure (water tower, bridge,
#: pylon) — the placement the classifier reads; the order only fixes how schemas list them.
MOUNTS: Final[tuple[Mount, ...]] = get_args(Mount)

Structure = Literal["self_supporting", "guyed", "monopole", "pole"]
#: What the mast is (cột tự đứng, cột dây co, cột đơn thân, cột trụ), independent of where it stands:
#: a self-supporting mast may stand on a roof or on the ground.
STRUCTURES: Final[tuple[Structure, ...]] = get_args(Structure)

ZonePolicy = Literal["a1_only", "a2a_allowed", "any"]
#: What a route or zone admits, strictest first.
ZONE_POLICIES: Final[tuple[ZonePolicy, ...]] = get_args(ZonePolicy)

# --- cables (tidy-up and undergrounding) ----------------------------------------------------------
SegmentStatus = Literal["planned", "in_progress", "done"]
#: Order of the work on a street segment (the only forward path; see ``planning.cables``).
SEGMENT_STATUSES: Final[tuple[SegmentStatus, ...]] = get_args(SegmentStatus)

CableMethod = Literal["chinh_trang", "ha_ngam", "chinh_trang_ha_ngam"]
#: How the plans count a street section: chỉnh trang (tidy-up: bundling, đưa cáp vào gông, taking down dead
#: cable), hạ ngầm (undergrounding), or both on the same section — the split of 18/KH-BCĐ and 85/KH-BCĐ.
CABLE_METHODS: Final[tuple[CableMethod, ...]] = get_args(CableMethod)
#: Methods a firm may propose in a plan's ``cable_route`` item.
PROPOSED_CABLE_METHODS: Final[tuple[CableMethod, ...]] = CABLE_METHODS
#: The methods of earlier releases, still read wherever a method is written (files, plans, the API); stored
#: rows were rewritten by migration 0008. Taking cable down was always part of the tidy-up.
LEGACY_CABLE_METHODS: Final[dict[str, CableMethod]] = {"underground": "ha_ngam", "bracketed": "chinh_trang",
                                                        "removed": "chinh_trang"}

ComplaintStatus = Literal["open", "in_progress", "resolved"]
#: Order in which a citizen's complaint is handled.
COMPLAINT_STATUSES: Final[tuple[ComplaintStatus, ...]] = get_args(ComplaintStatus)

# --- plans submitted by firms ---------------------------------------------------------------------
PlanStatus = Literal["draft", "submitted", "under_review", "approved", "returned", "rejected"]
#: Workflow order: the firm's steps, the department's review, then the three outcomes.
PLAN_STATUSES: Final[tuple[PlanStatus, ...]] = get_args(PlanStatus)

PlanDecision = Literal["approve", "return", "reject"]
#: A planner's decision on a plan under review, mildest first.
PLAN_DECISIONS: Final[tuple[PlanDecision, ...]] = get_args(PlanDecision)
#: Decisions that must state a reason (all but approval): the firm has to know what to change.
DECISIONS_NEEDING_REASON: Final[tuple[PlanDecision, ...]] = PLAN_DECISIONS[1:]
ItemDecisionValue = Literal["approve", "reject"]
#: Decisions on one item of a plan (an item is not returned on its own).
ITEM_DECISIONS: Final[tuple[ItemDecisionValue, ...]] = get_args(ItemDecisionValue)

ItemKind = Literal["new_site", "change_site", "remove_site", "share_site", "cable_route"]
#: Kinds of plan item, site items first in a site's life order, then cable routes.
ITEM_KINDS: Final[tuple[ItemKind, ...]] = get_args(ItemKind)

# --- inspections and programmes -------------------------------------------------------------------
InspectionResult = Literal["conforms", "violation"]
#: What an inspector records for a site, the good outcome first.
INSPECTION_RESULTS: Final[tuple[InspectionResult, ...]] = get_args(InspectionResult)

ProgrammeKind = Literal["conversion", "eco_bts"]
#: Kinds of programme (mast conversion, eco-BTS pilots); the order only fixes how schemas list them.
PROGRAMME_KINDS: Final[tuple[ProgrammeKind, ...]] = get_args(ProgrammeKind)

ProgrammeSiteStatus = Literal["pending", "converted", "piloted", "dropped"]
#: A site's progress inside a programme: waiting, the two ways of being done, then dropped.
PROGRAMME_SITE_STATUSES: Final[tuple[ProgrammeSiteStatus, ...]] = get_args(ProgrammeSiteStatus)

EcoIntegration = Literal["information_screen", "lighting", "camera", "wifi", "charging", "environment_sensor"]
#: What an eco-BTS pole may integrate besides the antennas; the order only fixes how schemas list them.
ECO_INTEGRATIONS: Final[tuple[EcoIntegration, ...]] = get_args(EcoIntegration)

# --- who may act ----------------------------------------------------------------------------------
Role = Literal["admin", "planner", "inspector", "operator"]
#: API-key roles, department staff before the firms (``operator`` keys are bound to one firm).
ROLES: Final[tuple[Role, ...]] = get_args(Role)
