"""Load benchmark: the API under a realistic mix, on PostGIS with the 1M-site demo, loopback only.

* **mix** (per request, seeded): 70 % vector tiles (sites, z10–z16 over the demo area, plus zones/routes
  at low zooms), 20 % OGC feature queries (``/collections/sites/items`` with a small bbox, 50 features),
  10 % writes and checks (``POST /checks/site`` for a random point, and 1 in 5 of those a plan
  submission ``POST /plans`` by an operator key).
* **arrivals**: open loop (Poisson) at a fixed rate per step, latency measured from the *scheduled*
  send time, so a slow server cannot hide queueing (no coordinated omission). Steps go up in rate until
  p99 passes the 200 ms target or errors appear; the figures of the highest step that held are the
  headline (``rps``, ``p50_ms``, ``p95_ms``, ``p99_ms``, ``errors``), every step is kept.
* **server**: ``btsplan serve`` with its default workers (one per core available; ``--workers N`` to
  choose), tile cache on (the production setting).
* **where the time goes**: CPU seconds of the server workers, PostgreSQL (its live processes and the
  backends the postmaster reaped) and the client during each step (from /proc), to say which one
  saturates first; and before the sweep, the CPU milliseconds each kind of request costs app and
  PostgreSQL, sent one at a time (``bottleneck.cost_per_request``: where the CPU of the mix goes and
  the rate it allows on these cores).
* **start**: the sweep begins once every worker answers site checks from a built planning context
  (``btsplan serve`` builds it at start-up), then 10 s at 50 req/s warm the caches.

Run: ``python benchmarks/bench_load.py`` (writes ``benchmarks/results/load.json``; the sweep at the
default rates takes a few minutes), e.g. ``--sites 1000000 --seconds 20 --rates 50,100,150,175,200,250``;
``--smoke`` runs a few seconds against ``BTSPLAN_DATABASE_URL`` (used by the test suite, no figures
written). Top level: ``rps``, ``p99_ms``, ``errors`` of the highest step that held, ``cpu_cores_used``
(server + PostgreSQL + client cores busy in that step), ``items_p99_ms`` (OGC items in that step) and
``items_p99_ms_at_target_rate`` (in the 150 req/s step, where the issue sets its target); ``not_met``
lists the issue's targets the run missed, with ``conditions`` (the machine's load average before and
during the run: other work on the same cores shows there).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import log as _log  # noqa: E402
from benchmarks.common import load_benchmark, write_result  # noqa: E402

RESULT = ROOT / "benchmarks" / "results" / "load.json"
#: What serialised the server in the previous round (60–90 req/s with 0.4–0.6 of 2 cores busy), found
#: on 2026-12-05 with py-spy on the workers and the CPU each kind of request costs (``cost_per_kind``)
#: on the 1M-site database; docs/deploy.md (Sizing) has the figures. Kept with each result so a reader
#: of load.json knows what the figures before and after differ by.
FOUND = [
    "OGC items cost PostgreSQL 85 ms of CPU each (numberMatched count over ~8,000 rows with JIT compilation "
    "of ~10 ms and two parallel workers, the page by a parallel primary-key scan): jit=off on every "
    "engine and no parallel workers on the server's engines -> 18 ms; the mix from 23 to ~10 ms of CPU per request",
    "site checks blocked threads of the shared 40-thread pool on the planning-context lock while a worker "
    "built its context (10 s at 1M masts), starving tiles and features (p50 3 s at 100 req/s): checks run "
    "on 4 threads of their own, and `btsplan serve` builds the context at start-up",
    "anyio retires threads idle for 10 s, and each new thread paid pyproj's transformer set-up (~35 ms) on "
    "its first check: the check threads live as long as the process",
    "each check read the province outline and the data version on separate pooled connections (a "
    "pre-ping each): one connection now",
    "a full garbage collection with a 1M-mast context took ~170 ms with the interpreter lock held (every request "
    "of the worker stalled): the heap is collected and frozen (gc.freeze) after each context build, <1 ms after",
    "an OGC items page still cost PostgreSQL 10.5 ms: the page walked the primary key testing ~5,600 rows for 50 "
    "hits in a dense box, then the count scanned the area again, and the area's rows lay on as many pages as "
    "rows (table in import order): `btsplan db optimize` stores the sites in spatial order (CLUSTER on the GiST "
    "index; 7,304 sites of a box on 6,502 pages before) and an area with up to 20,000 matches gets page and "
    "count from one spatial-index scan -> 3.1 ms; the mix 6.3 -> 3.9-4.5 ms of CPU per request",
]
P99_TARGET_MS = 200.0
#: the rate of the issue's targets: the OGC items p99 is judged in the step at this rate
TARGET_RPS = 150.0
SEED = 20261126
# demo area (WGS84) where the 1M sites cluster
LON0, LON1, LAT0, LAT1 = 106.60, 106.78, 20.76, 20.92



def _bench_tiles() -> Any:
    """Reuse the tile benchmark's database preparation and server start (one way to do each thing)."""
    return load_benchmark("bench_tiles")


