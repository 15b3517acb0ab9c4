"""Scale-out benchmark: the nightly national batch (classify, A1 check, spacing, counts by unit)
on one process vs Dask with a sweep of worker counts (``--workers 1,2,4,8,16``, run up to twice the
usable cores: more workers than cores show the per-worker overhead), for 1, 5 and 10 million
synthetic sites.

Every run is a fresh child process; the parent samples the resident memory of the child and of
its descendants (the Dask workers) every 0.2 s. Each process gets the same memory limit
(``--memory-limit``, default 4 GiB): Dask workers are started with it, and a single-process run
that goes over it is stopped and reported as not fitting. Both engines check the same masts (the
same plan's partitions; see ``synthetic_country.py``) and each run reports a digest of its
findings and counts, so the results are compared for identity at every size that both complete.

Figures: wall time, peak RSS per process, scaling efficiency = T(1 worker) / (n × T(n workers)),
speed-up of Dask over one process where one process fits. Timing is of the whole batch including
drawing the masts (which the workers do, partition by partition). Partitions are a whole number
of waves of the workers (:func:`planning.distributed.partition_count`); the workers write their
findings to Parquet themselves (the driver only receives row counts) and counts are summed as a
tree. Where the time goes, per Dask run: the driver's CPU seconds while preparing the run and
during the batch (the scheduler runs in the driver process too, so this is everything serial the
driver does) over the one-worker batch time (``driver_busy_fraction``), and from Dask's task
stream (the data of its performance report's task-stream panel; the HTML report itself needs
bokeh, which is not a dependency) the compute seconds and counts by task kind, each worker's idle
seconds, transfer seconds and bytes, and the wait before the first task and after the last. The
Amdahl serial fraction ``s`` is fitted by least squares to T(n) = T(1) · (s + (1 − s) / p(n)) with
the effective parallelism p(n) = min(n, usable cores), and read a second way from the task
streams (the time no worker computes); 16 workers reach efficiency ≥ 0.7 when s ≤ 0.0286
(E16 = 1 / (1 + 15 s)).

    python benchmarks/bench_scale.py                    # 1M, 5M, 10M → benchmarks/results/scale.json
    python benchmarks/bench_scale.py --sizes 200000     # a quick look
    python benchmarks/bench_scale.py --sizes 10000000 --workers 1,2,4 --single-max-sites 0   # the sweep
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import tempfile
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
#: 16 workers at efficiency ≥ 0.7 need 1 / (1 + 15 s) ≥ 0.7
SERIAL_FRACTION_FOR_16_AT_0_7 = round((1 / 0.7 - 1) / 15, 4)


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


def _task_stream_summary(stream: list[dict[str, Any]], workers: int, started: float, wall_s: float,
                         transfer_bytes: dict[str, int] | None = None) -> dict[str, Any]:
    """What the workers did, from Dask's task stream (the data behind the performance report's task
    stream panel): compute seconds and task count by task kind, busy and idle seconds per worker,
    transfer seconds, the wait before the first task starts (the driver building and sending the
    graph: serial) and after the last one ends (collecting the results: serial), and the
    ``compute_s`` the batch needs whatever the worker count — the parallel part of Amdahl's law."""
    from dask.utils import key_split

    by: dict[str, float] = {}
    count: dict[str, int] = {}
    per_worker: dict[str, float] = {}
    transfer = 0.0
    first, last = float("inf"), float("-inf")
    for t in stream:
        spans = t.get("startstops", ())
        compute = sum(s["stop"] - s["start"] for s in spans if s.get("action") == "compute")
        transfer += sum(s["stop"] - s["start"] for s in spans if s.get("action") == "transfer")
        for s in spans:
            if s.get("action") == "compute":
                first, last = min(first, s["start"]), max(last, s["stop"])
        prefix = key_split(t["key"])
        by[prefix] = by.get(prefix, 0.0) + compute
        count[prefix] = count.get(prefix, 0) + 1
        per_worker[str(t.get("worker"))] = per_worker.get(str(t.get("worker")), 0.0) + compute
    busy = sum(by.values())
    out: dict[str, Any] = {
        "tasks": len(stream), "compute_s": round(busy, 2),
        "worker_busy_share": round(busy / (workers * wall_s), 3) if wall_s else None,
        "idle_s_per_worker": sorted(round(wall_s - b, 2) for b in per_worker.values()),
        "transfer_s": round(transfer, 2),
        "before_first_task_s": round(first - started, 2) if stream else None,
        "after_last_task_s": round(started + wall_s - last, 2) if stream else None,
        "compute_s_by_task": {k: round(v, 2) for k, v in sorted(by.items(), key=lambda kv: -kv[1])},
        "tasks_by_kind": dict(sorted(count.items())),
    }
    if transfer_bytes is not None:
        out["transfer_mb_per_worker"] = sorted(round(b / 2**20, 1) for b in transfer_bytes.values())
    return out


