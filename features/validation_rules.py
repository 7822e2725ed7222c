"""The validation rules, declared once: codes, scopes and descriptions, and the failure record.

Every check of :mod:`features.validation` reports :class:`Failure` records whose ``rule`` is one
of :data:`RULES`; ``docs/data-contract.md`` renders the same catalogue
(:mod:`features.contract_docs`), so the documentation and the validator cannot drift apart.

Internally failures travel as DataFrames with :data:`FAILURE_COLUMNS` (millions of failures in a
badly broken district must stay cheap); :func:`failure_frame` builds one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

FAILURE_COLUMNS = ["table", "row", "key", "column", "rule", "value", "message"]


@dataclass(frozen=True)
class Failure:
    """One thing wrong in the bank's data.

    Attributes:
        table: Table name (``manifest.json`` for the manifest).
        row: 0-based row number in the table as loaded (parts concatenated in file-name
            order); None for a whole table or column.
        key: The row's key as ``"col=value, col=value"`` (cells as stored); None when no row.
        column: Column concerned; several columns are joined with ``","``; None for a table.
        rule: Stable rule code, one of :data:`RULES`.
        value: The offending cell(s) as stored, as a string (several joined with ``", "``).
        message: A sentence a data clerk understands.
    """

    table: str
    row: int | None
    key: str | None
    column: str | None
    rule: str
    value: str | None
    message: str


@dataclass(frozen=True)
class Rule:
    """A validation rule.

    Attributes:
        code: Stable code reported in :attr:`Failure.rule`.
        scope: ``folder`` (files and columns), ``cell`` (one cell or row of a table),
            ``table`` (rows of one table together), ``cross-table`` or ``quarantine`` (only
            reported by the loader when it quarantines rows).
        applies_to: Where the rule applies, for the documentation.
        description: What must hold.
    """

    code: str
    scope: str
    applies_to: str
    description: str


_ALL = "every table"
RULES: dict[str, Rule] = {
    r.code: r
    for r in [
        Rule(
            "missing_table",
            "folder",
            _ALL,
            "The table has a file: `<table>.csv`, `<table>.parquet` or `<table>/part-*.parquet`.",
        ),
        Rule(
            "unreadable_file",
            "folder",
            _ALL,
            "Every file of the table can be read: a Parquet file is complete (not empty, not "
            "cut short), a CSV file has at least its header row. A table with a file that "
            "cannot be read is left out of the foreign-key and cross-table checks; its other "
            "files are still checked.",
        ),
        Rule(
            "encoding",
            "folder",
            "CSV files",
            "CSV files are UTF-8; a UTF-8 byte-order mark is accepted. A file in another "
            "encoding (Windows-1258, Latin-1, UTF-16…) is not read: encodings are never guessed.",
        ),
        Rule(
            "csv_format",
            "folder",
            "CSV files",
            "Every line of a CSV file has as many fields as its header (a value holding a comma "
            "is in double quotes), the header names each column once, and the file ends with a "
            "line break (else its last line may have been cut). A line with the wrong number of "
            "fields is not read.",
        ),
        Rule(
            "missing_column",
            "folder",
            _ALL,
            "Every column of the contract is present, in every file of a table stored in "
            "several files (a part lacking a column is not read).",
        ),
        Rule("unknown_column", "folder", _ALL, "No column outside the contract is present."),
        Rule(
            "bad_manifest",
            "folder",
            "manifest.json",
            "`manifest.json`, when present, is JSON and its `export_date` is `YYYY-MM-DD`.",
        ),
        Rule(
            "type",
            "cell",
            _ALL,
            "Every cell reads as the column's type: whole numbers for integers, numbers for "
            "floats, `true`/`false`/`1`/`0` for booleans, ISO dates `YYYY-MM-DD` for dates. "
            "Rows with such a cell are excluded from the later checks.",
        ),
        Rule(
            "not_null",
            "cell",
            _ALL,
            "Columns not marked nullable have no empty cell. Rows with such a cell are "
            "excluded from the later checks.",
        ),
        Rule("range", "cell", _ALL, "Numbers and dates lie in the column's range."),
        Rule("enum", "cell", _ALL, "Coded columns hold one of their allowed values."),
        Rule("pattern", "cell", _ALL, "Identifiers match the column's pattern."),
        Rule("length", "cell", _ALL, "Text is not longer than the column's maximum length."),
        Rule(
            "future_date",
            "cell",
            _ALL,
            "No date is later than the reference date (the manifest's `export_date`, else "
            "today), except the scheduled dates listed below.",
        ),
        Rule(
            "unique_key",
            "table",
            _ALL,
            "The table's key is unique; every row sharing a key is reported.",
        ),
        Rule(
            "foreign_key",
            "cross-table",
            _ALL,
            "Each foreign key refers to an existing row of the referenced table; for a "
            "multi-column key the other columns must agree with that row (e.g. a household's "
            "village and commune are its group's). A multi-column key is only checked when its "
            "narrower keys hold, so one fault is reported once.",
        ),
        Rule(
            "loan_commune",
            "cross-table",
            "loans",
            "A loan is booked in its household's commune, which (by the households' foreign "
            "key) is its group's commune: `loans.commune_id` = household's `commune_id` = "
            "group's `commune_id`.",
        ),
        Rule(
            "date_order",
            "cross-table",
            "loans, hazard_events, group_leaders",
            "Dates of a row are in order: `application_date` <= `disbursement_date` < "
            "`maturity_date` (loans); `start_date` <= `end_date` (hazard_events, "
            "group_leaders).",
        ),
        Rule(
            "payment_before_disbursement",
            "cross-table",
            "interest, installments, debt_events",
            "Nothing is paid or recorded on a loan before it is disbursed: "
            "`interest.session_date`, `installments.paid_date` and `debt_events.event_date` "
            "are on or after the loan's `disbursement_date`.",
        ),
        Rule(
            "installments_sum",
            "cross-table",
            "loans",
            "The `principal_due` of a loan's installments sums exactly to `loans.amount` "
            "(checked when all of the loan's installments passed the other checks).",
        ),
        Rule("program_cap", "cross-table", "loans", "`amount` <= the program's cap."),
        Rule(
            "program_term", "cross-table", "loans", "`term_months` <= the program's longest term."
        ),
        Rule(
            "program_grace",
            "cross-table",
            "loans",
            "`grace_months` <= the program's longest grace period.",
        ),
        Rule(
            "program_rate",
            "cross-table",
            "loans",
            "`rate_pct` lies within the program's rates (tolerance 1e-6 %/year).",
        ),
        Rule(
            "parent_quarantined",
            "quarantine",
            _ALL,
            "Loader with a quarantine folder only: the row refers (by a foreign key) to a row "
            "that was quarantined, so it is quarantined too.",
        ),
        Rule(
            "schedule_quarantined",
            "quarantine",
            "loans",
            "Loader with a quarantine folder only: one of the loan's installments was "
            "quarantined, so the loan (and with it all its rows) is quarantined too: a loan "
            "is never returned with a partial schedule.",
        ),
    ]
}

STRUCTURAL_RULES = frozenset(c for c, r in RULES.items() if r.scope == "folder")


def failure_frame(
    table: str,
    rows: Sequence[int] | np.ndarray | pd.Index | None,
    column: str | Sequence[str] | None,
    rule: str,
    message: str | Sequence[str] | pd.Series,
    value: str | Sequence[str] | pd.Series | None = None,
) -> pd.DataFrame:
    """Failures of one rule as a frame (``key``, and ``value`` unless given, filled later).

    Args:
        table: Table name.
        rows: Row numbers (None: one failure about the whole table or column).
        column: Column name, or a sequence of names (one per row).
        rule: A code of :data:`RULES`.
        message: One message for all rows, or one per row.
        value: Offending value(s) as strings; None to read them from the table later.

    Returns:
        A frame with :data:`FAILURE_COLUMNS`.
    """
    if rule not in RULES:
        raise KeyError(f"unknown validation rule {rule!r}")
    if rows is None:
        idx = pd.array([pd.NA], dtype="Int64")
    else:
        idx = pd.array(np.asarray(rows, dtype="int64"), dtype="Int64")
    n = len(idx)

    def _col(v: object) -> object:
        if v is None or isinstance(v, str):
            return [v] * n
        return np.asarray(v, dtype=object)

    return pd.DataFrame(
        {
            "table": [table] * n,
            "row": idx,
            "key": [None] * n,
            "column": _col(column),
            "rule": [rule] * n,
            "value": _col(value),
            "message": _col(message),
        },
        columns=FAILURE_COLUMNS,
    )


def empty_failures() -> pd.DataFrame:
    """An empty failure frame."""
    return failure_frame("", [], None, "type", "")
