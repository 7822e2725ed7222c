"""Portfolio snapshots given their main loan's terms, for the application model's pool."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from features.application_pool import main_loan_terms, pool_with_loan_terms
from features.catalog import feature_dtypes

M = 1_000_000
LOANS = pd.DataFrame(
    {
        "loan_id": ["L1", "L2", "L3", "L4"],
        "household_id": ["A", "A", "A", "B"],
        "disbursement_date": pd.to_datetime(
            ["2020-01-10", "2021-03-05", "2022-06-01", "2021-01-01"]
        ),
        "closed_date": pd.to_datetime(["2021-02-01", None, None, "2021-06-01"]),
        "program": ["poor_household", "job_creation", "clean_water", "near_poor"],
        "purpose": ["livestock", "trade_services", "water_sanitation", "crops"],
        "amount": [30 * M, 60 * M, 20 * M, 10 * M],
        "term_months": [36, 60, 60, 24],
        "grace_months": [0, 12, 0, 0],
    }
)
HOUSEHOLDS = pd.DataFrame({"household_id": ["A", "B"], "workers": [3, 1]})


def test_main_loan_is_the_largest_active_one() -> None:
    snaps = pd.DataFrame(
        {
            "household_id": ["A", "A", "A", "B"],
            "as_of": pd.to_datetime(["2020-06-01", "2021-02-01", "2022-07-01", "2022-01-01"]),
        }
    )
    got = main_loan_terms(LOANS, snaps)
    # L1 alone; L1 closed on as_of (not before) and L2 not yet disbursed; L2 > L3; B closed all
    assert got["amount"].tolist()[:3] == [30 * M, 30 * M, 60 * M]
    assert got["program"].tolist()[:3] == ["poor_household", "poor_household", "job_creation"]
    assert math.isnan(got["amount"].iloc[3])


def test_pool_rows_get_the_terms_by_the_application_formulas() -> None:
    pool = pd.DataFrame(
        {
            "household_id": ["A", "B"],
            "as_of": pd.to_datetime(["2022-07-01", "2022-01-01"]),
            "outstanding_principal": [70 * M, 0.0],
            "loans_taken": [3, 1],
            "repaid_amount": [30 * M, 10 * M],
            "savings_deposits_12m": [12, 0],
            "savings_deposit_mean_12m": [50_000.0, math.nan],
            "trouble_12m": [0.0, 1.0],
        }
    )
    out = pool_with_loan_terms(pool, LOANS, HOUSEHOLDS)
    for name, dtype in feature_dtypes("application").items():
        assert out[name].dtype == dtype, name
    a = out.iloc[0]
    assert a["app_program"] == "job_creation" and a["app_amount"] == 60 * M
    # the main loan taken out of the history, then added back as the loan "applied for"
    assert a["app_debt_after_to_cap"] == pytest.approx(70 / 100)
    assert a["app_debt_after_per_worker"] == pytest.approx(70 * M / 3)
    assert a["app_debt_after_to_repaid"] == pytest.approx(70 / 30)
    assert not a["app_first_loan"]  # 3 loans taken, the main one excluded: a repeat borrower
    assert a["app_monthly_payment"] == pytest.approx(60 * M / 48 + 60 * M * 0.0792 / 12)
    b = out.iloc[1]  # no active loan: nothing to describe
    assert pd.isna(b["app_program"]) and math.isnan(b["app_amount"])
    assert out["trouble_12m"].tolist() == [0.0, 1.0] and len(out) == len(pool)
