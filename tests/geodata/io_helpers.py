"""Helpers for the I/O tests: Windows-1258 encoding, files in every format, table checksums."""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely

from geodata.store.checksum import table_checksums

BAD = Path(__file__).resolve().parents[1] / "data" / "bad"
TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}


def cp1258(text: str) -> bytes:
    """Encode as Windows-1258 the way Vietnamese Windows does: precomposed letters where the code
    page has them, base letter + combining tone mark otherwise."""
    out = []
    for ch in unicodedata.normalize("NFC", text):
        try:
            out.append(ch.encode("cp1258"))
            continue
        except UnicodeEncodeError:
            pass
        d = unicodedata.normalize("NFD", ch)
        base = "".join(c for c in d if c not in TONES)
        tone = "".join(c for c in d if c in TONES)
        out.append(unicodedata.normalize("NFC", base).encode("cp1258") + tone.encode("cp1258"))
    return b"".join(out)


#: sites near the centre of the demo city (inside its made-up communes), as a user's table
SITES = pd.DataFrame({
    "Mã trạm": ["T-001", "T-002", "T-003"],
    "Nhà mạng": ["Viettel", "MobiFone", "VNP"],
    "Kinh độ": [106.680, 106.690, 106.672],
    "Vĩ độ": [20.860, 20.850, 20.866],
    "Loại cột": ["A2b", "a1-a", "A2a"],
    "Độ cao cột (m)": [45.5, 2.5, 12.0],
    "Vị trí lắp đặt": ["Mặt đất", "Trên nhà", "trên nhà"],
    "Tên trạm": ["Trạm Lê Chân", "Trạm Hồng Bàng", "Trạm Ngô Quyền"],
})


def sites_gdf() -> gpd.GeoDataFrame:
    df = SITES.rename(columns={"Mã trạm": "code", "Nhà mạng": "operator", "Loại cột": "declared_class",
                               "Độ cao cột (m)": "mast_height_m", "Vị trí lắp đặt": "mount", "Tên trạm": "name"})
    return gpd.GeoDataFrame(df.drop(columns=["Kinh độ", "Vĩ độ"]),
                            geometry=shapely.points(SITES["Kinh độ"], SITES["Vĩ độ"]), crs="EPSG:4326")


def write_vector(gdf: gpd.GeoDataFrame, path: Path, driver: str, **kw: Any) -> Path:
    pyogrio.write_dataframe(gdf, path, driver=driver, **kw)
    return path


def checksums(engine: Any) -> dict[str, Any]:
    return table_checksums(engine)
