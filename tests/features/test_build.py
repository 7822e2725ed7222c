"""Feature tables of both views: shape, keys, labels and the point-in-time cut-off."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.build import (
    FeatureWindow,
    application_snapshots,
    build_feature_table,
    key_columns,
)
from features.catalog import LABELS, all_feature_names
from features.feature_table import check_feature_table
from tests.support.cli_app import features_cli


@pytest.fixture(scope="module")
def portfolio(tables: dict, export: pd.Timestamp) -> pd.DataFrame:
    return build_feature_table(tables, "portfolio", export, FeatureWindow("2023-01", "2025-12"))


def test_portfolio_table_follows_the_contract(portfolio: pd.DataFrame) -> None:
    assert list(portfolio.columns) == key_columns("portfolio") + list(LABELS) + all_feature_names(
        "portfolio"
    )
    assert check_feature_table(portfolio, "trouble_12m") == []
    assert not portfolio.duplicated(["household_id", "as_of"]).any()
    assert portfolio["as_of"].min() == pd.Timestamp("2023-02-01")
    assert portfolio["as_of"].max() == pd.Timestamp("2026-01-01")
    assert (portfolio["as_of"].dt.day == 1).all()


def test_unobserved_horizons_are_null_never_zero(
    portfolio: pd.DataFrame, export: pd.Timestamp
) -> None:
    late = portfolio["as_of"] > export - pd.DateOffset(months=12) + pd.Timedelta(days=1)
    assert late.any() and (~late).any()
    for name in LABELS:
        assert portfolio.loc[late, name].isna().all()
        assert portfolio.loc[~late, name].notna().all()
    rate = portfolio.loc[~late, "trouble_12m"].mean()
    assert 0.01 < rate < 0.3


def test_no_protected_attribute_reaches_the_table(
    tables: dict, export: pd.Timestamp, portfolio: pd.DataFrame
) -> None:
    assert not {"ethnicity", "is_ethnic_minority", "rate_pct"} & set(portfolio.columns)
    scrambled = dict(tables)
    scrambled["protected_attributes"] = tables["protected_attributes"].assign(
        ethnicity="X", is_ethnic_minority=True
    )
    again = build_feature_table(scrambled, "portfolio", export, FeatureWindow("2025-01", "2025-12"))
    pd.testing.assert_frame_equal(
        again, portfolio[portfolio["as_of"] >= "2025-02-01"].reset_index(drop=True)
    )


def test_application_view_has_one_row_per_loan_at_its_application_date(
    tables: dict, export: pd.Timestamp
) -> None:
    app = build_feature_table(tables, "application", export, FeatureWindow("2024-01", "2024-12"))
    loans = tables["loans"]
    in_range = loans[
        (loans["application_date"] >= "2024-01-01") & (loans["application_date"] <= "2024-12-31")
    ]
    assert sorted(app["loan_id"]) == sorted(in_range["loan_id"])
    merged = app[["loan_id", "as_of"]].merge(loans[["loan_id", "application_date"]], on="loan_id")
    assert (merged["as_of"] == merged["application_date"]).all()
    assert check_feature_table(app, "trouble_12m") == []
    assert set(all_feature_names("application")) > set(all_feature_names("portfolio"))


def test_application_history_excludes_the_loan_itself(tables: dict) -> None:
    snaps = application_snapshots(tables, "2024-01", "2024-12")
    from features.history import borrower_features

    feats = borrower_features(tables, snaps[["household_id", "as_of"]])
    loans = tables["loans"]
    taken = snaps.apply(
        lambda r: int(
            (
                (loans["household_id"] == r["household_id"])
                & (loans["disbursement_date"] < r["as_of"])
            ).sum()
        ),
        axis=1,
    )
    assert (feats["loans_taken"].to_numpy() == taken.to_numpy()).all()


def test_unknown_view_is_refused(tables: dict, export: pd.Timestamp) -> None:
    with pytest.raises(ValueError, match="view must be one of"):
        build_feature_table(tables, "village", export)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2030-01", "2030-02", "after the export month"),
        ("2025-06", "2025-01", "is after the last month"),
    ],
)
def test_months_outside_the_export_are_refused(
    tables: dict, export: pd.Timestamp, start: str, end: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build_feature_table(tables, "portfolio", export, FeatureWindow(start, end))


def test_cli_streams_the_same_table(
    small_district: Path, tables: dict, export: pd.Timestamp, tmp_path: Path
) -> None:
    out = tmp_path / "app.parquet"
    res = features_cli(
        small_district, out, "--view", "application", "--from", "2025-01", "--to", "2025-12"
    )
    assert res.exit_code == 0, res.output
    expected = build_feature_table(
        tables, "application", export, FeatureWindow("2025-01", "2025-12")
    )
    pd.testing.assert_frame_equal(pd.read_parquet(out), expected)


def test_cli_reports_bad_data_instead_of_a_traceback(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from vbsp_risk.cli import app

    res = CliRunner().invoke(
        app, ["features", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "x.parquet")]
    )
    assert res.exit_code == 2 and "does not exist" in " ".join(res.output.split())
