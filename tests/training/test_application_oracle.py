"""The state oracle of an application: the first state in which the household holds the loan
applied for (the month start after its pay-out), not the start of the application's month."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.rankings import STATE_COLUMN, state_oracle_proba


def _truth() -> pd.DataFrame:
    """Two households over three months, each value unique."""
    t = pd.DataFrame(
        [
            ("H1", "2024-01-01", 0.11),
            ("H1", "2024-02-01", 0.12),
            ("H1", "2024-03-01", 0.13),
            ("H2", "2024-02-01", 0.22),
            ("H2", "2024-03-01", 0.23),
        ],
        columns=["household_id", "month", STATE_COLUMN],
    )
    t["month"] = pd.to_datetime(t["month"])
    return t


def test_application_takes_the_state_after_its_loans_pay_out() -> None:
    rows = pd.DataFrame(
        {
            "household_id": ["H1", "H2", "H1"],
            "loan_id": ["L1", "L2", "L9"],
            "as_of": pd.to_datetime(["2024-01-10", "2023-12-15", "2024-01-10"]),
        }
    )
    disbursed = pd.Series(
        pd.to_datetime(["2024-01-20", "2024-02-03"]), index=pd.Index(["L1", "L2"], name="loan_id")
    )
    got = state_oracle_proba(rows, _truth(), disbursed)
    # L1 paid in January -> February's state; H2's first loan, applied for in December when it
    # had no truth row, paid in February -> March's; L9 unknown -> its application month's state
    np.testing.assert_array_equal(got, [0.12, 0.23, 0.11])
    # without pay-out dates: the application month's start, and H2 has no state then
    np.testing.assert_array_equal(state_oracle_proba(rows, _truth()), [0.11, np.nan, 0.11])


def test_snapshot_rows_without_loan_ids_keep_their_month() -> None:
    rows = pd.DataFrame(
        {"household_id": ["H1", "H2"], "as_of": pd.to_datetime(["2024-03-01", "2024-02-01"])}
    )
    disbursed = pd.Series(pd.to_datetime(["2024-01-20"]), index=["L1"])
    np.testing.assert_array_equal(state_oracle_proba(rows, _truth(), disbursed), [0.13, 0.22])
