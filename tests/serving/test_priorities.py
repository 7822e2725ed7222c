"""Priorities and groups rising together, on tiny hand-made scores (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from sqlalchemy.engine import Engine

from serving.bands import BANDS, band
from serving.portfolio import write_scores
from serving.priorities import priorities
from vbsp_state.migrate import upgrade

NOW, BEFORE = date(2025, 12, 1), date(2025, 9, 1)


def _rows() -> pd.DataFrame:
    rows = []
    # G1: three members, two rising by > 1 point and > 25% -> rising together.
    # G2: two members, flat. H9 is in another commune.
    spec = [
        ("H1", "G1", 0.04, 0.10, 1e7),
        ("H2", "G1", 0.05, 0.09, 2e7),
        ("H3", "G1", 0.05, 0.05, 1e7),
        ("H4", "G2", 0.30, 0.30, 1e6),
        ("H5", "G2", 0.02, 0.021, 9e7),
        ("H9", "G9", 0.9, 0.9, 1e7),
    ]
    for hid, gid, before, now, outstanding in spec:
        for when, p in ((BEFORE, before), (NOW, now)):
            rows.append(
                {
                    "household_id": hid,
                    "as_of": when,
                    "group_id": gid,
                    "commune_id": "C9" if hid == "H9" else "C1",
                    "village_id": "V" + gid,
                    "probability": p,
                    "band": band(p),
                    "outstanding": outstanding,
                    "exposure": p * outstanding,
                    "reasons": "[]",
                    "model_name": "m",
                    "model_version": "3",
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture()
def scored(engine: Engine) -> Engine:
    upgrade(engine)
    write_scores(engine, _rows())
    return engine


def test_ranks_by_risk_or_exposure_and_finds_groups_rising_together(scored: Engine) -> None:
    as_of, ranked, groups = priorities(scored, "m", "3", commune_id="C1")
    assert as_of == NOW
    assert list(ranked["household_id"]) == ["H4", "H1", "H2", "H3", "H5"]
    assert ranked.set_index("household_id")["change_3m"].round(3).to_dict() == {
        "H4": 0.0,
        "H1": 0.06,
        "H2": 0.04,
        "H3": 0.0,
        "H5": 0.001,
    }
    g = groups.set_index("group_id")
    assert bool(g.loc["G1", "rising_together"]) and int(g.loc["G1", "rising_members"]) == 2
    assert not bool(g.loc["G2", "rising_together"])
    assert list(groups["group_id"])[0] == "G1"
    _, by_exposure, _ = priorities(scored, "m", "3", commune_id="C1", sort="exposure")
    assert list(by_exposure["household_id"]) == ["H5", "H2", "H1", "H3", "H4"]


def test_scope_and_filters(scored: Engine) -> None:
    _, ranked, _ = priorities(scored, "m", "3", communes=frozenset({"C9"}))
    assert list(ranked["household_id"]) == ["H9"]
    _, ranked, _ = priorities(scored, "m", "3", group_id="G2")
    assert set(ranked["household_id"]) == {"H4", "H5"}
    assert priorities(scored, "m", "other-version")[0] is None


def test_rewriting_a_month_replaces_it(scored: Engine) -> None:
    rows = _rows()
    assert write_scores(scored, rows.assign(probability=rows["probability"] / 2)) == len(rows)
    _, ranked, _ = priorities(scored, "m", "3", commune_id="C1")
    assert len(ranked) == 5 and ranked["probability"].max() == pytest.approx(0.15)


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (0.0, "low"),
        (0.0499, "low"),
        (0.05, "medium"),
        (0.1, "high"),
        (0.2, "very_high"),
        (1.0, "very_high"),
    ],
)
def test_bands_follow_the_documented_cut_offs(p: float, expected: str) -> None:
    assert band(p) == expected
    assert [b for b, _ in BANDS] == ["low", "medium", "high", "very_high"]


@pytest.mark.parametrize("p", [-0.01, 1.01, float("nan")])
def test_band_rejects_non_probabilities(p: float) -> None:
    with pytest.raises(ValueError):
        band(p)
