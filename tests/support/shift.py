"""Inject a known shift into simulated bank tables (test helper, never used by the packages).

A flood in a few communes from a given month, with the arrears it causes and the emergency
loans of a new program that follow it — applied by post-processing the simulator's tables, so
the simulator itself stays untouched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

NEW_PROGRAM = "flood_recovery"


def inject_flood(
    tables: Mapping[str, pd.DataFrame],
    communes: Sequence[str],
    start: str = "2025-09",
    end: str = "2025-12",
    arrears_share: float = 0.35,
    arrears_sessions: int = 3,
    new_program: str | None = NEW_PROGRAM,
    seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """A copy of ``tables`` with a flood forced in ``communes`` every month from ``start`` to ``end``.

    * ``hazard_events``: one severity-3 flood per commune and month;
    * ``interest``: a share ``arrears_share`` of the borrowing households of those communes
      leave ``arrears_sessions`` consecutive sessions unpaid, starting the month after the
      flood begins (so their 12-month trouble labels of earlier snapshots turn positive);
    * ``loans``: loans of those communes disbursed from ``start`` on move to ``new_program``
      (a program code the champion never saw).
    """
    rng = np.random.default_rng(seed)
    out = {k: v.copy() for k, v in tables.items()}
    months = pd.period_range(start, end, freq="M")
    hz = out["hazard_events"]
    rows = [
        {
            "event_id": f"HZX{i:03d}{j:03d}",
            "commune_id": c,
            "hazard_type": "flood",
            "start_date": m.start_time,
            "end_date": m.end_time.normalize(),
            "severity": 3,
        }
        for i, c in enumerate(communes)
        for j, m in enumerate(months)
    ]
    extra = pd.DataFrame(rows).astype({k: hz[k].dtype for k in hz.columns})
    out["hazard_events"] = pd.concat([hz, extra], ignore_index=True)

    interest, loans = out["interest"], out["loans"]
    hit_from = (months[0] + 1).start_time
    hit_to = (months[0] + arrears_sessions).end_time
    in_place = interest["commune_id"].isin(list(communes))
    window = in_place & interest["session_date"].between(hit_from, hit_to)
    owners = loans.set_index("loan_id")["household_id"]
    hh = interest.loc[window, "loan_id"].map(owners)
    households = np.sort(hh.dropna().unique())
    chosen = set(rng.choice(households, int(round(arrears_share * len(households))), replace=False))
    unpaid = window & interest["loan_id"].map(owners).isin(chosen)
    interest.loc[unpaid, "interest_paid"] = 0
    interest.loc[unpaid, "arrears_after"] = interest.loc[unpaid, "interest_due"]
    if new_program:
        moved = loans["commune_id"].isin(list(communes)) & (
            loans["disbursement_date"] >= months[0].start_time
        )
        loans.loc[moved, "program"] = new_program
    return out
