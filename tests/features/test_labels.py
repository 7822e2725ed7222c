"""Labels: each trouble type sets the label it should; unobserved horizons are null."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from features.catalog import LABELS, LabelDefinition
from features.labels import horizon_observed, make_labels
from tests.support.history_tables import tiny_tables

AS_OF = pd.Timestamp("2023-01-01")
EXPORT = "2024-12-31"


def _one_household(
    arrears: set[str] = frozenset(),
    debt: list[tuple[str, str]] = (),
    inspections: list[tuple[str, str | None, bool]] = (),
) -> dict[str, pd.DataFrame]:
    """Household A of the tiny district with clean sessions 2022-04..2024-12 plus given trouble.

    Args:
        arrears: Months (YYYY-MM) whose session ends in arrears.
        debt: (date, event_type) debt events.
        inspections: (date, use_of_funds, migrated) visits.
    """
    t = tiny_tables()
    t["interest"] = t["interest"].iloc[:0]
    rows = []
    for d in pd.date_range("2022-04-01", "2024-12-01", freq="MS") + pd.Timedelta(days=19):
        late = d.strftime("%Y-%m") in arrears
        rows.append(("LA1", "C1", d, 100, 0 if late else 100, 100 if late else 0))
    t["interest"] = pd.DataFrame(rows, columns=list(t["interest"].columns)).astype(
        {"session_date": "datetime64[ms]"}
    )
    t["debt_events"] = pd.DataFrame(
        [
            (f"E{i}", "LA1", "A", "C1", pd.Timestamp(d), kind, "illness", 1, 10, pd.NaT)
            for i, (d, kind) in enumerate(debt)
        ],
        columns=list(t["debt_events"].columns),
    ).astype({"event_date": "datetime64[ms]", "new_due_date": "datetime64[ms]"})
    t["inspections"] = pd.DataFrame(
        [
            (f"I{i}", "A", "LA1", "C1", pd.Timestamp(d), "random", use, not mig, mig, True)
            for i, (d, use, mig) in enumerate(inspections)
        ],
        columns=list(t["inspections"].columns),
    ).astype({"inspection_date": "datetime64[ms]"})
    return t


def _labels(t: dict[str, pd.DataFrame], as_of: pd.Timestamp = AS_OF, **kw) -> dict[str, object]:
    snaps = pd.DataFrame({"household_id": ["A"], "as_of": [as_of]})
    return make_labels(t, snaps, EXPORT, **kw).iloc[0].to_dict()


CASES = [
    # (name, tables kwargs, trouble, overdue, arrears)
    ("clean", {}, 0, 0, 0),
    ("one arrears session", {"arrears": {"2023-05"}}, 0, 0, 1),
    ("two separate arrears", {"arrears": {"2023-05", "2023-08"}}, 0, 0, 1),
    ("two consecutive arrears", {"arrears": {"2023-05", "2023-06"}}, 1, 0, 1),
    ("run straddling as_of", {"arrears": {"2022-12", "2023-01"}}, 0, 0, 1),
    ("run straddling horizon end", {"arrears": {"2023-12", "2024-01"}}, 0, 0, 1),
    ("arrears before as_of", {"arrears": {"2022-10", "2022-11"}}, 0, 0, 0),
    ("extension", {"debt": [("2023-03-24", "extension")]}, 1, 0, 0),
    ("overdue", {"debt": [("2023-09-24", "overdue")]}, 1, 1, 0),
    ("overdue on as_of", {"debt": [("2023-01-01", "overdue")]}, 1, 1, 0),
    ("overdue the day before", {"debt": [("2022-12-31", "overdue")]}, 0, 0, 0),
    ("overdue at horizon end", {"debt": [("2024-01-01", "overdue")]}, 0, 0, 0),
    ("overdue cured only", {"debt": [("2023-03-24", "overdue_cured")]}, 0, 0, 0),
    ("misuse found", {"inspections": [("2023-06-24", "misuse", False)]}, 1, 0, 0),
    ("partial use", {"inspections": [("2023-06-24", "partial", False)]}, 0, 0, 0),
    ("migrated (not in default)", {"inspections": [("2023-06-24", None, True)]}, 0, 0, 0),
]


@pytest.mark.parametrize(("case", "kw", "trouble", "overdue", "arrears"), CASES)
def test_each_trouble_type(case: str, kw: dict, trouble: int, overdue: int, arrears: int) -> None:
    got = _labels(_one_household(**kw))
    assert (got["trouble_12m"], got["overdue_12m"], got["arrears_12m"]) == (
        trouble,
        overdue,
        arrears,
    ), case


def test_unobserved_horizon_is_null_not_zero() -> None:
    t = _one_household(arrears={"2024-03", "2024-04"}, debt=[("2024-02-24", "overdue")])
    snaps = pd.DataFrame(
        {
            "household_id": ["A", "A", "A"],
            "as_of": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-12-01"]),
        }
    )
    out = make_labels(t, snaps, EXPORT)
    for name in LABELS:
        assert out[name].dtype == "Int8"
        assert out[name].iloc[0] == 1  # horizon ends 2024-12-31: fully observed
        assert out[name].iloc[1:].isna().all()  # horizon runs past the export: null, never 0
    assert list(horizon_observed(snaps["as_of"], 12, EXPORT)) == [True, False, False]


def test_configurable_definitions_and_purity() -> None:
    t = _one_household(inspections=[("2023-06-24", None, True)])
    before = copy.deepcopy(t)
    custom = {
        "left_6m": LabelDefinition(
            "left_6m",
            "Borrower found migrated within 6 months",
            "Bỏ địa phương",
            6,
            count_migration=True,
        ),
        "left_3m": LabelDefinition(
            "left_3m",
            "Borrower found migrated within 3 months",
            "Bỏ địa phương",
            3,
            count_migration=True,
        ),
    }
    got = _labels(t, definitions=custom)
    assert (got["left_6m"], got["left_3m"]) == (1, 0)
    for name, df in t.items():
        pd.testing.assert_frame_equal(df, before[name])
    with pytest.raises(ValueError, match="unknown debt event"):
        LabelDefinition("x", "", "", debt_event_types=("late",))


def test_labels_on_many_rows_align_with_snapshots() -> None:
    t = _one_household(arrears={"2023-05", "2023-06"})
    as_ofs = pd.date_range("2022-01-01", "2024-12-01", freq="MS")
    snaps = pd.DataFrame({"household_id": ["A", "B"] * len(as_ofs), "as_of": np.repeat(as_ofs, 2)})
    out = make_labels(t, snaps, EXPORT)
    a = out[out["household_id"] == "A"].set_index("as_of")["trouble_12m"]
    # the run's second session is 2023-06-20: positive for as_of in (2022-06-20, 2023-05-20]
    assert a.loc["2022-07-01":"2023-05-01"].eq(1).all()
    assert a.loc[:"2022-06-01"].eq(0).all() and a.loc["2023-06-01":"2024-01-01"].eq(0).all()
    assert a.loc["2024-02-01":].isna().all()
    assert out[out["household_id"] == "B"]["trouble_12m"].fillna(0).eq(0).all()
