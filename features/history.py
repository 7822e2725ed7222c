"""Point-in-time borrower-history features.

:func:`borrower_features` takes the raw tables of the data contract and a frame of
``(household_id, as_of)`` snapshots, and computes for each snapshot the features of
:data:`features.catalog.BORROWER_FEATURES` from events dated **strictly before** ``as_of`` only
(events are filtered by date first, then aggregated — a point-in-time join as in Feast).

Only dated facts are used: disbursement, closing, installment payment, interest session,
savings transaction, debt event, poverty-status and inspection dates. Export-state columns that describe the
world *at the export date* (``loans.status``, ``loans.maturity_date``, ``installments.status``,
``installments.principal_paid``, ``installments.current_due_date``) are never read, because they
may reflect what happened after ``as_of``. ``households.household_size`` and ``workers`` are
static attributes of the export (the contract keeps no history of them). The
``protected_attributes`` table is never read.

Work is done commune by commune (the household's commune of residence), so memory stays bounded
by the largest commune. Inputs are never modified; there is no I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from features import domain
from features.catalog import BORROWER_FEATURES, FINDINGS, feature_dtypes, feature_names
from features.pit import (
    ROW,
    add_months,
    as_ns,
    count_before,
    count_in_window,
    last_before,
    lookup,
    max_run_in_window,
    month_index,
    months_between,
)

logger = logging.getLogger(__name__)

HISTORY_TABLES: tuple[str, ...] = (
    "households",
    "loans",
    "installments",
    "interest",
    "savings",
    "debt_events",
    "poverty_status",
    "inspections",
)
"""The only tables :func:`borrower_features` reads."""

FORBIDDEN_TABLES = frozenset({"protected_attributes"})

_COLUMNS: dict[str, list[str]] = {
    "households": ["household_id", "commune_id", "joined_date", "household_size", "workers"],
    "loans": [
        "loan_id",
        "household_id",
        "commune_id",
        "program",
        "amount",
        "term_months",
        "disbursement_date",
        "closed_date",
    ],
    "installments": ["loan_id", "installment_no", "principal_due", "paid_date"],
    "interest": ["loan_id", "session_date", "arrears_after"],
    "savings": [
        "txn_id",
        "household_id",
        "commune_id",
        "txn_date",
        "txn_type",
        "amount",
        "balance_after",
    ],
    "debt_events": [
        "event_id",
        "loan_id",
        "household_id",
        "commune_id",
        "event_date",
        "event_type",
    ],
    "poverty_status": ["household_id", "commune_id", "effective_date", "status"],
    "inspections": [
        "inspection_id",
        "household_id",
        "loan_id",
        "commune_id",
        "inspection_date",
        "use_of_funds",
        "migrated",
    ],
}
_DATES: dict[str, list[str]] = {
    "households": ["joined_date"],
    "loans": ["disbursement_date", "closed_date"],
    "installments": ["paid_date"],
    "interest": ["session_date"],
    "savings": ["txn_date"],
    "debt_events": ["event_date"],
    "poverty_status": ["effective_date"],
    "inspections": ["inspection_date"],
}
HH = "household_id"
_PART = "_commune"
_NO_COMMUNE = "\x00none"


def prepare_snapshots(snapshots: pd.DataFrame) -> pd.DataFrame:
    """Validate and normalise a snapshot frame to ``household_id`` (str) and ``as_of`` (ns date).

    Args:
        snapshots: Frame with at least ``household_id`` and ``as_of``.

    Returns:
        A new two-column frame (index reset).

    Raises:
        ValueError: On missing columns, null keys or an ``as_of`` with a time of day.
    """
    missing = {HH, "as_of"} - set(snapshots.columns)
    if missing:
        raise ValueError(f"snapshots lack columns {sorted(missing)}")
    out = pd.DataFrame(
        {
            HH: snapshots[HH].astype("str").to_numpy(),
            "as_of": pd.to_datetime(snapshots["as_of"]).astype("datetime64[ns]").to_numpy(),
        }
    )
    if out[HH].isna().any() or out["as_of"].isna().any():
        raise ValueError("snapshots have null household_id or as_of")
    if (out["as_of"] != out["as_of"].dt.normalize()).any():
        raise ValueError("as_of must be a date (no time of day)")
    return out


def select_tables(
    tables: Mapping[str, pd.DataFrame],
    names: tuple[str, ...],
    columns: Mapping[str, list[str]] | None = None,
    dates: Mapping[str, list[str]] | None = None,
) -> dict[str, pd.DataFrame]:
    """Narrow copies of the named tables: needed columns only, dates as ``datetime64[ns]``.

    Never touches ``protected_attributes``. ``columns`` and ``dates`` say which columns each
    table needs and which are dates (default: this module's borrower-history needs).
    """
    columns = _COLUMNS if columns is None else columns
    dates = _DATES if dates is None else dates
    out: dict[str, pd.DataFrame] = {}
    for name in names:
        if name in FORBIDDEN_TABLES:  # pragma: no cover - guards edits
            raise ValueError(f"{name} must never be read by the feature pipeline")
        if name not in tables:
            raise KeyError(f"table '{name}' is required")
        src = tables[name]
        missing = set(columns[name]) - set(src.columns)
        if missing:
            raise ValueError(f"table '{name}' lacks columns {sorted(missing)}")
        df = src[columns[name]].copy()
        for col in dates.get(name, []):
            df[col] = as_ns(df[col])
        out[name] = df.reset_index(drop=True)
    return out


def with_household(t: dict[str, pd.DataFrame]) -> None:
    """Attach ``household_id`` to the loan-level tables (in the private copies)."""
    loan_hh = t["loans"][["loan_id", HH]]
    for name in ("installments", "interest"):
        if name in t:
            t[name] = t[name].merge(loan_hh, on="loan_id", how="inner")


def _partition(t: dict[str, pd.DataFrame], snaps: pd.DataFrame) -> pd.Series:
    """Tag every row of every table (and the snapshots) with its household's commune."""
    hh_commune = t["households"].set_index(HH)["commune_id"]
    hh_commune = hh_commune[~hh_commune.index.duplicated()]
    for name, df in t.items():
        own = df["commune_id"] if "commune_id" in df.columns else None
        part = df[HH].map(hh_commune)
        if own is not None:
            part = part.fillna(own)
        t[name] = df.assign(**{_PART: part.fillna(_NO_COMMUNE).astype("str")})
    return snaps[HH].map(hh_commune).fillna(_NO_COMMUNE).astype("str")


def borrower_features(
    tables: Mapping[str, pd.DataFrame], snapshots: pd.DataFrame, by_commune: bool = True
) -> pd.DataFrame:
    """Borrower-history features for each snapshot, from events strictly before ``as_of``.

    Args:
        tables: Raw tables of the data contract by name (typed, e.g. from
            :func:`features.storage.read_raw` on Parquet). Only :data:`HISTORY_TABLES` are read.
        snapshots: ``household_id`` and ``as_of`` (a date); other columns are ignored.
        by_commune: Process one commune at a time (bounded memory). ``False`` processes
            everything at once; results are identical.

    Returns:
        A new frame, one row per snapshot in the input order, with ``household_id``,
        ``as_of`` (``datetime64[ns]``) and the catalog's feature columns in catalog order and
        dtypes.
    """
    snaps = prepare_snapshots(snapshots)
    t = select_tables(tables, HISTORY_TABLES)
    with_household(t)
    snap_part = _partition(t, snaps) if by_commune else pd.Series(_NO_COMMUNE, index=snaps.index)
    if not by_commune:
        t = {k: v.assign(**{_PART: _NO_COMMUNE}) for k, v in t.items()}

    table_parts = {name: df.groupby(_PART, sort=False).indices for name, df in t.items()}
    pieces: list[pd.DataFrame] = []
    for part, idx in snap_part.groupby(snap_part, sort=True).indices.items():
        sub_snaps = snaps.iloc[idx].reset_index(drop=True)
        sub_tables = {
            name: t[name].iloc[table_parts[name].get(part, np.array([], dtype="int64"))]
            for name in t
        }
        feats = _compute(sub_tables, sub_snaps)
        feats.index = idx
        pieces.append(feats)
        logger.debug("commune %s: %d snapshots", part, len(idx))
    if pieces:
        feats = pd.concat(pieces).sort_index()
    else:
        feats = pd.DataFrame({n: pd.Series([], dtype="float64") for n in feature_names()})
    out = pd.concat([snaps, feats.reset_index(drop=True)], axis=1)
    for name, dtype in feature_dtypes().items():
        out[name] = _in_catalog_dtype(out, name, dtype)
    logger.debug("borrower features: %d snapshots, %d features", len(out), len(BORROWER_FEATURES))
    return out[[HH, "as_of", *feature_names()]]


def _in_catalog_dtype(out: pd.DataFrame, name: str, dtype: object) -> pd.Series:
    """Column ``name`` of ``out`` in its catalog dtype, saying so when codes are lost.

    A code outside a categorical feature's categories (a program the catalog does not know)
    becomes a missing value: the feature table stays buildable, and the monitor reports the
    rise of missing values as an ``unseen_category`` alert. It is never silent: a warning names
    the feature, the codes, how many rows carry them and the first one.
    """
    col = out[name]
    if not isinstance(dtype, pd.CategoricalDtype):
        return col.astype(dtype)
    unknown = col.notna() & ~col.isin(dtype.categories)
    if unknown.any():
        first = int(np.flatnonzero(unknown.to_numpy())[0])
        logger.warning(
            "feature %s: %d row(s) carry codes outside its categories %s (first: household %s, "
            "as_of %s); they become missing values (vbsp-risk validate refuses such codes)",
            name,
            int(unknown.sum()),
            sorted(map(str, col[unknown].unique())),
            out[HH].iloc[first],
            pd.Timestamp(out["as_of"].iloc[first]).date(),
        )
        col = col.where(~unknown, None)
    return col.astype(dtype)


def _windows(snaps: pd.DataFrame, months: tuple[int, ...]) -> pd.DataFrame:
    extra = {f"lo{w}": add_months(snaps["as_of"].to_numpy(), -w) for w in months}
    return snaps.assign(**extra, **{ROW: np.arange(len(snaps))})


def _compute(t: dict[str, pd.DataFrame], snaps: pd.DataFrame) -> pd.DataFrame:
    """All features for the snapshots of one partition (``snaps`` indexed 0..n-1)."""
    s = _windows(snaps, (3, 6, 12, 24))
    cols: dict[str, np.ndarray] = {}
    cols.update(_household_features(t["households"], s))
    cols.update(
        _loan_features(t["loans"], t["installments"], t["debt_events"], t["inspections"], s)
    )
    cols["amount_per_worker"] = np.where(
        cols["workers"] > 0, cols.pop("_active_amount") / np.maximum(cols["workers"], 1), np.nan
    )
    cols.update(_interest_features(t["interest"], s))
    cols.update(_debt_features(t["debt_events"], s))
    cols.update(_savings_features(t["savings"], s))
    cols.update(_poverty_features(t["poverty_status"], s))
    cols.update(_inspection_features(t["inspections"], s))
    return pd.DataFrame({name: cols[name] for name in feature_names()})


def _household_features(hh: pd.DataFrame, s: pd.DataFrame) -> dict[str, np.ndarray]:
    h = hh.drop_duplicates(HH).set_index(HH)
    joined = lookup(h["joined_date"], s[HH], "datetime64[ns]")
    as_of = s["as_of"].to_numpy()
    member = ~np.isnat(joined) & (joined < as_of)
    return {
        "membership_months": np.where(member, months_between(as_of, joined), np.nan),
        "household_size": lookup(h["household_size"].astype("float64"), s[HH]),
        "workers": lookup(h["workers"].astype("float64"), s[HH]),
        "worker_share": lookup(
            (h["workers"] / h["household_size"].where(h["household_size"] > 0)).astype("float64"),
            s[HH],
        ),
    }


_CAPS = {code: float(p.cap_vnd) for code, p in domain.PROGRAMS.items()}


def _loan_features(
    loans: pd.DataFrame,
    inst: pd.DataFrame,
    debt: pd.DataFrame,
    insp: pd.DataFrame,
    s: pd.DataFrame,
) -> dict[str, np.ndarray]:
    n = len(s)
    L = s[[ROW, HH, "as_of"]].merge(loans.drop(columns=[_PART]), on=HH, how="inner")
    L = L[L["disbursement_date"] < L["as_of"]].reset_index(drop=True)
    L = L.rename(columns={ROW: "_snap"}).assign(**{ROW: np.arange(len(L))})
    as_of = L["as_of"].to_numpy()
    closed_date = L["closed_date"].to_numpy()
    closed = ~np.isnat(closed_date) & (closed_date < as_of)
    wo = debt[debt["event_type"] == "write_off"].groupby("loan_id")["event_date"].min()
    wo_date = lookup(wo, L["loan_id"], "datetime64[ns]")
    written_off = ~np.isnat(wo_date) & (wo_date < as_of)
    paid = count_before(L, "as_of", inst, "loan_id", "paid_date", weight="principal_due")
    active = ~closed & ~written_off
    amount = L["amount"].to_numpy(dtype="float64")
    maturity = add_months(L["disbursement_date"].to_numpy(), L["term_months"].to_numpy())
    remaining = np.maximum(month_index(maturity) - month_index(as_of), 0).astype("float64")
    cap = L["program"].map(_CAPS).to_numpy(dtype="float64")
    misuse = insp[(insp["use_of_funds"] == "misuse") & insp["loan_id"].notna()]
    first_misuse = misuse.groupby("loan_id")["inspection_date"].min()
    misuse_date = lookup(first_misuse, L["loan_id"], "datetime64[ns]")
    misused = active & ~np.isnat(misuse_date) & (misuse_date < as_of)
    per_loan = pd.DataFrame(
        {
            "_snap": L["_snap"],
            "taken": 1,
            "closed": closed.astype("int64"),
            "active": active.astype("int64"),
            "outstanding": np.where(active, np.maximum(amount - paid, 0.0), 0.0),
            "remaining": np.where(active, remaining, np.nan),
            "to_cap": np.where(active, amount / cap, np.nan),
            "active_amount": np.where(active, amount, 0.0),
            "repaid": np.where(closed, amount, 0.0),
            "misused": misused.astype("int64"),
        }
    )
    agg = (
        per_loan.groupby("_snap")
        .agg(
            taken=("taken", "sum"),
            closed=("closed", "sum"),
            active=("active", "sum"),
            outstanding=("outstanding", "sum"),
            remaining=("remaining", "max"),
            to_cap=("to_cap", "max"),
            active_amount=("active_amount", "sum"),
            repaid=("repaid", "sum"),
            misused=("misused", "max"),
        )
        .reindex(np.arange(n))
    )
    act = L[active].sort_values(
        ["_snap", "amount", "disbursement_date", "loan_id"],
        ascending=[True, False, True, True],
        kind="stable",
    )
    main = act.drop_duplicates("_snap").set_index("_snap")["program"].reindex(np.arange(n))
    return {
        "loans_taken": agg["taken"].fillna(0).to_numpy(dtype="int64"),
        "loans_closed": agg["closed"].fillna(0).to_numpy(dtype="int64"),
        "repaid_amount": agg["repaid"].fillna(0.0).to_numpy(dtype="float64"),
        "active_loans": agg["active"].fillna(0).to_numpy(dtype="int64"),
        "main_program": main.to_numpy(dtype=object),
        "outstanding_principal": agg["outstanding"].fillna(0.0).to_numpy(dtype="float64"),
        "remaining_term_months": agg["remaining"].to_numpy(dtype="float64"),
        "loan_to_cap": agg["to_cap"].to_numpy(dtype="float64"),
        "_active_amount": agg["active_amount"].fillna(0.0).to_numpy(dtype="float64"),
        "misuse_on_active_loan": agg["misused"].fillna(0).to_numpy(dtype="int64") > 0,
    }


def household_sessions(interest: pd.DataFrame) -> pd.DataFrame:
    """Interest sessions at household level, with runs of arrears.

    A household session is in arrears when any of its loans carries unpaid interest after the
    session (``arrears_after > 0``); it is on time otherwise.

    Args:
        interest: Interest rows with ``household_id``, ``session_date`` and ``arrears_after``.

    Returns:
        One row per (household, session date), sorted, with ``arrears`` (bool), ``run_len``
        (arrears run ending at the session), ``pos`` (row position) and ``seq`` (index of the
        session within the household).
    """
    hs = (
        interest.assign(arrears=interest["arrears_after"] > 0)
        .groupby([HH, "session_date"], sort=True)["arrears"]
        .any()
        .reset_index()
    )
    a = hs["arrears"].to_numpy(dtype=bool)
    hh = hs[HH].to_numpy(dtype=object)
    n = len(hs)
    idx = np.arange(n)
    start = np.ones(n, dtype=bool)
    if n:
        start[1:] = hh[1:] != hh[:-1]
    c = np.cumsum(a)
    base = np.where(~a, c, c - 1)
    marker = ~a | start
    last_marker = np.maximum.accumulate(np.where(marker, idx, 0)) if n else idx
    run_len = c - base[last_marker]
    first = np.maximum.accumulate(np.where(start, idx, 0)) if n else idx
    return hs.assign(run_len=run_len.astype("int64"), pos=idx, seq=idx - first)


def _interest_features(interest: pd.DataFrame, s: pd.DataFrame) -> dict[str, np.ndarray]:
    hs = household_sessions(interest)
    out: dict[str, np.ndarray] = {}
    hi = count_before(s, "as_of", hs, HH, "session_date")
    lo = {w: count_before(s, f"lo{w}", hs, HH, "session_date") for w in (3, 6, 12, 24)}
    ontime = hs[~hs["arrears"]]
    for w in (3, 6, 12, 24):
        n_sess = hi - lo[w]
        n_ok = count_in_window(s, f"lo{w}", "as_of", ontime, HH, "session_date")
        if w in (12, 24):
            out[f"interest_sessions_{w}m"] = n_sess.astype("int64")
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"interest_ontime_share_{w}m"] = np.where(n_sess > 0, n_ok / n_sess, np.nan)
    first_pos = hs.drop_duplicates(HH).set_index(HH)["pos"]
    start_pos = s[HH].map(first_pos).fillna(0).to_numpy(dtype="int64")
    run_len = hs["run_len"].to_numpy(dtype="int64")
    hi_i = hi.astype("int64")
    last = start_pos + hi_i - 1
    out["arrears_streak_current"] = np.where(
        hi_i > 0, run_len[np.clip(last, 0, None)] if len(run_len) else 0, 0
    ).astype("int64")
    out["arrears_streak_max_24m"] = max_run_in_window(run_len, start_pos, lo[24], hi)
    last_arr = last_before(s, "as_of", hs[hs["arrears"]], HH, "session_date", [])
    out["months_since_arrears"] = months_between(s["as_of"], last_arr["_last_date"])
    return out


