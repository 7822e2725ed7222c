"""Rankings the model is measured against: today's practice, random, and the simulator's oracle.

Practice rankings use only the feature table's own columns (catalog names), so they are computed
on exactly the rows the model scores:

* ``practice_arrears`` — most interest-arrears sessions in the last 12 months first
  (``(1 - interest_ontime_share_12m) * interest_sessions_12m``, 0 when there was no session);
* ``practice_group_arrears`` — the group's arrears rate first (``group_arrears_rate_12m``, the
  share of the other members with arrears in 12 months; 0 when unknown);
* ``practice_last_year`` — any trouble last year first: interest arrears, a debt extension or an
  overdue installment in the last 12 months (a 0/1 flag);
* ``random`` — a seeded uniform draw (what visiting without any ranking gives).

Practice scores have many ties; the metrics give tied rows their expected value under a random
order (see :mod:`training.evaluate`), which is how an officer working down such a list fares.
They are rankings, not probabilities: probability metrics (Brier, log loss, calibration) are
left undefined for them.

Two oracles, on simulated data only (the simulator's ``truth/``, never the bank's tables):

* the **clairvoyant oracle** (``oracle``) is the probability of trouble within the horizon
  implied by the simulator's *realised* monthly probabilities: 1 when the household is already
  in a trouble episode at the snapshot month, else ``1 - prod(1 - p_trouble)`` over the
  horizon's months. Those probabilities contain the shocks, stress and hazards of the coming
  months, which nobody can know at ``as_of``: no model can reach it;
* the **state oracle** (``state_oracle``) is ``truth.p_trouble_12m_state`` of the snapshot's
  month: the probability of trouble in the 12 months from ``as_of`` given the full hidden state
  at ``as_of`` (capacity, stress, leader, …) with the future integrated out by the simulator.
  It is what perfect knowledge of *today* achieves, so the gap of a model to it is what better
  features could still recover, and the gap between the two oracles is what nobody can.
  :func:`state_oracle_proba` returns ``None`` (and the reports skip it with a note) when
  ``truth/`` has no such column, e.g. a district simulated by an older simulator.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

PRACTICE = ("practice_arrears", "practice_group_arrears", "practice_last_year")
RANDOM = "random"
ORACLE = "oracle"
STATE_ORACLE = "state_oracle"
STATE_COLUMN = "p_trouble_12m_state"
"""Column of ``truth/`` holding the state oracle (see the module docstring)."""
DISPLAY_NAMES = {ORACLE: "clairvoyant oracle", STATE_ORACLE: "state oracle"}
"""How reports name the oracles (the metric keys stay ``oracle`` / ``state_oracle``)."""
STATE_ORACLE_MISSING = (
    f"State oracle not shown: the simulator's truth/ has no {STATE_COLUMN} column (a district "
    "simulated before it was added); simulate again to see the achievable ceiling."
)

_NEEDS = {
    "practice_arrears": ("interest_ontime_share_12m", "interest_sessions_12m"),
    "practice_group_arrears": ("group_arrears_rate_12m",),
    "practice_last_year": (
        "interest_ontime_share_12m",
        "interest_sessions_12m",
        "extensions_12m",
        "overdues_12m",
    ),
}


def _arrears_sessions_12m(df: pd.DataFrame) -> np.ndarray:
    share = pd.to_numeric(df["interest_ontime_share_12m"], errors="coerce").to_numpy("float64")
    sessions = pd.to_numeric(df["interest_sessions_12m"], errors="coerce").to_numpy("float64")
    n = np.rint((1.0 - share) * sessions)
    return np.nan_to_num(n, nan=0.0)


def practice_scores(df: pd.DataFrame, seed: int = 42) -> dict[str, np.ndarray]:
    """Scores of the practice rankings and the random ranking (higher = visit first).

    Rankings whose columns are missing from ``df`` are skipped with a warning.

    Args:
        df: Feature-table rows.
        seed: Seed of the random ranking.
    """
    out: dict[str, np.ndarray] = {}
    for name, cols in _NEEDS.items():
        missing = [c for c in cols if c not in df.columns]
        if missing:
            logger.warning("practice ranking %s skipped: columns %s missing", name, missing)
            continue
        if name == "practice_arrears":
            out[name] = _arrears_sessions_12m(df)
        elif name == "practice_group_arrears":
            s = pd.to_numeric(df["group_arrears_rate_12m"], errors="coerce").to_numpy("float64")
            out[name] = np.nan_to_num(s, nan=0.0)
        else:
            ext = pd.to_numeric(df["extensions_12m"], errors="coerce").fillna(0).to_numpy()
            ovd = pd.to_numeric(df["overdues_12m"], errors="coerce").fillna(0).to_numpy()
            out[name] = ((_arrears_sessions_12m(df) > 0) | (ext > 0) | (ovd > 0)).astype("float64")
    out[RANDOM] = np.random.default_rng(seed).random(len(df))
    return out


def oracle_proba(rows: pd.DataFrame, truth: pd.DataFrame, horizon: int = 12) -> np.ndarray:
    """The simulator's true probability of trouble within ``horizon`` months of each snapshot.

    Args:
        rows: Frame with ``household_id`` and ``as_of``.
        truth: The simulator's ``truth/`` table (``household_id``, ``month``, ``p_trouble``,
            ``in_trouble``); months without a row count as probability 0.
        horizon: Label horizon in months.

    Returns:
        One probability per row of ``rows`` (NaN for households absent from ``truth``).
    """
    t = truth[["household_id", "month", "p_trouble", "in_trouble"]].copy()
    t["household_id"] = t["household_id"].astype(str)
    month = pd.to_datetime(t["month"])
    t["m"] = (month.dt.year * 12 + month.dt.month - 1).astype("int64")
    hh_codes, hh_index = pd.factorize(t["household_id"], sort=True)
    m0 = int(t["m"].min())
    n_m = int(t["m"].max()) - m0 + 1 + horizon + 1
    log_surv = np.zeros((hh_index.size, n_m))
    in_tr = np.zeros((hh_index.size, n_m), dtype=bool)
    col = t["m"].to_numpy() - m0
    p = np.clip(t["p_trouble"].to_numpy("float64"), 0.0, 1.0 - 1e-15)
    log_surv[hh_codes, col] = np.log1p(-p)
    in_tr[hh_codes, col] = t["in_trouble"].to_numpy(dtype=bool)
    cum = np.concatenate([np.zeros((hh_index.size, 1)), np.cumsum(log_surv, axis=1)], axis=1)

    d = pd.to_datetime(rows["as_of"])
    rm = (d.dt.year * 12 + d.dt.month - 1).to_numpy("int64") - m0
    ri = hh_index.get_indexer(rows["household_id"].astype(str))
    out = np.full(len(rows), np.nan)
    ok = (ri >= 0) & (rm >= 0) & (rm < n_m - horizon)
    start, end = rm[ok], rm[ok] + horizon
    s = cum[ri[ok], end] - cum[ri[ok], start]
    prob = 1.0 - np.exp(s)
    prob[in_tr[ri[ok], start]] = 1.0
    out[ok] = prob
    missing = int((ri < 0).sum())
    if missing:
        logger.warning("oracle: %d row(s) of households without truth", missing)
    return out


def _month_number(dates: pd.Series) -> np.ndarray:
    d = pd.to_datetime(dates)
    return (d.dt.year * 12 + d.dt.month - 1).to_numpy("int64")


def _state_month(rows: pd.DataFrame, disbursed: pd.Series | None) -> np.ndarray:
    """Month number of the state each row is matched with (see :func:`state_oracle_proba`)."""
    month = _month_number(rows["as_of"])
    if disbursed is None or "loan_id" not in rows.columns:
        return month
    paid = pd.to_datetime(
        rows["loan_id"].astype(str).map(disbursed.set_axis(disbursed.index.astype(str)))
    )
    known = paid.notna().to_numpy()
    after = (paid.dt.year * 12 + paid.dt.month).to_numpy("float64")  # the next month's start
    return np.where(known, np.nan_to_num(after), month).astype("int64")


def state_oracle_proba(
    rows: pd.DataFrame, truth: pd.DataFrame, disbursed: pd.Series | None = None
) -> np.ndarray | None:
    """The state oracle of each row: ``truth.p_trouble_12m_state`` of its household and month.

    A row with ``as_of`` = A is matched with the truth row of the same household whose
    ``month`` is the month of A (A itself for the portfolio view's month-start snapshots).

    An application row whose ``loan_id`` is in ``disbursed`` is matched instead with the state
    at the first month start after its loan was paid out: the first state in which the
    household holds the loan applied for. The state at the start of the application's month
    does not hold it (its burden, its new-loan months are missing, which put the application
    view's oracle below its own model), and a first loan's applicant has no truth row then at
    all (not yet a borrower the simulator tracks: a quarter of the applications). That state
    knows the hidden processes of the weeks between application and pay-out (one or two
    months in the simulated district), so on the application view the state oracle is a
    slightly generous ceiling, never a low one.

    Args:
        rows: Frame with ``household_id`` and ``as_of`` (and ``loan_id`` on the application
            view).
        truth: The simulator's ``truth/`` table (``household_id``, ``month`` and, from the
            simulator that computes it, :data:`STATE_COLUMN`).
        disbursed: Pay-out date of each loan, indexed by ``loan_id`` (the bank's ``loans``).

    Returns:
        One probability per row of ``rows`` (NaN where the household or month has no truth
        row), or ``None`` when ``truth`` has no :data:`STATE_COLUMN` (logged).
    """
    if STATE_COLUMN not in truth.columns:
        logger.info("%s", STATE_ORACLE_MISSING)
        return None
    t = pd.DataFrame(
        {
            "household_id": truth["household_id"].astype(str).to_numpy(),
            "month": _month_number(truth["month"]),
            "p": pd.to_numeric(truth[STATE_COLUMN], errors="coerce").to_numpy("float64"),
        }
    ).drop_duplicates(["household_id", "month"], keep="last")
    keys = pd.DataFrame(
        {
            "household_id": rows["household_id"].astype(str).to_numpy(),
            "month": _state_month(rows, disbursed),
        }
    )
    out = keys.merge(t, on=["household_id", "month"], how="left")["p"].to_numpy("float64")
    missing = int(np.isnan(out).sum())
    if missing:
        logger.warning("state oracle: %d of %d row(s) without a truth row", missing, len(out))
    return np.clip(out, 0.0, 1.0)
