"""Application features: what the loan officer sees on the application form.

:func:`application_features` turns an application's own fields (``program``, ``purpose``,
``amount``, ``term_months``, ``grace_months``) into :data:`features.catalog.APPLICATION_FEATURES`;
the batch application view and the scoring service both call it, so a served feature vector
equals the batch row. :func:`validate_application` gives the service (and the CLI) clear messages
for an application that breaks a program's limits.

Fairness: ethnicity (``protected_attributes``) is never read, and nothing is derived from it.
The interest rate is never a feature, nor read here: ``loans.rate_pct`` of ``job_creation`` loans
depends on ethnicity (half rate for ethnic-minority borrowers), so the rate would let the model
see ethnicity. Pure functions; inputs are never modified.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from features import domain
from features.catalog import APPLICATION_FEATURES, feature_dtypes, feature_names

logger = logging.getLogger(__name__)

HH = "household_id"
APPLICATION_FIELDS: tuple[str, ...] = (
    "program",
    "purpose",
    "amount",
    "term_months",
    "grace_months",
)
"""The application's own fields read by :func:`application_features`."""

KEY_COLUMNS: tuple[str, ...] = ("loan_id", "household_id", "as_of")
"""Identifying columns copied to the output when present in the input."""

_CAPS: dict[str, float] = {code: float(p.cap_vnd) for code, p in domain.PROGRAMS.items()}


@functools.cache
def _category_sets() -> dict[str, frozenset[str]]:
    """Declared category set of each categorical feature (the catalog is immutable)."""
    return {
        n: frozenset(d.categories)
        for n, d in feature_dtypes("application").items()
        if isinstance(d, pd.CategoricalDtype)
    }


def application_row(
    program: object, purpose: object, amount: float, term: float, grace: float, workers: float
) -> dict[str, object]:
    """The application features of one application: the one formula, used by batch and service.

    Args:
        program: Program code (an unknown code gives a missing category, ``None``).
        purpose: Purpose code.
        amount: Amount (VND; NaN when unknown).
        term: Term in months (NaN when unknown).
        grace: Grace period in months (NaN when unknown).
        workers: Workers of the household (NaN when unknown).

    Returns:
        Feature name → value, in :data:`features.catalog.APPLICATION_FEATURES` order.
    """
    cats = _category_sets()
    cap = _CAPS.get(program, math.nan) if isinstance(program, str) else math.nan
    return {
        "app_program": program if program in cats["app_program"] else None,
        "app_purpose": purpose if purpose in cats["app_purpose"] else None,
        "app_amount": amount,
        "app_term_months": term,
        "app_grace_months": grace,
        "app_amount_to_cap": amount / cap,
        "app_amount_per_worker": amount / workers if workers > 0 else math.nan,
    }


def application_values(
    program: np.ndarray, purpose: np.ndarray, amount: np.ndarray, term: np.ndarray, grace: np.ndarray,
    workers: np.ndarray,
) -> dict[str, np.ndarray]:  # fmt: skip
    """:func:`application_row` over arrays (one element per application).

    Args:
        program: Program codes (object array).
        purpose: Purpose codes (object array).
        amount: Amounts (VND, float).
        term: Terms in months (float).
        grace: Grace periods in months (float).
        workers: Workers of the households (float, NaN when unknown).

    Returns:
        Feature name → array (categoricals as object arrays with ``None`` for unknown codes).
    """
    rows = [
        application_row(*r)
        for r in zip(program.tolist(), purpose.tolist(), amount.tolist(), term.tolist(),
                     grace.tolist(), workers.tolist(), strict=True)
    ]  # fmt: skip
    out = {}
    for name in feature_names("application"):
        values = [r[name] for r in rows]
        categorical = name in _category_sets()
        out[name] = np.array(values, dtype=object if categorical else "float64")
    return out