def _debt_features(debt: pd.DataFrame, s: pd.DataFrame) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for kind in ("extension", "overdue"):
        ev = debt[debt["event_type"] == kind]
        for w in (12, 24):
            out[f"{kind}s_{w}m"] = count_in_window(
                s, f"lo{w}", "as_of", ev, HH, "event_date"
            ).astype("int64")
        last = last_before(s, "as_of", ev, HH, "event_date", [])
        out[f"months_since_{kind}"] = months_between(s["as_of"], last["_last_date"])
    return out


def _savings_features(sav: pd.DataFrame, s: pd.DataFrame) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    dep = sav[sav["txn_type"] == "deposit"]
    for w in (3, 6, 12):
        out[f"savings_deposits_{w}m"] = count_in_window(
            s, f"lo{w}", "as_of", dep, HH, "txn_date"
        ).astype("int64")
    n12 = out["savings_deposits_12m"]
    amount12 = count_in_window(s, "lo12", "as_of", dep, HH, "txn_date", weight="amount")
    with np.errstate(divide="ignore", invalid="ignore"):
        out["savings_deposit_mean_12m"] = np.where(n12 > 0, amount12 / n12, np.nan)
    last = last_before(s, "as_of", sav, HH, "txn_date", ["balance_after"], order_cols=["txn_id"])
    out["savings_balance"] = last["balance_after"].fillna(0.0).to_numpy(dtype="float64")
    last_dep = last_before(s, "as_of", dep, HH, "txn_date", [])
    out["months_since_deposit"] = months_between(s["as_of"], last_dep["_last_date"])
    return out