# --------------------------------------------------------------------------------------------
# the request mix
# --------------------------------------------------------------------------------------------

@dataclass
class Request:
    kind: str
    method: str
    path: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _tile(rng: random.Random) -> Request:
    import morecantile

    tms = morecantile.tms.get("WebMercatorQuad")
    z = rng.randint(10, 16)
    t = tms.tile(rng.uniform(LON0, LON1), rng.uniform(LAT0, LAT1), z)
    layer = "sites" if rng.random() < 0.85 else rng.choice(["zones", "routes", "admin-units", "cable-segments"])
    return Request("tile", "GET", f"/tiles/{layer}/{t.z}/{t.x}/{t.y}.mvt")


def _features(rng: random.Random) -> Request:
    lon, lat = rng.uniform(LON0, LON1), rng.uniform(LAT0, LAT1)
    d = 0.004
    return Request("features", "GET",
                   f"/collections/sites/items?bbox={lon - d:.5f},{lat - d:.5f},{lon + d:.5f},{lat + d:.5f}&limit=50")


def _check(rng: random.Random, i: int) -> Request:
    lon, lat = rng.uniform(106.64, 106.72), rng.uniform(20.83, 20.88)
    feat = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
            "properties": {"code": f"LOAD-{i}", "operator": "VTL", "mount": "building", "mast_height_m": 9.0,
                           "building_height_m": 24.0, "reach_m": 1.2, "camouflaged": False}}
    return Request("check", "POST", "/checks/site", json.dumps(feat).encode(), {"Content-Type": "application/json"})


def _plan(rng: random.Random, i: int, key: str) -> Request:
    lon, lat = rng.uniform(106.64, 106.72), rng.uniform(20.83, 20.88)
    fc = {"type": "FeatureCollection", "title": f"Load test plan {i}", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
         "properties": {"item": "new_site", "code": f"LOADPLAN-{i}", "mount": "ground", "mast_height_m": 36,
                        "camouflaged": False}}]}
    return Request("plan", "POST", "/plans", json.dumps(fc).encode(),
                   {"Content-Type": "application/json", "Authorization": f"Bearer {key}",
                    "Idempotency-Key": f"load-{SEED}-{i}-{time.time_ns()}"})


def build_mix(n: int, operator_key: str | None, seed: int = SEED) -> list[Request]:
    rng = random.Random(seed)
    out: list[Request] = []
    for i in range(n):
        r = rng.random()
        if r < 0.70:
            out.append(_tile(rng))
        elif r < 0.90:
            out.append(_features(rng))
        elif r < 0.98 or operator_key is None:
            out.append(_check(rng, i))
        else:
            out.append(_plan(rng, i, operator_key))
    return out


# --------------------------------------------------------------------------------------------
# a small raw HTTP/1.1 client (cheap on CPU, keep-alive connections from a pool)
# --------------------------------------------------------------------------------------------

