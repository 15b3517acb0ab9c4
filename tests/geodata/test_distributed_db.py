"""The Dask engine on a stored database, both backends: real worker processes read their own
partitions from the database and the findings equal the single-process run, stored the same way."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from geodata.work import checks
from geodata.store import repository as repo
from geodata.store.meta import meta_get
from geodata.work.distributed import plan_partitions, run_checks_dask
from planning.distributed import dask_client
from planning.findings import to_records
from planning.rules import load_pack
from tests.conftest import db_url

PACK = load_pack("haiphong")
M = "EPSG:9210"
BEFORE, AFTER = dt.date(2025, 6, 30), dt.date(2025, 12, 31)  # the last day of the districts; after the reform


@pytest.fixture(scope="module")
def client():  # type: ignore[no-untyped-def]
    """Two worker processes, as on the 2-core CI machine (started once for the module)."""
    with dask_client(None, workers=2, memory_limit="2GiB") as c:
        yield c


def _stored(engine: Engine) -> list[dict]:  # type: ignore[type-arg]
    f = repo.load_findings(engine, ["a1-routes", "spacing"])
    return sorted(to_records(f), key=lambda r: (r["check"], r["site_code"], str(r.get("other_site_code"))))


def test_dask_equals_single_process_on_the_demo(demo_db: Engine, client) -> None:  # type: ignore[no-untyped-def]
    checks.classify_stored(demo_db, PACK)
    single = checks.run_checks(demo_db, PACK, ["a1-routes", "spacing"], metric_crs=M, store=True)
    stored_single = _stored(demo_db)
    run = run_checks_dask(demo_db, PACK, ["a1-routes", "spacing"], metric_crs=M, store=True, min_partitions=4)
    assert run.partitions >= 4 and run.sites == 1000
    assert to_records(run.findings) == to_records(single)
    assert _stored(demo_db) == stored_single
    planted = set(meta_get(demo_db, "demo.planted_a2a_on_a1"))
    assert set(run.findings.loc[run.findings["check"] == "a1-routes", "site_code"]) == planted


def test_findings_written_by_the_workers_are_all_stored(demo_db: Engine, client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Each worker writes its partitions' findings to Parquet and the driver bulk-loads them: the
    stored set is the single-process one, for partitions sized from the worker count."""
    checks.classify_stored(demo_db, PACK)
    single = checks.run_checks(demo_db, PACK, ["a1-routes", "spacing"], metric_crs=M, store=True)
    stored_single = _stored(demo_db)
    run = run_checks_dask(demo_db, PACK, ["a1-routes", "spacing"], metric_crs=M, store=True, workers=2,
                          spool=tmp_path / "spool")
    assert run.partitions == 4
    assert to_records(run.findings) == to_records(single)
    assert _stored(demo_db) == stored_single


def test_unclassified_sites_are_classified_in_the_workers(demo_db: Engine, client) -> None:  # type: ignore[no-untyped-def]
    checks.classify_stored(demo_db, PACK)
    single = checks.run_checks(demo_db, PACK, ["a1-routes", "spacing"], metric_crs=M, store=False)
    with demo_db.begin() as c:
        c.execute(text("UPDATE sites SET derived_class = NULL, reasons = NULL"))
    run = run_checks_dask(demo_db, PACK, ["a1-routes", "spacing"], metric_crs=M, store=False, npartitions=6)
    assert to_records(run.findings) == to_records(single)


@pytest.mark.parametrize("by", ["district", "commune"])
def test_counts_on_dask_equal_one_process(demo_db: Engine, client, by: str) -> None:  # type: ignore[no-untyped-def]
    from geodata.work.distributed import site_counts_dask

    with demo_db.begin() as c:  # some sites never classified: both engines classify them on the fly
        c.execute(text("UPDATE sites SET derived_class = NULL WHERE id % 3 = 0"))
    single = checks.stored_site_counts(demo_db, PACK, by=by)
    counts, partitions = site_counts_dask(demo_db, PACK, metric_crs=M, by=by, npartitions=5)
    assert partitions == 5 and counts is not None
    assert counts.to_json() == single.to_json()
    assert counts.totals["total"] == 1000 - len(repo.load_sites(demo_db, statuses=["removed"], columns=["code"]))


@pytest.mark.parametrize(("by", "day"), [("district", BEFORE), ("commune", BEFORE), ("commune", AFTER)])
def test_counts_on_dask_use_the_units_of_the_day_asked(demo_db: Engine, client, by: str,  # type: ignore[no-untyped-def]
                                                       day: dt.date) -> None:
    """Issue 15: before the reform by district (or old commune), from 2025-07-01 by the new communes
    (which have no district) — the same table on both engines, every site counted once."""
    from geodata.work.distributed import site_counts_dask

    single = checks.stored_site_counts(demo_db, PACK, by=by, as_of=day)
    counts, partitions = site_counts_dask(demo_db, PACK, metric_crs=M, by=by, as_of=day, npartitions=3)
    assert partitions == 3 and counts is not None and counts.as_of == day
    assert counts.to_json() == single.to_json()
    live = 1000 - len(repo.load_sites(demo_db, statuses=["removed"], columns=["code"]))
    assert counts.totals["total"] == live
    units = {r.get(f"{by}_code") for r in counts.to_json()["rows"] if r["total"]} - {None}
    valid = {str(c) for c in repo.load_admin_units(demo_db).query("level == @by")["code"]}
    assert len(units) >= 3 and units <= valid
    if day == AFTER:  # the new communes belong to the province: no row names a district
        assert not {r.get("district_code") for r in counts.to_json()["rows"]} - {None}


