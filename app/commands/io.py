"""``btsplan import KIND FILE`` and ``btsplan export LAYER --format F --out FILE``.

Import validates the whole file first and writes it in one transaction; every rejected row is
reported as (row, field, value, message), on screen and optionally as CSV. Export writes the
inspectors' filtered lists in the formats their tools open (Excel, QGIS, Google Earth, field apps).
"""

from __future__ import annotations

import datetime as dt
import getpass
from pathlib import Path

import typer
from rich.table import Table

from app.commands.db import engine_from_settings
from app.console import console, err_console, fail, parse_date_option, progress
from geodata.io import writers
from geodata.io.readers.columns import KINDS
from planning.i18n import N_, _

SHOW_ERRORS = 50


class _NoBar:
    """Stand-in for the progress bar when stderr is not a terminal (logs and CI stay clean)."""

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, *a: object, **k: object) -> int:
        return 0

    def update(self, *a: object, **k: object) -> None:
        return None


def _bar():  # type: ignore[no-untyped-def]
    return progress(transient=True) if err_console.is_terminal else _NoBar()




def import_cmd(
    kind: str = typer.Argument(..., help=f"What the file holds: {', '.join(KINDS)}, unit-mapping (old → new units "
                               "of a reform; --valid-from is its first day, default 2025-07-01)."),
    file: Path = typer.Argument(..., help="CSV, XLSX, GeoJSON, GPKG, Shapefile (.shp, .zip or folder), KML/KMZ."),
    crs: str = typer.Option(None, "--crs", help="CRS of the coordinates: EPSG:9210, 'VN-2000 Hải Phòng', "
                            "\"VN2000 TM3 105°45'\", 'UTM 48N', WGS84… (overrides a .prj)."),
    operator: str = typer.Option(None, "--operator", help="Operator of every site when the file has no operator column."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate and report only; write nothing."),
    on_conflict: str = typer.Option("error", "--on-conflict", help="Rows whose key is already stored: error, skip or update."),
    skip_bad_rows: bool = typer.Option(False, "--skip-bad-rows", help="Import the good rows even if some are bad."),
    errors_out: Path = typer.Option(None, "--errors-out", help="Write the row-error report to this CSV file."),
    sheet: str = typer.Option(None, "--sheet", help="XLSX sheet (name or number), or layer of a GPKG/KML/zip."),
    mapping: list[str] = typer.Option(None, "--map", help="COLUMN=FIELD for a column the aliases do not know "
                                      "(repeatable), e.g. --map 'Số hiệu trạm=code'."),
    encoding: str = typer.Option(None, "--encoding", help="Text encoding of a CSV/Shapefile (default: detected)."),
    level: str = typer.Option(None, "--level", help="admin: province, district or commune when the file does not say."),
    valid_from: str = typer.Option(None, "--valid-from", help="admin: units valid from YYYY-MM-DD."),
    valid_to: str = typer.Option(None, "--valid-to", help="admin: units valid until YYYY-MM-DD (e.g. 2025-06-30)."),
    as_of: str = typer.Option(None, "--as-of", help="Assign communes/districts valid on this date (default today)."),
    method: str = typer.Option(None, "--method", help="cables: method of rows whose file gives none: chinh_trang "
                               "(chỉnh trang), ha_ngam (hạ ngầm) or chinh_trang_ha_ngam (both)."),
) -> None:
    """Import a file: validate every row, then write all of it in one transaction (or nothing)."""
    from geodata.io.importer import ImportOptions, import_file
    from geodata.io.readers.columns import parse_overrides
    from geodata.settings import get_settings

    if kind == "unit-mapping":
        _import_unit_mapping(file, parse_date_option(valid_from, "--valid-from"), dry_run, errors_out)
        return
    if kind not in KINDS:
        fail(_("unknown kind {kind!r}; one of {kinds}, unit-mapping", kind=kind, kinds=', '.join(KINDS)))
    if on_conflict not in ("error", "skip", "update"):
        fail(_("--on-conflict {on_conflict!r} is not one of error, skip, update", on_conflict=on_conflict))
    if level is not None and level not in ("province", "district", "commune"):
        fail(_("--level {level!r} is not one of province, district, commune", level=level))
    if method is not None:
        from geodata.io.import_kinds import CABLE_METHOD_WORDS
        from planning.names import fold

        method = CABLE_METHOD_WORDS.get(fold(method))
        if kind != "cables" or method is None:
            fail(_("--method applies to cables: chinh_trang, ha_ngam or chinh_trang_ha_ngam"))
    overrides = parse_overrides(mapping or [])
    s = get_settings()
    opts = ImportOptions(crs=crs, operator=operator, dry_run=dry_run, on_conflict=on_conflict,  # type: ignore[arg-type]
                         skip_bad_rows=skip_bad_rows, sheet=sheet, mapping=overrides, encoding=encoding,
                         actor=f"cli:{getpass.getuser()}", max_rows=s.max_import_rows, province=s.province,
                         metric_crs=s.metric_crs, as_of=parse_date_option(as_of, "--as-of"), level=level,
                         valid_from=parse_date_option(valid_from, "--valid-from"), valid_to=parse_date_option(valid_to, "--valid-to"),
                         method=method)
    engine = engine_from_settings()
    with _bar() as bar:
        tasks: dict[str, int] = {}

        def step(phase: str, k: int, total: int | None) -> None:
            label = {"validate": "kiểm tra / validating", "write": "ghi / writing"}[phase]
            if phase not in tasks:
                tasks[phase] = bar.add_task(label, total=total)
            bar.update(tasks[phase], advance=k)

        res = import_file(engine, kind, file, opts, progress=step)
    engine.dispose()
    _report(res, errors_out)
    if res.failed:
        raise typer.Exit(1)


def _import_unit_mapping(file: Path, effective_on: dt.date | None, dry_run: bool, errors_out: Path | None) -> None:
    """``import unit-mapping``: the same row-error report as the other kinds, then one summary line."""
    from geodata.io.import_mapping import import_unit_mapping

    engine = engine_from_settings()
    res = import_unit_mapping(engine, file, effective_on, dry_run=dry_run)
    engine.dispose()
    shown = res.log.sorted()
    if shown:
        t = Table(title=_("{n} error(s) in {file}", n=res.log.n_errors, file=res.file))
        for h in _ERROR_COLUMNS:
            t.add_column(_(h), overflow="fold")
        for e in shown[:SHOW_ERRORS]:
            t.add_row("" if e.row is None else str(e.row), e.field, e.value[:40], e.message)
        err_console.print(t)
    if errors_out is not None and shown:
        res.log.to_csv(errors_out)
    if res.log.n_errors:
        fail(_("{file} not imported ({n} error(s); nothing written) — first: {first}", file=res.file,
               n=res.log.n_errors, first=shown[0].line()))
    if res.committed:
        console.print(_("imported unit mapping from {file}: {rows} merges into {units} new units, valid from "
                        "{day}",
                        file=res.file, rows=res.inserted, units=res.new_units, day=res.effective_on.isoformat()),
                      highlight=False)
    else:
        console.print(_("dry run: {rows} merges valid; nothing written", rows=res.rows), highlight=False)


#: Columns of the row-error table.
_ERROR_COLUMNS = (N_("row"), N_("field"), N_("value"), N_("message"))


def _report(res, errors_out: Path | None) -> None:  # type: ignore[no-untyped-def]
    for note in res.notes:
        err_console.print(f"[dim]·[/] {note}", highlight=False)
    log = res.log
    shown = log.sorted()
    whole_file = len(shown) == 1 and shown[0].row is None  # said in full by the last line: no table
    if shown and not whole_file:
        t = Table(title=_("{n} error(s), {warnings} warning(s) in {file}", n=log.n_errors,
                          warnings=log.n_warnings, file=res.file), show_lines=False)
        for h in _ERROR_COLUMNS:
            t.add_column(_(h), overflow="fold")
        for e in shown[:SHOW_ERRORS]:
            style = "yellow" if e.severity == "warning" else None
            t.add_row("" if e.row is None else str(e.row), e.field, e.value[:40], e.message, style=style)
        err_console.print(t)
        if len(shown) > SHOW_ERRORS or log.truncated:
            more = log.n_errors + log.n_warnings - SHOW_ERRORS
            err_console.print(_("… {n} more", n=more) if errors_out else
                              _("… {n} more (write them all with --errors-out FILE)", n=more))
    if errors_out is not None and (shown or log.n_errors):
        log.to_csv(errors_out)
        err_console.print(_("row-error report written to {errors_out}", errors_out=errors_out))
    first = next((e for e in shown if e.severity == "error"), None)
    if res.committed:
        console.print(_("imported {kind} from {file}: {inserted} inserted, {updated} updated, {skipped} "
                        "skipped (already stored), {rejected} bad row(s) left out [{rows} rows read; CRS "
                        "{crs}]",
                        kind=res.kind, file=res.file, inserted=res.inserted, updated=res.updated,
                        skipped=res.skipped, rejected=res.rejected, rows=res.rows,
                        crs=res.crs), highlight=False)
    elif res.dry_run and not res.failed:
        console.print(_("dry run: {valid} of {rows} rows valid, {skipped} would be skipped; nothing written",
                        valid=res.valid, rows=res.rows, skipped=res.skipped),
                      highlight=False)
    else:
        where = "" if first is None else (_("file: {message}", message=first.message) if first.row is None else
                                          _("row {row}, {field}: {message}", row=first.row, field=first.field,
                                            message=first.message))
        text = _("{file} not imported ({n} error(s); nothing written)", file=res.file, n=log.n_errors)
        if where:
            text = _("{text} — first: {where}", text=text, where=where)
        err_console.print(f"[bold red]{_('error')}:[/] {text}", highlight=False)



def export_cmd(
    layer: str = typer.Argument(..., help="sites, findings or cables."),
    fmt: str = typer.Option(..., "--format", help=f"{', '.join(writers.FORMATS)} (shp is written zipped)."),
    out: Path = typer.Option(..., "--out", help="Output file."),
    district: list[str] = typer.Option(None, "--district", help="District code or name (repeatable)."),
    commune: list[str] = typer.Option(None, "--commune", help="Commune/ward code or name (repeatable)."),
    type_: list[str] = typer.Option(None, "--derived-class", "--type",
                                     help="Mast class A1a…A2c or 'unknown' (repeatable; --type is the older name)."),
    operator: list[str] = typer.Option(None, "--operator", help="Operator code or name (repeatable)."),
    status: list[str] = typer.Option(None, "--status", help="Site status (planned, built, removed) or cable status."),
    finding: list[str] = typer.Option(None, "--finding", help="Findings: check name or rule id (repeatable)."),
    as_of: str = typer.Option(None, "--as-of", help="YYYY-MM-DD: name and select rows by the units in force that day "
                                                      "(communes from 2025-07-01, districts before)."),
) -> None:
    """Export sites, findings or cable segments, filtered, for Excel, QGIS, Google Earth or field apps."""
    from geodata.io.exports import ExportFilter, open_export
    from geodata.settings import get_settings

    if fmt not in writers.FORMATS:
        fail(_("--format {fmt!r} is not one of {formats}", fmt=fmt, formats=', '.join(writers.FORMATS)))
    flt = ExportFilter(district=list(district or []), commune=list(commune or []), type=list(type_ or []),
                       operator=list(operator or []), status=list(status or []), finding=list(finding or []),
                       as_of=parse_date_option(as_of, "--as-of"))
    engine = engine_from_settings()
    try:
        lay = open_export(engine, layer, flt, province_key=get_settings().province)
        with _bar() as bar:
            task = bar.add_task(f"export {layer} → {fmt}", total=None)
            inner = lay.chunk_source

            def counted():  # type: ignore[no-untyped-def]
                for df in inner():
                    bar.update(task, advance=len(df))
                    yield df

            lay.chunk_source = counted
            path = writers.write(lay, fmt, out)
    finally:
        engine.dispose()
    console.print(_("wrote {path} ({st_size:,} bytes; filter: {value})",
                    path=path, st_size=path.stat().st_size, value=flt.describe()), highlight=False)
