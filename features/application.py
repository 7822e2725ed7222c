"""Application features: what the loan officer sees on the application form, set against the
household.

:func:`application_features` turns an application's own fields (``program``, ``purpose``,
``amount``, ``term_months``, ``grace_months``), the household's workers and its history features
as of the application date into :data:`features.catalog.APPLICATION_FEATURES`: the terms
themselves and what the loan would weigh on the household (:mod:`features.application_burden`:
repayment burden, debt after the loan, first loan or repeat). The batch application view and the
scoring service both call :func:`application_row` (the service with the online store's history),
so a served feature vector equals the batch row. :func:`validate_application`
(:mod:`features.application_rules`) checks an application against its program's limits.

Fairness: ethnicity (``protected_attributes``) is never read, and nothing is derived from it.
The loan's own interest rate is never a feature, nor read here: ``loans.rate_pct`` of
``job_creation`` loans depends on ethnicity (half rate for ethnic-minority borrowers); the
monthly payment uses the program's standard rate. Pure functions; inputs are never modified.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from features import domain
from features.application_burden import HISTORY_INPUTS, burden_row
from features.application_rules import validate_application
from features.catalog import APPLICATION_FEATURES, feature_dtypes, feature_names
from features.numbers import finite_or_none

logger = logging.getLogger(__name__)

__all__ = ["application_features", "application_row", "application_vector", "validate_application"]

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
    program: object,
    purpose: object,
    amount: float,
    term: float,
    grace: float,
    workers: float,
    history: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """The application features of one application: the one formula, used by batch and service.

    Args:
        program: Program code (an unknown code gives a missing category, ``None``).
        purpose: Purpose code.
        amount: Amount (VND; NaN when unknown).
        term: Term in months (NaN when unknown).
        grace: Grace period in months (NaN when unknown).
        workers: Workers of the household (NaN when unknown).
        history: The household's history features as of the application date (only
            :data:`features.application_burden.HISTORY_INPUTS` are read); ``None``: no history
            (a first loan without debt).

    Returns:
        Feature name → value, in :data:`features.catalog.APPLICATION_FEATURES` order.
    """
    cats = _category_sets()
    cap = _CAPS.get(program, math.nan) if isinstance(program, str) else math.nan
    row: dict[str, object] = {
        "app_program": program if program in cats["app_program"] else None,
        "app_purpose": purpose if purpose in cats["app_purpose"] else None,
        "app_amount": amount,
        "app_term_months": term,
        "app_grace_months": grace,
        "app_amount_to_cap": amount / cap,
        "app_amount_per_worker": amount / workers if workers > 0 else math.nan,
    }
    row.update(burden_row(program, amount, term, grace, workers, history or {}))
    return {name: row[name] for name in feature_names("application")}


def _floats(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def application_features(
    applications: pd.DataFrame,
    households: pd.DataFrame | None = None,
    history: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Features of each application from its own fields, its household and its history.

    Args:
        applications: One row per application with :data:`APPLICATION_FIELDS` and, for the
            per-worker features, ``household_id`` (may be null for a new member).
        households: Frame with ``household_id`` and ``workers`` (e.g. the ``households``
            table); only those two columns are read. ``None``: workers unknown.
        history: The borrower-history features of each application (row by row, in the same
            order, e.g. :func:`features.history.borrower_features` of the application
            snapshots); only :data:`features.application_burden.HISTORY_INPUTS` are read.
            ``None``: no history (every application a first loan without debt).

    Returns:
        A new frame with the input's index, the :data:`KEY_COLUMNS` present in the input, and
        the catalog's application features in catalog order and dtypes. An unknown program or
        purpose becomes a missing category (see :func:`validate_application`); amounts per
        worker are NaN for an unknown household or one without workers.

    Raises:
        ValueError: When a field of :data:`APPLICATION_FIELDS` is missing, or ``history`` has
            another number of rows.
    """
    missing = [c for c in APPLICATION_FIELDS if c not in applications.columns]
    if missing:
        raise ValueError(f"applications lack columns {missing}")
    if history is not None and len(history) != len(applications):
        raise ValueError(f"history has {len(history)} rows for {len(applications)} applications")
    workers = np.full(len(applications), np.nan)
    if households is not None and HH in applications.columns and len(households):
        w = households[[HH, "workers"]].drop_duplicates(HH).set_index(HH)["workers"]
        workers = _floats(applications[HH].map(w.astype("float64")))
    hist_cols = [] if history is None else [c for c in HISTORY_INPUTS if c in history.columns]
    hist_rows = (
        [{}] * len(applications)
        if history is None
        else history[hist_cols].astype("float64").to_dict("records")
    )
    rows = [
        application_row(p, u, a, t, g, w, h)
        for p, u, a, t, g, w, h in zip(
            applications["program"].tolist(),
            applications["purpose"].tolist(),
            _floats(applications["amount"]).tolist(),
            _floats(applications["term_months"]).tolist(),
            _floats(applications["grace_months"]).tolist(),
            workers.tolist(),
            hist_rows,
            strict=True,
        )
    ]
    out = applications[[c for c in KEY_COLUMNS if c in applications.columns]].copy()
    for name, dtype in feature_dtypes("application").items():
        values = [r[name] for r in rows]
        kind = object if isinstance(dtype, pd.CategoricalDtype) or dtype == "bool" else "float64"
        out[name] = pd.Series(np.array(values, dtype=kind), index=applications.index).astype(dtype)
    logger.debug("application features: %d rows, %d features", len(out), len(APPLICATION_FEATURES))
    return out[[*[c for c in KEY_COLUMNS if c in out.columns], *feature_names("application")]]


def application_vector(
    application: Mapping[str, object],
    workers: float | None,
    history: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """Application features of one application as plain values (the service's fast path).

    Uses :func:`application_row`, the formula of :func:`application_features`; ``history`` is
    the household's stored history features (the online store's row).
    """

    def num(key: str) -> float:
        v = finite_or_none(application.get(key))
        return math.nan if v is None else float(v)

    return application_row(
        application.get("program"),
        application.get("purpose"),
        num("amount"),
        num("term_months"),
        num("grace_months"),
        math.nan if workers is None else float(workers),
        history,
    )
