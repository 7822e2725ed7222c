"""Application features and validation: hand-computed values, dtypes, clear messages."""

from __future__ import annotations

import copy
import math

import pandas as pd
import pytest

from features import domain
from features.application import application_features, validate_application
from features.catalog import feature_dtypes, feature_names

M = 1_000_000

APPS = pd.DataFrame(
    {
        "loan_id": ["L1", "L2", "L3", "L4", "L5"],
        "household_id": ["A", "B", None, "ZZ", "A"],
        "program": ["poor_household", "clean_water", "near_poor", "job_creation", "bogus"],
        "purpose": ["livestock", "water_sanitation", "crops", "vocational", "nonsense"],
        "amount": [50 * M, 20 * M, 30 * M, 80 * M, 10 * M],
        "term_months": [36, 60, 24, 120, 12],
        "grace_months": [0, 6, 0, 12, 0],
        "rate_pct": [6.6, 9.0, 7.92, 3.96, 1.0],  # never read
    },
    index=[10, 11, 12, 13, 14],
)
HOUSEHOLDS = pd.DataFrame(
    {
        "household_id": ["A", "B"],
        "workers": [2, 0],
        "ethnicity": ["x", "y"],  # a careless caller's extra column: never read
    }
)


def test_hand_computed_features() -> None:
    out = application_features(APPS, HOUSEHOLDS)
    assert list(out.index) == list(APPS.index)
    assert list(out.columns) == ["loan_id", "household_id", *feature_names("application")]
    for name, dtype in feature_dtypes("application").items():
        assert out[name].dtype == dtype, name
    assert list(out["app_program"].cat.categories) == list(domain.PROGRAMS)
    assert list(out["app_purpose"].cat.categories) == list(domain.PURPOSES)
    assert out["app_program"].tolist()[:4] == list(APPS["program"])[:4]
    assert pd.isna(out.loc[14, "app_program"]) and pd.isna(out.loc[14, "app_purpose"])
    assert out["app_amount"].tolist() == [50 * M, 20 * M, 30 * M, 80 * M, 10 * M]
    assert out["app_term_months"].tolist() == [36, 60, 24, 120, 12]
    assert out["app_grace_months"].tolist() == [0, 6, 0, 12, 0]
    to_cap = out["app_amount_to_cap"].tolist()
    assert to_cap[:4] == pytest.approx([0.5, 0.4, 0.3, 0.8]) and math.isnan(to_cap[4])
    per_worker = out["app_amount_per_worker"].tolist()
    assert per_worker[0] == 25 * M and per_worker[4] == 5 * M
    # B has no worker, the third has no household (new member), ZZ is unknown
    assert all(math.isnan(v) for v in per_worker[1:4])


def test_without_households_and_inputs_untouched() -> None:
    apps, hh = APPS.copy(), HOUSEHOLDS.copy()
    out = application_features(APPS, HOUSEHOLDS)
    pd.testing.assert_frame_equal(APPS, apps)
    pd.testing.assert_frame_equal(HOUSEHOLDS, hh)
    narrow = application_features(APPS, HOUSEHOLDS[["household_id", "workers"]])
    pd.testing.assert_frame_equal(narrow, out)
    per_worker = ["app_amount_per_worker", "app_payment_per_worker", "app_debt_after_per_worker"]
    for households in (None, HOUSEHOLDS.iloc[:0]):
        got = application_features(APPS, households)
        assert got[per_worker].isna().all().all()
        pd.testing.assert_frame_equal(got.drop(columns=per_worker), out.drop(columns=per_worker))
    fields = APPS[["program", "purpose", "amount", "term_months", "grace_months"]]
    assert list(application_features(fields).columns) == feature_names("application")
    with pytest.raises(ValueError, match="grace_months"):
        application_features(APPS.drop(columns="grace_months"))


HISTORY = pd.DataFrame(
    {
        "outstanding_principal": [30 * M, 0.0, 0.0, 10 * M, 30 * M],
        "loans_taken": [2, 0, 0, 1, 2],
        "repaid_amount": [40 * M, 0.0, 0.0, 0.0, 40 * M],
        "savings_deposits_12m": [12, 6, 0, 3, 12],
        "savings_deposit_mean_12m": [100_000.0, 50_000.0, math.nan, 80_000.0, 100_000.0],
        "workers": [9, 9, 9, 9, 9],  # a history column the burden must not read
    },
    index=[0, 1, 2, 3, 4],  # positional: the index need not match the applications'
)


def test_burden_of_the_loan_hand_computed() -> None:
    out = application_features(APPS, HOUSEHOLDS, HISTORY)
    # L1: 50 M over 36 months at the poor-household standard 6.6 %/year
    pay = 50 * M / 36 + 50 * M * 0.066 / 12
    assert out.loc[10, "app_monthly_payment"] == pytest.approx(pay)
    assert out.loc[10, "app_payment_per_worker"] == pytest.approx(pay / 2)
    assert out.loc[10, "app_payment_to_savings"] == pytest.approx(pay / 100_000)
    assert out.loc[10, "app_debt_after_to_cap"] == pytest.approx(0.8)  # (30 + 50) / 100
    assert out.loc[10, "app_debt_after_per_worker"] == pytest.approx(40 * M)
    assert out.loc[10, "app_debt_after_to_repaid"] == pytest.approx(2.0)  # 80 / 40
    # L2: 20 M, 60 months with 6 of grace at 9 %; 6 deposits of 50k in 12 months
    pay2 = 20 * M / 54 + 20 * M * 0.09 / 12
    assert out.loc[11, "app_payment_to_savings"] == pytest.approx(pay2 / 25_000)
    # L4 job creation: the program's standard rate 7.92 %, never the loan's own 3.96 %
    assert out.loc[13, "app_monthly_payment"] == pytest.approx(80 * M / 108 + 80 * M * 0.0792 / 12)
    assert out["app_first_loan"].tolist() == [False, True, True, False, False]
    # nothing repaid, no worker, no deposit, unknown program: missing, never infinite
    assert math.isnan(out.loc[13, "app_debt_after_to_repaid"])
    assert math.isnan(out.loc[11, "app_payment_per_worker"])
    assert math.isnan(out.loc[12, "app_payment_to_savings"])
    assert math.isnan(out.loc[14, "app_monthly_payment"])
    # without history: debt after = the amount, every application a first loan
    bare = application_features(APPS, HOUSEHOLDS)
    assert bare["app_first_loan"].all()
    assert bare.loc[10, "app_debt_after_to_cap"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="history has 2 rows"):
        application_features(APPS, HOUSEHOLDS, HISTORY.iloc[:2])


