"""Scale-out benchmark: the nightly national batch (classify, A1 check, spacing, counts by unit)
on one process vs Dask with 1 and 2 workers, for 1, 5 and 10 million synthetic sites.

Every run is a fresh child process; the parent samples the resident memory of the child and of
its descendants (the Dask workers) every 0.2 s. Each process gets the same memory limit
(``--memory-limit``, default 4 GiB): Dask workers are started with it, and a single-process run
that goes over it is stopped and reported as not fitting. Both engines check the same masts (the
same plan's partitions; see ``synthetic_country.py``) and each run reports a digest of its
findings and counts, so the results are compared for identity at every size that both complete.

Figures: wall time, peak RSS per process, scaling efficiency = T(1 worker) / (2 × T(2 workers)),
speed-up of Dask over one process where one process fits. Timing is of the whole batch including
drawing the masts (which the workers do, partition by partition).

    python benchmarks/bench_scale.py                    # 1M, 5M, 10M → benchmarks/results/scale.json
    python benchmarks/bench_scale.py --sizes 200000     # a quick look
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from benchmarks.common import log, machine_basics, write_result  # noqa: E402

RESULT = ROOT / "benchmarks" / "results" / "scale.json"
SITES_PER_PARTITION = 250_000
MIN_PARTITIONS = 4
GIB = 1024 ** 3


def _limit_bytes(text: str) -> int:
    from dask.utils import parse_bytes

    return int(parse_bytes(text))


# --------------------------------------------------------------------------------------------
# child: one run
# --------------------------------------------------------------------------------------------

def _digest(findings: Any, counts: Any) -> dict[str, Any]:
    from planning.findings import to_records

    recs = sorted(json.dumps(r, sort_keys=True, ensure_ascii=False, default=str) for r in to_records(findings))
    h = hashlib.sha256()
    for r in recs:
        h.update(r.encode())
    h.update(json.dumps(counts.to_json(), sort_keys=True, default=str).encode())
    by = findings.groupby("check").size().to_dict() if len(findings) else {}
    return {"digest": h.hexdigest(), "findings": {k: int(v) for k, v in by.items()}, "counted": counts.totals["total"]}


def child(mode: str, n_sites: int, workers: int, memory_limit: str) -> dict[str, Any]:
    import pandas as pd

    from planning.aggregate import site_counts
    from planning.distributed import dask_client, from_partitions, run_batch, with_classes
    from planning.findings import finalise
    from planning.rules import load_pack
    from planning.spacing import spacing_findings
    from planning.zoning import a1_findings, build_a1_targets
    from synthetic_country import CRS, Country, PartitionLoader

    pack = load_pack("national-ttlt-15-2016")
    country = Country(n_sites)
    npart = max(MIN_PARTITIONS, -(-n_sites // SITES_PER_PARTITION))  # the same plan (and masts) for every run
    t0 = time.perf_counter()
    plan = country.plan(npart)
    targets = build_a1_targets(country.a1_routes(), country.a1_zones(), pack, CRS)
    units = country.units()
    phases: dict[str, float] = {"prepare_s": time.perf_counter() - t0}
    if mode == "single":
        t = time.perf_counter()
        sites = country.all_sites(plan)
        phases["draw_s"] = time.perf_counter() - t
        t = time.perf_counter()
        sites = with_classes(sites, pack)
        phases["classify_s"] = time.perf_counter() - t
        t = time.perf_counter()
        a1 = a1_findings(sites, None, None, pack, metric_crs=CRS, targets=targets)
        phases["a1_s"] = time.perf_counter() - t
        t = time.perf_counter()
        sp = spacing_findings(sites, pack, metric_crs=CRS)
        phases["spacing_s"] = time.perf_counter() - t
        t = time.perf_counter()
        counts = site_counts(sites, units, by="district")
        phases["counts_s"] = time.perf_counter() - t
        frames = [f for f in (a1, sp) if len(f)]
        findings = finalise(pd.concat(frames, ignore_index=True))
        total = time.perf_counter() - t0
        partitions = 1
    else:
        with dask_client(None, workers=workers, memory_limit=memory_limit) as client:
            client.wait_for_workers(workers, timeout=60)
            phases["cluster_start_s"] = time.perf_counter() - t0 - phases["prepare_s"]
            t = time.perf_counter()
            loader = PartitionLoader(country, plan)
            res = run_batch(from_partitions(loader, plan, country.empty()), pack, metric_crs=CRS, targets=targets,
                            units=units, plan=plan, halo_source=loader)
            phases["batch_s"] = time.perf_counter() - t
            findings, counts, partitions = res.findings, res.counts, res.partitions
        total = phases["prepare_s"] + phases["batch_s"]  # the cluster's start-up is reported, not counted
    out = {"mode": mode, "sites": n_sites, "workers": workers if mode == "dask" else 0, "partitions": partitions,
           "time_s": round(total, 2), "phases": {k: round(v, 2) for k, v in phases.items()}}
    out.update(_digest(findings, counts))
    out["spacing_pairs_across_partition_edges"] = country.pairs_across_edges(findings, plan)
    return out


# --------------------------------------------------------------------------------------------
# parent: runs, memory sampling, report
# --------------------------------------------------------------------------------------------

def measure(mode: str, n_sites: int, workers: int, memory_limit: str, timeout_s: float) -> dict[str, Any]:
    import psutil

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "benchmarks")]),
           "OMP_NUM_THREADS": "1", "MALLOC_TRIM_THRESHOLD_": "65536"}
    cmd = [sys.executable, str(Path(__file__)), "--child", mode, "--sites", str(n_sites), "--workers", str(workers),
           "--memory-limit", memory_limit]
    limit = _limit_bytes(memory_limit)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    parent = psutil.Process(proc.pid)
    peaks: dict[int, tuple[str, int]] = {}
    killed = None
    started = time.perf_counter()
    while proc.poll() is None:
        try:
            procs = [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        for p in procs:
            try:
                rss = p.memory_info().rss
                cmdline = " ".join(p.cmdline()[-3:])
            except psutil.Error:
                continue
            role = "driver" if p.pid == proc.pid else ("worker" if "spawn_main" in cmdline or "forkserver" in cmdline
                                                       or "multiprocessing" in cmdline else "other")
            if rss > peaks.get(p.pid, ("", 0))[1]:
                peaks[p.pid] = (role, rss)
        if mode == "single" and peaks.get(proc.pid, ("", 0))[1] > limit and killed is None:
            killed = f"resident memory went over the {memory_limit} limit"
            proc.kill()
        if time.perf_counter() - started > timeout_s and killed is None:
            killed = f"took longer than {timeout_s:.0f} s"
            proc.kill()
        time.sleep(0.2)
    stdout, stderr = proc.communicate()
    elapsed = time.perf_counter() - started
    driver = peaks.pop(proc.pid, ("driver", 0))[1]
    worker_peaks = sorted((rss for role, rss in peaks.values() if role == "worker"), reverse=True)
    base = {"mode": mode, "sites": n_sites, "workers": workers if mode == "dask" else 0,
            "peak_rss_driver_mb": round(driver / 2**20), "process_wall_s": round(elapsed, 1)}
    if mode == "dask":
        base["peak_rss_per_worker_mb"] = [round(r / 2**20) for r in worker_peaks[:workers]]
    if killed or proc.returncode != 0:
        tail = stderr.strip().splitlines()[-3:]
        return {**base, "completed": False, "reason": killed or f"exit {proc.returncode}: {' | '.join(tail)}"}
    res = json.loads(stdout.strip().splitlines()[-1])
    return {**res, **base, "completed": True}


def machine() -> dict[str, Any]:
    import dask
    import distributed

    return {**machine_basics(), "dask": dask.__version__, "distributed": distributed.__version__}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000000,5000000,10000000")
    ap.add_argument("--memory-limit", default="4GiB", help="per process: each Dask worker, and the single process")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per run")
    ap.add_argument("--reference-limit", default="20GiB",
                    help="when one process does not fit --memory-limit, run it again with this much, as the "
                         "time baseline ('' to skip)")
    ap.add_argument("--out", type=Path, default=RESULT)
    ap.add_argument("--child", choices=["single", "dask"], help=argparse.SUPPRESS)
    ap.add_argument("--sites", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.sites, args.workers, args.memory_limit)))
        return 0

    sizes = [int(s) for s in args.sizes.split(",")]
    runs: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    for n in sizes:
        by: dict[str, dict[str, Any]] = {}
        for mode, workers in (("single", 1), ("dask", 1), ("dask", 2)):
            key = "single" if mode == "single" else f"dask_{workers}"
            log(f"{n:,} sites: {key} …")
            r = measure(mode, n, workers, args.memory_limit, args.timeout)
            if mode == "single" and not r["completed"] and args.reference_limit:
                # the time one process would take with memory to spare: the baseline for the ratio
                log(f"{n:,} sites: single, with {args.reference_limit} …")
                ref = measure(mode, n, workers, args.reference_limit, args.timeout)
                ref["memory_limit"] = args.reference_limit
                runs.append(ref)
                by["single_reference"] = ref
                log(f"{n:,} sites: single with {args.reference_limit}: "
                    + (f"{ref['time_s']} s, peak {ref['peak_rss_driver_mb']} MB" if ref["completed"]
                       else f"not completed: {ref['reason']}"))
            log(f"{n:,} sites: {key}: " + (f"{r['time_s']} s, driver {r['peak_rss_driver_mb']} MB, workers "
                                           f"{r.get('peak_rss_per_worker_mb')} MB, {r.get('findings')}"
                                           if r["completed"] else f"not completed: {r['reason']}"))
            runs.append(r)
            by[key] = r
        done = {k: v for k, v in by.items() if v["completed"]}
        digests = {v["digest"] for v in done.values()}
        row: dict[str, Any] = {"sites": n, "identical_results": len(digests) == 1 if len(done) > 1 else None,
                               "runs_compared": sorted(done),
                               "spacing_pairs_across_partition_edges": next(
                                   (v.get("spacing_pairs_across_partition_edges") for v in done.values()
                                    if v["mode"] == "dask"), None)}
        for k, v in by.items():
            row[f"{k}_s"] = v["time_s"] if v["completed"] else None
        if "dask_1" in done and "dask_2" in done:
            row["scaling_efficiency_2_workers"] = round(done["dask_1"]["time_s"] / (2 * done["dask_2"]["time_s"]), 3)
            row["speedup_2_vs_1_worker"] = round(done["dask_1"]["time_s"] / done["dask_2"]["time_s"], 3)
        base = done.get("single") or done.get("single_reference")
        if base is not None:
            row["baseline"] = "single" if "single" in done else f"single_reference ({args.reference_limit})"
            for k in ("dask_1", "dask_2"):
                if k in done:
                    row[f"ratio_single_over_{k}"] = round(base["time_s"] / done[k]["time_s"], 3)
        row["single_peak_rss_mb"] = (by.get("single_reference") or by["single"])["peak_rss_driver_mb"]
        row["single_fits_limit"] = by["single"]["completed"]
        row["dask_2_peak_rss_per_worker_mb"] = by["dask_2"].get("peak_rss_per_worker_mb")
        row["dask_2_peak_rss_driver_mb"] = by["dask_2"]["peak_rss_driver_mb"]
        summary.append(row)
        log(f"{n:,} sites: {json.dumps(row)}")
    doc = {
        "benchmark": "scale",
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "memory_limit_per_process": args.memory_limit,
        "workload": ("classify (where no class), A1-only routes/zones check, spacing with halos, counts by "
                     "province × class; national rule pack; 20,000 A1-only routes + 2,000 zones in 63 cities; "
                     "2 % planned, 2 % removed"),
        "sites_per_partition": SITES_PER_PARTITION,
        "baseline": "the same functions on one process, the whole country in memory; where that does not fit the "
                    "per-process limit, the same run with --reference-limit (memory to spare) gives the time",
        "ratio_definition": "ratio = single-process time / Dask time (>1: Dask faster); scaling efficiency = "
                            "T(1 worker) / (2 × T(2 workers))",
        "summary": summary,
        "runs": runs,
    }
    write_result(args.out, doc)
    log(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