def _floats(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def application_features(
    applications: pd.DataFrame, households: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Features of each application from its own fields.

    Args:
        applications: One row per application with :data:`APPLICATION_FIELDS` and, for
            ``app_amount_per_worker``, ``household_id`` (may be null for a new member).
        households: Frame with ``household_id`` and ``workers`` (e.g. the ``households``
            table); only those two columns are read. ``None``: workers unknown.

    Returns:
        A new frame with the input's index, the :data:`KEY_COLUMNS` present in the input, and
        the catalog's application features in catalog order and dtypes. An unknown program or
        purpose becomes a missing category (see :func:`validate_application`); amounts per
        worker are NaN for an unknown household or one without workers.

    Raises:
        ValueError: When a field of :data:`APPLICATION_FIELDS` is missing.
    """
    missing = [c for c in APPLICATION_FIELDS if c not in applications.columns]
    if missing:
        raise ValueError(f"applications lack columns {missing}")
    workers = np.full(len(applications), np.nan)
    if households is not None and HH in applications.columns and len(households):
        w = households[[HH, "workers"]].drop_duplicates(HH).set_index(HH)["workers"]
        workers = _floats(applications[HH].map(w.astype("float64")))
    cols = application_values(
        applications["program"].to_numpy(dtype=object), applications["purpose"].to_numpy(dtype=object),
        _floats(applications["amount"]), _floats(applications["term_months"]),
        _floats(applications["grace_months"]), workers,
    )  # fmt: skip
    out = applications[[c for c in KEY_COLUMNS if c in applications.columns]].copy()
    for name, dtype in feature_dtypes("application").items():
        out[name] = pd.Series(cols[name], index=applications.index).astype(dtype)
    logger.debug("application features: %d rows, %d features", len(out), len(APPLICATION_FEATURES))
    return out[[*[c for c in KEY_COLUMNS if c in out.columns], *feature_names("application")]]


def application_vector(
    application: Mapping[str, object], workers: float | None
) -> dict[str, object]:
    """Application features of one application as plain values (the service's fast path).

    Uses :func:`application_row`, the formula of :func:`application_features`.
    """

    def num(key: str) -> float:
        v = _number(application.get(key))
        return math.nan if v is None else float(v)

    return application_row(
        application.get("program"), application.get("purpose"), num("amount"),
        num("term_months"), num("grace_months"), math.nan if workers is None else float(workers),
    )  # fmt: skip


def _number(value: object) -> float | None:
    """A finite number, or ``None`` for a missing / non-numeric value."""
    if value is None or isinstance(value, bool):
        return None
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) or math.isinf(x) else x


def _vnd(x: float) -> str:
    return f"{x:,.0f} VND"


def validate_application(row: Mapping[str, object]) -> list[str]:
    """Problems of one application against its program's limits, as readable messages.

    Checks: known program and purpose; amount, term and grace present, whole where they must be,
    positive (grace may be 0); amount not over the program's cap
    (:data:`features.domain.PROGRAMS` ``cap_vnd``), term not over its longest term, grace not
    over its longest grace period and shorter than the term.

    Args:
        row: A mapping (dict, Series, pydantic ``model_dump()``) with :data:`APPLICATION_FIELDS`.

    Returns:
        Messages in English, one per problem; empty when the application is acceptable.
    """
    problems: list[str] = []
    code = row.get("program")
    program = domain.PROGRAMS.get(code) if isinstance(code, str) else None
    if program is None:
        problems.append(f"unknown program {code!r}; expected one of: {', '.join(domain.PROGRAMS)}")
    purpose = row.get("purpose")
    if not isinstance(purpose, str) or purpose not in domain.PURPOSES:
        problems.append(
            f"unknown purpose {purpose!r}; expected one of: {', '.join(domain.PURPOSES)}"
        )
    amount = _number(row.get("amount"))
    term = _number(row.get("term_months"))
    grace = _number(row.get("grace_months"))
    if amount is None:
        problems.append(f"amount must be a number of VND, got {row.get('amount')!r}")
    elif amount <= 0:
        problems.append(f"amount must be positive, got {_vnd(amount)}")
    for name, value, minimum in (("term_months", term, 1), ("grace_months", grace, 0)):
        if value is None:
            problems.append(f"{name} must be a whole number of months, got {row.get(name)!r}")
        elif value != int(value) or value < minimum:
            problems.append(f"{name} must be a whole number of months >= {minimum}, got {value:g}")
    if program is not None:
        name = f"program '{program.code}' ({program.label_en})"
        if amount is not None and amount > program.cap_vnd:
            problems.append(
                f"amount {_vnd(amount)} is over the cap of {_vnd(program.cap_vnd)} for {name}"
            )
        if term is not None and term > program.max_term_months:
            problems.append(
                f"term of {term:g} months is over the longest term of "
                f"{program.max_term_months} months for {name}"
            )
        if grace is not None and grace > program.max_grace_months:
            problems.append(
                f"grace of {grace:g} months is over the longest grace period of "
                f"{program.max_grace_months} months for {name}"
            )
    if term is not None and grace is not None and term >= 1 and grace >= term:
        problems.append(
            f"grace of {grace:g} months must be shorter than the term ({term:g} months)"
        )
    return problems
