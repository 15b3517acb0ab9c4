"""Server-drawn SVG charts for the workspace: no chart library, no script, so they print, work
offline and pass the strict CSP. A chart is laid out here (bar positions in SVG units) and drawn by
``templates/workspace/_bars.html``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Width of the bar area and the label column, height of one bar row (SVG units).
BAR_WIDTH = 420.0
LABEL_WIDTH = 170.0
ROW_HEIGHT = 24.0


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    colour: str


@dataclass(frozen=True)
class Segment:
    x: float
    width: float
    value: float
    series: Series


@dataclass(frozen=True)
class Bar:
    label: str
    y: float
    total: float
    segments: list[Segment]


@dataclass(frozen=True)
class StackedBars:
    title: str
    series: Sequence[Series]
    bars: list[Bar]
    width: float
    height: float
    label_width: float = LABEL_WIDTH


def stacked_bars(title: str, rows: Sequence[Mapping[str, Any]], label_key: str, series: Sequence[Series],
                 number: Callable[[Any], float] = int) -> StackedBars:
    """One horizontal bar per row, its segments the ``series`` values stacked, all on one scale.

    ``number`` reads a value: counts by default; ``float`` for measures such as kilometres of cable
    (totals are then rounded to 3 decimals so float sums print cleanly)."""
    totals = [sum(number(r.get(s.key) or 0) for s in series) for r in rows]
    if number is not int:
        totals = [round(t, 3) for t in totals]
    scale = BAR_WIDTH / (max(totals, default=0) or 1)  # a chart of zeros draws no bar
    bars = []
    for i, (row, total) in enumerate(zip(rows, totals, strict=True)):
        x, segments = LABEL_WIDTH, []
        for s in series:
            value = number(row.get(s.key) or 0)
            if value:
                segments.append(Segment(round(x, 1), round(value * scale, 1), value, s))
                x += value * scale
        bars.append(Bar(str(row.get(label_key) or "—"), i * ROW_HEIGHT + 8, total, segments))
    return StackedBars(title, series, bars, LABEL_WIDTH + BAR_WIDTH + 60, len(bars) * ROW_HEIGHT + 16)
