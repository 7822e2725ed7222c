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
which keeps the Monte Carlo error far below what an AUC can resolve. The simulation hands
:class:`StateOracle` a snapshot of the state each month (:meth:`StateOracle.snapshot`); the forward
runs of all months of a commune then go at once (:meth:`StateOracle.run`), each month's snapshot
being its own independent world (its own group states), so numpy works on long arrays.

Trouble is counted as ``trouble_12m`` counts it (:mod:`features.labels`): an onset in months
0–10 gives two unpaid sessions inside the horizon; one in month 11 counts only with an installment
due then; an onset while the bank defers interest after a disaster counts only when an installment
falls due during the episode (it is extended); an episode already running with two sessions left
(a deferred one only with an installment due before it ends), a migrated borrower (unless the
family settles within a month, before anything is due: it repays with probability
``migration_repaid_prob``), a one-off late payment on a due installment, or misuse found by an
inspection count too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from features.simulator.risk import (
    STRESS_SD,
    episode_length,
    group_logit,
    onset_probability,
    stress_step,
)

if TYPE_CHECKING:
    from features.simulator.households import Households as CommuneSim  # no import cycle

HORIZON = 12
MISUSE_FOUND = 0.85  # chance an inspection of a misused loan finds it
DEFERRED_EPISODE_MONTHS = 4  # typical length of a disaster episode (2 + the disaster's 2)


CHUNK_ROWS = 6_000  # household-months per forward run: (replicates × rows) stays in cache