async def _send(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, req: Request) -> int:
    head = [f"{req.method} {req.path} HTTP/1.1", "Host: 127.0.0.1", "Accept-Encoding: gzip"]
    head += [f"{k}: {v}" for k, v in req.headers.items()]
    if req.body:
        head.append(f"Content-Length: {len(req.body)}")
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + req.body)
    await writer.drain()
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
    if headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readline()).strip(), 16)
            if size == 0:
                await reader.readline()
                break
            await reader.readexactly(size + 2)
    else:
        await reader.readexactly(int(headers.get("content-length", "0")))
    return status


async def _open_loop(port: int, reqs: list[Request], rate: float, seconds: float,
                     seed: int) -> list[tuple[str, float, int]]:
    """Send requests at Poisson arrivals of ``rate``/s for ``seconds``; latency from the scheduled time."""
    rng = random.Random(seed)
    pool: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    results: list[tuple[str, float, int]] = []
    start = time.perf_counter()
    tasks = []

    async def one(req: Request, scheduled: float) -> None:
        reused = bool(pool)
        conn = pool.pop() if pool else await asyncio.open_connection("127.0.0.1", port)
        try:
            try:
                status = await asyncio.wait_for(_send(*conn, req), timeout=10)
            except (ConnectionError, asyncio.IncompleteReadError):
                if not reused:
                    raise
                # the server closed an idle keep-alive connection (uvicorn: after 5 s): like every HTTP
                # client, send again once on a fresh connection
                conn[1].close()
                conn = await asyncio.open_connection("127.0.0.1", port)
                status = await asyncio.wait_for(_send(*conn, req), timeout=10)
            pool.append(conn)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError):
            status = 0
            conn[1].close()
        results.append((req.kind, (time.perf_counter() - scheduled) * 1000, status))

    t = 0.0
    i = 0
    while t < seconds:
        t += rng.expovariate(rate)
        delay = start + t - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(reqs[i % len(reqs)], start + t)))
        i += 1
    await asyncio.gather(*tasks)
    for _, w in pool:
        w.close()
    return results


def _pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return round(s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))], 1)


def summarise(results: list[tuple[str, float, int]], seconds: float) -> dict[str, Any]:
    ok = {200, 201, 204, 304}
    ms = [r[1] for r in results]
    errors = sum(1 for r in results if r[2] not in ok)
    by_kind: dict[str, Any] = {}
    for kind in sorted({r[0] for r in results}):
        k = [r[1] for r in results if r[0] == kind]
        by_kind[kind] = {"n": len(k), "p50_ms": _pct(k, 50), "p99_ms": _pct(k, 99),
                         "errors": sum(1 for r in results if r[0] == kind and r[2] not in ok)}
    return {"requests": len(results), "rps": round(len(results) / seconds, 1), "p50_ms": _pct(ms, 50),
            "p95_ms": _pct(ms, 95), "p99_ms": _pct(ms, 99), "mean_ms": round(statistics.fmean(ms), 1) if ms else 0,
            "errors": errors, "by_kind": by_kind,
            "statuses": sorted({r[2] for r in results if r[2] not in ok})}


# --------------------------------------------------------------------------------------------
# CPU accounting from /proc
# --------------------------------------------------------------------------------------------