def poverty_changes(pov: pd.DataFrame) -> pd.DataFrame:
    """Poverty-status rows that change a household's previous status (first one excluded)."""
    p = pov.sort_values([HH, "effective_date"], kind="stable")
    prev = p.groupby(HH, sort=False)["status"].shift(1)
    return p[prev.notna() & (prev != p["status"])]


def _poverty_features(pov: pd.DataFrame, s: pd.DataFrame) -> dict[str, np.ndarray]:
    last = last_before(s, "as_of", pov, HH, "effective_date", ["status"])
    changes = count_in_window(s, "lo24", "as_of", poverty_changes(pov), HH, "effective_date")
    return {
        "poverty_status": last["status"].to_numpy(dtype=object),
        "poverty_status_changes_24m": changes.astype("int64"),
    }


def _inspection_features(insp: pd.DataFrame, s: pd.DataFrame) -> dict[str, np.ndarray]:
    """What the household's inspections found before ``as_of``: the only trace of misuse."""
    found = insp[insp["use_of_funds"].isin(FINDINGS)]
    migrated = insp[insp["migrated"].astype("boolean").fillna(False).to_numpy(dtype=bool)]
    last = last_before(
        s, "as_of", insp, HH, "inspection_date", ["use_of_funds"], order_cols=["inspection_id"]
    )
    return {
        "months_since_inspection": months_between(s["as_of"], last["_last_date"]),
        "inspections_24m": count_in_window(s, "lo24", "as_of", insp, HH, "inspection_date").astype(
            "int64"
        ),
        "inspection_findings_24m": count_in_window(
            s, "lo24", "as_of", found, HH, "inspection_date"
        ).astype("int64"),
        "last_inspection_use": last["use_of_funds"].astype(object).to_numpy(dtype=object),
        "migration_found": count_before(s, "as_of", migrated, HH, "inspection_date") > 0,
    }
