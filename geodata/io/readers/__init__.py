"""Readers for the files provinces hold: CSV/XLSX tables and GIS vector formats, streamed in batches.

``open_source(path)`` → :class:`Source` whose ``batches()`` yield raw values with the user's row
numbers; ``columns.resolve`` maps the file's (Vietnamese or English) column names to fields.
Validation and writing live in :mod:`geodata.io.importer`.
"""

from geodata.io.readers.columns import ColumnMap, parse_overrides, resolve
from geodata.io.readers.errors import ErrorLog, ReadError, RowError
from geodata.io.readers.source import Batch, Source, open_source

__all__ = ["Batch", "ColumnMap", "ErrorLog", "ReadError", "RowError", "Source", "open_source", "parse_overrides",
           "resolve"]