def test_more_amount_is_never_less_burden() -> None:
    amounts = [5 * M, 20 * M, 40 * M, 100 * M]
    apps = pd.DataFrame(
        {
            "household_id": "A",
            "program": "poor_household",
            "purpose": "crops",
            "amount": amounts,
            "term_months": 36,
            "grace_months": 0,
        }
    )
    hist = pd.concat([HISTORY.iloc[[0]]] * len(amounts), ignore_index=True)
    out = application_features(apps, HOUSEHOLDS, hist)
    for name in (
        "app_monthly_payment",
        "app_payment_per_worker",
        "app_payment_to_savings",
        "app_debt_after_to_cap",
        "app_debt_after_per_worker",
        "app_debt_after_to_repaid",
    ):
        assert out[name].is_monotonic_increasing and out[name].nunique() == len(amounts), name


def _app(**kw: object) -> dict[str, object]:
    base = {
        "program": "poor_household",
        "purpose": "livestock",
        "amount": 50 * M,
        "term_months": 36,
        "grace_months": 0,
    }
    return {**base, **kw}


def test_validate_accepts_a_good_application() -> None:
    assert validate_application(_app()) == []
    assert validate_application(pd.Series(_app(amount=100 * M))) == []  # exactly the cap
    assert (
        validate_application(
            _app(program="housing", amount=40 * M, term_months=180, grace_months=60)
        )
        == []
    )


def test_validate_over_cap_names_program_and_cap() -> None:
    msgs = validate_application(_app(amount=120 * M))
    assert len(msgs) == 1
    assert "120,000,000 VND" in msgs[0] and "100,000,000 VND" in msgs[0]
    assert "poor_household" in msgs[0] and "cap" in msgs[0]
    msgs = validate_application(
        _app(program="clean_water", purpose="water_sanitation", amount=60 * M)
    )
    assert msgs == [
        "amount 60,000,000 VND is over the cap of 50,000,000 VND for program 'clean_water' "
        "(Clean water & sanitation)"
    ]


def test_validate_term_grace_and_unknowns() -> None:
    msgs = validate_application(_app(program="near_poor", term_months=72, grace_months=13))
    assert any("term of 72 months" in m and "60 months" in m and "near_poor" in m for m in msgs)
    assert any("grace of 13 months" in m and "12 months" in m and "near_poor" in m for m in msgs)
    assert len(msgs) == 2
    msgs = validate_application(_app(program="lottery", purpose="gambling"))
    assert len(msgs) == 2
    assert "unknown program 'lottery'" in msgs[0] and "poor_household" in msgs[0]
    assert "unknown purpose 'gambling'" in msgs[1] and "livestock" in msgs[1]
    msgs = validate_application(_app(amount=None, term_months=0, grace_months=2.5))
    assert msgs == [
        "amount must be a number of VND, got None",
        "term_months must be a whole number of months >= 1, got 0",
        "grace_months must be a whole number of months >= 0, got 2.5",
    ]
    assert validate_application(_app(term_months=12, grace_months=12)) == [
        "grace of 12 months must be shorter than the term (12 months)"
    ]
    assert "amount must be positive" in validate_application(_app(amount=-5))[0]


def test_validate_is_pure() -> None:
    row = _app(amount=500 * M)
    before = copy.deepcopy(row)
    validate_application(row)
    assert row == before


def test_single_application_fast_path_equals_batch() -> None:
    from features.application import application_vector
    from features.catalog import feature_dtypes

    apps = pd.DataFrame(
        {
            "household_id": ["A", "B", "C", None],
            "program": ["poor_household", "student", "no_such_program", "clean_water"],
            "purpose": ["livestock", "education", "crops", "nowhere"],
            "amount": [50_000_000, 120_000_000, 7_000_000, 20_000_000],
            "term_months": [60, 144, 12, 36],
            "grace_months": [0, 72, 0, 0],
        }
    )
    households = pd.DataFrame({"household_id": ["A", "B", "C"], "workers": [2, 0, 3]})
    workers = {"A": 2.0, "B": 0.0, "C": 3.0}
    history = pd.DataFrame(
        {
            "outstanding_principal": [10 * M, 0, 5 * M, 0],
            "loans_taken": [1, 0, 3, 0],
            "repaid_amount": [0.0, 0.0, 12 * M, 0.0],
            "savings_deposits_12m": [7, 0, 12, 0],
            "savings_deposit_mean_12m": [35_000.0, math.nan, 20_000.0, math.nan],
        }
    )
    batch = application_features(apps, households, history)
    records = history.to_dict("records")
    for i, row in apps.iterrows():
        fast = application_vector(row.to_dict(), workers.get(row["household_id"]), records[i])
        got = pd.DataFrame([fast]).astype(feature_dtypes("application"))
        want = batch.loc[[i], list(fast)].reset_index(drop=True)
        pd.testing.assert_frame_equal(got, want, check_exact=True)
