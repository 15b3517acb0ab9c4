"""The server-drawn bar charts: counts and measures (kilometres) on one scale, the longest bar full width."""

from __future__ import annotations

from app import charts

SERIES = [charts.Series("done_km", "done", "#1e6b32"), charts.Series("planned_km", "planned", "#8a8f96")]


def test_kilometres_keep_their_fractions_and_share_one_scale() -> None:
    rows = [{"unit": "Phường Minh Khai", "done_km": 1.633, "planned_km": 3.258},
            {"unit": "Xã Máy Tơ", "done_km": 0.0, "planned_km": 0.346}]
    chart = charts.stacked_bars("km", rows, "unit", SERIES, number=float)
    first, second = chart.bars
    assert first.total == 4.891 and second.total == 0.346
    assert [s.value for s in first.segments] == [1.633, 3.258]
    assert second.segments[0].series.key == "planned_km" and len(second.segments) == 1  # no empty segment
    assert abs(sum(s.width for s in first.segments) - charts.BAR_WIDTH) < 0.2  # the longest bar fills the width
    assert second.segments[0].width < first.segments[0].width


def test_counts_stay_whole_numbers() -> None:
    chart = charts.stacked_bars("masts", [{"d": "Lê Chân", "done_km": "3", "planned_km": 2}], "d", SERIES)
    assert chart.bars[0].total == 5 and isinstance(chart.bars[0].total, int)


def test_a_short_longest_bar_still_fills_the_width() -> None:
    rows = [{"u": "a", "done_km": 0.2, "planned_km": 0.1}, {"u": "b", "done_km": 0.0, "planned_km": 0.0}]
    chart = charts.stacked_bars("km", rows, "u", SERIES, number=float)
    assert abs(sum(s.width for s in chart.bars[0].segments) - charts.BAR_WIDTH) < 0.2
    assert chart.bars[1].segments == [] and chart.bars[1].total == 0
