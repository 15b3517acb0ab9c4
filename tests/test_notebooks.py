"""The analysts' notebooks run top to bottom on the demo database and write their folium maps.

Each notebook is executed with nbclient in a real Jupyter kernel, against a fresh clone of the demo
SpatiaLite database (``BTSPLAN_DATABASE_URL``), writing its HTML into a temporary folder
(``BTSPLAN_NOTEBOOK_OUT``). Any exception in any cell fails the test with the cell's traceback.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from sqlalchemy import Engine, select

from geodata.store import models as m
from tests.conftest import db_url

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

pytestmark = pytest.mark.slow


def run_notebook(name: str, engine: Engine, out: Path, monkeypatch: pytest.MonkeyPatch) -> nbformat.NotebookNode:
    monkeypatch.setenv("BTSPLAN_DATABASE_URL", db_url(engine))
    monkeypatch.setenv("BTSPLAN_NOTEBOOK_OUT", str(out))
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    # IPC transport: the kernel talks over local sockets in a temp dir, not TCP ports
    km = KernelManager(kernel_name="python3", transport="ipc", ip=str(out / "kernel"))
    client = NotebookClient(nb, km=km, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    try:
        client.execute(env=dict(os.environ))
    except CellExecutionError as exc:  # the message carries the failing cell and its traceback
        pytest.fail(f"{name}.ipynb failed:\n{exc}")
    return nb


def outputs_text(nb: nbformat.NotebookNode) -> str:
    parts: list[str] = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream":
                parts.append(o.get("text", ""))
            for mime in ("text/plain", "text/html"):
                if mime in o.get("data", {}):
                    parts.append(str(o["data"][mime]))
    return "\n".join(parts)


def in_html(text: str, html: str) -> bool:
    """``text`` in a folium page, where GeoJSON strings are JSON-escaped (``\\u1ec7``)."""
    return text in html or json.dumps(text)[1:-1] in html


def assert_folium_html(path: Path, *needles: str) -> str:
    assert path.is_file(), f"{path.name} was not written"
    html = path.read_text(encoding="utf-8")
    assert "L.map(" in html, "not a folium/Leaflet map"
    for n in needles:
        assert in_html(n, html), f"{n!r} missing from {path.name}"
    return html


@pytest.mark.parametrize("backend", ["spatialite"])
def test_cable_undergrounding(demo_db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = run_notebook("cable_undergrounding", demo_db, tmp_path, monkeypatch)
    text = outputs_text(nb)
    assert "Quận Lê Chân" in text and "Quận Hồng Bàng" in text
    with demo_db.connect() as conn:
        streets = set(conn.execute(select(m.CableSegment.street)).scalars())
    html = assert_folium_html(tmp_path / "cable_undergrounding.html", "in_progress", "planned")
    assert all(in_html(s, html) for s in streets), "every cable street is on the map"


@pytest.mark.parametrize("backend", ["spatialite"])
def test_a1_route_violations(demo_db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = run_notebook("a1_route_violations", demo_db, tmp_path, monkeypatch)
    with demo_db.connect() as conn:
        planted = conn.execute(select(m.Meta.value).where(m.Meta.key == "demo.planted_a2a_on_a1")).scalar()
    assert planted
    html = assert_folium_html(tmp_path / "a1_route_violations.html")
    assert all(in_html(code, html) for code in planted), "every planted A2a-on-A1 mast is on the map"
    assert f"{len(planted)} sites" in outputs_text(nb)


@pytest.mark.parametrize("backend", ["spatialite"])
def test_site_classification(demo_db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = run_notebook("site_classification", demo_db, tmp_path, monkeypatch)
    text = outputs_text(nb)
    assert "A2a" in text
    assert_folium_html(tmp_path / "site_classification.html", "A1a", "A2a", "Quận Lê Chân")
