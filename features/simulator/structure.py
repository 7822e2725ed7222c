"""The district's fixed structure: communes, villages, groups, and commune hazard events.

These tables are small (one row per commune/village/group/event) and are drawn up front for
the whole district, so that district-wide events (a typhoon, a swine-fever wave) hit several
communes in the same months, as they do in the field.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import domain
from features.simulator.config import COMMUNES_PER_HH, GROUPS_PER_HH, VILLAGES_PER_HH, SimConfig

HAZARD_DAMAGE = {"flood": 1.0, "typhoon": 1.2, "landslide": 0.8, "drought": 0.6,
                 "livestock_disease": 1.0, "epidemic": 0.7}  # fmt: skip


def month_index(start: str, end: str) -> pd.DatetimeIndex:
    """First days of every simulated month."""
    return pd.date_range(
        pd.Period(start, "M").start_time, pd.Period(end, "M").start_time, freq="MS"
    )


def _split(total: int, parts: int, rng: np.random.Generator) -> np.ndarray:
    """Split ``total`` items into ``parts`` sizes ≥ 1, roughly equal with noise."""
    w = rng.gamma(6.0, size=parts)
    return 1 + rng.multinomial(total - parts, w / w.sum())


def build_structure(cfg: SimConfig) -> dict[str, pd.DataFrame]:
    """Draw communes, villages and groups for a district of ``cfg.households`` borrowers.

    Returns:
        ``communes``, ``villages`` and ``groups`` tables of the contract, plus the internal
        column ``groups.leader_weak_p`` is *not* included: leader quality is drawn later.
    """
    rng = np.random.default_rng([cfg.seed, 0])
    n = cfg.households
    n_c = max(1, round(n * COMMUNES_PER_HH))
    n_v = max(n_c, round(n * VILLAGES_PER_HH))
    n_g = max(n_v, round(n * GROUPS_PER_HH))
    width = max(2, len(str(n_c)))
    commune_ids = [f"C{i + 1:0{width}d}" for i in range(n_c)]
    days = rng.choice(np.arange(5, 26), size=n_c, replace=n_c > 21)
    remote = rng.random(n_c) < 0.45
    communes = pd.DataFrame(
        {
            "commune_id": commune_ids,
            "name": [f"Xã {i + 1}" for i in range(n_c)],
            "transaction_day": days.astype("int64"),
            "is_difficult": rng.random(n_c) < 0.75,
            "is_border": rng.random(n_c) < 0.2,
            "is_remote": remote,
            "distance_km": np.round(
                np.where(remote, rng.uniform(25, 70, n_c), rng.uniform(2, 30, n_c)), 1
            ),
        }
    )
    v_per_c = _split(n_v, n_c, rng)
    v_commune = np.repeat(commune_ids, v_per_c)
    village_ids = [
        f"{c}-V{k + 1:02d}" for c, m in zip(commune_ids, v_per_c, strict=True) for k in range(m)
    ]
    villages = pd.DataFrame(
        {
            "village_id": village_ids,
            "commune_id": v_commune,
            "name": [f"Thôn {v.split('-V')[1]}" for v in village_ids],
            "distance_km": np.round(rng.gamma(2.0, 3.0, n_v), 1),
        }
    )
    g_per_v = _split(n_g, n_v, rng)
    g_village = np.repeat(village_ids, g_per_v)
    g_commune = np.repeat(v_commune, g_per_v)
    group_ids = [
        f"{v}-G{k + 1}" for v, m in zip(village_ids, g_per_v, strict=True) for k in range(m)
    ]
    founded = pd.Timestamp("2003-06-01") + pd.to_timedelta(rng.integers(0, 365 * 12, n_g), unit="D")
    groups = pd.DataFrame(
        {
            "group_id": group_ids,
            "village_id": g_village,
            "commune_id": g_commune,
            "organisation": rng.choice(
                domain.ORGANISATIONS, size=n_g, p=domain.ORGANISATION_SHARES
            ),
            "founded_date": founded.normalize(),
        }
    )
    return {"communes": communes, "villages": villages, "groups": groups}


def build_hazards(cfg: SimConfig, communes: pd.DataFrame) -> pd.DataFrame:
    """District-wide and local hazard events, clustered in time and space.

    Typhoons and floods come in the rainy season (September–November) and hit several
    communes at once (remote ones more often); livestock-disease waves spread over a few
    months; droughts and landslides are local.
    """
    rng = np.random.default_rng([cfg.seed, 1])
    months = month_index(cfg.start, cfg.end)
    ids = communes["commune_id"].to_numpy()
    remote = communes["is_remote"].to_numpy()
    rows: list[tuple[str, str, pd.Timestamp, pd.Timestamp, int]] = []
    for m in months:
        if m.month in (9, 10, 11) and rng.random() < 0.22:  # a storm reaching the district
            kind = "typhoon" if rng.random() < 0.5 else "flood"
            hit = rng.random(len(ids)) < np.where(remote, 0.55, 0.3)
            sev = rng.choice([1, 2, 3], p=[0.45, 0.4, 0.15])
            for c in ids[hit]:
                rows.append(
                    (
                        c,
                        kind,
                        m,
                        m + pd.offsets.MonthEnd(0),
                        int(min(3, max(1, sev + rng.integers(-1, 2)))),
                    )
                )
        if rng.random() < 0.012:  # a livestock-disease wave (e.g. African swine fever 2019)
            hit = rng.random(len(ids)) < 0.5
            for c in ids[hit]:
                lag = int(rng.integers(0, 4))
                s = m + pd.DateOffset(months=lag)
                rows.append(
                    (
                        c,
                        "livestock_disease",
                        s,
                        s + pd.DateOffset(months=int(rng.integers(2, 5))) - pd.Timedelta(days=1),
                        int(rng.choice([1, 2, 3], p=[0.3, 0.5, 0.2])),
                    )
                )
        for c in ids[rng.random(len(ids)) < 0.004]:
            kind = rng.choice(["drought", "landslide", "epidemic"])
            rows.append(
                (
                    c,
                    str(kind),
                    m,
                    m + pd.offsets.MonthEnd(0) + pd.DateOffset(months=int(rng.integers(0, 3))),
                    int(rng.integers(1, 3)),
                )
            )
    end = pd.Period(cfg.end, "M").end_time.normalize()
    df = pd.DataFrame(
        rows, columns=["commune_id", "hazard_type", "start_date", "end_date", "severity"]
    )
    df["start_date"] = pd.to_datetime(df["start_date"]).astype("datetime64[ns]")
    df["end_date"] = pd.to_datetime(df["end_date"]).astype("datetime64[ns]")
    df = df[df["start_date"] <= end].copy()
    df["end_date"] = df["end_date"].clip(upper=end).dt.normalize()
    df = df.sort_values(["commune_id", "start_date", "hazard_type"], kind="stable").reset_index(
        drop=True
    )
    df.insert(0, "event_id", [f"HZ{i + 1:06d}" for i in range(len(df))])
    df["severity"] = df["severity"].astype("int64")
    return df


def hazard_intensity(
    hazards: pd.DataFrame, commune_id: str, months: pd.DatetimeIndex
) -> tuple[np.ndarray, list[str]]:
    """Monthly hazard pressure on a commune and the dominant hazard of each month.

    Pressure is damage × severity while an event lasts, decaying by 0.75 a month after it.
    """
    t_n = len(months)
    direct = np.zeros(t_n)
    kind = [""] * t_n
    for ev in hazards[hazards["commune_id"] == commune_id].itertuples():
        a = months.searchsorted(ev.start_date.to_period("M").start_time)
        b = months.searchsorted(ev.end_date.to_period("M").start_time, side="right")
        val = HAZARD_DAMAGE[ev.hazard_type] * ev.severity / 3
        for t in range(a, min(b, t_n)):
            if val > direct[t]:
                direct[t], kind[t] = val, ev.hazard_type
    pressure = np.zeros(t_n)
    last, last_kind = 0.0, ""
    for t in range(t_n):
        last = max(direct[t], last * 0.75)
        if direct[t] > 0:
            last_kind = kind[t]
        pressure[t] = last
        kind[t] = last_kind if last > 0.05 else ""
    return pressure, kind
