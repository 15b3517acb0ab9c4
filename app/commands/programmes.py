"""``btsplan programmes create|list|progress``: mast conversion (153/KH-UBND) and eco-BTS pilots."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from app.commands.db import engine_from_settings
from app.console import console, fail, parse_date_option
from geodata.work import programmes as gpr
from geodata.store.db import transaction
from geodata.settings import get_settings
from planning.vocab import PROGRAMME_KINDS
from planning.i18n import N_, _

app = typer.Typer(help="Mast-conversion and environment-friendly-BTS programmes.", no_args_is_help=True)




@app.command()
def create(
    name: str = typer.Option(..., "--name", help="Programme name."),
    kind: str = typer.Option("conversion", "--kind", help="conversion | eco_bts"),
    legal_ref: str = typer.Option(None, "--legal-ref", help="e.g. 'Kế hoạch 153/KH-UBND (22/6/2018)'"),
    deadline: str = typer.Option(None, "--deadline", help="YYYY-MM-DD"),
    preset: str = typer.Option(None, "--preset", help="a2a_on_a1: A2a masts on A1-only routes/zones"),
    operator: list[str] = typer.Option(None, "--operator", help="Only these operators (repeat)."),
    district: list[str] = typer.Option(None, "--district", help="Only these district codes (repeat)."),
) -> None:
    """Create a programme and fix its target sites."""
    if kind not in PROGRAMME_KINDS:
        fail(_("--kind must be one of {kinds}", kinds=", ".join(PROGRAMME_KINDS)))
    if preset not in (None, gpr.PRESET_A2A_ON_A1):
        fail(_("--preset must be {preset}", preset=gpr.PRESET_A2A_ON_A1))
    engine = engine_from_settings()
    flt: dict[str, object] = {}
    codes: list[str] = []
    if preset:
        codes = gpr.a2a_on_a1_codes(engine, get_settings())
        flt["preset"] = preset
    with transaction(engine) as s:
        if operator or district or not preset:
            from geodata.work.inspections import select_sites

            f = {k: v for k, v in (("operator", operator), ("district", district)) if v}
            flt["filter"] = f
            picked = select_sites(s, f) if (f or kind == "conversion") else []
            codes = sorted(set(codes) & set(picked)) if preset else picked
        prog = gpr.create_programme(s, "cli", name, kind, legal_ref, parse_date_option(deadline, "--deadline"), flt, codes)
        out = gpr.programme_dict(s, prog)
    console.print(_("programme {id} {name!r}: {n} target site(s)", id=out["id"], name=out["name"], n=out["sites"]))


@app.command("list")
def list_() -> None:
    """List programmes."""
    with transaction(engine_from_settings()) as s:
        rows = [gpr.programme_dict(s, p) for p in gpr.list_programmes(s)]
    table = Table(*(_(h) for h in (N_("id"), N_("name"), N_("kind"), N_("legal ref"), N_("deadline"), N_("sites"))))
    for r in rows:
        table.add_row(str(r["id"]), r["name"], r["kind"], r["legal_ref"] or "", r["deadline"] or "", str(r["sites"]))
    console.print(table)


@app.command()
def progress(
    programme: str = typer.Argument(..., help="Programme id or exact name."),
    by: str = typer.Option("district", "--by", help="district | operator"),
    as_of: str = typer.Option(None, "--as-of", help="YYYY-MM-DD (default today)"),
    fmt: str = typer.Option("table", "--format", help="table | json"),
) -> None:
    """Progress of a programme by district or operator."""
    if fmt not in ("table", "json"):
        fail(_("--format must be table or json"))
    with transaction(engine_from_settings()) as s:
        data = gpr.progress(s, gpr.get_programme(s, programme), by, parse_date_option(as_of, "--as-of"))
    if fmt == "json":
        typer.echo(json.dumps(data, ensure_ascii=False))
        return
    p = data["programme"]
    table = Table(_(by), *(_(h) for h in (N_("total"), N_("done"), N_("pending"), N_("overdue"), N_("done %"))),
                  title=_("{name} ({ref}), deadline {deadline}", name=p["name"], ref=p["legal_ref"] or p["kind"],
                          deadline=p["deadline"] or "—"))
    for r in data["rows"]:
        label = r.get("district_name") or r.get(by) or "—"
        table.add_row(str(label), str(r["total"]), str(r["done"]), str(r["pending"]), str(r["overdue"]),
                      f"{r['done_pct']:.1f}")
    t = data["totals"]
    table.add_row(f"[bold]{_('total')}", str(t["total"]), str(t["done"]), str(t["pending"]), str(t["overdue"]),
                  f"{t['done_pct']:.1f}")
    console.print(table)
