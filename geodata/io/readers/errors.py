"""Row-level and file-level import problems, in the one shape every report uses:
(row, field, value, message) — row numbers as the user sees them in Excel or a text editor."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geodata.errors import InvalidField
from geodata.io.writers.tabular import csv_text


@dataclass(frozen=True)
class RowError:
    row: int | None  #: 1-based row as shown in the file (header = its own row); None for the whole file
    field: str  #: canonical field name ("lat", "code", "geometry") or the file's column name
    value: str  #: the offending value as text ("" when missing)
    message: str
    severity: str = "error"  #: "error" (row rejected) or "warning" (row kept, e.g. geometry repaired)

    def line(self) -> str:
        where = f"row {self.row}" if self.row is not None else "file"
        val = f" = {self.value!r}" if self.value != "" else ""
        return f"{where}, {self.field}{val}: {self.message}"


class ReadError(InvalidField):
    """The whole file cannot be read (empty, wrong encoding, missing columns, too many rows…)."""

    def __init__(self, message: str, field: str = "file", value: str = "", row: int | None = None) -> None:
        super().__init__(message, field)
        self.error = RowError(row, field, value, message)


def as_text(value: Any) -> str:
    if value is None:
        return ""
    try:
        if value != value:  # NaN
            return ""
    except Exception:  # noqa: BLE001  (arrays etc.)
        pass
    return str(value)


@dataclass
class ErrorLog:
    """Collects row errors with bounded memory: the first ``keep`` in full, then only counts, so a
    million bad rows cannot exhaust memory while the summary still says how many there were."""

    keep: int = 10_000
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)
    n_errors: int = 0
    n_warnings: int = 0
    bad_rows: int = 0
    by_field: Counter[str] = field(default_factory=Counter)

    def add(self, err: RowError) -> None:
        if err.severity == "warning":
            self.n_warnings += 1
            if len(self.warnings) < self.keep:
                self.warnings.append(err)
            return
        self.n_errors += 1
        self.by_field[err.field] += 1
        if len(self.errors) < self.keep:
            self.errors.append(err)

    def extend(self, errs: Iterable[RowError]) -> None:
        for e in errs:
            self.add(e)

    @property
    def truncated(self) -> bool:
        return self.n_errors > len(self.errors) or self.n_warnings > len(self.warnings)

    def sorted(self) -> list[RowError]:
        return sorted(self.errors + self.warnings, key=lambda e: (e.row is not None, e.row or 0, e.severity))

    def to_csv(self, path: Path | None = None) -> str:
        """The report as CSV (UTF-8 with BOM so Excel shows Vietnamese): row, field, value, message, severity."""
        text = csv_text(["row", "field", "value", "message", "severity"],
                        ([e.row, e.field, e.value, e.message, e.severity] for e in self.sorted()), bom=False)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8-sig", newline="")
        return text
