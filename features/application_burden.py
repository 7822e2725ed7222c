"""What a new loan would weigh on the household: repayment burden and debt after the loan.

The application's own terms only become a signal a model can learn once they are set against the
household: 40 M VND is light for a household of four workers with steady savings and heavy for
one worker who stopped saving. :func:`burden_row` combines an application (amount, term, grace,
program) with the household's history features as of the application date (outstanding principal,
loans taken, amount repaid, savings deposits: :data:`HISTORY_INPUTS`) and its workers. The batch
application view and the scoring service both call it (through
:mod:`features.application`), the service with the history of the online store's row, so a
served vector equals the batch row.

The monthly payment uses the program's standard yearly rate (``rate_max_pct``), never the
borrower's own rate: ``job_creation`` loans are at half rate for ethnic-minority borrowers, so the
actual rate would carry ethnicity into the model. Pure functions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from features import domain

HISTORY_INPUTS: tuple[str, ...] = (
    "outstanding_principal",
    "loans_taken",
    "repaid_amount",
    "savings_deposits_12m",
    "savings_deposit_mean_12m",
)
"""The borrower-history features (:data:`features.catalog.BORROWER_FEATURES`) the burden reads."""

_CAPS: dict[str, float] = {code: float(p.cap_vnd) for code, p in domain.PROGRAMS.items()}
_RATES: dict[str, float] = {code: p.rate_max_pct / 100.0 for code, p in domain.PROGRAMS.items()}


def _num(history: Mapping[str, object], name: str) -> float:
    """A history value as a float (NaN when absent or missing)."""
    value = history.get(name)
    if value is None or isinstance(value, str):
        return math.nan
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _ratio(num: float, den: float) -> float:
    """``num / den`` when the denominator is a positive number, else NaN (never infinite)."""
    return num / den if den > 0 and math.isfinite(num) else math.nan


def monthly_payment(program: object, amount: float, term: float, grace: float) -> float:
    """Principal + interest of one month after the grace period, at the program's standard rate.

    Principal is spread evenly over the months after the grace period (VBSP's installments are
    near-equal); interest is the first month's, on the whole amount, the heaviest month.
    NaN for an unknown program or a term not longer than the grace period.
    """
    rate = _RATES.get(program, math.nan) if isinstance(program, str) else math.nan
    months = term - grace
    if not months >= 1:
        return math.nan
    return amount / months + amount * rate / 12.0


def burden_row(
    program: object,
    amount: float,
    term: float,
    grace: float,
    workers: float,
    history: Mapping[str, object],
) -> dict[str, object]:
    """Burden features of one application (the one formula of batch and service).

    Args:
        program: Program code applied for.
        amount: Amount applied for (VND; NaN when unknown).
        term: Term in months.
        grace: Grace period in months.
        workers: Working members of the household (NaN when unknown, e.g. a new member).
        history: The household's history features as of the application date; only
            :data:`HISTORY_INPUTS` are read (absent ones count as missing; a new member's
            zero counts give a first loan with no debt).

    Returns:
        ``app_*`` burden feature name → value.
    """
    cap = _CAPS.get(program, math.nan) if isinstance(program, str) else math.nan
    outstanding = _num(history, "outstanding_principal")
    outstanding = 0.0 if math.isnan(outstanding) else outstanding
    debt_after = outstanding + amount
    payment = monthly_payment(program, amount, term, grace)
    deposits = _num(history, "savings_deposits_12m")
    mean_deposit = _num(history, "savings_deposit_mean_12m")
    monthly_saving = deposits * mean_deposit / 12.0 if deposits > 0 else math.nan
    taken = _num(history, "loans_taken")
    return {
        "app_monthly_payment": payment,
        "app_payment_per_worker": _ratio(payment, workers),
        "app_payment_to_savings": _ratio(payment, monthly_saving),
        "app_debt_after_to_cap": _ratio(debt_after, cap),
        "app_debt_after_per_worker": _ratio(debt_after, workers),
        "app_debt_after_to_repaid": _ratio(debt_after, _num(history, "repaid_amount")),
        "app_first_loan": not taken > 0,
    }
