"""The feature-table contract: generated docs and the checks the trainer relies on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.catalog import ALL_FEATURES, LABELS
from features.feature_table import (
    DOC_NAME,
    FeatureTableError,
    check_feature_table,
    feature_columns,
    render_feature_table_doc,
    require_feature_table,
)

REPO = Path(__file__).resolve().parents[2]


def _table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "household_id": ["H1", "H2", "H3"],
            "as_of": pd.to_datetime(["2024-01-01"] * 3),
            "trouble_12m": pd.array([1, 0, None], dtype="Int8"),
            "x_external": [0.5, np.nan, 2.0],
            "flag": [True, False, True],
            "colour": pd.Categorical(["a", "b", "a"], categories=["a", "b"]),
        }
    )


def test_committed_doc_equals_fresh_rendering() -> None:
    assert (REPO / "docs" / DOC_NAME).read_text(encoding="utf-8") == render_feature_table_doc()


def test_doc_lists_every_feature_and_label_in_both_languages() -> None:
    text = render_feature_table_doc()
    for f in ALL_FEATURES:
        assert f"| `{f.name}` |" in text and f.description_vi in text
    for name in LABELS:
        assert f"| `{name}` |" in text


def test_external_table_following_the_contract_is_accepted() -> None:
    df = _table()
    assert check_feature_table(df, "trouble_12m") == []
    assert feature_columns(df) == ["x_external", "flag", "colour"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.drop(columns="as_of"), "column 'as_of' is missing"),
        (lambda d: d.assign(as_of="2024-01-01"), "as_of: must be a date"),
        (lambda d: d.drop(columns="trouble_12m"), "no label column"),
        (
            lambda d: d.assign(trouble_12m=pd.array([2, 0, None], dtype="Int8")),
            "values other than 0/1",
        ),
        (lambda d: d.assign(x_external=["a", "b", "c"]), "feature x_external: dtype"),
        (lambda d: d.assign(household_id=["H1", None, "H3"]), "household_id: 1 null"),
    ],
)
def test_broken_tables_are_refused_with_a_reason(change, message: str) -> None:
    with pytest.raises(FeatureTableError, match=message):
        require_feature_table(change(_table()), "trouble_12m")


def test_catalog_feature_with_wrong_dtype_is_refused() -> None:
    f = next(f for f in ALL_FEATURES if f.kind == "categorical")
    df = _table().assign(**{f.name: ["x", "y", "z"]})
    assert any(p.startswith(f"feature {f.name}: dtype") for p in check_feature_table(df))
