"""Checks of one table against the contract: columns, cell types, pandera checks, keys.

:func:`check_table` reads nothing: it takes a table as stored (see :mod:`features.storage`),
types every cell per the contract (:mod:`features.validation_types`), and runs the table's own
checks. :mod:`features.foreign_keys` then links the tables and :mod:`features.cross_checks`
runs the rules across them; the orchestration (reading, report, loader) lives in
:mod:`features.validation`.

Cells that cannot be typed (``type``) or are empty in a non-nullable column (``not_null``)
exclude their row from every later check: they are reported once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pandas as pd
import pandera.pandas as pa

from features.contract import TABLES, TableSpec
from features.validation_rules import failure_frame
from features.validation_types import (
    KIND_WORDS,
    coerce_column,
    column_kind,
    final_dtypes,
    table_schema,
)

logger = logging.getLogger(__name__)

#: Scheduled dates, legitimately after the export date (not checked by ``future_date``).
FORWARD_DATES: dict[str, tuple[str, ...]] = {
    "loans": ("maturity_date",),
    "installments": ("due_date", "current_due_date"),
    "debt_events": ("new_due_date",),
}


@cache
def _check_schema(name: str, missing: tuple[str, ...]) -> pa.DataFrameSchema:
    """The table's schema for the value checks.

    Uniqueness is ``unique_key``'s job, and dtypes are already exact (cells were typed one
    by one), so neither is checked again.
    """
    schema = table_schema(name)
    schema = schema.update_columns({c: {"unique": False, "dtype": None} for c in schema.columns})
    return schema.remove_columns(list(missing)) if missing else schema


@dataclass
class CheckedTable:
    """A table after its own checks.

    Attributes:
        spec: The contract table.
        raw: The table as stored.
        typed: Present contract columns, typed cell by cell (unreadable cells null).
        unreadable: Per column, the rows whose cell is empty (non-nullable) or unreadable.
        excluded: Rows with a ``type`` or ``not_null`` failure (left out of later checks).
        failed: Rows with any failure so far.
        missing: Contract columns absent from the file.
        checked: Rows not excluded, at the contract's exact dtypes (index = row numbers).
        failures: Failures found so far.
    """

    spec: TableSpec
    raw: pd.DataFrame
    typed: pd.DataFrame
    unreadable: dict[str, np.ndarray]
    excluded: np.ndarray
    failed: np.ndarray
    missing: list[str]
    checked: pd.DataFrame
    failures: list[pd.DataFrame] = field(default_factory=list)
    _cells: pd.DataFrame | None = field(default=None, repr=False)
    _values: dict[tuple[str, ...], pd.DataFrame] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        """Table name."""
        return self.spec.name

    def add(self, failures: pd.DataFrame | None) -> None:
        """Record failures of this table (marks their rows failed); None: nothing to add."""
        if failures is None or failures.empty:
            return
        self._cells = None
        self.failures.append(failures)
        rows = failures["row"].dropna().to_numpy(dtype="int64")
        self.failed[rows] = True

    def failure_cells(self) -> pd.DataFrame:
        """``(row, column)`` of every failure so far on a cell (several columns split)."""
        if self._cells is None:
            if not self.failures:
                return pd.DataFrame({"row": np.zeros(0, dtype="int64"), "column": []})
            f = pd.concat(self.failures, ignore_index=True)
            f = f.loc[f["row"].notna() & f["column"].notna(), ["row", "column"]]
            f["column"] = f["column"].astype(str).str.split(",")
            f = f.explode("column").astype({"row": "int64"})
            self._cells = f.drop_duplicates().reset_index(drop=True)
        return self._cells

    def rows_failing(self, columns: tuple[str, ...] | list[str]) -> np.ndarray:
        """Row numbers with a failure reported on one of ``columns``."""
        if not self.failures:
            return np.zeros(0, dtype="int64")
        cells = self.failure_cells()
        return cells.loc[cells["column"].isin(list(columns)), "row"].unique()

    def values(self, columns: tuple[str, ...] | list[str]) -> pd.DataFrame:
        """Rows whose cells in ``columns`` are all readable and non-empty, typed exactly."""
        key = tuple(columns)
        if key not in self._values:
            mask = np.ones(len(self.typed), dtype=bool)
            for c in columns:
                mask &= ~self.unreadable[c] & self.typed[c].notna().to_numpy()
            self._values[key] = final_dtypes(self.typed.loc[mask, list(columns)], self.spec)
        return self._values[key].copy(deep=False)


def check_table(
    spec: TableSpec, raw: pd.DataFrame, reference_date: pd.Timestamp | None
) -> CheckedTable:
    """Run a table's own checks.

    Args:
        spec: The contract table.
        raw: The table as stored (any index; row numbers are positions).
        reference_date: Dates after it are ``future_date`` (None: not checked).

    Returns:
        The checked table, its failures recorded.
    """
    raw = raw.reset_index(drop=True)
    name, n = spec.name, len(raw)
    found: list[pd.DataFrame] = []
    schema = table_schema(name)
    contract_columns = list(schema.columns)
    missing = [c for c in contract_columns if c not in raw.columns]
    for c in (c for c in missing if schema.columns[c].required):  # optional columns may be absent
        found.append(
            failure_frame(name, None, c, "missing_column", f"Column {c} is missing from {name}.")
        )
    for c in raw.columns:
        if c not in contract_columns:
            msg = f"Column {c} is not part of the contract for {name}; remove or rename it."
            found.append(failure_frame(name, None, str(c), "unknown_column", msg))
    typed, unreadable = {}, {}
    excluded = np.zeros(n, dtype=bool)
    for c in contract_columns:
        if c in missing:
            continue
        kind = column_kind(spec, c)
        typed[c], bad = coerce_column(raw[c], kind)
        empty = raw[c].isna().to_numpy()
        if bad.any():
            msg = f"{c} must be {KIND_WORDS[kind]}; '{{value}}' cannot be read as one."
            found.append(failure_frame(name, np.flatnonzero(bad), c, "type", msg))
        null_bad = empty & (not schema.columns[c].nullable)
        if null_bad.any():
            found.append(
                failure_frame(name, np.flatnonzero(null_bad), c, "not_null", f"{c} is empty.")
            )
        unreadable[c] = bad | null_bad
        excluded |= unreadable[c]
    typed_df = pd.DataFrame(typed, index=raw.index)
    checked = final_dtypes(typed_df[~excluded] if excluded.any() else typed_df, spec)
    table = CheckedTable(
        spec, raw, typed_df, unreadable, excluded, excluded.copy(), missing, checked
    )
    for f in found:
        table.add(f)
    table.add(_pandera_failures(name, checked, tuple(missing)))
    if reference_date is not None:
        table.add(_future_dates(spec, checked, reference_date))
    table.add(_duplicate_keys(table))
    return table


def describe_check(check: str, stats: dict, kind: str) -> str:
    """Words for what a pandera check requires."""

    def fmt(v: object) -> str:
        return pd.Timestamp(v).strftime("%Y-%m-%d") if kind == "date" else f"{v}"

    if check == "greater_than_or_equal_to":
        return ("on or after " if kind == "date" else "at least ") + fmt(stats["min_value"])
    if check == "greater_than":
        return ("after " if kind == "date" else "greater than ") + fmt(stats["min_value"])
    if check == "less_than_or_equal_to":
        return ("on or before " if kind == "date" else "at most ") + fmt(stats["max_value"])
    if check == "less_than":
        return ("before " if kind == "date" else "less than ") + fmt(stats["max_value"])
    if check == "in_range":
        return f"between {fmt(stats['min_value'])} and {fmt(stats['max_value'])}"
    if check == "isin":
        return "one of: " + ", ".join(map(str, stats["allowed_values"]))
    if check == "str_matches":
        return f"matching the pattern {stats['pattern']}"
    if check == "str_length":
        lo, hi = stats.get("min_value"), stats.get("max_value")
        if lo is None:
            return f"at most {hi} characters long"
        return f"between {lo} and {hi} characters long"
    return check


_CHECK_RULES = {
    "greater_than_or_equal_to": "range",
    "greater_than": "range",
    "less_than_or_equal_to": "range",
    "less_than": "range",
    "in_range": "range",
    "isin": "enum",
    "str_matches": "pattern",
    "str_length": "length",
}


def _pandera_failures(
    name: str, frame: pd.DataFrame, missing: tuple[str, ...]
) -> pd.DataFrame | None:
    """Run the table's pandera model lazily and map its failure cases to our rules."""
    schema = _check_schema(name, missing)
    try:
        schema.validate(frame, lazy=True, inplace=True)
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
    else:
        return None
    out = []
    spec = TABLES[name]
    for (col, check, number), grp in cases.groupby(
        ["column", "check", "check_number"], dropna=False, sort=False
    ):
        rows = grp["index"].dropna().to_numpy(dtype="int64")
        col = None if pd.isna(col) else str(col)
        column = schema.columns.get(col) if col else None
        if column is not None and not pd.isna(number):
            chk = column.checks[int(number)]
            rule = _CHECK_RULES.get(chk.name, chk.name)
            kind = column_kind(spec, col)
            msg = f"{col} is '{{value}}'; it must be {describe_check(chk.name, chk.statistics, kind)}."
        elif str(check).startswith("dtype"):
            rule, msg = "type", f"{col} does not have the contract's type ({check})."
        elif check == "not_nullable":
            rule, msg = "not_null", f"{col} is empty."
        else:  # an unexpected pandera check: keep its name as the rule code
            logger.warning("unmapped pandera check %s on %s.%s", check, name, col)
            rule, msg = "range", f"{col} fails the check {check}."
        out.append(failure_frame(name, rows if len(rows) else None, col, rule, msg))
    return pd.concat(out, ignore_index=True)


