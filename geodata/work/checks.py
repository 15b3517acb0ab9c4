"""The planning checks run against the database: classify, A1 routes/zones, spacing, site counts,
and the single-site checker with its planning context kept current per data version.

The CLI (``btsplan classify|check|stats``), the HTTP layer (``/checks/…``, ``/stats/sites``) and
plan appraisal call these, so every entry point reads the same data the same way; the rules
themselves live in ``planning`` (pure) and the rule pack.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from geodata.store import repository as repo
from geodata.work.context_cache import context_holder
from geodata.store.units import unit_mapping_frame
from geodata.settings import Settings
from planning.aggregate import SiteCounts, site_counts
from planning.checks import PlanningContext, check_site
from planning.classify import classify_sites, mismatch_findings
from planning.findings import empty_findings, finalise
from planning.rules import RulePack
from planning.spacing import spacing_findings
from planning.vocab import CHECK_NAMES, CLASS_MISMATCH_CHECK, LIVE_SITE_STATUSES, UNKNOWN_CLASS
from planning.zoning import a1_matches, a1_report, build_a1_targets, subject_classes

Progress = Callable[[str, int, int], None]
#: the stored site columns the classifier reads (``structure`` is read from ``mount`` where absent)
CLASSIFIER_SITE_FIELDS = ("mount", "structure", "mast_height_m", "building_height_m", "reach_m", "camouflaged")


@dataclass(frozen=True)
class ClassifySummary:
    sites: int
    changed: int
    by_class: dict[str, int]
    mismatches: int
    unknown: int
    ambiguous: int


def classify_stored(engine: Engine, pack: RulePack, *, chunk: int = 200_000,
                    progress: Progress | None = None) -> ClassifySummary:
    """Classify every site from its stored fields; store derived class + reasons, and replace the
    ``class-mismatch`` findings (declared class ≠ derived class)."""
    fields = ["code", "operator", "mount", "structure", "mast_height_m", "building_height_m", "reach_m",
              "camouflaged", "declared_class", "status", "district_code", "commune_code"]
    sites = repo.load_sites(engine, columns=fields)
    n = len(sites)
    derived = np.empty(n, dtype=object)
    reasons: list[str] = []
    mismatch = np.zeros(n, dtype=bool)
    ambiguous = np.zeros(n, dtype=bool)
    rule = np.empty(n, dtype=object)
    for lo in range(0, max(n, 1), chunk):
        part = classify_sites(sites.iloc[lo:lo + chunk], pack, reasons="json")
        derived[lo:lo + len(part)] = part["derived_class"].to_numpy()
        reasons += part["reasons"].tolist()
        mismatch[lo:lo + len(part)] = part["class_mismatch"].to_numpy()
        ambiguous[lo:lo + len(part)] = part["ambiguous"].to_numpy()
        rule[lo:lo + len(part)] = part["class_rule"].to_numpy()
        if progress:
            progress("classify", min(n, lo + chunk), n)
    changed = repo.store_classification(engine, sites["id"].to_numpy(), derived, reasons) if n else 0
    mm = sites[mismatch].assign(derived_class=derived[mismatch], class_rule=rule[mismatch], class_mismatch=True)
    findings = mismatch_findings(mm, pack, unit_names=repo.unit_names(engine))
    repo.replace_findings(engine, [CLASS_MISMATCH_CHECK], findings, metric_crs=repo.sites_metric_crs(engine))
    counts = pd.Series(derived).value_counts()
    return ClassifySummary(n, changed, {str(k): int(v) for k, v in counts.items()}, int(mismatch.sum()),
                           int((derived == UNKNOWN_CLASS).sum()), int(ambiguous.sum()))


def run_a1_check(engine: Engine, pack: RulePack, *, metric_crs: str, classes: Sequence[str] | None = None,
                 ) -> pd.DataFrame:
    """The flagship check from stored data to findings in memory.

    Reads only what it needs: the A1-only routes and zones, and the thin columns of the sites that
    can be subjects (see :func:`geodata.store.repository.load_site_points`, an index-only scan on
    PostGIS); names, codes and classes are fetched for the matched sites alone. On PostGIS the
    subject read runs on a second connection while this thread prepares the A1 pieces.
    """
    override = tuple(classes) if classes else None
    # every class some policy keeps out, and unknown (a site that may be one of them is told so)
    cls = (*subject_classes(pack, override), UNKNOWN_CLASS)

    def points() -> pd.DataFrame:
        return repo.load_site_points(engine, classes=cls, use_declared=pack.zoning.use_declared_class,
                                     metric_crs=metric_crs)

    pool = ThreadPoolExecutor(1) if engine.dialect.name == "postgresql" else None
    pending = pool.submit(points) if pool else None
    try:
        with engine.connect() as conn:
            routes = repo.load_routes(conn)  # the pack says which policies are checked
            zones = repo.load_zones(conn)
            names = repo.unit_names(conn)
        targets = build_a1_targets(routes, zones, pack, metric_crs)
        pts = pending.result() if pending else points()
    finally:
        if pool:
            pool.shutdown(wait=True)
    if len(targets.targets) == 0:
        return empty_findings()
    matches = a1_matches(pts, pack, metric_crs=metric_crs, targets=targets, classes=override)
    if len(matches) == 0:
        return empty_findings()
    ids = pts["id"].to_numpy()[matches["site_pos"].to_numpy(dtype=np.int64)]
    info = repo.site_rows(engine, ids, ["code", "operator", "district_code", "commune_code", "derived_class",
                                        "declared_class", *CLASSIFIER_SITE_FIELDS])
    return a1_report(matches, info, targets, pack, unit_names=names, classes=override)


def run_spacing_check(engine: Engine, pack: RulePack, *, metric_crs: str) -> pd.DataFrame:
    """"Must share or move" findings for planned sites against built ones."""
    wanted = sorted(set(pack.spacing.subject_statuses) | set(pack.spacing.existing_statuses))
    sites = repo.load_sites(engine, metric_crs=metric_crs, statuses=wanted,
                            columns=["code", "operator", "mount", "mast_height_m", "building_height_m", "reach_m",
                                     "camouflaged", "declared_class", "derived_class", "shared_by", "max_tenants",
                                     "status", "district_code", "commune_code"])
    return spacing_findings(sites, pack, metric_crs=metric_crs, urban_by_commune=repo.urban_by_commune(engine),
                            unit_names=repo.unit_names(engine))


def run_checks(engine: Engine, pack: RulePack, which: Sequence[str], *, metric_crs: str,
               store: bool = True, classes: Sequence[str] | None = None) -> pd.DataFrame:
    """Run the named checks; with ``store`` each check's stored findings are replaced atomically."""
    frames = []
    for check in which:
        if check == "a1-routes":
            f = run_a1_check(engine, pack, metric_crs=metric_crs, classes=classes)
        elif check == "spacing":
            f = run_spacing_check(engine, pack, metric_crs=metric_crs)
        else:
            raise ValueError(f"unknown check {check!r}; known: {', '.join(CHECK_NAMES)}")
        if store:
            repo.replace_findings(engine, [check], f, metric_crs=metric_crs)
        frames.append(f)
    frames = [f for f in frames if len(f)]
    return finalise(pd.concat(frames, ignore_index=True)) if frames else empty_findings()


