"""A fault found while reading a table's files: the one record both file readers return.

:mod:`features.raw_files` (Parquet, and the table's files together) and
:mod:`features.csv_files` (CSV) both report :class:`FileFault`; it lives here, below both, so
neither reader imports the other to name it (``raw_files`` calls ``csv_files``, never the
reverse).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FileFault:
    """Something wrong with a file of a table, found while reading it.

    Attributes:
        file: The file, relative to the data folder (e.g. ``loans/part-C1.parquet``).
        rule: ``unreadable_file``, ``encoding``, ``csv_format`` or ``missing_column``.
        message: A sentence naming the file, line and column where known, and the fix.
        line: 1-based line of a CSV file (the header is line 1), when the fault is on one.
        column: Column concerned, when known.
        rows_lost: True when rows of the table could not be read because of the fault.
    """

    file: str
    rule: str
    message: str
    line: int | None = None
    column: str | None = None
    rows_lost: bool = True

    @property
    def where(self) -> str:
        """``file`` or ``file:line``."""
        return self.file if self.line is None else f"{self.file}:{self.line}"
