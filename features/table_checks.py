"""Checks of one table against the contract: columns, cell types, pandera checks, keys.

:func:`check_table` reads nothing: it takes a table as stored (see :mod:`features.storage`),
types every cell per the contract, and runs the table's own checks. :func:`check_foreign_keys`
then links the tables. The orchestration (reading, cross-table rules, report, loader) lives in
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

from features.contract import TABLES, ForeignKey, TableSpec
from features.validation_rules import failure_frame

logger = logging.getLogger(__name__)

#: Scheduled dates, legitimately after the export date (not checked by ``future_date``).
FORWARD_DATES: dict[str, tuple[str, ...]] = {
    "loans": ("maturity_date",),
    "installments": ("due_date", "current_due_date"),
    "debt_events": ("new_due_date",),
}

#: Multi-column foreign keys reported under a rule of their own instead of ``foreign_key``.
FK_RULES: dict[tuple[str, tuple[str, ...]], str] = {
    ("loans", ("household_id", "commune_id")): "loan_commune",
}

_KIND_WORDS = {
    "int": "a whole number",
    "float": "a number",
    "bool": "true/false (or 1/0)",
    "date": "a date written YYYY-MM-DD",
    "str": "text",
}
_DATE_RE = r"\d{4}-\d{2}-\d{2}"
_NS_MIN, _NS_MAX = pd.Timestamp("1677-09-22"), pd.Timestamp("2262-04-11")
_BOOL_TEXT = {"true": True, "false": False, "1": True, "0": False}
_FINAL_DTYPE = {"int": "int64", "float": "float64", "bool": "bool", "date": "datetime64[ns]"}


def column_kind(spec: TableSpec, column: str) -> str:
    """The kind of a contract column: ``str``, ``int``, ``float``, ``bool`` or ``date``."""
    dtype = str(table_schema(spec.name).columns[column].dtype)
    if dtype.startswith("datetime64"):
        return "date"
    if dtype.startswith("int"):
        return "int"
    if dtype.startswith("float"):
        return "float"
    if dtype == "bool":
        return "bool"
    return "str"


@cache
def table_schema(name: str) -> pa.DataFrameSchema:
    """The pandera schema of a contract table (built once)."""
    return TABLES[name].model.to_schema()


@cache
def _check_schema(name: str, missing: tuple[str, ...]) -> pa.DataFrameSchema:
    """The table's schema for the value checks.

    Uniqueness is ``unique_key``'s job, and dtypes are already exact (cells were typed one
    by one), so neither is checked again.
    """
    schema = table_schema(name)
    schema = schema.update_columns({c: {"unique": False, "dtype": None} for c in schema.columns})
    return schema.remove_columns(list(missing)) if missing else schema


def _text(s: pd.Series) -> pd.Series:
    """The column as text (``str`` dtype; nulls kept), to parse values stored another way."""
    return s if str(s.dtype) == "str" else s.astype("str")


def _numbers(raw: pd.Series) -> pd.Series:
    """Numbers from any stored column (NaN where unreadable)."""
    dt = raw.dtype
    if pd.api.types.is_bool_dtype(dt) or pd.api.types.is_datetime64_any_dtype(dt):
        return pd.Series(np.nan, index=raw.index)
    if pd.api.types.is_numeric_dtype(dt):
        return raw
    return pd.to_numeric(_text(raw), errors="coerce")


def coerce_column(raw: pd.Series, kind: str) -> tuple[pd.Series, np.ndarray]:
    """Type one column cell by cell.

    Args:
        raw: The column as stored (CSV: strings; Parquet: typed).
        kind: Contract kind of the column (see :func:`column_kind`).

    Returns:
        ``(typed, bad)``: the typed column (null where a cell is empty or unreadable; integers
        stay float while such nulls remain) and the mask of non-empty cells that could not be
        read as ``kind``.
    """
    present = raw.notna().to_numpy()
    none_bad = np.zeros(len(raw), dtype=bool)
    dt = raw.dtype
    if kind == "str":
        return _text(raw), none_bad
    if kind in ("int", "float"):
        num = _numbers(raw)
        if num.dtype.kind == "i" and not pd.api.types.is_extension_array_dtype(num.dtype):
            return num.astype("int64" if kind == "int" else "float64"), none_bad
        values = num.to_numpy(dtype="float64", na_value=np.nan, copy=True)
        ok = np.isfinite(values)
        if kind == "int":
            with np.errstate(invalid="ignore"):
                ok &= (values == np.floor(values)) & (np.abs(values) < 2.0**63)
        bad = present & ~ok
        values[bad] = np.nan
        return pd.Series(values, index=raw.index), bad
    if kind == "bool":
        if dt == np.dtype(bool):
            return raw, none_bad
        text = _text(raw).str.strip().str.lower()
        if pd.api.types.is_float_dtype(dt):
            text = text.replace({"1.0": "1", "0.0": "0"})
        typed = text.map(_BOOL_TEXT)
        return typed, present & typed.isna().to_numpy()
    # dates
    if pd.api.types.is_datetime64_any_dtype(dt) and getattr(dt, "tz", None) is None:
        values = raw
        bad = present & (raw != raw.dt.normalize()).to_numpy()
    else:
        text = _text(raw)
        shaped = text.str.fullmatch(_DATE_RE).fillna(False).to_numpy(dtype=bool)
        values = pd.to_datetime(text.where(shaped), format="%Y-%m-%d", errors="coerce")
        bad = present & (~shaped | values.isna().to_numpy())
    in_ns = ((values >= _NS_MIN) & (values <= _NS_MAX)).to_numpy(dtype=bool)
    bad |= present & ~in_ns
    if bad.any():
        values = values.where(~bad)
    return values.astype("datetime64[ns]"), bad


def final_dtypes(frame: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """Cast a frame of readable rows to the contract's exact dtypes."""
    out = {}
    for col in frame.columns:
        kind = column_kind(spec, col)
        s = frame[col]
        target = _FINAL_DTYPE.get(kind)
        if target is None or s.dtype == target:
            out[col] = s
        elif kind in ("int", "bool") and s.isna().any():
            out[col] = s  # only possible in a nullable int/bool column: keep as is
        else:
            out[col] = s.astype(target)
    return pd.DataFrame(out, index=frame.index)


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
    missing = [c for c in spec.columns if c not in raw.columns]
    for c in missing:
        found.append(
            failure_frame(name, None, c, "missing_column", f"Column {c} is missing from {name}.")
        )
    for c in raw.columns:
        if c not in spec.columns:
            msg = f"Column {c} is not part of the contract for {name}; remove or rename it."
            found.append(failure_frame(name, None, str(c), "unknown_column", msg))
    schema = table_schema(name)
    typed, unreadable = {}, {}
    excluded = np.zeros(n, dtype=bool)
    for c in spec.columns:
        if c in missing:
            continue
        kind = column_kind(spec, c)
        typed[c], bad = coerce_column(raw[c], kind)
        empty = raw[c].isna().to_numpy()
        if bad.any():
            msg = f"{c} must be {_KIND_WORDS[kind]}; '{{value}}' cannot be read as one."
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
    msg = "The key (" + ", ".join(key) + ") appears " + count + " times in " + name + "."
    return failure_frame(name, d.index, ",".join(key), "unique_key", msg)


