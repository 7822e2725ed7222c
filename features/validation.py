"""Validate a district's data folder against the contract, and load it typed.

* :func:`validate_dir` checks every table of :mod:`features.contract` in a data folder (see
  :mod:`features.storage` for the layout) and returns a :class:`ValidationReport` listing
  *every* failure (:class:`~features.validation_rules.Failure`), not only the first.
* :func:`load_tables` returns the tables typed exactly as the contract (dates
  ``datetime64[ns]``, integers ``int64``, booleans ``bool``, text ``str``) and raises
  :class:`ContractViolation` on any failure — or, given a quarantine folder, sets the failing
  rows aside there and returns the others unchanged.

Checks run in this order: files and columns; cell types and empty cells (rows failing them are
left out of every later check); the pandera model (ranges, allowed values, patterns, lengths);
future dates; unique keys; foreign keys; cross-table rules (:mod:`features.cross_checks`).
Rule codes and descriptions: :data:`~features.validation_rules.RULES`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from features import storage
from features.contract import MANIFEST, TABLES
from features.cross_checks import check_cross_tables
from features.table_checks import CheckedTable, check_foreign_keys, check_table
from features.validation_rules import (
    FAILURE_COLUMNS,
    RULES,
    STRUCTURAL_RULES,
    Failure,
    Rule,
    empty_failures,
    failure_frame,
)

__all__ = [
    "RULES",
    "ContractViolation",
    "Failure",
    "Rule",
    "ValidationReport",
    "load_tables",
    "load_with_report",
    "validate_dir",
]

logger = logging.getLogger(__name__)
_TABLE_ORDER = {name: i for i, name in enumerate([*TABLES, MANIFEST])}


@dataclass
class ValidationReport:
    """The outcome of validating a data folder.

    Attributes:
        data_dir: The folder validated.
        reference_date: Dates after it are ``future_date`` failures.
        row_counts: Rows read per table (tables without a file are absent).
        frame: One row per failure, columns ``table, row, key, column, rule, value, message``
            (``row`` is nullable Int64), ordered by table (contract order), row, column.
        quarantined: Rows set aside per table when loaded with a quarantine folder
            (failing rows and the rows the quarantine spread to); None otherwise.
    """

    data_dir: Path
    reference_date: pd.Timestamp
    row_counts: dict[str, int]
    frame: pd.DataFrame
    quarantined: dict[str, int] | None = None

    @property
    def ok(self) -> bool:
        """True when there is no failure."""
        return self.frame.empty

    @property
    def failures(self) -> list[Failure]:
        """The failures as records."""
        f = self.frame.astype(object).where(self.frame.notna(), None)
        return [Failure(**r) for r in f.to_dict("records")]

    def summary(self) -> pd.DataFrame:
        """Failure counts by table and rule (columns ``table, rule, count``)."""
        if self.frame.empty:
            return pd.DataFrame({"table": [], "rule": [], "count": []})
        counts = self.frame.groupby(["table", "rule"], sort=False).size()
        return counts.rename("count").reset_index()

    def to_dict(self) -> dict[str, object]:
        """The report without its failures list (see :meth:`to_json` for the full shape)."""
        return {
            "data_dir": str(self.data_dir),
            "reference_date": self.reference_date.strftime("%Y-%m-%d"),
            "ok": self.ok,
            "row_counts": dict(self.row_counts),
            "failure_count": len(self.frame),
            "summary": self.summary().to_dict("records"),
            **({} if self.quarantined is None else {"quarantined": dict(self.quarantined)}),
        }

    def to_json(self, path: Path) -> Path:
        """Write the report as JSON with every failure.

        Shape: ``{"data_dir", "reference_date", "ok", "row_counts": {table: n},
        "failure_count", "summary": [{"table", "rule", "count"}], "quarantined": {table: n}
        (only after a quarantine), "failures": [{"table", "row", "key", "column", "rule",
        "value", "message"}]}``.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        head = json.dumps(self.to_dict(), indent=2, ensure_ascii=False, default=int)
        failures = self.frame.to_json(orient="records", force_ascii=False, indent=2)
        path.write_text(head[:-2] + ',\n  "failures": ' + failures + "\n}\n", encoding="utf-8")
        return path

    def to_csv(self, path: Path) -> Path:
        """Write the failures as CSV (one line per failure)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.frame.to_csv(path, index=False)
        return path


class ContractViolation(ValueError):  # noqa: N818
    """The data folder breaks the contract; ``report`` lists every failure."""

    def __init__(self, report: ValidationReport, detail: str = "") -> None:
        self.report = report
        counts = ", ".join(f"{r.table}/{r.rule}: {r.count}" for r in report.summary().itertuples())
        super().__init__(
            f"{len(report.frame)} contract failure(s) in {report.data_dir}"
            f"{' (' + detail + ')' if detail else ''}: {counts}"
        )


def _reference(data_dir: Path, reference_date: object) -> tuple[pd.Timestamp, pd.DataFrame]:
    """The reference date: given, else the manifest's export date, else today."""
    if reference_date is not None:
        return pd.Timestamp(reference_date).normalize(), empty_failures()
    try:
        manifest = storage.read_manifest(data_dir)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        msg = f"manifest.json cannot be read ({err}); today is used as the reference date."
        return _today(), failure_frame(MANIFEST, None, None, "bad_manifest", msg, "")
    export = manifest.get("export_date") if isinstance(manifest, dict) else None
    if export is None:
        return _today(), empty_failures()
    try:
        return pd.Timestamp(date.fromisoformat(str(export))), empty_failures()
    except ValueError:
        msg = "export_date in manifest.json must be a date YYYY-MM-DD; today is used instead."
        return _today(), failure_frame(MANIFEST, None, "export_date", "bad_manifest", msg, export)