def _sent_bytes(dask_worker: Any) -> int:
    """Bytes this worker has sent to other workers (run on each worker by ``client.run``)."""
    return int(dask_worker.transfer_outgoing_bytes_total)


def _a1_targets(country: Any, pack: Any) -> Any:
    from planning.zoning import build_a1_targets
    from synthetic_country import CRS

    return build_a1_targets(country.a1_routes(), country.a1_zones(), pack, CRS)


def child(mode: str, n_sites: int, workers: int, memory_limit: str, report: str | None = None) -> dict[str, Any]:
    import dask
    import pandas as pd
    import psutil

    from geodata.work.distributed import ParquetSink, read_parquet_findings
    from planning.aggregate import site_counts
    from planning.distributed import dask_client, from_partitions, partition_count, run_batch, with_classes
    from planning.findings import finalise
    from planning.rules import load_pack
    from planning.spacing import spacing_findings
    from planning.zoning import a1_findings, build_a1_targets
    from synthetic_country import CRS, Country, PartitionLoader

    me = psutil.Process()
    pack = load_pack("national-ttlt-15-2016")
    country = Country(n_sites)
    # masts are drawn from their global number, so every partitioning checks the same masts
    npart = (max(MIN_PARTITIONS, -(-n_sites // SITES_PER_PARTITION)) if mode == "single"
             else partition_count(n_sites, workers, per_partition=SITES_PER_PARTITION))
    t0 = time.perf_counter()
    prepare_cpu0 = sum(me.cpu_times()[:2])
    plan = country.plan(npart)
    # one process prepares the A1 targets up front; on Dask a worker does, while the others read and
    # classify their partitions (the driver's serial part is then the plan and the units alone)
    targets = (build_a1_targets(country.a1_routes(), country.a1_zones(), pack, CRS) if mode == "single"
               else dask.delayed(_a1_targets)(country, pack))
    units = country.units()
    phases: dict[str, float] = {"prepare_s": time.perf_counter() - t0,
                                "prepare_cpu_s": sum(me.cpu_times()[:2]) - prepare_cpu0}
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
        from contextlib import nullcontext

        from distributed import get_task_stream, performance_report

        spool = tempfile.mkdtemp(prefix="bench-scale-findings-")
        with dask_client(None, workers=workers, memory_limit=memory_limit) as client:
            client.wait_for_workers(workers, timeout=60)
            phases["cluster_start_s"] = time.perf_counter() - t0 - phases["prepare_s"]
            loader = PartitionLoader(country, plan)
            html = performance_report(filename=report) if report else nullcontext()
            sent0 = client.run(_sent_bytes)
            with html, get_task_stream(client) as ts:
                # the driver's CPU seconds, not its wall time: the scheduler runs in this process too,
                # so this counts every second the driver side is busy while the workers compute
                cpu0, t, started = sum(me.cpu_times()[:2]), time.perf_counter(), time.time()
                res = run_batch(from_partitions(loader, plan, country.empty()), pack, metric_crs=CRS,
                                targets=targets, units=units, plan=plan, halo_source=loader, sink=ParquetSink(spool))
                phases["batch_s"] = time.perf_counter() - t
                phases["driver_cpu_s"] = sum(me.cpu_times()[:2]) - cpu0
            sent = {w: b - sent0.get(w, 0) for w, b in client.run(_sent_bytes).items()}
            stream = _task_stream_summary(ts.data, workers, started, phases["batch_s"], sent)
            counts, partitions = res.counts, res.partitions
        t = time.perf_counter()  # reading the findings back is the consumer's step, not the batch's
        findings = read_parquet_findings(spool, ["a1-routes", "spacing"])
        phases["read_back_s"] = time.perf_counter() - t
        import shutil

        shutil.rmtree(spool, ignore_errors=True)
        total = phases["prepare_s"] + phases["batch_s"]  # the cluster's start-up is reported, not counted
    out = {"mode": mode, "sites": n_sites, "workers": workers if mode == "dask" else 0, "partitions": partitions,
           "time_s": round(total, 2), "phases": {k: round(v, 2) for k, v in phases.items()}}
    if mode == "dask":
        # serial on the driver: the CPU seconds of preparing the run (plan, units) and of the driver
        # process (client and scheduler) during the batch
        out["driver_busy_s"] = round(phases["prepare_cpu_s"] + phases["driver_cpu_s"], 2)
        out["task_stream"] = stream
    out.update(_digest(findings, counts))
    out["spacing_pairs_across_partition_edges"] = country.pairs_across_edges(findings, plan)
    return out


# --------------------------------------------------------------------------------------------
# parent: runs, memory sampling, report
# --------------------------------------------------------------------------------------------

def measure(mode: str, n_sites: int, workers: int, memory_limit: str, timeout_s: float,
            report: str | None = None) -> dict[str, Any]:
    import psutil

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "benchmarks")]),
           "OMP_NUM_THREADS": "1", "MALLOC_TRIM_THRESHOLD_": "65536"}
    cmd = [sys.executable, str(Path(__file__)), "--child", mode, "--sites", str(n_sites), "--workers", str(workers),
           "--memory-limit", memory_limit, *(["--report", report] if report else [])]
    limit = _limit_bytes(memory_limit)
    load_before = round(os.getloadavg()[0], 2)
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
            "peak_rss_driver_mb": round(driver / 2**20), "process_wall_s": round(elapsed, 1),
            "loadavg_1m_before": load_before,  # other work on the machine shows up here
            "loadavg_1m_after": round(os.getloadavg()[0], 2)}
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


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), not the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def amdahl_fit(times: dict[int, float], cores: int | None = None) -> float | None:
    """Least-squares serial fraction ``s`` of T(n) = T(1) · (s + (1 − s) / p(n)) over the measured
    worker counts (T(1) taken as measured), with the effective parallelism p(n) = min(n, cores):
    n workers on fewer cores cannot run more than ``cores`` tasks at once, so four workers on two
    cores are fitted as two (what they cost beyond that is the per-worker overhead, reported
    apart). T(n)/T(1) − 1/p = s · (1 − 1/p), linear in s; counts with p = 1 carry no information."""
    if 1 not in times or len(times) < 2:
        return None
    t1 = times[1]
    p = {n: min(n, cores) if cores else n for n in times}
    a = [1 - 1 / p[n] for n in times if p[n] > 1]
    y = [times[n] / t1 - 1 / p[n] for n in times if p[n] > 1]
    if not a:
        return None
    s = sum(ai * yi for ai, yi in zip(a, y, strict=True)) / sum(ai * ai for ai in a)
    return round(min(1.0, max(0.0, s)), 4)