def test_counts_on_dask_place_full_merges_and_leave_partial_merges_not_placed(empty_db: Engine,  # type: ignore[no-untyped-def]
                                                                             client) -> None:
    """New communes known only from the reform's mapping (no polygons): a site in a wholly merged old
    commune counts in its new unit, a site in a split one is "not placed" — on Dask as on one process."""
    from geodata.io.import_mapping import import_unit_mapping
    from geodata.work.distributed import site_counts_dask
    from tests.geodata.test_unit_versions import MAPPING, _old_world

    _old_world(empty_db)
    assert import_unit_mapping(empty_db, MAPPING).committed
    for day in (BEFORE, AFTER):
        single = checks.stored_site_counts(empty_db, PACK, by="commune", as_of=day)
        counts, _ = site_counts_dask(empty_db, PACK, metric_crs=M, by="commune", as_of=day, npartitions=2)
        assert counts is not None and counts.to_json() == single.to_json()
        assert counts.totals["total"] == 3
    assert counts.not_placed == 1 and single.not_placed == 1
    assert sum(r["total"] for r in counts.to_json()["rows"] if r.get("partial_merge_of") == "11341") == 1


def test_an_empty_database_runs_and_finds_nothing(empty_db: Engine, client) -> None:  # type: ignore[no-untyped-def]
    run = run_checks_dask(empty_db, PACK, ["a1-routes", "spacing"], metric_crs=M, store=True)
    assert run.partitions == 1 and run.sites == 0 and len(run.findings) == 0


def test_partitions_cover_every_site_once(demo_db: Engine) -> None:
    plan = plan_partitions(demo_db, metric_crs=M, npartitions=5)
    sites = repo.load_sites(demo_db, metric_crs=M, columns=["code"])
    owner = plan.owner_of(sites["x_m"].to_numpy(), sites["y_m"].to_numpy())
    assert plan.npartitions == 5 and int(plan.counts.sum()) == len(sites) == 1000
    assert sorted(set(owner.tolist())) == list(range(5))
    from geodata.work.distributed import SiteReader

    reader = SiteReader(db_url(demo_db), plan, M)
    codes = [c for i in range(plan.npartitions) for c in reader(i)["code"].tolist()]
    assert sorted(codes) == sorted(sites["code"].tolist())  # each site read by exactly one partition


def _cli(args: list[str], url: str, **env: str) -> subprocess.CompletedProcess[str]:
    e = {**os.environ, "BTSPLAN_DATABASE_URL": url, "BTSPLAN_DASK_WORKERS": "2", "BTSPLAN_DASK_WORKER_MEMORY": "1GiB",
         **env}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, env=e,
                          timeout=240)


@pytest.mark.parametrize("backend", ["spatialite"], indirect=True)
def test_cli_engine_dask_and_scheduler(demo_db: Engine, client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = db_url(demo_db)
    assert _cli(["classify"], url).returncode == 0
    a = _cli(["check", "all", "--format", "json", "--out", str(tmp_path / "a.json")], url)
    assert a.returncode == 0, a.stderr
    b = _cli(["check", "all", "--engine", "dask", "--format", "json", "--out", str(tmp_path / "b.json")], url)
    assert b.returncode == 0, b.stderr
    assert "spatial partition(s) on 2 worker(s)" in b.stderr
    assert (tmp_path / "a.json").read_text() == (tmp_path / "b.json").read_text()
    # an existing scheduler, by option and by BTSPLAN_DASK_SCHEDULER
    c = _cli(["check", "a1-routes", "--engine", "dask", "--scheduler", client.scheduler.address, "--format", "json",
              "--out", str(tmp_path / "c.json")], url)
    assert c.returncode == 0, c.stderr
    assert client.scheduler.address in c.stderr
    d = _cli(["check", "a1-routes", "--format", "json", "--out", str(tmp_path / "d.json")], url)
    assert d.returncode == 0, d.stderr
    assert (tmp_path / "c.json").read_text() == (tmp_path / "d.json").read_text()
    e = _cli(["check", "spacing", "--engine", "dask", "--format", "csv"], url,
             BTSPLAN_DASK_SCHEDULER=client.scheduler.address)
    assert e.returncode == 0 and client.scheduler.address in e.stderr
    f = _cli(["stats", "sites", "--by", "commune,type", "--format", "json"], url)
    g = _cli(["stats", "sites", "--by", "commune,type", "--format", "json", "--engine", "dask", "--scheduler",
              client.scheduler.address], url)
    assert f.returncode == 0 and g.returncode == 0, g.stderr
    assert f.stdout == g.stdout and "counted in" in g.stderr


@pytest.mark.parametrize("backend", ["spatialite"], indirect=True)
def test_cli_errors_are_one_line(demo_db: Engine) -> None:
    url = db_url(demo_db)
    r = _cli(["check", "all", "--engine", "spark"], url)
    assert r.returncode != 0 and "--engine 'spark' is not one of python, dask" in r.stderr
    r = _cli(["check", "all", "--scheduler", "tcp://127.0.0.1:9"], url)
    assert r.returncode != 0 and "--scheduler needs --engine dask" in r.stderr
    r = _cli(["check", "all", "--engine", "dask", "--scheduler", "tcp://127.0.0.1:9"], url,
             )
    assert r.returncode != 0 and "dask scheduler tcp://127.0.0.1:9" in r.stderr
    assert "Traceback" not in r.stderr
