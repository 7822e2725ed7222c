"""One commune's hazard pressure by village and month, known and future.

:class:`CommuneHazards` spreads the commune's recorded events over its villages (each event
reaches a hidden share of them, larger for severe events), gives the simulation the monthly
pressure of every village, and gives the state oracle what is known at a date (events already
started, with their drawn reach and length) and fresh future events drawn from the same random
process as :func:`features.simulator.disasters.build_hazards`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.simulator.disasters import DECAY, EXPOSED_SHARE, HAZARD_DAMAGE

_STORM_DAMAGE = (HAZARD_DAMAGE["flood"] + HAZARD_DAMAGE["typhoon"]) / 2
_LOCAL_DAMAGE = (
    HAZARD_DAMAGE["drought"] + HAZARD_DAMAGE["landslide"] + HAZARD_DAMAGE["epidemic"]
) / 3


class CommuneHazards:
    """Village pressure of one commune (``T`` months × ``V`` villages)."""

    def __init__(
        self,
        events: pd.DataFrame,
        months: pd.DatetimeIndex,
        n_villages: int,
        remote: bool,
        rng: np.random.Generator,
    ) -> None:
        self.T, self.V, self.remote = len(months), n_villages, remote
        self.events: list[tuple[int, int, float, np.ndarray, str]] = []
        direct = np.zeros((self.T, n_villages))
        commune_direct = np.zeros(self.T)
        kind = [""] * self.T
        for ev in events.itertuples():
            a = int(months.searchsorted(ev.start_date.to_period("M").start_time))
            b = int(months.searchsorted(ev.end_date.to_period("M").start_time, side="right"))
            val = HAZARD_DAMAGE[ev.hazard_type] * ev.severity / 3
            reach = rng.random(n_villages) < EXPOSED_SHARE[int(ev.severity)]
            self.events.append((a, b, val, reach, ev.hazard_type))
            for t in range(a, min(b, self.T)):
                direct[t] = np.maximum(direct[t], val * reach)
                if val > commune_direct[t]:
                    commune_direct[t], kind[t] = val, ev.hazard_type
        self.pressure = np.zeros((self.T, n_villages))
        last, last_c, last_kind = np.zeros(n_villages), 0.0, ""
        self.kind = [""] * self.T
        for t in range(self.T):
            last = np.maximum(direct[t], last * DECAY)
            last_c = max(commune_direct[t], last_c * DECAY)
            if commune_direct[t] > 0:
                last_kind = kind[t]
            self.pressure[t] = last
            self.kind[t] = last_kind if last_c > 0.05 else ""

    def known_direct(self, t: int, horizon: int) -> np.ndarray:
        """Direct pressure in months ``t..t+horizon-1`` of the events started before ``t``."""
        out = np.zeros((horizon, self.V))
        for a, b, val, reach, _ in self.events:
            if a < t and b > t:
                out[: min(b, t + horizon) - t] = np.maximum(
                    out[: min(b, t + horizon) - t], val * reach
                )
        return out

    def future_pressure(
        self, rng: np.random.Generator, replicates: int, t: int, months: list[int], horizon: int
    ) -> np.ndarray:
        """Pressure ``(replicates, horizon, V)`` from month ``t``: known events, new random ones.

        New events follow the per-commune process of ``build_hazards``: storms in September–
        November, livestock-disease waves (starting up to 3 months after they are drawn, lasting
        2–4 months), local droughts, landslides and epidemics (1–3 months); each reaches a random
        share of villages by severity.

        Args:
            months: Calendar month (1..12) of each month of the horizon.
        """
        R, V = replicates, self.V
        direct = np.broadcast_to(self.known_direct(t, horizon), (R, horizon, V)).copy()
        storm_month = np.isin(months, (9, 10, 11))
        storm = (rng.random((R, horizon)) < 0.22 * (0.55 if self.remote else 0.3)) & storm_month
        wave = rng.random((R, horizon)) < 0.012 * 0.5
        local = rng.random((R, horizon)) < 0.004
        for r, k in zip(*np.nonzero(storm), strict=True):
            sev = int(
                np.clip(rng.choice([1, 2, 3], p=[0.45, 0.4, 0.15]) + rng.integers(-1, 2), 1, 3)
            )
            self._add(direct, rng, r, k, 1, _STORM_DAMAGE * sev / 3, sev)
        for r, k in zip(*np.nonzero(wave), strict=True):
            sev = int(rng.choice([1, 2, 3], p=[0.3, 0.5, 0.2]))
            self._add(
                direct,
                rng,
                r,
                k + int(rng.integers(0, 4)),
                int(rng.integers(2, 5)),
                HAZARD_DAMAGE["livestock_disease"] * sev / 3,
                sev,
            )
        for r, k in zip(*np.nonzero(local), strict=True):
            sev = int(rng.integers(1, 3))
            self._add(direct, rng, r, k, int(rng.integers(1, 4)), _LOCAL_DAMAGE * sev / 3, sev)
        prev = np.broadcast_to(self.pressure[t - 1] if t > 0 else np.zeros(V), (R, V))
        for j in range(horizon):
            prev = np.maximum(direct[:, j], prev * DECAY)
            direct[:, j] = prev
        return direct

    def _add(
        self,
        direct: np.ndarray,
        rng: np.random.Generator,
        r: int,
        k: int,
        length: int,
        val: float,
        sev: int,
    ) -> None:
        reach = rng.random(self.V) < EXPOSED_SHARE[sev]
        direct[r, k : k + length] = np.maximum(direct[r, k : k + length], val * reach)
