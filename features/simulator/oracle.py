"""The state oracle: probability of trouble in the next 12 months given today's hidden state.

The clairvoyant oracle (``truth.p_trouble``) multiplies the monthly hazards that were *realised*,
shocks and disasters that had not happened yet included. The state oracle answers what a model
could know at best on the first day of a month: it starts from the full hidden state then
(capacity, stress, running shocks and episodes, group contagion and peer trigger, leaders, misuse,
loans and their schedule, hazard pressure and the events already under way) and integrates the
future out by simulating only the hidden processes forward — shocks, stress innovations, new
hazard events and their reach, the group's other members' episodes — over ``replicates``
replicates, vectorised over replicates × households. The household's own onsets are not drawn:
each replicate contributes the exact probability of no onset along its path (Rao-Blackwellised),
which keeps the Monte Carlo error far below what an AUC can resolve.

Trouble is counted as ``trouble_12m`` counts it (:mod:`features.labels`): an onset in months
0–10 gives two unpaid sessions inside the horizon; one in month 11 counts only with an installment
due then; an onset while the bank defers interest after a disaster counts only when an installment
falls due during the episode (it is extended); an episode already running with two sessions left,
a migrated borrower, a one-off late payment on a due installment, or misuse found by an inspection
count too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from features.simulator.risk import (
    STRESS_AR,
    STRESS_SD,
    dynamic_logit,
    episode_length,
    group_logit,
    sigmoid,
)

if TYPE_CHECKING:
    from features.simulator.commune import CommuneSim

HORIZON = 12
MISUSE_FOUND = 0.85  # chance an inspection of a misused loan finds it
DEFERRED_EPISODE_MONTHS = 4  # typical length of a disaster episode (2 + the disaster's 2)


def state_oracle(sim: CommuneSim, t: int, idx: np.ndarray, static: np.ndarray) -> np.ndarray:
    """``P(trouble_12m)`` from the first day of month ``t`` for households ``idx``.

    Args:
        sim: The commune simulation, in its state at the start of month ``t``.
        t: Month offset.
        idx: Households with a loan this month (the rows of ``truth``).
        static: Their :func:`~features.simulator.risk.static_logit` now.
    """
    cfg, rng = sim.cfg, sim.orng
    R, H = cfg.oracle_replicates, idx.size
    if H == 0:
        return np.zeros(0)
    g = sim.g[idx]
    n_g = len(sim.groups)
    onehot = np.zeros((H, n_g))
    onehot[np.arange(H), g] = 1.0
    size = np.maximum(onehot.sum(axis=0), 1.0).astype(np.float32)
    first = sim.months[0].month - 1
    months = [(first + t + k) % 12 + 1 for k in range(HORIZON)]
    pressure = sim.hazards.future_pressure(rng, R, t, months, HORIZON)[:, :, sim.v[idx]]
    hazard_on = pressure.any(axis=(0, 2))
    kind_now = sim.hazards.kind[t - 1] if t > 0 else ""
    livestock = sim.rec.household_livestock(sim.n)[idx]
    wave = kind_now == "livestock_disease"
    due = sim.rec.due_matrix(idx, t, HORIZON)
    padded = np.concatenate([due, np.zeros((H, DEFERRED_EPISODE_MONTHS), dtype=bool)], axis=1)
    due_soon = np.stack(
        [padded[:, k : k + DEFERRED_EPISODE_MONTHS].any(axis=1) for k in range(HORIZON)], axis=1
    )
    migrated = sim.migrated[idx]
    ep0 = np.where(migrated, 0, sim.ep_rem[idx])
    f32 = np.float32
    s = np.broadcast_to(sim.s[idx].astype(f32), (R, H)).copy()
    shock = np.broadcast_to(sim.shock_rem[idx], (R, H)).copy()
    ep = np.broadcast_to(ep0, (R, H)).copy()
    peer = np.broadcast_to(sim.peer.astype(f32), (R, n_g)).copy()
    contagion = np.broadcast_to(sim.contagion.astype(f32), (R, n_g)).copy()
    onehot = onehot.astype(f32)
    age = sim.loan_age[idx]
    base = static.astype(f32)[None, :]
    log_no = np.zeros((R, H), dtype=f32)
    for k in range(HORIZON):
        new = rng.random((R, H), dtype=f32) < cfg.shock_rate
        shock = np.maximum(shock - 1, 0)
        if new.any():
            shock[new] = rng.integers(2, 9, int(new.sum()))
        s = STRESS_AR * s + rng.standard_normal((R, H), dtype=f32) * f32(STRESS_SD)
        hz = pressure[:, k].astype(f32) if hazard_on[k] else None
        group = group_logit(cfg, contagion, peer)[:, g]
        p = sigmoid(
            base + dynamic_logit(cfg, s, shock > 0, hz, livestock, wave, group, months[k], age + k)
        )
        possible = k >= ep0
        counts = due[:, k] if k == HORIZON - 1 else np.ones(H, dtype=bool)
        if hz is not None:
            counts = np.where((hz > 0.3) & (shock == 0), due_soon[:, k], counts)
        log_no += np.log1p(-p * (counts & possible))
        onset = (ep == 0) & ~migrated & (rng.random((R, H), dtype=f32) < p)
        if onset.any():
            hz_on = hz[onset] if hz is not None else np.zeros(int(onset.sum()))
            ep[onset] = episode_length(rng, int(onset.sum()), shock[onset], hz_on)
        contagion = (ep > 0).astype(f32) @ onehot / size
        peer = peer * f32(cfg.peer_decay) + onset.astype(f32) @ onehot
        ep = np.maximum(ep - 1, 0)
    p_none = np.exp(log_no.astype(np.float64)).mean(axis=0)
    p_none *= (1 - cfg.one_off_late_rate) ** due.sum(axis=1)
    p_none *= (1 - sim.migration_rate()[idx]) ** (HORIZON - 1)
    p_none *= 1 - sim.rec.household_misuse(sim.n)[idx] * MISUSE_FOUND * cfg.inspection_rate
    certain = (ep0 >= 2) | migrated | ((ep0 == 1) & due[:, 0])
    return np.where(certain, 1.0, 1.0 - p_none)