def _cpu_seconds(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / tick


def _children(pid: int) -> list[int]:
    out = [pid]
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                ppid = int(p.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                out += _children(int(p.name))
    return out


def _postgres_pids() -> list[int]:
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if p.joinpath("comm").read_text().strip() == "postgres":
                    pids.append(int(p.name))
            except OSError:
                pass
    return pids


def _postgres_cpu_seconds() -> float:
    """CPU seconds of the PostgreSQL server so far: its live processes, plus what the postmaster
    collected from the backends that already exited. Summing only the backends alive at both ends
    of a step lost the CPU of every connection closed in between (a step once read −0.01 cores)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    pids = set(_postgres_pids())
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
        if int(fields[1]) not in pids:  # the postmaster: children's time once they are reaped
            total += int(fields[13]) + int(fields[14])
    return total / tick


def run_step(port: int, server_pid: int, reqs: list[Request], rate: float, seconds: float, seed: int
             ) -> dict[str, Any]:
    srv = _children(server_pid)
    c0 = (_cpu_seconds(srv), _postgres_cpu_seconds(), time.process_time())
    t0 = time.perf_counter()
    res = asyncio.run(_open_loop(port, reqs, rate, seconds, seed))
    wall = time.perf_counter() - t0
    # a worker respawned during the step counts with all its CPU
    srv_end = sorted(set(_children(server_pid)) | set(srv))
    c1 = (_cpu_seconds(srv_end), _postgres_cpu_seconds(), time.process_time())
    out = summarise(res, wall)
    out["offered_rps"] = rate
    out["loadavg_1m"] = round(os.getloadavg()[0], 2)  # other work on the machine shows up here
    out["cpu_cores"] = {"server": round((c1[0] - c0[0]) / wall, 2), "postgres": round((c1[1] - c0[1]) / wall, 2),
                        "client": round((c1[2] - c0[2]) / wall, 2)}
    return out


def wait_warm(port: int, timeout_s: float = 600.0) -> float:
    """Seconds until every worker answers site checks from a built planning context (``btsplan serve``
    builds it at start-up; at a million masts that takes seconds of each worker's CPU). Checks go on
    fresh connections, so they reach every worker; warm = 8 in a row under 500 ms."""
    body = _check(random.Random(0), 0)
    t0 = time.perf_counter()

    async def one() -> tuple[float, int]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        t = time.perf_counter()
        try:
            status = await asyncio.wait_for(_send(reader, writer, body), timeout=timeout_s)
        finally:
            writer.close()
        return (time.perf_counter() - t) * 1000, status

    while time.perf_counter() - t0 < timeout_s:
        answers = [asyncio.run(one()) for _ in range(8)]
        if all(st == 200 and ms < 500 for ms, st in answers):
            return time.perf_counter() - t0
        time.sleep(0.5)
    raise SystemExit(f"the server's site checks were not warm after {timeout_s:.0f} s")


def cost_per_kind(port: int, server_pid: int, reqs: list[Request], n: int = 200) -> dict[str, Any]:
    """CPU milliseconds each kind of request costs the server and PostgreSQL (and the client), from
    ``n`` requests of that kind sent one after another on one connection — where the CPU of the mix
    goes, and the ceiling it puts on the rate: cores / CPU per request."""
    by: dict[str, list[Request]] = {}
    for r in reqs:
        by.setdefault(r.kind, []).append(r)

    async def seq(rs: list[Request]) -> list[float]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        out = []
        for r in rs:
            t = time.perf_counter()
            await _send(reader, writer, r)
            out.append((time.perf_counter() - t) * 1000)
        writer.close()
        return out

    srv = _children(server_pid)
    costs: dict[str, Any] = {}
    for kind, rs in sorted(by.items()):
        rs = rs[:n if kind != "plan" else max(10, n // 10)]
        asyncio.run(seq(rs[:5]))
        c0 = (_cpu_seconds(srv), _postgres_cpu_seconds(), time.process_time())
        ms = asyncio.run(seq(rs))
        c1 = (_cpu_seconds(srv), _postgres_cpu_seconds(), time.process_time())
        k = len(rs)
        costs[kind] = {"n": k, "server_cpu_ms": round((c1[0] - c0[0]) / k * 1000, 2),
                       "postgres_cpu_ms": round((c1[1] - c0[1]) / k * 1000, 2),
                       "client_cpu_ms": round((c1[2] - c0[2]) / k * 1000, 2), "p50_ms": _pct(ms, 50)}
    share = {"tile": 0.70, "features": 0.20, "check": 0.08, "plan": 0.02}
    per = sum(share[k] * (costs[k]["server_cpu_ms"] + costs[k]["postgres_cpu_ms"]) for k in share if k in costs)
    cores = os.cpu_count() or 1
    return {"by_kind": costs, "mix_cpu_ms_per_request": round(per, 2),
            "cpu_ceiling_rps": round(cores * 1000 / per) if per else None}


def _operator_key(url: str) -> str:
    from geodata.store.keys import create_key
    from geodata.store.db import make_engine, session_factory

    engine = make_engine(url)
    with session_factory(engine)() as s, s.begin():
        key = create_key(s, "operator", operator="VTL", name="load benchmark").secret
    engine.dispose()
    return key


def smoke(url: str, seconds: float = 3.0, rate: float = 20.0) -> dict[str, Any]:
    """A few seconds of the same mix against ``url`` (used by the test suite; no figures kept)."""
    bt = _bench_tiles()
    key = _operator_key(url)
    proc, port = bt.start_ours(url, cache_bytes=64 * 1024 * 1024)
    try:
        return run_step(port, proc.pid, build_mix(2000, key), rate, seconds, SEED)
    finally:
        bt.stop(proc)


def target_step(steps: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The step run at the targets' rate (the lowest offered rate at or above :data:`TARGET_RPS`)."""
    at = [s for s in steps if s["offered_rps"] >= TARGET_RPS]
    return min(at, key=lambda s: s["offered_rps"]) if at else None


def not_met(best: dict[str, Any], held: list[dict[str, Any]], at: dict[str, Any] | None) -> list[str]:
    """The issue's targets this run missed, each with its figure (empty: all met). The items target is
    "at that rate", 150 req/s: judged in that step (``at``, :func:`target_step`), not in a higher headline step."""
    out = []
    if not held:
        out.append(f"no step held p99 <= {P99_TARGET_MS:.0f} ms with 0 errors (first step: p99 {best['p99_ms']} ms, "
                   f"errors {best['errors']})")
    if best["rps"] < TARGET_RPS:
        out.append(f"{best['rps']} req/s in the headline step, target {TARGET_RPS:.0f}")
    items = at["by_kind"].get("features", {}).get("p99_ms") if at else None
    if at is None:
        out.append(f"no step at {TARGET_RPS:.0f} req/s: OGC items p99 not measured at the target rate")
    elif items is not None and items > 100:
        out.append(f"OGC items p99 {items} ms at {at['offered_rps']:.0f} req/s, target 100")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sites", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=float, default=20.0, help="duration of each rate step")
    ap.add_argument("--rates", default="50,100,150,175,200,250,300,400,500")
    ap.add_argument("--workers", type=int, default=None,
                    help="btsplan serve --workers (default: the command's own, one per core available)")
    ap.add_argument("--out", type=Path, default=RESULT)
    ap.add_argument("--smoke", action="store_true", help="a few seconds against BTSPLAN_DATABASE_URL")
    args = ap.parse_args()
    if args.smoke:
        print(json.dumps(smoke(os.environ["BTSPLAN_DATABASE_URL"]), indent=2))
        return
    # every check comes from one address and every plan from one key: lift those limits (each request still
    # pays the limiter's statement) so the steps measure the server, not the limiter's 429s
    os.environ.update(BTSPLAN_ANONYMOUS_WRITE_RATE_PER_MINUTE="1000000", BTSPLAN_WRITE_RATE_PER_MINUTE="1000000")
    load_before = os.getloadavg()[0]
    bt = _bench_tiles()
    url = bt.prepare_database(args.sites, rebuild_cells=False)
    key = _operator_key(url)
    reqs = build_mix(60_000, key)
    proc, port = bt.start_ours(url, cache_bytes=256 * 1024 * 1024, workers=args.workers)
    workers = len(_children(proc.pid))
    steps = []
    try:
        warm_s = wait_warm(port)
        _log(f"site-check contexts warm {warm_s:.1f} s after the server answered")
        _log("warm-up 10 s at 50 rps")
        run_step(port, proc.pid, reqs, 50, 10, SEED - 1)
        costs = cost_per_kind(port, proc.pid, reqs)
        _log(f"CPU per request: {costs['mix_cpu_ms_per_request']} ms for the mix → ceiling "
             f"{costs['cpu_ceiling_rps']} req/s; {costs['by_kind']}")
        for rate in [float(r) for r in args.rates.split(",")]:
            step = run_step(port, proc.pid, reqs, rate, args.seconds, SEED + int(rate))
            steps.append(step)
            _log(f"{rate:>5.0f} rps offered → {step['rps']} done, p50 {step['p50_ms']} p99 {step['p99_ms']} ms, "
                 f"errors {step['errors']}, cpu {step['cpu_cores']}")
            if step["errors"] or step["p99_ms"] > P99_TARGET_MS:
                break
    finally:
        bt.stop(proc)
    held = [s for s in steps if s["errors"] == 0 and s["p99_ms"] <= P99_TARGET_MS]
    best = held[-1] if held else steps[0]
    first_fail = next((s for s in steps if s not in held), None)
    limit = first_fail or steps[-1]  # the step that shows what gives out first
    cores = limit["cpu_cores"]
    slowest = max(limit["by_kind"], key=lambda k: limit["by_kind"][k]["p99_ms"])
    busy = sum(cores.values())
    n_cores = os.cpu_count() or 1
    bottleneck = {
        "step_offered_rps": limit["offered_rps"],
        "slowest_kind": slowest,
        "slowest_kind_p99_ms": limit["by_kind"][slowest]["p99_ms"],
        "cpu_cores_used": cores,
        "cpu_saturated": busy >= 0.85 * n_cores,
        "reading": (f"CPU-bound: {busy:.2f} of {n_cores} cores busy ({max(cores, key=cores.get)} the most)"
                    if busy >= 0.85 * n_cores else
                    f"other work held the cores: load average {limit['loadavg_1m']} while this run used {busy:.2f} "
                    f"of {n_cores} (a figure of a shared machine, not of the server)"
                    if limit["loadavg_1m"] > busy + 1.0 else
                    f"latency-bound: {slowest} requests queue while only {busy:.2f} of {n_cores} cores are busy"),
        "cost_per_request": costs,
        "found": FOUND,
    }
    at_target = target_step(steps)
    result = {
        "benchmark": "load",
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "database": f"PostGIS, {args.sites:,} demo sites",
        "mix": {"tiles": 0.70, "features": 0.20, "checks": 0.08, "plan_submissions": 0.02},
        "p99_target_ms": P99_TARGET_MS,
        "server_workers": args.workers or "default (one per core available)",
        "server_processes_seen": workers,
        "rps": best["rps"], "p50_ms": best["p50_ms"], "p95_ms": best["p95_ms"], "p99_ms": best["p99_ms"],
        "errors": best["errors"],
        "cpu_cores_used": round(sum(best["cpu_cores"].values()), 2),
        "cpu_cores_available": os.cpu_count(),
        "items_p99_ms": best["by_kind"].get("features", {}).get("p99_ms"),
        "items_p99_ms_at_target_rate": None if at_target is None else {
            "offered_rps": at_target["offered_rps"], "rps": at_target["rps"],
            "p99_ms": at_target["by_kind"].get("features", {}).get("p99_ms")},
        "highest_rate_held": best["offered_rps"] if held else None,
        "first_rate_missed": first_fail["offered_rps"] if first_fail else None,
        "bottleneck": bottleneck,
        "conditions": (f"server, PostgreSQL and this load generator on the same {n_cores} cores; 1-minute load "
                       f"average {load_before:.1f} before the run and {best['loadavg_1m']:.1f} in the headline "
                       "step (above ~2.5 other work shared the cores)"),
        "targets": {"rps": TARGET_RPS, "p99_ms": P99_TARGET_MS, "errors": 0, "items_p99_ms": 100},
        "not_met": not_met(best, held, at_target),
        "steps": steps,
    }
    write_result(args.out, result)
    _log(f"wrote {args.out}: {best['rps']} rps at p99 {best['p99_ms']} ms, errors {best['errors']}, "
         f"{result['cpu_cores_used']} cores busy")


if __name__ == "__main__":
    main()
