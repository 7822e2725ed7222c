"""Hazard events of the district and the pressure they put on each village.

Events are drawn up front for the whole district, so that a storm or a swine-fever wave hits
several communes in the same months, as in the field; documented events (African swine fever
2019, the October 2020 floods in Quảng Trị) can be replayed on top of the random ones. The
``hazard_events`` table is what the bank sees (commune, dates, severity); which villages of a
commune an event actually reaches is hidden: a severe event reaches most of them, so a large
share of the exposed borrowers is under stress at once. :class:`CommuneHazards` turns the events
into monthly village pressure for the simulation and draws future events for the state oracle
from the same random process.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.simulator.config import SimConfig
from features.simulator.structure import month_index

HAZARD_DAMAGE = {
    "flood": 1.0,
    "typhoon": 1.2,
    "landslide": 0.8,
    "drought": 0.6,
    "livestock_disease": 1.0,
    "epidemic": 0.7,
}
EXPOSED_SHARE = {1: 0.35, 2: 0.6, 3: 0.9}  # share of a commune's villages an event reaches
DECAY = 0.75  # pressure left a month after an event
Row = tuple[str, str, pd.Timestamp, pd.Timestamp, int]


def _month_end(m: pd.Timestamp, extra: int = 0) -> pd.Timestamp:
    return m + pd.offsets.MonthEnd(0) + pd.DateOffset(months=extra)


def _random_rows(cfg: SimConfig, ids: np.ndarray, remote: np.ndarray) -> list[Row]:
    rng = np.random.default_rng([cfg.seed, 1])
    rows: list[Row] = []
    for m in month_index(cfg.start, cfg.end):
        if m.month in (9, 10, 11) and rng.random() < 0.22:  # a storm reaching the district
            kind = "typhoon" if rng.random() < 0.5 else "flood"
            hit = rng.random(len(ids)) < np.where(remote, 0.55, 0.3)
            sev = rng.choice([1, 2, 3], p=[0.45, 0.4, 0.15])
            for c in ids[hit]:
                rows.append(
                    (c, kind, m, _month_end(m), int(min(3, max(1, sev + rng.integers(-1, 2)))))
                )
        if rng.random() < 0.012:  # a livestock-disease wave
            for c in ids[rng.random(len(ids)) < 0.5]:
                s = m + pd.DateOffset(months=int(rng.integers(0, 4)))
                end = s + pd.DateOffset(months=int(rng.integers(2, 5))) - pd.Timedelta(days=1)
                rows.append(
                    (c, "livestock_disease", s, end, int(rng.choice([1, 2, 3], p=[0.3, 0.5, 0.2])))
                )
        for c in ids[rng.random(len(ids)) < 0.004]:
            kind = str(rng.choice(["drought", "landslide", "epidemic"]))
            rows.append(
                (c, kind, m, _month_end(m, int(rng.integers(0, 3))), int(rng.integers(1, 3)))
            )
    return rows


def _replayed_rows(cfg: SimConfig, ids: np.ndarray, remote: np.ndarray) -> list[Row]:
    """Documented events: ASF reached Quảng Trị in spring 2019 and spread over most communes for
    months; the floods of 6–25 October 2020 (storms Linfa, Nangka, Saudel, Molave) hit the whole
    province, the remote mountain communes hardest."""
    rng = np.random.default_rng([cfg.seed, 2])
    rows: list[Row] = []
    if "asf_2019" in cfg.replay_events:
        for c in ids[rng.random(len(ids)) < 0.85]:
            s = pd.Timestamp("2019-03-01") + pd.DateOffset(months=int(rng.integers(0, 4)))
            end = s + pd.DateOffset(months=int(rng.integers(4, 9))) - pd.Timedelta(days=1)
            rows.append((c, "livestock_disease", s, end, int(rng.choice([2, 3], p=[0.4, 0.6]))))
    if "floods_2020_10" in cfg.replay_events:
        for c, r in zip(ids, remote, strict=True):
            sev = 3 if rng.random() < (0.8 if r else 0.5) else 2
            rows.append((c, "flood", pd.Timestamp("2020-10-06"), pd.Timestamp("2020-11-15"), sev))
    return rows


def build_hazards(cfg: SimConfig, communes: pd.DataFrame) -> pd.DataFrame:
    """The ``hazard_events`` table: random events plus the replayed documented ones.

    Typhoons and floods come in the rainy season (September–November) and hit several communes
    at once (remote ones more often); livestock-disease waves spread over a few months;
    droughts, landslides and epidemics are local.
    """
    ids = communes["commune_id"].to_numpy()
    remote = communes["is_remote"].to_numpy()
    rows = _random_rows(cfg, ids, remote) + _replayed_rows(cfg, ids, remote)
    end = pd.Period(cfg.end, "M").end_time.normalize()
    start = pd.Period(cfg.start, "M").start_time
    df = pd.DataFrame(
        rows, columns=["commune_id", "hazard_type", "start_date", "end_date", "severity"]
    )
    df["start_date"] = pd.to_datetime(df["start_date"]).astype("datetime64[ns]")
    df["end_date"] = pd.to_datetime(df["end_date"]).astype("datetime64[ns]")
    df = df[(df["start_date"] <= end) & (df["end_date"] >= start)].copy()
    df["end_date"] = df["end_date"].clip(upper=end).dt.normalize()
    df = df.sort_values(["commune_id", "start_date", "hazard_type"], kind="stable").reset_index(
        drop=True
    )
    df.insert(0, "event_id", [f"HZ{i + 1:06d}" for i in range(len(df))])
    df["severity"] = df["severity"].astype("int64")
    return df
