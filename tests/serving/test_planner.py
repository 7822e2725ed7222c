"""The visit planner: days around the transaction day, capacity, grouping, the random share, and a
backtest on the small district against today's practice ranking (most arrears first)."""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from serving import plan_backtest, plan_store, planner
from serving.model_store import load_registered
from serving.portfolio import score_frame
from tests.support.served import Served
from training.rankings import practice_scores


def _candidates(n: int = 60, villages: int = 4, groups_per_village: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    p = rng.beta(1, 12, n)
    outstanding = rng.integers(10, 100, n) * 1e6
    g = rng.integers(0, villages * groups_per_village, n)
    return pd.DataFrame(
        {
            "household_id": [f"H{i:03d}" for i in range(n)],
            "group_id": [f"G{x:02d}" for x in g],
            "village_id": [f"V{x // groups_per_village}" for x in g],
            "probability": p,
            "outstanding": outstanding,
            "exposure": p * outstanding,
            "reasons": json.dumps([{"text_en": "Arrears", "text_vi": "Lãi tồn"}]),
        }
    )


def test_dates_start_at_the_transaction_day_and_skip_sundays() -> None:
    # 2026-03-15 is a Sunday: kept as the transaction day, other Sundays skipped.
    days = planner.plan_dates("2026-03", 15, 5)
    assert days[0] == date(2026, 3, 15)
    assert set(days) == {date(2026, 3, d) for d in (12, 13, 14, 15, 16, 17)} - {date(2026, 3, 12)}
    assert all(d.weekday() != 6 for d in days[1:])
    assert planner.plan_dates("2026-02", 28, 3) == [
        date(2026, 2, 28),
        date(2026, 2, 27),
        date(2026, 2, 26),
    ]
    with pytest.raises(ValueError):
        planner.plan_dates("2026-02", 10, 30)
    with pytest.raises(ValueError):
        planner.plan_dates("2026-13", 10, 2)


@pytest.mark.parametrize(
    ("capacity_per_day", "days", "share"), [(8, 3, 0.1), (5, 2, 0.1), (7, 4, 0.25), (6, 1, 0.0)]
)
def test_capacity_days_and_random_share_are_respected_and_recorded(
    capacity_per_day: int, days: int, share: float
) -> None:
    cands = _candidates()
    req = planner.PlanRequest("2026-01", 25, capacity_per_day, days, "risk", share, seed=3)
    plan = planner.build_plan(cands, req)
    allowed = set(planner.plan_dates("2026-01", 25, days))
    assert len(plan) == capacity_per_day * days
    assert set(plan["visit_date"]) <= allowed
    assert plan.groupby("visit_date").size().max() <= capacity_per_day
    assert plan["household_id"].is_unique
    rand = plan[plan["selection"] == "random"]
    assert len(rand) >= share * len(plan) - 1e-9 and len(rand) < share * len(plan) + 1
    # Targeted visits are the highest risks of the commune; random ones come from the rest.
    targeted = plan[plan["selection"] == "risk"]
    top = cands.nlargest(len(targeted), "probability")["household_id"]
    assert set(targeted["household_id"]) == set(top)
    assert not set(rand["household_id"]) & set(top)
    pool = len(cands) - len(targeted)
    assert (targeted["selection_probability"] == 1.0).all()
    assert np.allclose(rand["selection_probability"], len(rand) / pool)
    assert all(r["kind"] == "random" and r["pool"] == pool for r in rand["reason"])
    assert all(r["kind"] == "risk" and r["texts_vi"] == ["Lãi tồn"] for r in targeted["reason"])


def test_exposure_ranking_and_same_seed_same_plan() -> None:
    cands = _candidates()
    req = planner.PlanRequest("2026-01", 10, 5, 2, "exposure", 0.1, seed=9)
    a, b = planner.build_plan(cands, req), planner.build_plan(cands, req)
    pd.testing.assert_frame_equal(a, b)
    targeted = a[a["selection"] == "exposure"]
    assert set(targeted["household_id"]) == set(cands.nlargest(9, "exposure")["household_id"])
    other = planner.build_plan(cands, planner.PlanRequest("2026-01", 10, 5, 2, "exposure", 0.1, 10))
    assert set(other["household_id"]) != set(a["household_id"])  # another random draw


def test_a_village_goes_on_one_day_when_it_fits() -> None:
    cands = _candidates(n=40, villages=5, groups_per_village=2)
    plan = planner.build_plan(cands, planner.PlanRequest("2026-04", 20, 12, 3, "risk", 0.1, 1))
    per_day = plan.groupby("visit_date").size()
    assert per_day.max() <= 12
    villages = plan.groupby("village_id")["visit_date"].nunique()
    sizes = plan.groupby("village_id").size()
    # Every village that could fit a day is on one day; larger ones keep each group together.
    assert (villages[sizes <= 4] == 1).all()
    split = sizes[villages > 1].index
    for v in split:
        rows = plan[plan["village_id"] == v]
        assert rows.groupby("group_id")["visit_date"].nunique().max() <= 2
    # The most urgent village is visited on the transaction day.
    first = plan.loc[plan["rank"].idxmin()]
    assert first["visit_date"] == date(2026, 4, 20)


def test_small_communes_and_edge_cases() -> None:
    cands = _candidates(n=5)
    plan = planner.build_plan(cands, planner.PlanRequest("2026-01", 5, 8, 3, "risk", 0.1, 0))
    assert len(plan) == 5 and set(plan["household_id"]) == set(cands["household_id"])
    empty = planner.build_plan(cands.head(0), planner.PlanRequest("2026-01", 5, 8, 3))
    assert empty.empty
    with pytest.raises(ValueError):
        planner.PlanRequest("2026-01", 5, 0, 3)
    with pytest.raises(ValueError):
        planner.PlanRequest("2026-01", 5, 8, 3, sort="names")


def _test_window(served: Served) -> tuple[pd.Timestamp, pd.Timestamp]:
    client = MlflowClient(tracking_uri=served.tracking_uri, registry_uri=served.tracking_uri)
    mv = client.get_model_version_by_alias("overdue-risk-portfolio", "champion")
    windows = json.loads(client.get_run(mv.run_id).data.params["split.windows"])
    return pd.Timestamp(windows["test"]["start"]), pd.Timestamp(windows["test"]["end"])


def test_backtest_plan_finds_more_trouble_than_practice(served: Served) -> None:
    """On the champion's test window (months it never trained on), each commune-month's plan
    at the same capacity as an arrears-first list finds more households heading for trouble."""
    frame = pd.read_parquet(served.features["portfolio"])
    start, end = _test_window(served)
    as_of = pd.to_datetime(frame["as_of"])
    rows = frame[(as_of >= start) & (as_of <= end) & frame["trouble_12m"].notna()]
    rows = rows.reset_index(drop=True)
    model = load_registered(served.tracking_uri, "overdue-risk-portfolio", "champion")
    scored = score_frame(model, rows.assign(village_id="", group_id=""), explain=False)
    data = pd.DataFrame(
        {
            "as_of": rows["as_of"],
            "commune_id": rows["commune_id"],
            "household_id": rows["household_id"],
            "probability": scored["probability"],
            "exposure": scored["exposure"],
            "label": rows["trouble_12m"].astype(int),
            "practice": practice_scores(rows)["practice_arrears"],
        }
    )
    for capacity_per_day, days in ((8, 3), (5, 2)):  # the defaults, and a tighter month
        result = plan_backtest.backtest(data, capacity_per_day, days, random_share=0.1, seed=11)
        figures = {k: v for k, v in result.to_dict().items() if k != "by_month"}
        print(f"\nbacktest {capacity_per_day} visits/day x {days} days, 10% random: {figures}")
        assert result.visits == capacity_per_day * days * len(result.months) * result.communes
        assert result.random_visits >= 0.1 * result.visits
        assert result.plan_found > result.practice_found


def test_damaged_places_file_is_logged_and_plans_fall_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "communes.parquet").write_bytes(b"PAR1 not really parquet")
    (tmp_path / "villages.parquet").write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="serving.plan_store"):
        places = plan_store.read_places(tmp_path)
    assert places == plan_store.Places()
    assert "communes" in caplog.text and "not read" in caplog.text
