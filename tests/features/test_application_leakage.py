"""The application view's loan-burden features are point-in-time, like the history they read.

The burden of a new loan (:mod:`features.application_burden`) combines the application's own
fields with the household's history as of the application date: deleting or altering every event
on or after that date, or adding events in the far future, must not move any application
feature (the same cuts as the borrower-history leakage test).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.application import application_features
from features.build import application_snapshots
from features.history import borrower_features
from tests.support.history_tables import cut_events, far_future, history_district

APP_FIELDS = ["program", "purpose", "amount", "term_months", "grace_months"]


def _app_features(tables: dict[str, pd.DataFrame], snaps: pd.DataFrame) -> pd.DataFrame:
    hist = borrower_features(tables, snaps[["household_id", "as_of"]])
    return application_features(snaps[["household_id", *APP_FIELDS]], tables["households"], hist)


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    return history_district(tmp_path_factory)


def test_application_features_do_not_leak(district: dict[str, pd.DataFrame]) -> None:
    apps = application_snapshots(district, "2022-01", "2024-10")
    repeat = apps[apps.duplicated("household_id")]  # households with history before applying
    rng = np.random.default_rng(5)
    days = rng.choice(repeat["as_of"].unique(), size=4, replace=False)
    sample = repeat[repeat["as_of"].isin(days)].reset_index(drop=True)
    base = _app_features(district, sample)
    # the burden must carry the household's history, or this test would prove nothing
    assert (~base["app_first_loan"]).any() and base["app_debt_after_to_repaid"].notna().any()
    assert (base["app_debt_after_to_cap"] > sample["amount"] / 100e6 + 1e-9).any()
    for as_of, idx in sample.groupby("as_of").groups.items():
        snaps = sample.loc[idx].reset_index(drop=True)
        want = base.loc[idx].reset_index(drop=True)
        for mode in ("delete", "alter"):
            got = _app_features(cut_events(district, pd.Timestamp(as_of), mode), snaps)
            pd.testing.assert_frame_equal(got, want, check_exact=True, obj=f"{mode} {as_of}")
    future = _app_features(far_future(district, sample["household_id"]), sample)
    pd.testing.assert_frame_equal(future, base, check_exact=True)
