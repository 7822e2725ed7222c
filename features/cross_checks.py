"""Cross-table rules: dates in order, payments after disbursement, schedules, program limits.

They run after every table's own checks and the foreign keys (:mod:`features.table_checks`),
on the rows that passed them, so a fault already reported is not reported again. The rules'
codes and descriptions are declared in :mod:`features.validation_rules`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pandas as pd

from features import domain
from features.table_checks import CheckedTable
from features.validation_rules import failure_frame

logger = logging.getLogger(__name__)

RATE_TOLERANCE_PCT = 1e-6

#: ``date_order``: (table, earlier column, later column, later must be strictly after).
DATE_ORDERS: tuple[tuple[str, str, str, bool], ...] = (
    ("loans", "application_date", "disbursement_date", False),
    ("loans", "disbursement_date", "maturity_date", True),
    ("hazard_events", "start_date", "end_date", False),
    ("group_leaders", "start_date", "end_date", False),
)

#: ``payment_before_disbursement``: (table, date column) compared with the loan's disbursement.
PAYMENT_DATES: tuple[tuple[str, str], ...] = (
    ("interest", "session_date"),
    ("installments", "paid_date"),
    ("debt_events", "event_date"),
)

#: ``program_*``: (rule, loans column, program attribute, words).
PROGRAM_LIMITS: tuple[tuple[str, str, str, str], ...] = (
    ("program_cap", "amount", "cap_vnd", "VND, above the cap of"),
    ("program_term", "term_months", "max_term_months", "months, longer than the longest term of"),
    (
        "program_grace",
        "grace_months",
        "max_grace_months",
        "months, longer than the longest grace of",
    ),
)


def _day(s: pd.Series) -> pd.Series:
    return s.dt.strftime("%Y-%m-%d")


def _num(s: pd.Series) -> pd.Series:
    return s.map("{:,}".format)


class _Valid:
    """Rows of a table fit for a rule: readable, and no failure yet on the columns it reads.

    Built before any cross-table rule runs, so one rule's failures do not hide another's.
    """

    def __init__(self, tables: dict[str, CheckedTable]) -> None:
        self._tables = tables
        self._rows = {n: t.failure_cells() for n, t in tables.items()}

    def has(self, name: str, *columns: str) -> bool:
        t = self._tables.get(name)
        return t is not None and not any(c in t.missing for c in columns)

    def get(self, name: str, *columns: str) -> pd.DataFrame:
        t = self._tables[name]
        cells = self._rows[name]
        rows = cells.loc[cells["column"].isin(columns), "row"].to_numpy()
        return t.checked[~t.checked.index.isin(rows)] if len(rows) else t.checked


def check_cross_tables(tables: dict[str, CheckedTable]) -> None:
    """Run every cross-table rule on the checked tables, recording failures in place.

    A rule runs when the tables and columns it needs are present. All rules see the same
    rows (those that passed the table checks and foreign keys), so one rule's failures do not
    hide another's.

    Args:
        tables: Checked tables by name (after :func:`features.table_checks.check_foreign_keys`).
    """
    valid = _Valid(tables)
    found: list[tuple[str, pd.DataFrame]] = []
    rules: list[Callable[[_Valid, dict[str, CheckedTable]], list[tuple[str, pd.DataFrame]]]] = [
        _date_order,
        _payment_before_disbursement,
        _installments_sum,
        _program_limits,
    ]
    for rule in rules:
        found.extend(rule(valid, tables))
    for name, f in found:
        tables[name].add(f)


def _date_order(valid: _Valid, tables: dict[str, CheckedTable]) -> list[tuple[str, pd.DataFrame]]:
    out = []
    for name, early, late, strict in DATE_ORDERS:
        if not valid.has(name, early, late):
            continue
        df = valid.get(name, early, late)
        a, b = df[early], df[late]
        wrong = (b <= a) if strict else (b < a)
        bad = df[wrong.to_numpy() & b.notna().to_numpy()]
        if len(bad):
            words = "not after" if strict else "before"
            msg = f"{late} {{value}} is {words} {early} " + _day(bad[early]) + "."
            out.append((name, failure_frame(name, bad.index, late, "date_order", msg)))
    return out


def _payment_before_disbursement(
    valid: _Valid, tables: dict[str, CheckedTable]
) -> list[tuple[str, pd.DataFrame]]:
    if not valid.has("loans", "loan_id", "disbursement_date"):
        return []
    loans = valid.get("loans", "loan_id", "disbursement_date")
    disbursed = loans.drop_duplicates("loan_id").set_index("loan_id")["disbursement_date"]
    out = []
    for name, col in PAYMENT_DATES:
        if not valid.has(name, "loan_id", col):
            continue
        df = valid.get(name, "loan_id", col)
        when = df[col]
        loan_day = pd.Series(disbursed.reindex(df["loan_id"].to_numpy()).to_numpy(), df.index)
        early = (when < loan_day).to_numpy()
        if early.any():
            bad_day = loan_day[early]
            msg = (
                f"{col} {{value}} is before loan "
                + df.loc[early, "loan_id"]
                + " was disbursed on "
                + _day(bad_day)
                + "."
            )
            rows = df.index[early]
            out.append((name, failure_frame(name, rows, col, "payment_before_disbursement", msg)))
    return out


def _installments_sum(
    valid: _Valid, tables: dict[str, CheckedTable]
) -> list[tuple[str, pd.DataFrame]]:
    if not (
        valid.has("loans", "loan_id", "amount")
        and valid.has("installments", "loan_id", "principal_due")
    ):
        return []
    loans = valid.get("loans", "loan_id", "amount")
    inst = valid.get("installments", "loan_id", "principal_due")
    # a loan with an installment left out (unreadable or failing) cannot be summed
    table = tables["installments"]
    left_out = ~table.typed.index.isin(inst.index)
    failed_loans = table.typed.loc[left_out, "loan_id"].dropna().unique()
    loans = loans[~loans["loan_id"].isin(failed_loans)]
    sums = inst.groupby("loan_id")["principal_due"].sum()
    scheduled = pd.Series(
        sums.reindex(loans["loan_id"].to_numpy(), fill_value=0).to_numpy(), loans.index
    )
    wrong = (scheduled != loans["amount"]).to_numpy()
    if not wrong.any():
        return []
    bad, total = loans[wrong], scheduled[wrong]
    msg = (
        "amount is {value} VND but the principal_due of loan "
        + bad["loan_id"]
        + "'s installments sums to "
        + _num(total)
        + " VND"
        + np.where(total == 0, " (it has no installments).", ".")
    )
    return [("loans", failure_frame("loans", bad.index, "amount", "installments_sum", msg))]


def _program_limits(
    valid: _Valid, tables: dict[str, CheckedTable]
) -> list[tuple[str, pd.DataFrame]]:
    programs = pd.DataFrame([vars(p) for p in domain.PROGRAMS.values()]).set_index("code")
    out = []
    for rule, col, attr, words in PROGRAM_LIMITS:
        if not valid.has("loans", "program", col):
            continue
        loans, limits = _with_program(valid.get("loans", "program", col), programs)
        over = (loans[col] > limits[attr]).to_numpy()
        if over.any():
            bad = loans[over]
            msg = (
                f"{col} is {{value}} {words} "
                + _num(limits.loc[over, attr].astype("int64"))
                + " for program "
                + bad["program"]
                + "."
            )
            out.append(("loans", failure_frame("loans", bad.index, col, rule, msg)))
    if not valid.has("loans", "program", "rate_pct"):
        return out
    loans, limits = _with_program(valid.get("loans", "program", "rate_pct"), programs)
    rate, lo, hi = loans["rate_pct"], limits["rate_min_pct"], limits["rate_max_pct"]
    off = ((rate < lo - RATE_TOLERANCE_PCT) | (rate > hi + RATE_TOLERANCE_PCT)).to_numpy()
    if off.any():
        bad = loans[off]
        msg = (
            "rate_pct is {value} %/year, outside the rates of program "
            + bad["program"]
            + " ("
            + lo[off].astype(str)
            + " to "
            + hi[off].astype(str)
            + " %/year)."
        )
        out.append(("loans", failure_frame("loans", bad.index, "rate_pct", "program_rate", msg)))
    return out


def _with_program(loans: pd.DataFrame, programs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Loans of known programs, and their program's limits aligned on them."""
    loans = loans[loans["program"].isin(list(programs.index))]
    limits = programs.reindex(loans["program"].to_numpy())
    limits.index = loans.index
    return loans, limits
