"""Point-in-time borrower features: hand-made district, no leakage, reference loop, snapshots."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from features import domain
from features.catalog import BORROWER_FEATURES, CATALOG_VERSION, LABELS, feature_dtypes
from features.history import HISTORY_TABLES, borrower_features
from features.snapshots import month_end_as_of, portfolio_snapshots
from tests.support.history_tables import (
    D,
    M,
    assert_no_leakage,
    assert_pure,
    assert_row,
    far_future,
    history_district,
    in_nanoseconds,
    tiny_tables,
)

SNAPS = pd.DataFrame(
    {
        "household_id": ["B", "A", "C", "ZZ", "A"],
        "as_of": [
            D("2024-01-01"),
            D("2024-01-01"),
            D("2024-01-01"),
            D("2024-01-01"),
            D("2023-07-01"),
        ],
    }
)

EXPECTED_A = {
    "loans_taken": 1,
    "loans_closed": 0,
    "active_loans": 1,
    "main_program": "poor_household",
    "outstanding_principal": 25 * M,
    "remaining_term_months": 2,
    "loan_to_cap": 0.5,
    "amount_per_worker": 25 * M,
    "interest_sessions_12m": 12,
    "interest_sessions_24m": 21,
    "interest_ontime_share_3m": 0.0,
    "interest_ontime_share_6m": 2 / 6,
    "interest_ontime_share_12m": 7 / 12,
    "interest_ontime_share_24m": 16 / 21,
    "arrears_streak_current": 3,
    "arrears_streak_max_24m": 3,
    "months_since_arrears": 1,
    "extensions_12m": 1,
    "extensions_24m": 1,
    "months_since_extension": 10,
    "overdues_12m": 0,
    "overdues_24m": 0,
    "months_since_overdue": math.nan,
    "savings_deposits_3m": 1,
    "savings_deposits_6m": 2,
    "savings_deposits_12m": 2,
    "savings_deposit_mean_12m": 75_000,  # 100,000 and 50,000; the deposit on as_of is not before
    "savings_balance": 120_000,
    "months_since_deposit": 3,
    "membership_months": 48,
    "household_size": 5,
    "workers": 2,
    "worker_share": 0.4,
    "poverty_status": "near_poor",
    "poverty_status_changes_24m": 1,
    "months_since_inspection": 8,
    "inspections_24m": 2,
    "inspection_findings_24m": 1,
    "last_inspection_use": "misuse",
    "misuse_on_active_loan": True,  # LA1 still outstanding
    "migration_found": False,  # the visit that found it is on as_of
}
EXPECTED_B = {
    "loans_taken": 2,
    "loans_closed": 1,
    "active_loans": 1,
    "main_program": "clean_water",
    "outstanding_principal": 20 * M,
    "remaining_term_months": 25,
    "loan_to_cap": 0.4,
    "amount_per_worker": math.nan,
    "interest_sessions_12m": 10,
    "interest_sessions_24m": 10,
    "interest_ontime_share_3m": 1.0,
    "interest_ontime_share_6m": 1.0,
    "interest_ontime_share_12m": 1.0,
    "interest_ontime_share_24m": 1.0,
    "arrears_streak_current": 0,
    "arrears_streak_max_24m": 0,
    "months_since_arrears": math.nan,
    "extensions_12m": 0,
    "extensions_24m": 0,
    "months_since_extension": math.nan,
    "overdues_12m": 0,
    "overdues_24m": 1,
    "months_since_overdue": 19,
    "savings_deposits_3m": 0,
    "savings_deposits_6m": 0,
    "savings_deposits_12m": 0,
    "savings_deposit_mean_12m": math.nan,
    "savings_balance": 0,
    "months_since_deposit": math.nan,
    "membership_months": 31,
    "household_size": 3,
    "workers": 0,
    "worker_share": 0.0,
    "poverty_status": math.nan,
    "poverty_status_changes_24m": 0,
    "months_since_inspection": 22,
    "inspections_24m": 1,
    "inspection_findings_24m": 1,
    "last_inspection_use": "misuse",
    "misuse_on_active_loan": False,  # the misused loan LB1 closed in 2022
    "migration_found": False,
}


@pytest.fixture(scope="module")
def tiny() -> dict[str, pd.DataFrame]:
    return tiny_tables()


def test_catalog_is_consistent() -> None:
    names = [f.name for f in BORROWER_FEATURES]
    assert len(names) == len(set(names))
    assert CATALOG_VERSION
    for f in BORROWER_FEATURES:
        assert f.description_en and f.description_vi and f.unit
        assert f.direction in (-1, 0, 1)
        assert set(f.sources) <= set(HISTORY_TABLES) | {"debt_events"}
        assert "protected_attributes" not in f.sources
    assert set(LABELS) >= {"trouble_12m", "overdue_12m", "arrears_12m"}


def test_hand_computed_features(tiny: dict[str, pd.DataFrame]) -> None:
    out = borrower_features(tiny, SNAPS)
    assert list(out["household_id"]) == list(SNAPS["household_id"])
    assert list(out.columns[2:]) == [f.name for f in BORROWER_FEATURES]
    for name, dtype in feature_dtypes().items():
        assert out[name].dtype == dtype, name
    assert_row(out.iloc[1], EXPECTED_A)
    assert_row(out.iloc[0], EXPECTED_B)
    a_mid = out.iloc[4]  # A at 2023-07-01: 15 sessions, June in arrears
    assert_row(
        a_mid,
        {
            "interest_sessions_12m": 12,
            "interest_ontime_share_3m": 2 / 3,
            "arrears_streak_current": 1,
            "arrears_streak_max_24m": 1,
            "months_since_arrears": 1,
            "months_since_extension": 4,
            "outstanding_principal": 25 * M,
            "poverty_status": "near_poor",
            "savings_balance": 0,
            "months_since_inspection": 2,
            "inspections_24m": 2,
            "last_inspection_use": "misuse",
            "misuse_on_active_loan": True,
        },
    )
    for row in (out.iloc[2], out.iloc[3]):  # not yet a member / unknown household
        assert row["loans_taken"] == 0 and row["outstanding_principal"] == 0
        assert pd.isna(row["membership_months"]) and pd.isna(row["main_program"])
        assert row["interest_sessions_24m"] == 0 and pd.isna(row["interest_ontime_share_12m"])
        assert row["inspections_24m"] == 0 and pd.isna(row["last_inspection_use"])
        assert not row["misuse_on_active_loan"] and not row["migration_found"]
    assert out.iloc[2]["household_size"] == 2 and pd.isna(out.iloc[3]["household_size"])


def test_unknown_program_code_becomes_missing_with_a_warning(
    tiny: dict[str, pd.DataFrame], caplog: pytest.LogCaptureFixture
) -> None:
    """A program the catalog does not know is not silently lost: the row stays, its
    main_program is missing (the monitor's unseen_category), and a warning names the code."""
    import warnings

    known = borrower_features(tiny, SNAPS)
    t = {**tiny, "loans": tiny["loans"].assign(program="new_program")}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no pandas warning about the cast either
        with caplog.at_level("WARNING", logger="features.history"):
            out = borrower_features(t, SNAPS)
    assert len(out) == len(SNAPS) and out["main_program"].isna().all()
    assert out["main_program"].dtype == known["main_program"].dtype
    had_loan = known["main_program"].notna()
    assert had_loan.sum() >= 2
    message = " ".join(r.getMessage() for r in caplog.records)
    assert "feature main_program" in message and "'new_program'" in message
    assert f"{int(had_loan.sum())} row(s)" in message
    cols = [c for c in known.columns if c not in ("main_program", "loan_to_cap")]
    pd.testing.assert_frame_equal(out[cols], known[cols])  # nothing else changes


def test_inputs_untouched_and_protected_attributes_unused(tiny: dict[str, pd.DataFrame]) -> None:
    assert_pure(borrower_features, tiny, SNAPS)


def test_portfolio_snapshots_on_tiny(tiny: dict[str, pd.DataFrame]) -> None:
    snaps = portfolio_snapshots(tiny, "2022-06", "2024-01")
    got = {(r.household_id, r.as_of.strftime("%Y-%m-%d")) for r in snaps.itertuples()}
    # LB1 closed 2022-07-05 → B active at end of June 2022 only, again from LB2 (2023-02-15)
    assert ("B", "2022-07-01") in got and ("B", "2022-08-01") not in got
    assert ("B", "2023-02-01") not in got and ("B", "2023-03-01") in got
    assert ("A", "2022-07-01") in got and ("C", "2024-01-01") not in got
    assert snaps["as_of"].min() == D("2022-07-01") and snaps["as_of"].max() == D("2024-02-01")
    assert not snaps.duplicated().any()
    assert list(month_end_as_of("2023-12", "2024-01")) == [D("2024-01-01"), D("2024-02-01")]


# --- simulated district -----------------------------------------------------------------


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    return history_district(tmp_path_factory)


@pytest.fixture(scope="module")
def sample(district: dict[str, pd.DataFrame]) -> pd.DataFrame:
    snaps = portfolio_snapshots(district, "2021-06", "2024-11")
    rng = np.random.default_rng(3)
    as_ofs = rng.choice(snaps["as_of"].unique(), size=5, replace=False)
    picked = snaps[snaps["as_of"].isin(as_ofs)]
    return picked.groupby("as_of", group_keys=False).sample(n=25, random_state=4)


def test_no_leakage(district: dict[str, pd.DataFrame], sample: pd.DataFrame) -> None:
    base = assert_no_leakage(
        borrower_features, district, sample, far_future(district, sample["household_id"])
    )
    assert (base["loans_taken"] > 0).all()


# --- slow, obviously correct reference --------------------------------------------------


def _months(later: pd.Timestamp, earlier: pd.Timestamp) -> int:
    return (later.year - earlier.year) * 12 + later.month - earlier.month


def reference_features(t: dict[str, pd.DataFrame], hh: str, as_of: pd.Timestamp) -> dict:
    """Per-row features with plain filters and loops."""
    r: dict = {}
    H = t["households"].set_index("household_id").loc[hh]
    loans = t["loans"][(t["loans"]["household_id"] == hh)]
    loans = loans[loans["disbursement_date"] < as_of]
    debt = t["debt_events"][(t["debt_events"]["household_id"] == hh)]
    debt = debt[debt["event_date"] < as_of]
    active = []
    for ln in loans.itertuples():
        closed = pd.notna(ln.closed_date) and ln.closed_date < as_of
        wo = ((debt["loan_id"] == ln.loan_id) & (debt["event_type"] == "write_off")).any()
        if not closed and not wo:
            active.append(ln)
    inst = t["installments"]
    r["loans_taken"] = len(loans)
    r["loans_closed"] = int((loans["closed_date"] < as_of).sum())
    r["repaid_amount"] = float(loans.loc[loans["closed_date"] < as_of, "amount"].sum())
    r["active_loans"] = len(active)
    outstanding, remaining, to_cap, amount = 0.0, [], [], 0.0
    for ln in active:
        paid = inst[(inst["loan_id"] == ln.loan_id) & (inst["paid_date"] < as_of)]
        outstanding += max(ln.amount - paid["principal_due"].sum(), 0)
        maturity = ln.disbursement_date + pd.DateOffset(months=ln.term_months)
        remaining.append(max(_months(maturity, as_of), 0))
        to_cap.append(ln.amount / domain.PROGRAMS[ln.program].cap_vnd)
        amount += ln.amount
    biggest = sorted(active, key=lambda x: (-x.amount, x.disbursement_date, x.loan_id))
    r["main_program"] = biggest[0].program if biggest else math.nan
    r["outstanding_principal"] = outstanding
    r["remaining_term_months"] = max(remaining) if remaining else math.nan
    r["loan_to_cap"] = max(to_cap) if to_cap else math.nan
    r["amount_per_worker"] = amount / H["workers"] if H["workers"] > 0 else math.nan
    their = t["loans"].loc[t["loans"]["household_id"] == hh, "loan_id"]
    it = t["interest"][
        t["interest"]["loan_id"].isin(their) & (t["interest"]["session_date"] < as_of)
    ]
    sessions = sorted(
        (d, bool((g["arrears_after"] > 0).any())) for d, g in it.groupby("session_date")
    )
    for w in (3, 6, 12, 24):
        lo = as_of - pd.DateOffset(months=w)
        win = [a for d, a in sessions if d >= lo]
        if w in (12, 24):
            r[f"interest_sessions_{w}m"] = len(win)
        r[f"interest_ontime_share_{w}m"] = (win.count(False) / len(win)) if win else math.nan
    streak = 0
    for _, a in sessions:
        streak = streak + 1 if a else 0
    r["arrears_streak_current"] = streak
    best = run = 0
    for d, a in sessions:
        if d >= as_of - pd.DateOffset(months=24):
            run = run + 1 if a else 0
            best = max(best, run)
    r["arrears_streak_max_24m"] = best
    late = [d for d, a in sessions if a]
    r["months_since_arrears"] = _months(as_of, late[-1]) if late else math.nan
    for kind in ("extension", "overdue"):
        ev = debt[debt["event_type"] == kind]
        for w in (12, 24):
            r[f"{kind}s_{w}m"] = int((ev["event_date"] >= as_of - pd.DateOffset(months=w)).sum())
        r[f"months_since_{kind}"] = _months(as_of, ev["event_date"].max()) if len(ev) else math.nan
    sv = t["savings"][(t["savings"]["household_id"] == hh) & (t["savings"]["txn_date"] < as_of)]
    dep = sv[sv["txn_type"] == "deposit"]
    for w in (3, 6, 12):
        r[f"savings_deposits_{w}m"] = int(
            (dep["txn_date"] >= as_of - pd.DateOffset(months=w)).sum()
        )
    dep12 = dep[dep["txn_date"] >= as_of - pd.DateOffset(months=12)]
    r["savings_deposit_mean_12m"] = dep12["amount"].mean() if len(dep12) else math.nan
    r["savings_balance"] = (
        sv.sort_values(["txn_date", "txn_id"])["balance_after"].iloc[-1] if len(sv) else 0
    )
    r["months_since_deposit"] = _months(as_of, dep["txn_date"].max()) if len(dep) else math.nan
    r["membership_months"] = (
        _months(as_of, H["joined_date"]) if H["joined_date"] < as_of else math.nan
    )
    r["household_size"] = H["household_size"]
    r["workers"] = H["workers"]
    r["worker_share"] = H["workers"] / H["household_size"] if H["household_size"] > 0 else math.nan
    pv = t["poverty_status"][(t["poverty_status"]["household_id"] == hh)]
    pv = pv[pv["effective_date"] < as_of].sort_values("effective_date", kind="stable")
    r["poverty_status"] = pv["status"].iloc[-1] if len(pv) else math.nan
    statuses, dates = list(pv["status"]), list(pv["effective_date"])
    lo24 = as_of - pd.DateOffset(months=24)
    r["poverty_status_changes_24m"] = sum(
        1 for i in range(1, len(statuses)) if statuses[i] != statuses[i - 1] and dates[i] >= lo24
    )
    r.update(reference_inspections(t, hh, as_of, active))
    return r


def reference_inspections(
    t: dict[str, pd.DataFrame], hh: str, as_of: pd.Timestamp, active: list
) -> dict:
    """Inspection features of one snapshot with plain filters."""
    ins = t["inspections"]
    ins = ins[(ins["household_id"] == hh) & (ins["inspection_date"] < as_of)]
    ins = ins.sort_values(["inspection_date", "inspection_id"])
    recent = ins[ins["inspection_date"] >= as_of - pd.DateOffset(months=24)]
    last = ins.iloc[-1] if len(ins) else None
    live = {ln.loan_id for ln in active}
    return {
        "months_since_inspection": _months(as_of, last["inspection_date"])
        if len(ins)
        else math.nan,
        "inspections_24m": len(recent),
        "inspection_findings_24m": int(recent["use_of_funds"].isin(["partial", "misuse"]).sum()),
        "last_inspection_use": (
            last["use_of_funds"]
            if last is not None and pd.notna(last["use_of_funds"])
            else math.nan
        ),
        "misuse_on_active_loan": any(
            r.use_of_funds == "misuse" and r.loan_id in live for r in ins.itertuples()
        ),
        "migration_found": bool(ins["migrated"].any()),
    }


def test_matches_reference_loop(district: dict[str, pd.DataFrame], sample: pd.DataFrame) -> None:
    t = in_nanoseconds(district)
    snaps = portfolio_snapshots(district, "2021-06", "2024-11")
    troubled = district["debt_events"]["household_id"].unique()
    late_loans = district["interest"].loc[district["interest"]["arrears_after"] > 0, "loan_id"]
    late_hh = district["loans"].loc[district["loans"]["loan_id"].isin(late_loans), "household_id"]
    special = snaps[snaps["household_id"].isin(set(troubled) | set(late_hh))]
    picked = pd.concat(
        [sample.iloc[::4], special.sample(n=min(40, len(special)), random_state=5)]
    ).reset_index(drop=True)
    out = borrower_features(district, picked)
    for i, row in out.iterrows():
        want = reference_features(t, row["household_id"], row["as_of"])
        try:
            assert_row(row, want)
        except AssertionError as e:  # pragma: no cover - diagnostic
            raise AssertionError(f"snapshot {i} {row['household_id']} {row['as_of']}: {e}") from e