class StateOracle:
    """Collects one commune's monthly state snapshots and computes the state oracle for all."""

    def __init__(self, sim: CommuneSim) -> None:
        self.sim = sim
        self.n_g = len(sim.groups)
        self.parts: list[dict[str, np.ndarray]] = []
        self.rows = 0
        self.done: list[np.ndarray] = []

    def snapshot(self, t: int, idx: np.ndarray, static: np.ndarray) -> None:
        """Keep the state at the start of month ``t`` of households ``idx`` (truth's rows).

        Snapshots are run forward in chunks of about :data:`CHUNK_ROWS` rows as they come, so
        that the ``(replicates, rows)`` arrays stay small enough for the CPU cache.

        Args:
            t: Month offset.
            idx: Households with a loan this month.
            static: Their :func:`~features.simulator.risk.static_logit` now.
        """
        sim, rng = self.sim, self.sim.orng
        R, H = sim.cfg.oracle_replicates, idx.size
        first = sim.months[0].month - 1
        months = [(first + t + k) % 12 + 1 for k in range(HORIZON)]
        pressure = sim.hazards.future_pressure(rng, R, t, months, HORIZON)[:, :, sim.v[idx]]
        due = sim.rec.due_matrix(idx, t, HORIZON)
        migrated = sim.migrated[idx]
        self.parts.append(
            {
                "g": sim.g[idx],
                "static": static.astype(np.float32),
                "s": sim.s[idx].astype(np.float32),
                "shock": sim.shock_rem[idx].astype(np.int8),
                "ep0": np.where(migrated, 0, np.minimum(sim.ep_rem[idx], 100)),
                "migrated": migrated,
                "deferred": sim.deferred[idx] & (sim.ep_rem[idx] > 0) & ~migrated,
                "resolve": np.where(migrated, sim.resolve_m[idx] - t, HORIZON),
                "age": sim.loan_age[idx],
                "month0": np.full(H, months[0]),
                "livestock": sim.rec.household_livestock(sim.n)[idx].astype(np.float32),
                "wave": np.full(H, t > 0 and sim.hazards.kind[t - 1] == "livestock_disease"),
                "due": due.T,
                "pressure": pressure.transpose(1, 0, 2).astype(np.float32),
                "keep": (
                    1
                    - sim.rec.household_misuse(sim.n)[idx] * MISUSE_FOUND * sim.cfg.inspection_rate
                )
                * (1 - sim.migration_rate()[idx]) ** (HORIZON - 1)
                * (1 - sim.cfg.one_off_late_rate) ** due.sum(axis=1),
                "peer": sim.peer.astype(np.float32),
                "contagion": sim.contagion.astype(np.float32),
            }
        )
        self.rows += H
        if self.rows >= CHUNK_ROWS:
            self._flush()

    def run(self) -> np.ndarray:
        """``P(trouble_12m)`` of every snapshot row, in the order the rows were given."""
        self._flush()
        return np.concatenate(self.done) if self.done else np.zeros(0)

    def _flush(self) -> None:
        if self.parts:
            self.done.append(self._forward(self.parts))
        self.parts, self.rows = [], 0

    def _forward(self, parts: list[dict[str, np.ndarray]]) -> np.ndarray:
        """Run the hidden processes of a chunk of snapshots forward; each snapshot is its own
        world (its own group states), keyed ``snapshot × groups``."""
        rng, cfg = self.sim.orng, self.sim.cfg
        x = {k: np.concatenate([p[k] for p in parts], axis=-1) for k in parts[0]}
        R, N, K = cfg.oracle_replicates, len(x["g"]), len(parts) * self.n_g
        f32 = np.float32
        key = (
            np.concatenate([np.full(len(p["g"]), j * self.n_g) for j, p in enumerate(parts)])
            + x["g"]
        )
        flat = (np.arange(R)[:, None] * K + key[None, :]).ravel()
        size = np.maximum(np.bincount(key, minlength=K), 1).astype(f32)
        peer = np.broadcast_to(x["peer"], (R, K)).copy()
        contagion = np.broadcast_to(x["contagion"], (R, K)).copy()
        due, ep0, migrated = x["due"], x["ep0"], x["migrated"]
        padded = np.concatenate([due, np.zeros((DEFERRED_EPISODE_MONTHS, N), dtype=bool)])
        s = np.broadcast_to(x["s"], (R, N)).copy()
        shock = np.broadcast_to(x["shock"], (R, N)).copy()
        ep = np.broadcast_to(ep0.astype(np.int16), (R, N)).copy()
        half_n = R - R // 2
        log_no = np.zeros((R, N), dtype=f32)
        for k in range(HORIZON):
            new = rng.random((R, N), dtype=f32) < cfg.shock_rate
            np.subtract(shock, 1, out=shock, where=shock > 0)
            shock[new] = rng.integers(2, 9, int(new.sum()))
            half = rng.standard_normal((half_n, N), dtype=f32) * f32(STRESS_SD)
            s = stress_step(s, np.concatenate([half, -half[: R // 2]]))  # antithetic pairs
            hz = x["pressure"][k]
            group = group_logit(cfg, contagion, peer)[:, key]
            month, age = (x["month0"] + k - 1) % 12 + 1, x["age"] + k
            hidden = (s, (shock > 0).astype(f32), hz, x["livestock"], x["wave"])
            p = onset_probability(cfg, x["static"], *hidden, group, month, age)
            counts = due[k] if k == HORIZON - 1 else np.ones(N, dtype=bool)
            counts = np.where(
                (hz > 0.3) & (shock == 0),
                padded[k : k + DEFERRED_EPISODE_MONTHS].any(axis=0),
                counts,
            )
            log_no += np.log1p(-p * (counts & (k >= ep0)))
            onset = (ep == 0) & ~migrated & (rng.random((R, N), dtype=f32) < p)
            ep[onset] = episode_length(rng, int(onset.sum()), shock[onset], hz[onset])
            contagion = (
                np.bincount(flat, weights=(ep > 0).ravel(), minlength=R * K).reshape(R, K) / size
            ).astype(f32)
            peer *= f32(cfg.peer_decay)
            peer += np.bincount(flat, weights=onset.ravel(), minlength=R * K).reshape(R, K)
            np.subtract(ep, 1, out=ep, where=ep > 0)
        p_none = np.exp(log_no.astype(np.float64)).mean(axis=0) * x["keep"]
        early = _settled_early(x)
        return np.where(
            _certain(x, early), 1.0, np.where(early, 1 - cfg.migration_repaid_prob, 1.0 - p_none)
        )


def _due_within(due: np.ndarray, months: np.ndarray) -> np.ndarray:
    """Whether an installment falls due in the first ``months`` months (per row) of the horizon."""
    cum = np.cumsum(due, axis=0)
    first = np.clip(np.minimum(months, HORIZON) - 1, 0, HORIZON - 1)
    return (months >= 1) & (cum[first, np.arange(due.shape[1])] > 0)


def _certain(x: dict[str, np.ndarray], settled_early: np.ndarray) -> np.ndarray:
    """Rows whose trouble is already decided at ``as_of`` (``settled_early``: the rows of
    :func:`_settled_early`, which are not).

    An episode of the household's own with two sessions left; one with a session left and an
    installment due now; a migrated borrower. An episode whose interest the bank defers after a
    disaster shows no unpaid session at all: it counts only when an installment falls due before
    it ends (the installment is then extended); otherwise its months count nothing and the
    forward hazard from its end applies (scoring it 1 put rows that reach the label half the time
    at the very top: calibration slope 0.59 on seed 11's test window).
    """
    due, ep0, deferred = x["due"], x["ep0"], x["deferred"]
    own = ((ep0 >= 2) | ((ep0 == 1) & due[0])) & ~deferred
    return own | (deferred & _due_within(due, ep0)) | (x["migrated"] & ~settled_early)


def _settled_early(x: dict[str, np.ndarray]) -> np.ndarray:
    """Migrated borrowers whose family settles within a month of ``as_of`` with no installment
    due before: the family repays everything with probability ``migration_repaid_prob`` before a
    second unpaid session (:meth:`CommuneSim._migrate`), so trouble is not certain."""
    return x["migrated"] & (x["resolve"] < 2) & ~_due_within(x["due"], x["resolve"])