def check_foreign_keys(tables: dict[str, CheckedTable]) -> None:
    """Check every foreign key of the contract between the checked tables (in place).

    A child row is checked when it passed its cell checks; a parent row counts when its
    referenced cells are readable (a parent failing another check still exists). A
    multi-column key is checked only on rows whose narrower keys (column subsets) hold, and
    not against a parent row that itself failed (its fault is reported once, on the parent).
    Tables are visited in contract order, so parents are checked before their children.
    """
    for name, table in tables.items():
        fks = sorted(table.spec.foreign_keys, key=lambda f: len(f.columns))
        broken: dict[ForeignKey, pd.Index] = {}
        for fk in fks:
            parent = tables.get(fk.ref_table)
            cols = list(fk.columns)
            if parent is None or any(c in table.missing for c in cols):
                continue
            if any(c in parent.missing for c in fk.ref_columns):
                continue
            child = table.checked[cols].dropna()
            child = child[~child.index.isin(table.rows_failing(cols))]
            for narrow, rows in broken.items():
                if set(narrow.columns) < set(fk.columns):
                    child = child[~child.index.isin(rows)]
                    if narrow.ref_table == fk.ref_table:
                        child = _skip_failed_parents(child, narrow, parent)
            ref = parent.values(fk.ref_columns)
            ref.columns = cols
            found = _isin(child, ref)
            bad = child[~found]
            broken[fk] = bad.index
            if len(bad):
                table.add(_fk_failures(name, fk, bad, ref, broken, tables))


