"""Helpers every benchmark needs: a timestamped log line, the PostgreSQL server to benchmark on, where the
figures go, and loading one benchmark script from another (or from a smoke test)."""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def postgres_base_url() -> str:
    """``BTSPLAN_BENCH_POSTGRES_URL``, else the test URL, else the local cluster (scripts/pg_local.sh)."""
    url = os.environ.get("BTSPLAN_BENCH_POSTGRES_URL") or os.environ.get("BTSPLAN_TEST_POSTGRES_URL")
    if not url:
        url = subprocess.run(["bash", str(ROOT / "scripts" / "pg_local.sh")], capture_output=True, text=True,
                             check=True).stdout.strip()
    return url


def machine_basics() -> dict[str, Any]:
    """What a benchmark ran on: CPU, cores, memory, Python and the numeric stack."""
    import numpy
    import shapely

    cpu = ""
    try:
        cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                    if ln.startswith("model name")), "")
    except OSError:
        pass
    mem_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3, 1)
    return {"hostname": platform.node(), "cpu": cpu, "cores": os.cpu_count(), "memory_gb": mem_gb,
            "os": platform.platform(), "python": platform.python_version(), "numpy": numpy.__version__,
            "shapely": shapely.__version__}


def write_result(path: Path, result: dict[str, Any]) -> Path:
    """Write a benchmark's figures as ``benchmarks/results/<name>.json`` (UTF-8, Vietnamese kept readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def load_benchmark(name: str) -> ModuleType:
    """Import ``benchmarks/<name>.py`` by path: the scripts are not a package, yet the load benchmark reuses
    the tile benchmark's server start and the smoke test reuses the load mix."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while the class is built
    spec.loader.exec_module(mod)
    return mod


def stop(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Terminate a server process, killing it if it has not ended after ``timeout`` seconds (benchmarks
    and the live-server tests start uvicorn, tipg and btsplan serve the same way)."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