def stream_model(runs: dict[int, dict[str, Any]], cores: int) -> dict[str, Any] | None:
    """Amdahl's split read from the task streams instead of fitted to wall times.

    W = the workers' compute seconds at one worker (the parallel part); at n workers the part no
    worker computes is R(n) = T(n) − W(n) / p(n) (the driver building and sending the graph,
    scheduling latency, transfers, the last wave's stragglers, collecting results). ``s = max R / T(1)``
    (the worst seen, so per-worker costs count) predicts E(16) = 1 / (1 + 15 s). Compute seconds that
    grow with the worker count (``compute_inflation``) are cores shared with other processes or
    memory bandwidth, not serial code: on a machine with a core per worker they do not recur."""
    if 1 not in runs:
        return None
    t1 = runs[1]["time_s"]
    w1 = runs[1]["task_stream"]["compute_s"]
    rest = {}
    for n, r in sorted(runs.items()):
        w = r["task_stream"]["compute_s"]
        rest[str(n)] = round(r["time_s"] - w / min(n, cores), 2)
    worst = max(rest.values())
    s = round(min(1.0, max(0.0, worst / t1)), 4)
    return {"parallel_compute_s_1_worker": w1, "not_computing_s": rest,
            "compute_inflation": {str(n): round(r["task_stream"]["compute_s"] / w1, 3) for n, r in sorted(runs.items())},
            "serial_fraction": s, "predicted_efficiency_16_workers": efficiency_at(16, s)}


