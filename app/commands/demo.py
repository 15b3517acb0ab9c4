"""``btsplan demo``: load the deterministic Hải Phòng demo dataset (made-up boundaries, or real ones
given with ``--admin``)."""

from __future__ import annotations

import getpass
from pathlib import Path

import typer

from app.console import console, fail, parse_date_option, progress
from geodata.demo import load_demo
from geodata.store.maintenance import AUTO_MIN_SITES, optimize_sites
from planning.i18n import _


def _outline(files: list[Path]):  # type: ignore[no-untyped-def]
    """The union of the polygons of the boundary files (WGS84): where the demo's sites go."""
    import geopandas as gpd
    import shapely

    parts = []
    for f in files:
        if not f.exists():
            fail(_("--admin {file}: no such file", file=str(f)))
        g = gpd.read_file(f)
        g = g.set_crs("EPSG:4326") if g.crs is None else g.to_crs("EPSG:4326")
        parts += [p for p in g.geometry if p is not None and p.geom_type in ("Polygon", "MultiPolygon")]
    if not parts:
        fail(_("--admin: the files hold no polygon"))
    return shapely.union_all(parts)


def demo(
    sites: int = typer.Option(1000, "--sites", min=0, max=5_000_000, help="Number of BTS sites."),
    seed: int = typer.Option(1, "--seed", help="Random seed; the same seed gives the same data."),
    routes: int = typer.Option(None, "--routes", min=1, help="Total routes (extra short streets are added)."),
    zones: int = typer.Option(None, "--zones", min=1, help="Total A1 zones (extra small zones are added)."),
    replace: bool = typer.Option(False, "--replace", help="Overwrite existing data."),
    admin: list[Path] = typer.Option(None, "--admin", help="Real boundary file(s) (province, districts, communes; "
                                     "any format `import admin` reads) to place the demo on instead of its "
                                     "made-up units (repeatable)."),
    valid_from: str = typer.Option(None, "--valid-from", help="--admin: the units are valid from YYYY-MM-DD."),
    valid_to: str = typer.Option(None, "--valid-to", help="--admin: the units are valid until YYYY-MM-DD "
                                 "(2025-06-30 for pre-reform boundaries)."),
) -> None:
    """Load demo data for Hải Phòng (idempotent: the same parameters twice load once).

    Its boundaries are made up (illustrative) unless real ones are given with --admin.
    """
    from app.commands.db import engine_from_settings

    engine = engine_from_settings()
    outline = _outline(admin) if admin else None
    with progress(transient=True) as bar:
        task = bar.add_task("demo sites", total=sites)
        res = load_demo(engine, seed=seed, n_sites=sites, n_routes=routes, n_zones=zones, replace=replace,
                        progress=lambda done, total: bar.update(task, completed=done), outline=outline)
    if res.skipped:
        console.print(_("demo data (seed {seed}, {sites} sites) already loaded; nothing to do",
                        seed=seed, sites=sites))
        return
    if admin:
        _import_boundaries(engine, admin, parse_date_option(valid_from, "--valid-from"),
                           parse_date_option(valid_to, "--valid-to"))
        if sites >= AUTO_MIN_SITES:  # giving the sites their real units rewrote them: spatial order again
            optimize_sites(engine)
        console.print(_("demo loaded on the real boundaries of {files}: {sites} sites, {routes} routes, "
                        "{zones} zones, {segments} cable segments (streets, zones and sites are made up)",
                        files=", ".join(f.name for f in admin), sites=res.sites, routes=res.routes, zones=res.zones,
                        segments=res.cable_segments), highlight=False)
        return
    console.print(
        _("demo loaded: {sites} sites, {districts} districts, {communes} communes, {routes} routes, {zones} "
          "zones, {cable_segments} cable segments; {n_planted} A2a masts planted on A1-only routes/zones",
          sites=res.sites, districts=res.districts, communes=res.communes, routes=res.routes, zones=res.zones,
          cable_segments=res.cable_segments, n_planted=len(res.planted))
    )
    console.print(_("The demo's administrative boundaries are made up (illustrative only); "
                    "use --admin FILE to place it on real ones."), highlight=False)


def _import_boundaries(engine, files: list[Path], valid_from, valid_to) -> None:  # type: ignore[no-untyped-def]
    """Import the boundary files as `import admin` does, then give every demo site its real units."""
    from geodata.io.importer import ImportOptions, import_file
    from geodata.io.site_units import assign_site_units
    from geodata.settings import get_settings

    s = get_settings()
    opts = ImportOptions(actor=f"cli:{getpass.getuser()}", province=s.province, metric_crs=s.metric_crs,
                         valid_from=valid_from, valid_to=valid_to)
    for f in files:
        r = import_file(engine, "admin", f, opts)
        if r.failed or not r.committed:
            first = next((e.line() for e in r.log.sorted() if e.severity == "error"), "")
            fail(_("--admin {file} not imported: {error}", file=str(f), error=first))
    assign_site_units(engine)
