"""Online store: materialize into SQLite and PostgreSQL; train/serve parity of application rows."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy.engine import Engine

from features.build import FeatureWindow, build_feature_table, key_columns
from features.catalog import CATALOG_VERSION, all_feature_names
from features.online_store import (
    NEW_MEMBER,
    assemble_application,
    default_as_of,
    fetch,
    materialize,
)


def test_default_as_of_is_after_last_closed_month() -> None:
    assert default_as_of("2025-12-31") == pd.Timestamp("2026-01-01")
    assert default_as_of("2025-12-15") == pd.Timestamp("2025-12-01")


def test_materialize_writes_members_and_groups(
    engine: Engine, tables: dict, export: pd.Timestamp
) -> None:
    as_of = default_as_of(export)
    n = materialize(tables, engine, as_of)
    hh = tables["households"]
    current = hh[hh["left_date"].isna() | (hh["left_date"] >= as_of)]
    assert n == len(current) + len(tables["groups"])
    row = fetch(engine, household_id=current["household_id"].iloc[0])
    assert row is not None and row["feature_set_version"] == CATALOG_VERSION
    assert pd.Timestamp(row["as_of"]) == as_of
    group = fetch(engine, group_id=tables["groups"]["group_id"].iloc[0])
    assert group is not None and group["workers"] is None
    assert fetch(engine, household_id="H-unknown") is None
    # re-running replaces, never duplicates
    assert materialize(tables, engine, as_of) == n


@pytest.fixture(scope="module")
def application_batch(tables: dict, export: pd.Timestamp) -> pd.DataFrame:
    """The batch application table of 2024-01..2025-06, built once for both databases (it does
    not depend on the database; the test only reads it)."""
    return build_feature_table(tables, "application", export, FeatureWindow("2024-01", "2025-06"))


def test_served_vector_equals_batch_application_row(
    engine: Engine, tables: dict, application_batch: pd.DataFrame
) -> None:
    batch = application_batch
    sample = batch.drop_duplicates("household_id").sample(3, random_state=1)
    loans = tables["loans"].set_index("loan_id")
    names = all_feature_names("application")
    for rec in sample.itertuples():
        materialize(tables, engine, rec.as_of)
        stored = fetch(engine, household_id=rec.household_id)
        app = loans.loc[
            rec.loan_id, ["program", "purpose", "amount", "term_months", "grace_months"]
        ].to_dict()
        served = assemble_application(stored, app)
        expected = batch.loc[[rec.Index], names].reset_index(drop=True)
        pd.testing.assert_frame_equal(served, expected, check_exact=True)


def test_new_member_gets_group_and_area_features(
    engine: Engine, tables: dict, export: pd.Timestamp
) -> None:
    materialize(tables, engine, default_as_of(export))
    gid = tables["groups"]["group_id"].iloc[0]
    stored = fetch(engine, group_id=gid)
    app = {
        "program": "poor_household",
        "purpose": "livestock",
        "amount": 50_000_000,
        "term_months": 60,
        "grace_months": 0,
    }
    row = assemble_application(stored, app)
    assert list(row.columns) == all_feature_names("application")
    assert row.notna().sum(axis=1).iloc[0] > len(all_feature_names("application")) / 3
    assert NEW_MEMBER not in set(key_columns("application"))