def _skip_failed_parents(
    child: pd.DataFrame, narrow: ForeignKey, parent: CheckedTable
) -> pd.DataFrame:
    """Leave out child rows whose parent (found by ``narrow``) failed: it is reported."""
    ref = parent.values(narrow.ref_columns)
    ref = ref[parent.failed[ref.index.to_numpy()]]
    if ref.empty:
        return child
    ref.columns = list(narrow.columns)
    return child[~_isin(child[list(narrow.columns)], ref)]


def _isin(child: pd.DataFrame, ref: pd.DataFrame) -> np.ndarray:
    if child.shape[1] == 1:
        c = child.columns[0]
        return child[c].isin(ref[c]).to_numpy()
    return pd.MultiIndex.from_frame(child).isin(pd.MultiIndex.from_frame(ref))


def _fk_failures(
    name: str,
    fk: ForeignKey,
    bad: pd.DataFrame,
    ref: pd.DataFrame,
    broken: dict[ForeignKey, pd.Index],
    tables: dict[str, CheckedTable],
) -> pd.DataFrame:
    """Failures of one foreign key, naming the columns that disagree with the parent."""
    cols = list(fk.columns)
    rule = FK_RULES.get((name, fk.columns), "foreign_key")
    # A narrower key to the same table that holds: find the parent and name what differs.
    narrow = [
        f
        for f in broken
        if f.ref_table == fk.ref_table and set(f.columns) < set(fk.columns) and f is not fk
    ]
    if not narrow:
        shown = ", ".join(cols)
        values = bad.astype(str).agg(", ".join, axis=1) if len(cols) > 1 else None
        msg = (
            f"No {fk.ref_table} row has ({', '.join(fk.ref_columns)}) = ({{value}}); "
            f"the {shown} of this {name} row must refer to an existing {fk.ref_table} row."
        )
        return failure_frame(name, bad.index, ",".join(cols), rule, msg, values)
    on = list(max(narrow, key=lambda f: len(f.columns)).columns)
    parent = ref.drop_duplicates(on).set_index(on)
    got = parent.reindex(pd.MultiIndex.from_frame(bad[on]) if len(on) > 1 else bad[on[0]])
    other = [c for c in cols if c not in on]
    diff_cols, values, messages = [], [], []
    child_vals = bad[other].astype(str).to_numpy()
    parent_vals = got[other].astype(str).to_numpy()
    on_vals = bad[on].astype(str).to_numpy()
    for cv, pv, ov in zip(child_vals, parent_vals, on_vals, strict=True):
        idx = [i for i in range(len(other)) if cv[i] != pv[i]] or list(range(len(other)))
        diff_cols.append(",".join(other[i] for i in idx))
        values.append(", ".join(cv[i] for i in idx))
        theirs = ", ".join(f"{other[i]}={pv[i]}" for i in idx)
        ours = ", ".join(f"{other[i]}={cv[i]}" for i in idx)
        ref_key = ", ".join(f"{c}={v}" for c, v in zip(on, ov, strict=True))
        messages.append(
            f"This {name} row has {ours}, but its {fk.ref_table} row ({ref_key}) has {theirs}."
        )
    return failure_frame(name, bad.index, diff_cols, rule, messages, values)