def _today() -> pd.Timestamp:
    return pd.Timestamp(date.today())


def _closure(names: list[str]) -> list[str]:
    """The tables and, transitively, the tables their foreign keys refer to (contract order)."""
    wanted, todo = set(), list(names)
    while todo:
        n = todo.pop()
        if n not in TABLES:
            raise KeyError(f"unknown table {n!r}; the contract has: {', '.join(TABLES)}")
        if n not in wanted:
            wanted.add(n)
            todo.extend(fk.ref_table for fk in TABLES[n].foreign_keys)
    return [n for n in TABLES if n in wanted]


def _check_dir(
    data_dir: Path, names: list[str], reference_date: object
) -> tuple[ValidationReport, dict[str, CheckedTable]]:
    """Read and check ``names`` in ``data_dir``."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"data folder {data_dir} does not exist or is not a folder")
    ref, extra = _reference(data_dir, reference_date)
    found = [extra]
    tables: dict[str, CheckedTable] = {}
    for name in names:
        try:
            raw = storage.read_raw(data_dir, name)
        except storage.MissingTableError as err:
            found.append(failure_frame(name, None, None, "missing_table", f"{err}."))
            continue
        tables[name] = check_table(TABLES[name], raw, ref)
        logger.debug("%s: %d rows checked", name, len(raw))
    check_foreign_keys(tables)
    check_cross_tables(tables)
    found.extend(f for t in tables.values() for f in t.failures)
    frame = _finish(pd.concat(found, ignore_index=True), tables)
    counts = {n: len(t.raw) for n, t in tables.items()}
    return ValidationReport(data_dir, ref, counts, frame), tables


def _text(s: pd.Series) -> pd.Series:
    """Cells as stored, as text ("" for empty)."""
    if pd.api.types.is_datetime64_any_dtype(s):
        day = s.dt.strftime("%Y-%m-%d")
        return day.where(s == s.dt.normalize(), s.astype(str)).fillna("")
    return s.astype(object).where(s.notna(), "").astype(str)


def _finish(frame: pd.DataFrame, tables: dict[str, CheckedTable]) -> pd.DataFrame:
    """Fill keys and values from the stored cells, fill messages, order the failures."""
    frame = frame.astype({"row": "Int64"})
    if frame.empty:
        return empty_failures().astype({c: object for c in FAILURE_COLUMNS if c != "row"})
    frame["key"] = frame["key"].astype(object)
    frame["value"] = frame["value"].astype(object)
    for name, table in tables.items():
        at = (frame["table"] == name).to_numpy() & frame["row"].notna().to_numpy()
        if not at.any():
            continue
        rows = frame.loc[at, "row"].to_numpy(dtype="int64")
        raw = table.raw
        key_cols = [c for c in table.spec.key if c in raw.columns]
        if key_cols:
            part = raw.iloc[rows]
            keys = pd.Series("", index=part.index, dtype=object)
            for i, c in enumerate(key_cols):
                keys = keys + ("" if i == 0 else ", ") + f"{c}=" + _text(part[c]).to_numpy()
            frame.loc[at, "key"] = keys.to_numpy()
        need = at & frame["value"].isna().to_numpy() & frame["column"].notna().to_numpy()
        for column in frame.loc[need, "column"].unique():
            cols = [c for c in str(column).split(",") if c in raw.columns]
            sel = need & (frame["column"] == column).to_numpy()
            if not cols:
                continue
            part = raw.iloc[frame.loc[sel, "row"].to_numpy(dtype="int64")]
            text = _text(part[cols[0]])
            for c in cols[1:]:
                text = text + ", " + _text(part[c]).to_numpy()
            frame.loc[sel, "value"] = text.to_numpy()
    frame["value"] = frame["value"].where(frame["value"].notna(), "")
    has = np.array(["{value}" in str(m) for m in frame["message"]], dtype=bool)
    if has.any():
        frame.loc[has, "message"] = [
            m.replace("{value}", v)
            for m, v in zip(frame.loc[has, "message"], frame.loc[has, "value"], strict=True)
        ]
    order = frame["table"].map(_TABLE_ORDER).fillna(len(_TABLE_ORDER))
    frame = frame.assign(_o=order, _r=frame["row"].fillna(-1))
    frame = frame.sort_values(["_o", "_r", "column", "rule"], kind="stable", na_position="first")
    frame = frame.drop(columns=["_o", "_r"]).reset_index(drop=True)
    for c in ("table", "key", "column", "rule", "value", "message"):
        frame[c] = frame[c].astype(object).where(frame[c].notna(), None)
    return frame[FAILURE_COLUMNS]


def validate_dir(data_dir: Path, reference_date: object = None) -> ValidationReport:
    """Check every table of the contract in a data folder.

    Args:
        data_dir: The data folder (CSV / Parquet / Parquet parts, see :mod:`features.storage`);
            ``truth/`` and files outside the contract are ignored.
        reference_date: Dates after it are ``future_date`` failures (date, Timestamp or
            ``YYYY-MM-DD``); default: the manifest's ``export_date``, else today.

    Returns:
        The report with every failure.

    Raises:
        FileNotFoundError: If ``data_dir`` is not a folder.
    """
    report, _ = _check_dir(Path(data_dir), list(TABLES), reference_date)
    logger.info(
        "validated %s: %d rows in %d tables, %d failure(s)",
        data_dir,
        sum(report.row_counts.values()),
        len(report.row_counts),
        len(report.frame),
    )
    return report


def load_tables(
    data_dir: Path,
    tables: list[str] | None = None,
    quarantine_dir: Path | None = None,
    reference_date: object = None,
) -> dict[str, pd.DataFrame]:
    """Load tables typed exactly as the contract, after validating them.

    With ``tables``, only those tables and the tables their foreign keys refer to
    (transitively) are read and checked; cross-table rules needing other tables (e.g.
    ``installments_sum`` when loading ``loans`` alone) are then not run — use
    :func:`validate_dir` for a full check.

    Quarantine (``quarantine_dir`` given): rows with a failure are written to
    ``quarantine_dir/<table>.csv`` as stored, with the extra columns ``_row`` (row number),
    ``_rule``, ``_column`` and ``_message`` (several failures of a row joined by ``" | "``).
    So that the returned tables stay consistent, the quarantine then spreads:

    * a loan with a quarantined installment is quarantined (``schedule_quarantined``): a loan
      is never returned with a partial schedule;
    * a row referring by a foreign key to a quarantined row is quarantined
      (``parent_quarantined``), down the contract's foreign keys (a quarantined loan takes
      its installments, interest, debt events and inspections with it).

    Every other row is returned unchanged (no value is altered, no row silently dropped); one
    log line per table gives the counts. Folder-level failures (a missing table or column, an
    unknown column, a bad manifest) cannot be quarantined and still raise.

    Args:
        data_dir: The data folder.
        tables: Tables to return (default: all of the contract).
        quarantine_dir: Where to set failing rows aside (default: raise on any failure).
        reference_date: As for :func:`validate_dir`.

    Returns:
        Typed tables by name (index 0..n-1).

    Raises:
        FileNotFoundError: If ``data_dir`` is not a folder.
        ContractViolation: On any failure, or on folder-level failures when quarantining.
    """
    loaded, _ = load_with_report(data_dir, tables, quarantine_dir, reference_date)
    return loaded


def load_with_report(
    data_dir: Path,
    tables: list[str] | None = None,
    quarantine_dir: Path | None = None,
    reference_date: object = None,
) -> tuple[dict[str, pd.DataFrame], ValidationReport]:
    """:func:`load_tables`, also returning the validation report.

    After a quarantine the report's ``quarantined`` gives the rows set aside per table.

    Raises:
        FileNotFoundError: If ``data_dir`` is not a folder.
        ContractViolation: As :func:`load_tables`.
    """
    wanted = list(tables) if tables is not None else list(TABLES)
    names = _closure(wanted)
    report, checked = _check_dir(Path(data_dir), names, reference_date)
    if report.ok:
        return {n: checked[n].checked.reset_index(drop=True) for n in wanted}, report
    if quarantine_dir is None:
        raise ContractViolation(report)
    if report.frame["rule"].isin(STRUCTURAL_RULES).any():
        raise ContractViolation(report, "folder-level failures cannot be quarantined")
    bad = _quarantine(report.frame, checked)
    _write_quarantine(Path(quarantine_dir), bad, checked)
    report.quarantined = {n: int(b["mask"].sum()) for n, b in bad.items() if b["mask"].any()}
    out = {}
    for n in wanted:
        t = checked[n]
        keep = ~bad[n]["mask"][t.checked.index.to_numpy()]
        out[n] = t.checked[keep].reset_index(drop=True)
    return out, report


def _quarantine(
    failures: pd.DataFrame, tables: dict[str, CheckedTable]
) -> dict[str, dict[str, object]]:
    """Rows to set aside per table: ``{"mask": bool array, "failures": frame}``."""
    out: dict[str, dict[str, object]] = {}
    for name, t in tables.items():
        f = failures[(failures["table"] == name) & failures["row"].notna()]
        mask = np.zeros(len(t.raw), dtype=bool)
        mask[f["row"].to_numpy(dtype="int64")] = True
        out[name] = {"mask": mask, "failures": [f]}

    def spread(name: str, rows: np.ndarray, rule: str, column: str, messages: object) -> None:
        if len(rows):
            out[name]["mask"][rows] = True
            out[name]["failures"].append(failure_frame(name, rows, column, rule, messages))

    if "loans" in tables and "installments" in tables:
        inst, loans = tables["installments"], tables["loans"]
        lost = inst.typed.loc[out["installments"]["mask"], "loan_id"].dropna().unique()
        ids = loans.typed["loan_id"]
        hit = np.flatnonzero(ids.isin(lost).to_numpy() & ~out["loans"]["mask"])
        msg = "An installment of loan " + ids.iloc[hit].astype(str) + " was quarantined."
        spread("loans", hit, "schedule_quarantined", "loan_id", msg.to_numpy())
    for name, t in tables.items():  # contract order: parents before children
        for fk in t.spec.foreign_keys:
            parent = tables.get(fk.ref_table)
            if parent is None:
                continue
            cols = list(fk.columns)
            child = t.values(cols)
            child = child[~out[name]["mask"][child.index.to_numpy()]]
            ref = parent.values(fk.ref_columns)
            ref = ref[~out[fk.ref_table]["mask"][ref.index.to_numpy()]]
            ref.columns = cols
            if len(cols) == 1:
                found = child[cols[0]].isin(ref[cols[0]]).to_numpy()
            else:
                found = pd.MultiIndex.from_frame(child).isin(pd.MultiIndex.from_frame(ref))
            rows = child.index[~found].to_numpy()
            msg = f"The {fk.ref_table} row it refers to ({', '.join(cols)}) was quarantined."
            spread(name, rows, "parent_quarantined", ",".join(cols), msg)
    return out


def _why(failures: pd.DataFrame) -> pd.DataFrame:
    """Rule, column and message per quarantined row (several joined by ``" | "``)."""
    f = failures.astype({"row": "int64"}).sort_values("row", kind="stable")
    f = f.rename(columns={"rule": "_rule", "column": "_column", "message": "_message"})
    f = (
        f[["row", "_rule", "_column", "_message"]]
        .fillna({"_column": ""})
        .astype({"_rule": object, "_column": object, "_message": object})
    )
    several = f["row"].duplicated(keep=False).to_numpy()
    single = f[~several].set_index("row")
    if not several.any():
        return single
    joined = f[several].groupby("row", sort=True).agg(" | ".join)
    return pd.concat([single, joined]).sort_index()


def _write_quarantine(
    qdir: Path, bad: dict[str, dict[str, object]], tables: dict[str, CheckedTable]
) -> None:
    """Write the quarantined rows of each table, as stored, with why."""
    qdir.mkdir(parents=True, exist_ok=True)
    for name, t in tables.items():
        mask = bad[name]["mask"]
        path = qdir / f"{name}.csv"
        if not mask.any():
            if path.exists():
                path.unlink()
            continue
        f = pd.concat(bad[name]["failures"], ignore_index=True)
        why = _why(f)
        rows = np.flatnonzero(mask)
        part = t.raw.iloc[rows].copy()
        part.insert(0, "_row", rows)
        part = part.join(why, on="_row")
        storage.write_csv(part, path)
        counts = f.drop_duplicates(["row", "rule"])["rule"].value_counts().sort_index()
        logger.info(
            "quarantined %d of %d %s rows to %s (%s)",
            len(rows),
            len(t.raw),
            name,
            path,
            ", ".join(f"{r}: {c}" for r, c in counts.items()),
        )