def efficiency_at(n: int, s: float) -> float:
    return round(1 / (n * s + 1 - s), 3)


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
    ap.add_argument("--workers", default="1,2,4,8,16",
                    help="Dask worker counts to sweep (clipped to the machine's cores)")
    ap.add_argument("--report", help="write Dask's performance report (HTML) of each Dask run to "
                                     "REPORT-<sites>-<workers>w.html (needs bokeh, not a dependency: "
                                     "the task-stream summary in the results needs nothing)")
    ap.add_argument("--machine-label", default="", help="a word on the machine, kept in the results")
    ap.add_argument("--max-oversubscribe", type=float, default=2.0,
                    help="run worker counts up to this many times the usable cores (default 2: 1,2,4 on 2 cores)")
    ap.add_argument("--single-max-sites", type=int, default=None,
                    help="run the one-process baseline only for sizes up to this (default: every size)")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.sites, int(args.workers), args.memory_limit,
                               args.report)))
        return 0

    sizes = [int(s) for s in args.sizes.split(",")]
    cores = usable_cores()
    asked = sorted({int(w) for w in args.workers.split(",")})
    # more workers than cores are run too (up to --max-oversubscribe × cores): their cost beyond the
    # cores' count is the per-worker overhead; the fit counts them as min(n, cores)
    sweep = [w for w in asked if w <= cores * args.max_oversubscribe] or [1]
    if 1 not in sweep:
        sweep = [1, *sweep]
    runs: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    for n in sizes:
        by: dict[str, dict[str, Any]] = {}
        single = () if args.single_max_sites is not None and n > args.single_max_sites else (("single", 1),)
        for mode, workers in (*single, *(("dask", w) for w in sweep)):
            key = "single" if mode == "single" else f"dask_{workers}"
            log(f"{n:,} sites: {key} …")
            rep = f"{args.report}-{n}-{workers}w.html" if args.report and mode == "dask" else None
            r = measure(mode, n, workers, args.memory_limit, args.timeout, rep)
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
        times = {w: done[f"dask_{w}"]["time_s"] for w in sweep if f"dask_{w}" in done}
        if 1 in times:
            t1 = times[1]
            row["scaling_efficiency"] = {str(w): round(t1 / (w * t), 3) for w, t in times.items()}
            row["speedup_vs_1_worker"] = {str(w): round(t1 / t, 3) for w, t in times.items()}
            one = done["dask_1"]
            row["driver_busy_s"] = {str(w): done[f"dask_{w}"]["driver_busy_s"] for w in times}
            row["driver_busy_fraction"] = round(max(row["driver_busy_s"].values()) / one["time_s"], 4)
            s_fit = amdahl_fit(times, cores)
            row["serial_fraction_fit"] = s_fit
            # more workers slower than fewer (up to the cores): the machine was busy with other work
            within = sorted(w for w in times if w <= cores)
            row["serial_fraction_fit_meaningful"] = all(times[a] >= times[b] for a, b in zip(
                within, within[1:], strict=False))
            row["serial_fraction_fit_from"] = sorted(times)
            row["effective_parallelism"] = {str(w): min(w, cores) for w in times}
            if s_fit is not None:
                row["predicted_efficiency_16_workers"] = efficiency_at(16, s_fit)
                # what E(16) ≥ 0.7 needs, in seconds of this run: serial time at most 2.86 % of T(1)
                row["serial_s_fitted"] = round(s_fit * t1, 2)
                row["serial_s_allowed_for_16_at_0_7"] = round(SERIAL_FRACTION_FOR_16_AT_0_7 * t1, 2)
            over = [w for w in times if w > cores]
            if over and cores in times:  # what each worker beyond the cores costs, as a share of T(1)
                row["per_extra_worker_overhead_fraction"] = round(
                    max((times[w] - times[cores]) / ((w - cores) * t1) for w in over), 4)
            row["task_stream_model"] = stream_model({w: done[f"dask_{w}"] for w in times}, cores)
            row["worker_busy_share"] = {str(w): done[f"dask_{w}"]["task_stream"]["worker_busy_share"] for w in times}
        base = done.get("single") or done.get("single_reference")
        if base is not None:
            row["baseline"] = "single" if "single" in done else f"single_reference ({args.reference_limit})"
            for k in (f"dask_{w}" for w in sweep):
                if k in done:
                    row[f"ratio_single_over_{k}"] = round(base["time_s"] / done[k]["time_s"], 3)
        if "single" in by:
            row["single_peak_rss_mb"] = (by.get("single_reference") or by["single"])["peak_rss_driver_mb"]
            row["single_fits_limit"] = by["single"]["completed"]
        last = by[f"dask_{sweep[-1]}"]
        row[f"dask_{sweep[-1]}_peak_rss_per_worker_mb"] = last.get("peak_rss_per_worker_mb")
        row[f"dask_{sweep[-1]}_peak_rss_driver_mb"] = last["peak_rss_driver_mb"]
        summary.append(row)
        log(f"{n:,} sites: {json.dumps(row)}")
    top = next((r for r in reversed(summary) if r.get("serial_fraction_fit") is not None), {})
    doc = {
        "benchmark": "scale",
        "date": dt.date.today().isoformat(),
        "machine": {**machine(), **({"label": args.machine_label} if args.machine_label else {})},
        "workers_swept": sweep,
        "workers_asked": asked,
        "usable_cores": cores,
        "sites_for_headline": top.get("sites"),
        "driver_busy_fraction": top.get("driver_busy_fraction"),
        "serial_fraction_fit": top.get("serial_fraction_fit"),
        "predicted_efficiency_16_workers": top.get("predicted_efficiency_16_workers"),
        "serial_fraction_fit_meaningful": top.get("serial_fraction_fit_meaningful"),
        "serial_fraction_task_stream": (top.get("task_stream_model") or {}).get("serial_fraction"),
        "predicted_efficiency_16_workers_task_stream": (top.get("task_stream_model") or {}).get(
            "predicted_efficiency_16_workers"),
        "serial_fraction_needed_for_16_workers_at_0_7": SERIAL_FRACTION_FOR_16_AT_0_7,
        "memory_limit_per_process": args.memory_limit,
        "workload": ("classify (where no class), A1-only routes/zones check, spacing with halos, counts by "
                     "province × class; national rule pack; 20,000 A1-only routes + 2,000 zones in 63 cities; "
                     "2 % planned, 2 % removed"),
        "sites_per_partition": SITES_PER_PARTITION,
        "baseline": "the same functions on one process, the whole country in memory; where that does not fit the "
                    "per-process limit, the same run with --reference-limit (memory to spare) gives the time",
        "ratio_definition": "ratio = single-process time / Dask time (>1: Dask faster); scaling efficiency = "
                            "T(1 worker) / (n × T(n workers)); driver_busy_fraction = the largest driver busy "
                            "seconds of the sweep (preparing the run + the driver process's CPU during the "
                            "batch, scheduler included; CPU seconds, not wall) / T(1 worker); serial_fraction_fit ="
                            " Amdahl s least-squares fitted to the sweep with the effective parallelism p = min(n, "
                            "usable cores) (n workers on fewer cores run at most that many tasks at once), predicted "
                            "E(16) = 1 / (1 + 15 s) on a machine with a core per worker; serial_fraction_task_stream"
                            " = the largest time no worker computes, T(n) − W(n) / p(n), over T(1), from Dask's task "
                            "stream (immune to cores shared with other processes)",
        "summary": summary,
        "runs": runs,
    }
    write_result(args.out, doc)
    log(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
