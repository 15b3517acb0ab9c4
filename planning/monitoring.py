"""Implementation monitoring: planned vs built vs overdue, per firm and district.

A planned site counts as *realised* when a built site of the same firm stands within ``radius_m`` of
the planned position (firms rarely build at the exact planned coordinates, and codes change between
plan and construction); it is *overdue* when its target date has passed and it is not realised.
Positions are the stored metric coordinates (``x_m``/``y_m``), so the radius is in metres.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import shapely

from planning.vocab import LIVE_SITE_STATUSES


def realised_mask(planned: pd.DataFrame, built: pd.DataFrame, radius_m: float) -> np.ndarray:
    """For each planned row: is there a built site of the same operator within ``radius_m``?"""
    out = np.zeros(len(planned), dtype=bool)
    if not len(planned) or not len(built):
        return out
    tree = shapely.STRtree(shapely.points(built["x_m"].to_numpy(float), built["y_m"].to_numpy(float)))
    pi, bi = tree.query(shapely.points(planned["x_m"].to_numpy(float), planned["y_m"].to_numpy(float)),
                        predicate="dwithin", distance=radius_m)
    same = planned["operator"].to_numpy(object)[pi] == built["operator"].to_numpy(object)[bi]
    out[np.unique(pi[same])] = True
    return out


def implementation(sites: pd.DataFrame, as_of: dt.date, radius_m: float,
                   district_names: dict[str, str] | None = None, *, by: str = "district",
                   unit_column: str = "district_code") -> dict[str, Any]:
    """Rows per (operator, unit) with planned, built, realised, overdue counts and overdue codes.

    ``sites`` needs ``code, operator, status, x_m, y_m, target_date`` and the unit of each site in
    ``unit_column`` (the caller decides which units: since 1/7/2025 the communes of ``as_of``);
    ``by`` names the rows' unit keys (``district``/``district_name``, ``commune``/``commune_name``).
    """
    names = district_names or {}
    s = sites[sites["status"].isin(LIVE_SITE_STATUSES)].copy()
    s["district_code"] = s[unit_column].fillna("")
    planned = s[s["status"] == "planned"].reset_index(drop=True)
    built = s[s["status"] == "built"].reset_index(drop=True)
    realised = realised_mask(planned, built, radius_m)
    due = np.array([isinstance(t, dt.date) and t < as_of for t in planned["target_date"].tolist()], dtype=bool)
    planned["realised"] = realised
    planned["overdue"] = due & ~realised
    rows: list[dict[str, Any]] = []
    keys = sorted(set(zip(s["operator"], s["district_code"], strict=True)))
    pg = planned.groupby(["operator", "district_code"])
    bg = built.groupby(["operator", "district_code"]).size().to_dict()
    groups = {k: g for k, g in pg}
    for op, dist in keys:
        g = groups.get((op, dist))
        n_planned = 0 if g is None else len(g)
        rows.append({
            "operator": op, by: dist or None, f"{by}_name": names.get(dist),
            "planned": n_planned,
            "built": int(bg.get((op, dist), 0)),
            "realised": 0 if g is None else int(g["realised"].sum()),
            "overdue": 0 if g is None else int(g["overdue"].sum()),
            "overdue_sites": [] if g is None else sorted(g.loc[g["overdue"], "code"].tolist()),
        })
    totals = {k: sum(r[k] for r in rows) for k in ("planned", "built", "realised", "overdue")}
    return {"as_of": as_of.isoformat(), "by": by, "radius_m": radius_m, "rows": rows, "totals": totals}
