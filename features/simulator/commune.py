"""One commune's simulated months, from latent causes to the bank's records.

Every household carries hidden state the bank never sees: capacity, a stress process, personal
shocks (illness, death, fire), migration and misuse of the loan. Its group carries a persistent
random effect, a leader of good or weak quality, contagion (members in trouble) and a peer trigger
(recent onsets); its village a random effect and its share of the commune's hazard pressure. The
calendar and the loan's life cycle move the hazard too (:mod:`features.simulator.risk`). Each
month the true probability that a borrower *starts* a trouble episode is computed from these
causes and written to ``truth/`` with the state oracle's 12-month probability
(:mod:`features.simulator.oracle`); the episode then shows in the bank's tables as unpaid
interest, stopped savings, extensions, overdue installments or freezes — or, after a disaster,
as the bank's response: interest deferred and principal extended, then frozen.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import domain
from features.simulator import behaviour
from features.simulator.assemble import assemble
from features.simulator.exposure import CommuneHazards
from features.simulator.households import CommuneSetup, Households
from features.simulator.oracle import StateOracle
from features.simulator.risk import (
    STRESS_SD,
    episode_length,
    group_logit,
    onset_probability,
    static_logit,
    stress_step,
)

HAZARD_CAUSE = {
    "flood": "natural_disaster",
    "typhoon": "natural_disaster",
    "landslide": "natural_disaster",
    "drought": "natural_disaster",
    "livestock_disease": "livestock_disease",
    "epidemic": "epidemic",
}
DEFERRED_CAUSES = frozenset({"natural_disaster", "livestock_disease", "epidemic"})


class CommuneSim(Households):
    """Simulates one commune; :meth:`run` returns the commune's part of every table."""

    def __init__(self, setup: CommuneSetup, hazards: pd.DataFrame) -> None:
        super().__init__(setup)
        self.hazards = CommuneHazards(
            hazards, self.months, self.n_villages, bool(self.commune["is_remote"]), setup.rng(300)
        )
        self.hazard_kind = self.hazards.kind
        self.orng = setup.rng(500)
        n_g = len(self.groups)
        self.peer, self.contagion = np.zeros(n_g), np.zeros(n_g)
        self.deferred = np.zeros(self.n, dtype=bool)
        # the bank's own decisions (partial collection, write-offs): a stream of their own, so
        # that they leave the households' draws alone
        self.brng = setup.rng(600)
        self.write_offs: list[tuple[int, int, str]] = []  # (month, loan, cause)

    def migration_rate(self) -> np.ndarray:
        """Monthly chance a borrower leaves the locality (poorer households more often)."""
        return self.cfg.migration_rate * (1 + (self.c < -0.5))

    def run(self) -> dict[str, pd.DataFrame]:
        """Simulate every month and return the commune's tables (and ``truth``)."""
        cfg, rng, rec, n = self.cfg, self.rng, self.rec, self.n
        self.member = self.join_m <= 0
        self.init_leaders()
        self.initial_loans()
        rec.settle_past()
        n_g = len(self.groups)
        oracle = StateOracle(self)
        half_due, half_paid, collection = np.zeros(n_g), np.zeros(n_g), np.ones(n_g)
        growth = (1 + cfg.amount_growth) ** ((np.arange(self.T) - self.T + 1) / 12)
        for t in range(self.T):
            self.member = (self.join_m <= t) & (self.left_m < 0)
            mon = self.months[t].month
            if mon == 1 and t > 0:
                self.change_leaders(t, collection)
                behaviour.review_poverty(self, t)
            out_hh = rec.household_outstanding(n)
            has_loan = self.member & (out_hh > 0)
            self.loan_age = rec.household_loan_age(n, t)
            burden = out_hh / (np.maximum(self.workers, 1) * 60e6 * growth[t])
            static = static_logit(
                cfg,
                self.c,
                self.leader_weak[self.g],
                rec.household_misuse(n),
                burden,
                self.remote,
                self.effect,
                self.repaid_ok,
                rec.household_paid_share(n),
            )
            idx = np.flatnonzero(has_loan)
            oracle.snapshot(t, idx, static[idx])
            # latent processes
            new_shock = self.member & (rng.random(n) < cfg.shock_rate)
            self.shock_rem = np.where(
                new_shock, rng.integers(2, 9, n), np.maximum(self.shock_rem - 1, 0)
            )
            self.shock_cause = np.where(
                new_shock, rng.choice(SHOCK_CAUSES, n, p=SHOCK_P), self.shock_cause
            )
            self.s = stress_step(self.s, rng.normal(0, STRESS_SD, n))
            hz = self.hazards.pressure[t][self.v]
            livestock = rec.household_livestock(n), self.hazard_kind[t] == "livestock_disease"
            group = group_logit(cfg, self.contagion, self.peer)[self.g]
            p = onset_probability(
                cfg, static, self.s, self.shock_rem > 0, hz, *livestock, group, mon, self.loan_age
            )
            in_ep = self.ep_rem > 0
            rec.truth(idx, t, p, in_ep)
            onset = has_loan & ~in_ep & ~self.migrated & (rng.random(n) < p)
            self._start_episodes(onset, t, hz)
            self._migrate(has_loan & ~self.migrated, t)
            # interest session, principal, cures
            late = has_loan & (rng.random(n) < cfg.one_off_late_rate)
            paying = ~((self.ep_rem > 0) | late)
            due_g, paid_g = rec.interest_session(
                t, paying, self._partial_shares(), self.g, n_g, self.deferred & (self.ep_rem > 0)
            )
            half_due += due_g
            half_paid += paid_g
            self._installments(t, paying)
            self._write_offs(t)
            rec.cure_overdue(t, paying & (rng.random(n) < cfg.cure_prob_per_month))
            self.close_loans(t)
            self.new_loans(t)
            behaviour.savings(self, t)
            behaviour.inspections(self, t)
            ep_now = (self.ep_rem > 0) & ~self.migrated
            cnt = np.bincount(self.g, weights=has_loan, minlength=n_g)
            self.contagion = np.bincount(
                self.g, weights=has_loan & ep_now, minlength=n_g
            ) / np.maximum(cnt, 1)
            self.peer = self.peer * cfg.peer_decay + np.bincount(
                self.g, weights=onset, minlength=n_g
            )
            self.ep_rem = np.where(self.ep_rem > 0, self.ep_rem - 1, 0)
            if mon in (6, 12):
                collection = np.where(half_due > 0, half_paid / np.maximum(half_due, 1), 1.0).clip(
                    0, 1
                )
                behaviour.rate_groups(self, t, collection)
                half_due[:], half_paid[:] = 0, 0
            behaviour.leave(self, t)
        rec.truth_rows.cols["p12"][: rec.truth_rows.n] = oracle.run()
        return assemble(rec, self)

    def _start_episodes(self, onset: np.ndarray, t: int, hz: np.ndarray) -> None:
        """New episodes with their length and cause; the bank defers interest after a disaster."""
        dur = episode_length(self.rng, self.n, self.shock_rem, hz)
        kind = self.hazard_kind[t]
        disaster = HAZARD_CAUSE.get(kind, "natural_disaster") if kind else "natural_disaster"
        cause = np.where(
            self.shock_rem > 0,
            self.shock_cause,
            np.where(
                hz > 0.3,
                disaster,
                np.where(self.rec.household_misuse(self.n) > 0, "misuse", "low_income"),
            ),
        )
        self.ep_rem = np.where(onset, dur, self.ep_rem)
        self.ep_cause = np.where(onset, cause, self.ep_cause)
        defer = onset & np.isin(cause, list(DEFERRED_CAUSES))
        self.deferred = np.where(onset, defer, self.deferred)
        for h in np.flatnonzero(defer):
            self.rec.defer_interest(int(h), t, str(cause[h]))

    def _partial_shares(self) -> np.ndarray:
        """Share of the month's interest each household pays if it cannot pay it all (0 for a
        migrated borrower)."""
        cfg, n = self.cfg, self.n
        part = self.brng.random(n) < cfg.partial_pay_prob
        share = np.where(part, self.brng.uniform(*cfg.partial_pay_share, n), 0.0)
        return np.where(self.migrated, 0.0, share)

    def _freeze(self, i: int, t: int, cause: str) -> None:
        """Freeze installment ``i``'s loan; decide now whether (and when) it is written off."""
        cfg = self.cfg
        self.rec.freeze_loan(i, t, cause)
        prob = cfg.write_off_prob_death if cause == "death" else cfg.write_off_prob_objective
        if self.brng.random() < prob:
            li = int(self.rec.inst.cols["loan"][i])
            self.write_offs.append((t + int(self.brng.integers(12, 37)), li, cause))

    def _write_offs(self, t: int) -> None:
        for when, li, cause in self.write_offs:
            if when == t:
                self.rec.write_off(li, t, cause)

    def _migrate(self, eligible: np.ndarray, t: int) -> None:
        mig = eligible & (self.rng.random(self.n) < self.migration_rate())
        for h in np.flatnonzero(mig):
            self.migrated[h] = True
            self.ep_rem[h] = 10_000
            self.ep_cause[h] = "migration"
            self.deferred[h] = False
            self.resolve_m[h] = t + int(self.rng.integers(4, 13))
        for h in np.flatnonzero(self.migrated & (self.resolve_m == t)):
            if self.rng.random() < self.cfg.migration_repaid_prob:  # family repays everything
                self.ep_rem[h] = 0
                self.rec.repay_all(h, t)
                self.left_m[h] = t
            else:  # pursued by the group and the commune: settled later
                self.resolve_m[h] = t + int(self.rng.integers(12, 25))

    def _installments(self, t: int, paying: np.ndarray) -> None:
        """Due installments: paid, or extended (objective causes always, once; others by the
        office's extension practice), then frozen after an objective cause, else overdue."""
        rng, cfg = self.rng, self.cfg
        for i in self.rec.due_installments(t):
            if not self.rec.inst_pending(i):  # its loan was frozen a moment ago
                continue
            h = self.rec.inst_household(i)
            if paying[h]:
                self.rec.pay_installment(i, t)
                continue
            cause = str(self.ep_cause[h])
            objective = cause in domain.OBJECTIVE_CAUSES
            first = self.rec.inst_extensions(i) == 0
            if cause == "death" and rng.random() < cfg.freeze_prob_death:
                self._freeze(i, t, cause)
            elif (
                not self.migrated[h]
                and first
                and (objective or rng.random() < cfg.extension_prob_subjective)
            ):
                self.rec.extend(i, t, int(rng.choice([6, 12], p=[0.7, 0.3])), cause)
            elif objective and not first and rng.random() < cfg.freeze_prob_objective:
                self._freeze(i, t, cause)
            else:
                self.rec.mark_overdue(i, t, cause)


SHOCK_CAUSES = np.array(["illness", "death", "fire", "low_income"])
SHOCK_P = [0.6, 0.1, 0.05, 0.25]