def _future_dates(spec: TableSpec, frame: pd.DataFrame, ref: pd.Timestamp) -> pd.DataFrame | None:
    """Dates after the reference date (scheduled dates excepted)."""
    out = []
    forward = FORWARD_DATES.get(spec.name, ())
    day = ref.strftime("%Y-%m-%d")
    for col in frame.columns:
        if col in forward or column_kind(spec, col) != "date":
            continue
        late = frame.index[(frame[col] > ref).to_numpy()]
        if len(late):
            msg = f"{col} {{value}} is after the reference date {day} (the export date)."
            out.append(failure_frame(spec.name, late, col, "future_date", msg))
    return pd.concat(out, ignore_index=True) if out else None


def _duplicate_keys(table: CheckedTable) -> pd.DataFrame | None:
    """Every row whose (readable) key is shared with another row."""
    key = list(table.spec.key)
    name = table.name
    if any(c in table.missing for c in key):
        return None
    keys = table.values(key)
    dup = keys.duplicated(keep=False).to_numpy()
    if not dup.any():
        return None
    d = keys[dup]
    count = d.groupby(key, sort=False)[key[0]].transform("size").astype(str)
    msg = "The key (" + ", ".join(key) + ") appears " + count + " times in " + name
    return failure_frame(name, d.index, ",".join(key), "unique_key", msg + _how_dup(table, d))


def _how_dup(table: CheckedTable, dup: pd.DataFrame) -> pd.Series:
    """``"; the rows are identical…"`` or ``"; the rows differ in a, b…"`` per duplicated row."""
    key = list(table.spec.key)
    raw = table.raw.loc[dup.index]
    group = pd.MultiIndex.from_frame(dup[key]) if len(key) > 1 else dup[key[0]]
    differ = pd.Series("", index=dup.index, dtype=object)
    for c in (c for c in raw.columns if c not in key):
        text = raw[c].astype(object).where(raw[c].notna(), "").astype(str)
        n = text.groupby(group.to_numpy() if len(key) == 1 else group, sort=False)
        varies = n.transform("nunique").to_numpy() > 1
        differ[varies] = differ[varies] + np.where(differ[varies] == "", "", ", ") + c
    return pd.Series(
        np.where(
            differ == "",
            "; the rows are identical (the same record twice): keep one.",
            "; the rows differ in " + differ + ": keep the right one.",
        ),
        index=dup.index,
    )
