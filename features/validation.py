"""Validate a district's data folder against the contract, and load it typed.

* :func:`validate_dir` checks every table of :mod:`features.contract` in a data folder (see
  :mod:`features.storage` for the layout) and returns a :class:`ValidationReport` listing
  *every* failure (:class:`~features.validation_rules.Failure`), not only the first.
* :func:`load_tables` returns the tables typed exactly as the contract (dates
  ``datetime64[ns]``, integers ``int64``, booleans ``bool``, text ``str``) and raises
  :class:`ContractViolation` on any failure — or, given a quarantine folder, sets the failing
  rows aside there and returns the others unchanged.

Checks run in this order: files (damaged files and CSV lines are reported and read around, see
:mod:`features.raw_files`) and columns; cell types and empty cells (rows failing them are
left out of every later check); the pandera model (ranges, allowed values, patterns, lengths);
future dates; unique keys; foreign keys; cross-table rules (:mod:`features.cross_checks`) —
the last two only between tables read in full.
Rule codes and descriptions: :data:`~features.validation_rules.RULES`.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path

import pandas as pd

from features import storage
from features.contract import MANIFEST, TABLES
from features.cross_checks import check_cross_tables
from features.foreign_keys import check_foreign_keys
from features.quarantine import quarantine_rows, write_quarantine
from features.table_checks import CheckedTable, check_table
from features.validation_report import ContractViolation, ValidationReport, finish_failures
from features.validation_rules import (
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
    "check_files",
    "load_tables",
    "load_with_report",
    "validate_dir",
]

logger = logging.getLogger(__name__)


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
    partial: set[str] = set()  # tables with rows that could not be read
    for name in names:
        try:
            raw, faults = storage.read_table(data_dir, name)
        except storage.MissingTableError as err:
            found.append(failure_frame(name, None, None, "missing_table", f"{err}."))
            continue
        found += [failure_frame(name, None, f.column, f.rule, f.message, f.where) for f in faults]
        for f in faults:
            logger.warning("%s: %s in %s", name, f.rule, f.where)
        if any(f.rows_lost for f in faults):
            partial.add(name)
        if raw is None:
            continue
        tables[name] = check_table(TABLES[name], raw, ref)
        logger.debug("%s: %d rows checked", name, len(raw))
    # a table missing rows would make its children's keys and sums look wrong: left out
    complete = {n: t for n, t in tables.items() if n not in partial}
    check_foreign_keys(complete)
    check_cross_tables(complete)
    found.extend(f for t in tables.values() for f in t.failures)
    frame = finish_failures(pd.concat(found, ignore_index=True), tables)
    counts = {n: len(t.raw) for n, t in tables.items()}
    return ValidationReport(data_dir, ref, counts, frame), tables


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


def check_files(data_dir: Path) -> ValidationReport:
    """A report of the folder's damaged Parquet files, from their footers alone (cheap).

    Run before streaming a large folder stored by commune, so that a file cut short is
    reported like :func:`validate_dir` reports it rather than midway through the job.
    """
    ref, found = _reference(Path(data_dir), None)
    found = [found] + [
        failure_frame(name, None, f.column, f.rule, f.message, f.where)
        for name, f in storage.check_parquet_files(Path(data_dir))
    ]
    frame = finish_failures(pd.concat(found, ignore_index=True), {})
    return ValidationReport(Path(data_dir), ref, {}, frame)


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
    bad = quarantine_rows(report.frame, checked)
    write_quarantine(Path(quarantine_dir), bad, checked)
    report.quarantined = {n: int(b["mask"].sum()) for n, b in bad.items() if b["mask"].any()}
    out = {}
    for n in wanted:
        t = checked[n]
        keep = ~bad[n]["mask"][t.checked.index.to_numpy()]
        out[n] = t.checked[keep].reset_index(drop=True)
    return out, report
