"""``btsplan classify``, ``btsplan check a1-routes|spacing|all``, ``btsplan stats sites``.

Thin wiring: the work is in :mod:`geodata.work.checks` (database) and :mod:`planning` (rules). Machine
output (``--format json|csv``) goes to stdout or ``--out``; progress and summaries go to stderr so
a pipe receives clean data.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from app.documents import issuer_of
from app.documents.model import OfficialDocument
from app.documents.statistics import stats_document
from app.documents.to_pdf import document_pdf
from app.documents.to_xlsx import document_xlsx
from app.console import REPORT_FORMATS, choice, err_console, fail, parse_date_option, progress
from geodata.io.writers import tabular
from geodata.work import checks as gchecks
from geodata.settings import get_settings
from planning import labels
from planning.aggregate import SiteCounts
from planning.findings import FINDING_CSV_FIELDS, to_records
from planning.i18n import _
from planning.rules import RulePack, load_pack, pack_for_province
from planning.vocab import CHECK_NAMES, DERIVED_CLASSES, MAST_CLASSES

ENGINES = ("python", "dask")
WHICH = (*CHECK_NAMES, "all")
TABLE_LIMIT = 500

stats_app = typer.Typer(help="Statistics: site counts by administrative unit × mast class.", no_args_is_help=True)


def _engine():  # type: ignore[no-untyped-def]
    from app.commands.db import engine_from_settings

    return engine_from_settings()


def _pack(name: str | None) -> RulePack:
    return load_pack(name) if name else pack_for_province(get_settings().province)



def _engine_choice(compute: str, scheduler: str | None) -> None:
    """``--engine`` is python or dask, and ``--scheduler`` only goes with dask."""
    choice(compute, ENGINES, "--engine")
    if scheduler and compute != "dask":
        fail(_("--scheduler needs --engine dask"))


def _emit_document(doc: OfficialDocument, fmt: str, out: Path) -> None:
    """An issued document (``xlsx`` or ``pdf``) written to ``out``."""
    data = document_pdf(doc) if fmt == "pdf" else document_xlsx(doc)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    except OSError as exc:
        fail(_("cannot write {path}: {error}", path=out, error=exc.strerror or exc))
    err_console.print(_("written to {path}", path=out), highlight=False)


def _emit(text: str, out: Path | None) -> None:
    """Text to stdout or to ``out`` as is (a CSV's CRLF line ends and BOM come from the writer)."""
    if out is None:
        sys.stdout.write(text)
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        fail(_("cannot write {path}: {error}", path=out, error=exc.strerror or exc))
    err_console.print(_("written to {path}", path=out), highlight=False)


def _render(table: Table) -> str:
    buf = io.StringIO()
    Console(file=buf, width=200, force_terminal=False, color_system=None).print(table)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# classify
# --------------------------------------------------------------------------------------------

def classify(
    pack_name: str = typer.Option(None, "--pack", help="Rule pack name or YAML path (default: the province's)."),
) -> None:
    """Derive every site's mast class with its reasons from the rule pack, and store them
    (also replaces the class-mismatch findings)."""
    pack = _pack(pack_name)
    engine = _engine()
    with progress(transient=True) as bar:
        task = bar.add_task("classify", total=None)
        summary = gchecks.classify_stored(
            engine, pack, progress=lambda _s, done, total: bar.update(task, completed=done, total=total))
    t = Table(title=_("Antenna mast classes ({pack} {version})", pack=pack.id, version=pack.version))
    t.add_column(_("class"))
    t.add_column(_("sites"), justify="right")
    for c in DERIVED_CLASSES:
        t.add_row(c, f"{summary.by_class.get(c, 0):,}")
    t.add_row(_("total"), f"{summary.sites:,}", style="bold")
    err_console.print(t)
    err_console.print(_("{changed:,} site(s) updated; {mismatches:,} declared/derived mismatch(es); "
                        "{unknown:,} unknown "
                        "(missing inputs); {provisional:,} decided by a provisional rule (see reasons)",
                        changed=summary.changed, mismatches=summary.mismatches, unknown=summary.unknown,
                        provisional=summary.ambiguous), highlight=False)


# --------------------------------------------------------------------------------------------
# check
# --------------------------------------------------------------------------------------------

def _findings_table(records: list[dict[str, Any]], title: str, limit: int | None) -> Table:
    t = Table(title=title, show_lines=False)
    for col, just in ((_("severity"), "left"), (_("rule"), "left"), (_("site"), "left"), (_("op."), "left"),
                      (_("zone / route / nearest mast"), "left"), (_("distance m"), "right"), (_("district"), "left"),
                      (_("commune"), "left")):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    style = {"violation": "red", "warning": "yellow", "info": "cyan"}
    for r in records[:limit] if limit else records:
        target = r.get("zone") or r.get("route") or r.get("other_site_code") or ""
        d = r.get("distance_m")
        t.add_row(f"[{style.get(r['severity'], '')}]{labels.label('severity', r['severity'])}[/]", r["rule"], r.get("site_code") or "",
                  r.get("operator") or "", target, "" if d is None else f"{d:,.1f}", r.get("district") or "",
                  r.get("commune") or "")
    return t


def check(
    which: str = typer.Argument(..., help="a1-routes (A2a masts on A1-only routes/zones), spacing, or all."),
    fmt: str = typer.Option("table", "--format", help="table, csv or json."),
    out: Path = typer.Option(None, "--out", help="Write the report to this file instead of stdout."),
    classes: str = typer.Option(None, "--classes",
                                help="a1-routes: mast classes to flag, e.g. A2a,A2b,A2c (default: the pack's)."),
    pack_name: str = typer.Option(None, "--pack", help="Rule pack name or YAML path (default: the province's)."),
    store: bool = typer.Option(True, "--store/--no-store", help="Replace the stored findings of the check(s)."),
    compute: str = typer.Option("python", "--engine",
                                help="python (one process) or dask (spatial partitions on a Dask cluster; "
                                     "same findings)."),
    scheduler: str = typer.Option(None, "--scheduler",
                                  help="--engine dask: scheduler address, e.g. tcp://10.0.0.5:8786 (default "
                                       "BTSPLAN_DASK_SCHEDULER, else a local cluster of BTSPLAN_DASK_WORKERS)."),
    partitions: int = typer.Option(None, "--partitions", min=1,
                                   help="--engine dask: number of spatial partitions (default: one per 250,000 "
                                        "sites, at least two per worker)."),
) -> None:
    """Run planning checks; each run replaces that check's stored findings atomically."""
    choice(which, WHICH, "check")
    choice(fmt, REPORT_FORMATS, "--format")
    cls: tuple[str, ...] | None = None
    if classes:
        cls = tuple(c.strip() for c in classes.split(",") if c.strip())
        bad = [c for c in cls if c not in MAST_CLASSES]
        if bad:
            fail(_("--classes: unknown mast class(es) {bad}; use {known}",
                   bad=", ".join(bad), known=", ".join(MAST_CLASSES)))
    _engine_choice(compute, scheduler)
    pack = _pack(pack_name)
    settings = get_settings()
    engine = _engine()
    names = list(CHECK_NAMES) if which == "all" else [which]
    if compute == "dask":
        findings = _check_on_dask(engine, pack, names, settings=settings, store=store, classes=cls,
                                  scheduler=scheduler or settings.dask_scheduler, partitions=partitions)
    else:
        frames = []
        with progress(transient=True) as bar:
            task = bar.add_task("checks", total=len(names))
            for name in names:
                bar.update(task, description=f"check {name}")
                frames.append(gchecks.run_checks(engine, pack, [name], metric_crs=settings.metric_crs, store=store,
                                                 classes=cls))
                bar.advance(task)
        import pandas as pd

        from planning.findings import finalise

        frames = [f for f in frames if len(f)]
        findings = finalise(pd.concat(frames, ignore_index=True)) if frames else finalise(pd.DataFrame())
    records = to_records(findings)
    counts = findings.groupby("check").size().to_dict() if len(findings) else {}
    done = "; ".join(_("{check}: {n:,} finding(s)", check=n, n=counts.get(n, 0)) for n in names)
    err_console.print(_("{counts} (stored)", counts=done) if store else done, highlight=False)
    if fmt == "json":
        _emit(json.dumps({"findings": records, "count": len(records),
                          "rule_pack": {"id": pack.id, "version": pack.version}},
                         ensure_ascii=False, indent=2) + "\n", out)
    elif fmt == "csv":
        rows = ([r.get(k) for k in FINDING_CSV_FIELDS] for r in records)
        _emit(tabular.csv_text(FINDING_CSV_FIELDS, rows, bom=out is not None), out)
    else:
        title = _("Findings — {checks} ({pack} {version}): {n:,} finding(s)",
                  checks=", ".join(names), pack=pack.id,
                  version=pack.version, n=len(records))
        if out is not None:
            _emit(_render(_findings_table(records, title, None)), out)
            return
        Console().print(_findings_table(records, title, TABLE_LIMIT))
        if len(records) > TABLE_LIMIT:
            err_console.print(_("… {n:,} more; use --format csv|json --out FILE for all",
                                n=len(records) - TABLE_LIMIT),
                              highlight=False)


def _on_dask(label: str, scheduler: str | None, settings: Any, work: Any) -> Any:
    """Run ``work(workers)`` on a Dask cluster — the given scheduler, or a local cluster started
    for the run — with a spinner, and say where it ran and how long it took."""
    import time

    from planning.distributed import dask_client

    where = scheduler or f"a local cluster of {settings.dask_workers} worker(s), {settings.dask_worker_memory} each"
    err_console.print(_("dask: starting on {where}", where=where), highlight=False)
    started = time.perf_counter()
    try:
        with dask_client(scheduler, workers=settings.dask_workers, memory_limit=settings.dask_worker_memory) as client:
            workers = len(client.scheduler_info().get("workers", {}))
            if workers == 0:
                client.wait_for_workers(1, timeout=60)
                workers = len(client.scheduler_info().get("workers", {}))
            with progress(transient=True) as bar:
                bar.add_task(f"{label} on {workers} Dask worker(s)", total=None)
                result, what = work(workers)
    except (OSError, TimeoutError) as exc:
        fail(_("dask scheduler {value}: {exc}", value=scheduler or 'local cluster', exc=exc))
    err_console.print(_("dask: {what} on {workers} worker(s), {value:.1f} s",
                        what=what, workers=workers, value=time.perf_counter() - started), highlight=False)
    return result


def _check_on_dask(engine: Any, pack: RulePack, names: list[str], *, settings: Any, store: bool,
                   classes: tuple[str, ...] | None, scheduler: str | None, partitions: int | None) -> Any:
    from geodata.work.distributed import run_checks_dask

    def work(workers: int) -> tuple[Any, str]:
        # a local cluster shares this machine's disk: its workers write their findings there themselves
        with tempfile.TemporaryDirectory(prefix="btsplan-findings-") if scheduler is None \
                else contextlib.nullcontext() as spool:
            run = run_checks_dask(engine, pack, names, metric_crs=settings.metric_crs, store=store, classes=classes,
                                  npartitions=partitions, workers=workers, spool=spool)
        return run.findings, f"{run.sites:,} sites in {run.partitions} spatial partition(s)"

    return _on_dask(f"checks {', '.join(names)}", scheduler, settings, work)


# --------------------------------------------------------------------------------------------
# stats
# --------------------------------------------------------------------------------------------

def _counts_table(c: SiteCounts) -> Table:
    level = c.by[0]
    title = (_("BTS sites by district × mast class, as of {day}",
               day=c.as_of.isoformat()) if level == "district"
             else _("BTS sites by commune × mast class, as of {day}", day=c.as_of.isoformat()))
    t = Table(title=title)
    t.add_column(_("district"))
    if level == "commune":
        t.add_column(_("commune"))
    for col in (*DERIVED_CLASSES, "total"):
        t.add_column(col, justify="right")
    for r in c.rows.to_dict("records"):
        lead = [r.get("district") or ""] + ([r.get("commune") or ""] if level == "commune" else [])
        t.add_row(*lead, *[f"{int(r[col]):,}" for col in (*DERIVED_CLASSES, "total")])
    pad = [""] if level == "commune" else []
    t.add_row(_("Total"), *pad, *[f"{c.totals[col]:,}" for col in (*DERIVED_CLASSES, "total")], style="bold")
    t.add_row(_("Share (%)"), *pad, *[f"{c.shares[col]:.2f}" for col in DERIVED_CLASSES], "100.00")
    return t


@stats_app.command("sites")
def stats_sites(
    by: str = typer.Option("district,type", "--by", help="district,type or commune,type."),
    as_of: str = typer.Option(None, "--as-of", help="Date YYYY-MM-DD: units valid on that day (default today)."),
    fmt: str = typer.Option("table", "--format", help="table, csv, json, or the table the department issues "
                                                      "(authority header) as xlsx or pdf (these need --out)."),
    out: Path = typer.Option(None, "--out", help="Write to this file instead of stdout."),
    pack_name: str = typer.Option(None, "--pack", help="Rule pack for sites not yet classified."),
    compute: str = typer.Option("python", "--engine", help="python (one process) or dask (partitions on a Dask "
                                                             "cluster; same table)."),
    scheduler: str = typer.Option(None, "--scheduler", help="--engine dask: scheduler address (default "
                                                            "BTSPLAN_DASK_SCHEDULER, else a local cluster)."),
    partitions: int = typer.Option(None, "--partitions", min=1, help="--engine dask: number of spatial partitions."),
) -> None:
    """Count BTS sites by district or commune × mast class (A1a … A2c, unknown), with totals and shares."""
    parts = [p.strip() for p in by.split(",") if p.strip()]
    if not parts or parts[0] not in ("district", "commune") or any(p not in ("type", "class") for p in parts[1:]):
        fail(_("--by {by!r}: use district,type or commune,type", by=by))
    choice(fmt, (*REPORT_FORMATS, "xlsx", "pdf"), "--format")
    if fmt in ("xlsx", "pdf") and out is None:
        fail(_("--format {fmt} writes a file: give --out FILE", fmt=fmt))
    day = parse_date_option(as_of, "--as-of")
    _engine_choice(compute, scheduler)
    pack = _pack(pack_name)
    if compute == "dask":
        from geodata.work.distributed import site_counts_dask

        settings = get_settings()
        engine = _engine()

        def work(workers: int) -> tuple[Any, str]:
            table, n = site_counts_dask(engine, pack, metric_crs=settings.metric_crs, by=parts[0], as_of=day,
                                        npartitions=partitions, workers=workers)
            return table, f"counted in {n} spatial partition(s)"

        counts = _on_dask("site counts", scheduler or settings.dask_scheduler, settings, work)
    else:
        counts = gchecks.stored_site_counts(_engine(), pack, by=parts[0], as_of=day)
    if counts.note:
        err_console.print(_("note: {note}", note=counts.note), highlight=False)
    if fmt in ("xlsx", "pdf") and out is not None:
        _emit_document(stats_document(counts.to_json(), parts[0], issuer_of(get_settings())), fmt, out)
    elif fmt == "json":
        _emit(json.dumps(counts.to_json(), ensure_ascii=False, indent=2) + "\n", out)
    elif fmt == "csv":
        data = counts.to_json()
        lead = ["district_code", "district"] + (["commune_code", "commune"] if parts[0] == "commune" else [])
        pad = [""] * (len(lead) - 2)
        rows = [[r.get(k) or "" for k in lead] + [r[c] for c in (*DERIVED_CLASSES, "total")] for r in data["rows"]]
        rows.append(["", "total", *pad, *[data["totals"][c] for c in (*DERIVED_CLASSES, "total")]])
        rows.append(["", "share %", *pad, *[data["shares"][c] for c in DERIVED_CLASSES], 100.0])
        _emit(tabular.csv_text([*lead, *DERIVED_CLASSES, "total"], rows, bom=out is not None), out)
    elif out is not None:
        _emit(_render(_counts_table(counts)), out)
    else:
        Console().print(_counts_table(counts))


def register(cli: typer.Typer) -> None:
    """Add ``classify``, ``check`` and ``stats`` to the root CLI (one line in app/cli.py)."""
    cli.command("classify")(classify)
    cli.command("check")(check)
    cli.add_typer(stats_app, name="stats")