def stored_site_counts(engine: Engine, pack: RulePack, *, by: str = "district", as_of: dt.date | None = None,
                       statuses: Sequence[str] = LIVE_SITE_STATUSES) -> SiteCounts:
    """Counts by unit × derived class (sites never classified are classified on the fly, not stored)."""
    sites = repo.load_site_classes(engine, statuses=statuses)
    todo = sites["derived_class"].isna().to_numpy()
    if todo.any():
        sites.loc[todo, "derived_class"] = classify_sites(sites[todo], pack, reasons="none")["derived_class"]
    units = repo.load_admin_units(engine)
    return site_counts(sites, units, by=by, as_of=as_of, mapping=unit_mapping_frame(engine) if by == "commune" else None)


# --------------------------------------------------------------------------------------------
# single-site checks with a cached context
# --------------------------------------------------------------------------------------------

def planning_context(engine: Engine, pack: RulePack, *, metric_crs: str, version: int | None = None
                     ) -> PlanningContext:
    """The context for the current data version (or ``version``, read by the caller on a connection it
    already holds): built once per process, then updated by what each write changed
    (:mod:`geodata.work.context_cache`); while a full rebuild runs in the background the previous
    context answers, and its ``data_version`` says so."""
    return context_holder(engine, pack, metric_crs).get(version)


def site_checker(engine: Engine, settings: Settings, pack: RulePack,
                 ) -> Callable[[Mapping[str, Any], float, float], dict[str, Any]]:
    """``check(properties, lon, lat)`` bound to this database and pack (for plan appraisal)."""
    def check(properties: Mapping[str, Any], lon: float, lat: float) -> dict[str, Any]:
        ctx = planning_context(engine, pack, metric_crs=settings.metric_crs)
        return check_site(ctx, properties, lon, lat)

    return check
