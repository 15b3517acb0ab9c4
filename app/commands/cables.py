"""``btsplan cables …``: progress of the cable tidy-up/undergrounding plans, status changes,
relocation look-ups and a segment's history."""

from __future__ import annotations

import getpass
import json
import sys
from typing import Any

import typer
from rich.table import Table

from app.commands.db import engine_from_settings
from app.console import REPORT_FORMATS, choice, console, parse_date_option
from geodata.work import cables as gc
from geodata.settings import get_settings
from planning import labels
from planning.cables import GROUPINGS
from planning.vocab import SEGMENT_STATUSES
from planning.i18n import N_, _, pgettext

app = typer.Typer(help="Cables (Kế hoạch 18/KH-BCĐ…): progress, status changes, relocations, history.",
                  no_args_is_help=True)

BY_LABEL = {"district": "Quận/huyện", "commune": "Xã/phường/đặc khu", "method": "Phương án", "plan": "Kế hoạch",
            "operator": "Doanh nghiệp"}


def _json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


@app.command()
def progress(
    by: str = typer.Option("district", "--by", help="Group by district, commune, method (chỉnh trang / hạ ngầm / "
                                                    "both), plan or operator."),
    as_of: str = typer.Option(None, "--as-of", help="Report date YYYY-MM-DD (status rebuilt from history; default today)."),
    plan: str = typer.Option(None, "--plan", help="Only this plan, e.g. 18/KH-BCĐ."),
    fmt: str = typer.Option("table", "--format", help="table, csv or json."),
) -> None:
    """Length-weighted progress (km and % done / in progress / planned, overdue km) and streets counted."""
    choice(by, GROUPINGS, "--by")
    choice(fmt, REPORT_FORMATS, "--format")
    day = parse_date_option(as_of, "--as-of")
    data = gc.progress(engine_from_settings(), get_settings().metric_crs, by=by, as_of=day, plan=plan)
    if fmt == "json":
        _json(data)
    elif fmt == "csv":
        sys.stdout.write(gc.progress_csv(data))
    else:
        _progress_table(data)


def _progress_table(data: dict[str, Any]) -> None:
    by = data["by"]
    title = _("Cable tidy-up and undergrounding progress as of {date}", date=data["as_of"])
    if data.get("plan"):
        title += f" — {data['plan']}"
    t = Table(title=title)
    t.add_column(BY_LABEL[by], min_width=10)
    # kilometres, and the streets counted next to them as the plans report ("11 tuyến … Lê Chân")
    for head in (N_("Streets"), N_("Total km"), N_("Done km"), N_("In progress km"), N_("Planned km"),
                 N_("Done %"), N_("Overdue km")):
        t.add_column(_(head), justify="right")

    def cells(r: dict[str, Any]) -> list[str]:
        return [str(r["streets"]), f"{r['total_km']:.2f}", f"{r['done_km']:.2f}", f"{r['in_progress_km']:.2f}",
                f"{r['planned_km']:.2f}", f"{r['done_pct']:.1f}", f"{r['overdue_km']:.2f}"]

    for r in data["rows"]:
        code = r.get(f"{by}_code")
        name = labels.label("method", r[by]) if by == "method" else r[by]
        label = str(name) + (f" ({code})" if code else "")
        t.add_row(label, *cells(r))
    t.add_section()
    t.add_row(pgettext("total row", "Total"), *cells(data["totals"]), style="bold")
    console.print(t)
    if by == "operator":
        console.print(_("Operators share street sections, so operator rows overlap; the total counts each "
                        "section once."))
    if by == "district" and data.get("districts_as_of") and data["districts_as_of"] != data["as_of"]:
        console.print(_("District boundaries as of {districts_as_of} (the district level ended then).",
                        districts_as_of=data['districts_as_of']))


@app.command("set-status")
def set_status(
    segment: str = typer.Argument(..., help="Segment id or code, e.g. CAP-305-003."),
    status: str = typer.Argument(..., help=f"New status: {', '.join(SEGMENT_STATUSES)}."),
    date: str = typer.Option(None, "--date", help="Date of the change YYYY-MM-DD (default today)."),
    note: str = typer.Option(None, "--note", help="What happened (kept in the history)."),
    actor: str = typer.Option(None, "--actor", help="Who made the change (default cli:<login>)."),
    reopen: bool = typer.Option(False, "--reopen", help="Reopen a done segment (done → in_progress)."),
    expect_version: int = typer.Option(None, "--expect-version", help="Fail if the segment's version differs."),
) -> None:
    """Change a segment's status (planned → in_progress → done), keeping the dated history."""
    day = parse_date_option(date, "--date")
    who = actor or f"cli:{getpass.getuser()}"
    ch = gc.set_status(engine_from_settings(), segment, status, actor=who, on=day, note=note, reopen=reopen,
                       expected_version=expect_version)
    console.print(_("{code}: {from_status} → {to_status} on {value} by {actor} (version {version})",
                    code=ch.code, from_status=ch.from_status, to_status=ch.to_status,
                    value=ch.changed_on.isoformat(), actor=ch.actor, version=ch.version), highlight=False)


@app.command()
def affected(
    project: str = typer.Option(..., "--project", help="Relocation project name (or a unique part of it)."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """Segments intersecting a relocation project's area (e.g. the Cầu Rào bridge)."""
    choice(fmt, ("table", "json"), "--format")
    data = gc.affected_segments(engine_from_settings(), project, get_settings().metric_crs)
    if fmt == "json":
        _json(data)
        return
    p = data["project"]
    t = Table(title=_("{project} — deadline {deadline}: {n} cable segments affected", project=p["name"],
                      deadline=p["deadline"] or "?", n=data["count"]))
    for head, just in ((N_("Code"), "left"), (N_("Street"), "left"), (N_("District"), "left"), (N_("Status"), "left"),
                       (N_("Plan"), "left"), (N_("Length (m)"), "right"), (N_("In the area (m)"), "right")):
        t.add_column(_(head), justify=just)  # type: ignore[arg-type]
    for s in data["segments"]:
        t.add_row(s["code"], s["street"], s["district_code"] or "", s["status"], s["plan_ref"] or "",
                  f"{s['length_m']:.0f}", f"{s['length_in_area_m']:.0f}")
    console.print(t)


@app.command()
def history(
    segment: str = typer.Argument(..., help="Segment id or code."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """A segment's status history: who changed what, when."""
    choice(fmt, ("table", "json"), "--format")
    data = gc.history(engine_from_settings(), segment)
    if fmt == "json":
        _json(data)
        return
    t = Table(title=_("{code} — {street}: {status} (version {version})", code=data["code"], street=data["street"],
                      status=data["status"], version=data["version"]))
    for head in (N_("Date"), N_("From"), N_("To"), N_("Changed by"), N_("Note"), N_("Recorded at (UTC)")):
        t.add_column(_(head))
    for h in data["history"]:
        t.add_row(h["changed_on"], h["from_status"] or "", h["to_status"], h["actor"], h["note"] or "", h["recorded_at"])
    console.print(t)
