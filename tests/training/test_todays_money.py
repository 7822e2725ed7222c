"""Money in today's money: one rule for frames and for one request's values, and what a trained
model makes of it (a year's prices do not change a household's risk)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from features.catalog import MONEY_SCALE, all_feature_names, model_inputs
from training.fit import feature_spec
from training.todays_money import MoneyScale

MONEY = MoneyScale(MONEY_SCALE, ("outstanding_principal", "repaid_amount"))


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "outstanding_principal": [20e6, 30e6, 5e6, np.nan, 12_345_678.9],
            "repaid_amount": [1e6, 0.0, 2e6, 3e6, 4e6],
            "workers": [2, 3, 1, 2, 2],
            MONEY_SCALE: [40e6, 60e6, 0.0, 50e6, np.nan],
        }
    )


def test_frame_divides_money_by_the_rows_scale_and_leaves_the_rest() -> None:
    df = frame()
    before = df.copy()
    out = MONEY.frame(df)
    pd.testing.assert_frame_equal(df, before)  # input untouched
    assert out["outstanding_principal"].tolist()[:2] == [0.5, 0.5]
    assert out["repaid_amount"].tolist()[:2] == [1e6 / 40e6, 0.0]
    # a zero or missing scale leaves the money unknown, never nominal
    assert out.loc[[2, 4], ["outstanding_principal", "repaid_amount"]].isna().all().all()
    assert (
        math.isnan(out.loc[3, "outstanding_principal"])
        and out.loc[3, "repaid_amount"] == 3e6 / 50e6
    )
    pd.testing.assert_series_equal(out["workers"], df["workers"])
    pd.testing.assert_series_equal(out[MONEY_SCALE], df[MONEY_SCALE])
    with pytest.raises(KeyError, match=MONEY_SCALE):
        MONEY.frame(df.drop(columns=[MONEY_SCALE]))


def test_float64_and_compacted_tables_give_the_same_ratios() -> None:
    df = frame().assign(outstanding_principal=[20_000_001.0, 33_333_333.3, 7.1e6, 1.0, 2.0])
    compact = df.astype({c: "float32" for c in [*MONEY.columns, MONEY_SCALE]})
    a, b = MONEY.frame(df), MONEY.frame(compact)
    np.testing.assert_array_equal(a[list(MONEY.columns)], b[list(MONEY.columns)])


def test_one_requests_values_follow_the_frames_rule() -> None:
    df = frame()
    out = MONEY.frame(df)
    for i, row in enumerate(df.to_dict("records")):
        got = MONEY.values({k: v for k, v in row.items() if k != MONEY_SCALE}, row[MONEY_SCALE])
        for c in MONEY.columns:
            want = out.loc[i, c]
            if math.isnan(want):
                assert got[c] is None or math.isnan(got[c]), (i, c)
            else:
                assert got[c] == want, (i, c)
        assert got["workers"] == row["workers"]
    assert MONEY.values({"outstanding_principal": None}, 40e6) == {"outstanding_principal": None}
    assert MONEY.values({"outstanding_principal": 1e6}, "n/a") == {"outstanding_principal": None}


def test_scaling_is_chosen_from_the_catalog_and_round_trips() -> None:
    names = model_inputs(all_feature_names("application"))
    money = MoneyScale.of(names, [*names, MONEY_SCALE])
    assert money is not None and money.scale == MONEY_SCALE
    assert "app_amount" in money.columns and "outstanding_principal" in money.columns
    assert MONEY_SCALE not in money.columns and "workers" not in money.columns
    # deposits do not grow with loan sizes: savings are read as they are
    assert (
        "savings_balance" not in money.columns and "savings_deposit_mean_12m" not in money.columns
    )
    assert list(money.columns) == [n for n in names if n in money.columns]  # model order
    assert MoneyScale.from_params(money.to_params()) == money
    assert MoneyScale.from_params(None) is None
    assert MoneyScale.of(names, names) is None  # a table without the scale: read as it is
    assert MoneyScale.of(["workers", "my_own_amount"], ["workers", MONEY_SCALE]) is None


def test_kept_out_features_are_not_model_features(small_table: pd.DataFrame) -> None:
    names, _ = feature_spec(small_table)
    for kept in ("hazards_12m", "hazard_max_severity_12m", "months_since_hazard", MONEY_SCALE):
        assert kept in small_table.columns and kept not in names
    assert "hazards_3m" in names and "hazard_pressure" in names
    own = small_table.assign(my_amount=1.0)  # a brought-in column stays an input
    assert "my_amount" in feature_spec(own)[0]


def test_trained_model_reads_todays_money(small_result, small_table: pd.DataFrame) -> None:
    scorer = small_result.scorer
    money = scorer.money
    assert money is not None and "outstanding_principal" in money.columns
    assert scorer.inputs == [*scorer.names, MONEY_SCALE]
    rows = small_table.sample(400, random_state=1).reset_index(drop=True)
    p = scorer.predict_proba(rows)
    # the same households in a year of 40 % higher prices: every amount and the scale grow alike
    dearer = rows.assign(**{c: rows[c] * 1.4 for c in [*money.columns, MONEY_SCALE] if c in rows})
    np.testing.assert_allclose(scorer.predict_proba(dearer), p, rtol=0, atol=1e-12)
    # while the same debt against a smaller typical loan is a heavier burden: scores move
    lean = rows.assign(**{MONEY_SCALE: rows[MONEY_SCALE] / 4})
    assert np.abs(scorer.predict_proba(lean) - p).max() > 1e-4
    with pytest.raises(KeyError, match=MONEY_SCALE):
        scorer.predict_proba(rows.drop(columns=[MONEY_SCALE]))
