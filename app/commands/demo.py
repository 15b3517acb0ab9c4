"""``btsplan demo``: load the deterministic Hải Phòng demo dataset."""

from __future__ import annotations

import typer

from app.console import console, progress
from geodata.demo import load_demo


def demo(
    sites: int = typer.Option(1000, "--sites", min=0, max=5_000_000, help="Number of BTS sites."),
    seed: int = typer.Option(1, "--seed", help="Random seed; the same seed gives the same data."),
    routes: int = typer.Option(None, "--routes", min=1, help="Total routes (extra short streets are added)."),
    zones: int = typer.Option(None, "--zones", min=1, help="Total A1 zones (extra small zones are added)."),
    replace: bool = typer.Option(False, "--replace", help="Overwrite existing data."),
) -> None:
    """Load demo data for Hải Phòng (idempotent: the same parameters twice load once)."""
    from app.commands.db import engine_from_settings

    engine = engine_from_settings()
    with progress(transient=True) as bar:
        task = bar.add_task("demo sites", total=sites)
        res = load_demo(engine, seed=seed, n_sites=sites, n_routes=routes, n_zones=zones, replace=replace,
                        progress=lambda done, total: bar.update(task, completed=done))
    if res.skipped:
        console.print(f"demo data (seed {seed}, {sites} sites) already loaded; nothing to do")
    else:
        console.print(
            f"demo loaded: {res.sites} sites, {res.districts} districts, {res.communes} communes, "
            f"{res.routes} routes, {res.zones} zones, {res.cable_segments} cable segments; "
            f"{len(res.planted)} A2a masts planted on A1-only routes/zones"
        )
