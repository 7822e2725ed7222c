"""One commune's ten years, month by month, from latent causes to the bank's records.

Every household carries hidden state the bank never sees: capacity, a stress process, personal
shocks (illness, death, fire), migration and misuse of the loan. The commune carries hazard
pressure (floods, typhoons, livestock disease) and every group a leader of good or weak quality,
with contagion: members' trouble raises the others'. Each month the true probability that a
borrower *starts* a trouble episode is computed from these causes (and written to ``truth/``);
the episode then shows in the bank's tables as unpaid interest, stopped savings, extensions,
overdue installments or freezes. Only the bank's records are written to the bank's tables.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import domain
from features.simulator.config import SimConfig
from features.simulator.lending import (
    PROGRAM_CODES,
    SECOND,
    SECOND_P,
    P,
    choose_program,
    loan_terms,
    schedule,
)
from features.simulator.records import Recorder

HAZARD_CAUSE = {"flood": "natural_disaster", "typhoon": "natural_disaster", "landslide": "natural_disaster",
                "drought": "natural_disaster", "livestock_disease": "livestock_disease", "epidemic": "epidemic"}  # fmt: skip
SHOCK_CAUSES = np.array(["illness", "death", "fire", "low_income"])
SHOCK_P = [0.6, 0.1, 0.05, 0.25]
ETHNIC_MINORITIES = ["Vân Kiều", "Pa Kô", "Tà Ôi"]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class CommuneSim:
    """Simulates one commune; :meth:`run` returns the commune's part of every table."""

    def __init__(self, cfg: SimConfig, index: int, commune: pd.Series, groups: pd.DataFrame,
                 months: pd.DatetimeIndex, pressure: np.ndarray, hazard_kind: list[str],
                 members_per_group: float, pii_key: bytes) -> None:  # fmt: skip
        self.cfg, self.commune, self.months = cfg, commune, months
        self.rng = np.random.default_rng([cfg.seed, 100 + index])
        self.pressure, self.hazard_kind = pressure, hazard_kind
        self.groups = groups.reset_index(drop=True)
        self.T = len(months)
        self.day = int(commune["transaction_day"])
        self.remote = float(commune["is_remote"])
        self.rec = Recorder(str(commune["commune_id"]), months, self.day)
        self._draw_households(members_per_group, pii_key)

    # ------------------------------------------------------------------ households
    def _draw_households(self, members_per_group: float, pii_key: bytes) -> None:
        rng, cfg = self.rng, self.cfg
        years = self.T / 12
        g_idx, join = [], []
        for g, founded in enumerate(self.groups["founded_date"]):
            m_end = max(5, rng.poisson(members_per_group))
            m0 = max(3, round(m_end / (1 + cfg.member_growth) ** years))
            joiners = max(0, m_end - m0) + rng.poisson(0.22 * m_end)
            f = int((founded.to_period("M") - self.months[0].to_period("M")).n)
            g_idx += [g] * (m0 + joiners)
            join += list(rng.integers(min(f, -1) + 0, 0, m0) if f < 0 else np.full(m0, f))
            join += list(rng.integers(0, self.T, joiners))
        self.g = np.array(g_idx)
        self.join_m = np.array(join, dtype=np.int64)
        n = self.n = len(self.g)
        self.minority = rng.random(n) < 0.8
        self.c = rng.normal(0, 1, n) - 0.2 * self.minority
        self.size = np.clip(2 + rng.poisson(2.5, n), 1, 12)
        self.workers = np.clip(rng.binomial(self.size, 0.4 + 0.15 * _sigmoid(self.c)), 1, self.size)
        z = self.c + rng.normal(0, 0.5, n)
        self.poverty = np.digitize(z, [-0.35, 0.35, 0.8])  # 0 poor .. 3 other_policy
        self.save_level = np.clip(np.round(np.exp(rng.normal(np.log(60_000) + 0.4 * self.c, 0.5)) / 5000) * 5000, 20_000, 500_000)  # fmt: skip
        nat_ids = rng.integers(10**11, 10**12, n)
        self.hh_id = np.array([domain.pseudonym(f"{x:012d}", pii_key) for x in nat_ids])
        self.ethnicity = np.where(self.minority, rng.choice(ETHNIC_MINORITIES, n), "Kinh")
        # hidden state
        self.s = rng.normal(0, 0.4, n)
        self.shock_rem = np.zeros(n, dtype=np.int64)
        self.shock_cause = np.full(n, "low_income", dtype=object)
        self.ep_rem = np.zeros(n, dtype=np.int64)
        self.ep_cause = np.full(n, "low_income", dtype=object)
        self.migrated = np.zeros(n, dtype=bool)
        self.resolve_m = np.full(n, -1, dtype=np.int64)
        self.left_m = np.full(n, -1, dtype=np.int64)
        self.balance = np.zeros(n, dtype=np.int64)
        self.main_loan = np.full(n, -1, dtype=np.int64)
        self.water_loan = np.full(n, -1, dtype=np.int64)
        self.second_loan = np.full(n, -1, dtype=np.int64)
        self.had_water = np.zeros(n, dtype=bool)
        for h in range(n):
            self.rec.poverty(h, int(self.join_m[h]), int(self.poverty[h]))

    # ------------------------------------------------------------------ leaders
    def _init_leaders(self) -> None:
        n_g = len(self.groups)
        self.leader_weak = self.rng.random(n_g) < self.cfg.weak_leader_rate
        self.leader = np.full(n_g, -1, dtype=np.int64)
        for gi in range(n_g):
            members = np.flatnonzero((self.g == gi) & (self.join_m <= 0))
            if members.size == 0:
                members = np.flatnonzero(self.g == gi)
            self.leader[gi] = int(self.rng.choice(members))
            self.rec.leader_start(gi, self.groups.at[gi, "founded_date"], self.leader[gi])

    def _change_leaders(self, t: int, collection: np.ndarray) -> None:
        rate = self.cfg.leader_change_rate * np.where(
            self.leader_weak & (collection < 0.95), 5.0, 1.0
        )
        for gi in np.flatnonzero(self.rng.random(len(rate)) < rate):
            members = np.flatnonzero(
                (self.g == gi) & self.member & (np.arange(self.n) != self.leader[gi])
            )
            if members.size == 0:
                continue
            self.rec.leader_end(gi, t)
            self.leader[gi] = int(self.rng.choice(members))
            self.leader_weak[gi] = self.rng.random() < self.cfg.weak_leader_rate
            self.rec.leader_start(gi, None, self.leader[gi], t)

    # ------------------------------------------------------------------ loans
    def _originate(self, h: int, t: int, prog: int) -> int:
        cfg, rng = self.cfg, self.rng
        amount, term, grace, rate, purpose = loan_terms(
            rng, prog, (t - self.T + 1) / 12, int(self.workers[h]), float(self.c[h]), bool(self.minority[h]),
            cfg.amount_growth,
        )  # fmt: skip
        misuse = rng.random() < cfg.misuse_rate * (2.5 if self.leader_weak[self.g[h]] else 1) * (
            1.5 if self.c[h] < -1 else 1
        )
        offsets, principal = schedule(amount, term, grace, PROGRAM_CODES[prog])
        return self.rec.loan(h, t, prog, purpose, amount, rate, term, grace, misuse, offsets, principal,
                             int(rng.integers(10, 40)))  # fmt: skip

    def _initial_loans(self) -> None:
        for h in np.flatnonzero(self.join_m < 0):
            if self.rng.random() < 0.85:
                prog = choose_program(self.rng, int(self.poverty[h]), bool(self.minority[h]))
                term_guess = (
                    48
                    if PROGRAM_CODES[prog] not in ("housing", "student", "ethnic_minority_land")
                    else 100
                )
                disb = -int(self.rng.integers(1, min(term_guess, max(2, -self.join_m[h] + 1))))
                self.main_loan[h] = self._originate(h, disb, prog)

    # ------------------------------------------------------------------ month step
    def run(self) -> dict[str, pd.DataFrame]:
        """Simulate every month and return the commune's tables (and ``truth``)."""
        cfg, rng, rec, n = self.cfg, self.rng, self.rec, self.n
        self.member = self.join_m <= 0
        self._init_leaders()
        self._initial_loans()
        rec.settle_past()
        contagion = np.zeros(len(self.groups))
        half_due = np.zeros(len(self.groups))
        half_paid = np.zeros(len(self.groups))
        collection = np.ones(len(self.groups))
        growth = (1 + cfg.amount_growth) ** ((np.arange(self.T) - self.T + 1) / 12)
        for t in range(self.T):
            self.member = (self.join_m <= t) & (self.left_m < 0)
            mon = self.months[t].month
            if mon == 1 and t > 0:
                self._change_leaders(t, collection)
                self._review_poverty(t)
            # latent processes
            new_shock = self.member & (rng.random(n) < cfg.shock_rate)
            self.shock_rem = np.where(
                new_shock, rng.integers(2, 9, n), np.maximum(self.shock_rem - 1, 0)
            )
            self.shock_cause = np.where(
                new_shock, rng.choice(SHOCK_CAUSES, n, p=SHOCK_P), self.shock_cause
            )
            self.s = 0.85 * self.s + rng.normal(0, 0.3, n)
            hz = self.pressure[t]
            out_hh = rec.household_outstanding(n)
            has_loan = self.member & (out_hh > 0)
            in_ep = self.ep_rem > 0
            burden = out_hh / (np.maximum(self.workers, 1) * 60e6 * growth[t])
            misuse = rec.household_misuse(n)
            weak = self.leader_weak[self.g]
            z = (cfg.base_logit - cfg.w_capacity * self.c + cfg.w_stress * self.s + 2.2 * (self.shock_rem > 0)
                 + cfg.w_hazard * hz * (1 + 0.5 * rec.household_livestock(n) * (self.hazard_kind[t] == "livestock_disease"))
                 + cfg.w_weak_leader * weak + cfg.w_contagion * contagion[self.g] + cfg.w_misuse * misuse
                 + cfg.w_burden * np.minimum(burden, 3) + cfg.w_remote * self.remote)  # fmt: skip
            p = _sigmoid(z)
            rec.truth(np.flatnonzero(has_loan), t, p, in_ep)
            onset = has_loan & ~in_ep & ~self.migrated & (rng.random(n) < p)
            self._start_episodes(onset, t, hz)
            self._migrate(has_loan & ~self.migrated, t)
            # interest session, principal, cures
            late = has_loan & (rng.random(n) < cfg.one_off_late_rate)
            paying = ~((self.ep_rem > 0) | late)
            due_g, paid_g = rec.interest_session(t, paying, self.g, len(self.groups))
            half_due += due_g
            half_paid += paid_g
            self._installments(t, paying)
            rec.cure_overdue(t, paying & (rng.random(n) < cfg.cure_prob_per_month))
            freed = rec.close_paid_loans(t)
            self.main_loan[np.isin(self.main_loan, freed)] = -1
            self.water_loan[np.isin(self.water_loan, freed)] = -1
            self.second_loan[np.isin(self.second_loan, freed)] = -1
            self._new_loans(t)
            self._savings(t)
            self._inspections(t)
            ep_now = (self.ep_rem > 0) & ~self.migrated
            cnt = np.bincount(self.g, weights=has_loan, minlength=len(self.groups))
            contagion = np.bincount(
                self.g, weights=has_loan & ep_now, minlength=len(self.groups)
            ) / np.maximum(cnt, 1)
            contagion = np.minimum(contagion, 0.5)
            self.ep_rem = np.where(self.ep_rem > 0, self.ep_rem - 1, 0)
            if mon in (6, 12):
                collection = np.where(half_due > 0, half_paid / np.maximum(half_due, 1), 1.0).clip(
                    0, 1
                )
                self._rate_groups(t, collection)
                half_due[:], half_paid[:] = 0, 0
            self._leave(t)
        return rec.tables(self)

    def _start_episodes(self, onset: np.ndarray, t: int, hz: float) -> None:
        rng = self.rng
        dur = 2 + rng.geometric(0.6, self.n) - 1
        dur = dur + np.where(self.shock_rem > 0, self.shock_rem // 2, 0) + (hz > 0.3) * 2
        cause = np.where(self.shock_rem > 0, self.shock_cause,
                         np.where(hz > 0.3, HAZARD_CAUSE.get(self.hazard_kind[t], "natural_disaster") if self.hazard_kind[t] else "natural_disaster",
                                  np.where(self.rec.household_misuse(self.n) > 0, "misuse", "low_income")))  # fmt: skip
        self.ep_rem = np.where(onset, dur, self.ep_rem)
        self.ep_cause = np.where(onset, cause, self.ep_cause)

    def _migrate(self, eligible: np.ndarray, t: int) -> None:
        rate = self.cfg.migration_rate * (1 + (self.c < -0.5))
        mig = eligible & (self.rng.random(self.n) < rate)
        for h in np.flatnonzero(mig):
            self.migrated[h] = True
            self.ep_rem[h] = 10_000
            self.ep_cause[h] = "migration"
            self.resolve_m[h] = t + int(self.rng.integers(4, 13))
        for h in np.flatnonzero(self.migrated & (self.resolve_m == t)):
            if self.rng.random() < self.cfg.migration_repaid_prob:  # family repays everything
                self.ep_rem[h] = 0
                self.rec.repay_all(h, t)
                self.left_m[h] = t
            else:  # pursued by the group and the commune: settled later
                self.resolve_m[h] = t + int(self.rng.integers(12, 25))

    def _installments(self, t: int, paying: np.ndarray) -> None:
        rng, cfg = self.rng, self.cfg
        for i in self.rec.due_installments(t):
            h = self.rec.inst_household(i)
            if paying[h]:
                self.rec.pay_installment(i, t)
                continue
            cause = str(self.ep_cause[h])
            objective = cause in domain.OBJECTIVE_CAUSES
            if cause == "death" and rng.random() < cfg.freeze_prob_death:
                self.rec.freeze_loan(i, t, cause)
            elif (not self.migrated[h] and self.rec.inst_extensions(i) == 0
                  and (objective or rng.random() < cfg.extension_prob_subjective)):  # fmt: skip
                self.rec.extend(i, t, int(rng.choice([6, 12], p=[0.7, 0.3])), cause)
            else:
                self.rec.mark_overdue(i, t, cause)

    def _new_loans(self, t: int) -> None:
        rng, cfg = self.rng, self.cfg
        ok = self.member & (self.ep_rem == 0) & ~self.migrated & (self.join_m < t)
        for h in np.flatnonzero(
            ok & (self.main_loan < 0) & (rng.random(self.n) < cfg.new_loan_rate)
        ):
            prog = choose_program(rng, int(self.poverty[h]), bool(self.minority[h]))
            self.main_loan[h] = self._originate(h, t, prog)
        for h in np.flatnonzero(
            ok
            & (self.water_loan < 0)
            & ~self.had_water
            & (rng.random(self.n) < cfg.water_loan_rate)
        ):
            self.water_loan[h] = self._originate(h, t, P["clean_water"])
            self.had_water[h] = True
        ok2 = ok & (self.main_loan >= 0) & (self.second_loan < 0) & (self.c > -1.2)
        for h in np.flatnonzero(ok2 & (rng.random(self.n) < cfg.second_loan_rate)):
            prog = int(rng.choice(SECOND, p=SECOND_P))
            if prog != int(self.rec.loans.cols["prog"][self.main_loan[h]]):
                self.second_loan[h] = self._originate(h, t, prog)

    def _savings(self, t: int) -> None:
        rng = self.rng
        p_dep = _sigmoid(
            2.8 - 1.6 * self.s - 2.0 * (self.shock_rem > 0) - 4.0 * (self.ep_rem > 0) + 0.3 * self.c
        )
        dep = self.member & ~self.migrated & (rng.random(self.n) < p_dep)
        self.balance[dep] += self.save_level[dep].astype(np.int64)
        self.rec.savings(
            np.flatnonzero(dep),
            t,
            "deposit",
            self.save_level[dep].astype(np.int64),
            self.balance[dep],
        )
        wd = self.member & (self.balance >= 100_000) & (rng.random(self.n) < 0.01)
        amt = (self.balance[wd] // 2 // 1000 * 1000).astype(np.int64)
        self.balance[wd] -= amt
        self.rec.savings(np.flatnonzero(wd), t, "withdrawal", amt, self.balance[wd])

    def _inspections(self, t: int) -> None:
        rng, cfg = self.rng, self.cfg
        borrowers = np.flatnonzero(self.member & ((self.main_loan >= 0) | (self.water_loan >= 0)))
        if borrowers.size == 0:
            return
        k = rng.binomial(borrowers.size, cfg.inspection_rate / 12)
        if k == 0:
            return
        k_rand = rng.binomial(k, cfg.random_visit_share)
        w = (
            1.0
            + 2.0 * (self.ep_rem[borrowers] > 0)
            + 2.0 * self.rec.recent_disbursement(borrowers, t)
        )
        routine = rng.choice(
            borrowers, size=min(k - k_rand, borrowers.size), replace=False, p=w / w.sum()
        )
        rest = np.setdiff1d(borrowers, routine)
        random_ = rng.choice(rest, size=min(k_rand, rest.size), replace=False)
        for sel, hs in (("routine", routine), ("random", random_)):
            for h in hs:
                loan = int(self.main_loan[h] if self.main_loan[h] >= 0 else self.water_loan[h])
                mis = self.rec.loan_misuse(loan)
                u = rng.random()
                use = (
                    "misuse"
                    if mis and u < 0.85
                    else ("partial" if u < (0.5 if mis else 0.06) else "correct")
                )
                present = (not self.migrated[h]) and rng.random() < 0.95
                records_ok = rng.random() < (0.7 if self.leader_weak[self.g[h]] else 0.97)
                self.rec.inspection(
                    h, loan, t, sel, use, present, bool(self.migrated[h]), records_ok
                )

    def _rate_groups(self, t: int, collection: np.ndarray) -> None:
        overdue, outstanding = self.rec.group_overdue(self.g, len(self.groups))
        ratio = np.where(outstanding > 0, overdue / np.maximum(outstanding, 1), 0.0).clip(0, 1)
        weak = (ratio > 0.04) | (collection < 0.8) | (self.leader_weak & (collection < 0.9))
        good = (collection >= 0.95) & (ratio < 0.01) & ~self.leader_weak
        fair = (collection >= 0.9) & (ratio < 0.02)
        rating = np.where(weak, "weak", np.where(good, "good", np.where(fair, "fair", "average")))
        self.rec.ratings(t, rating, collection, ratio)

    def _review_poverty(self, t: int) -> None:
        rng = self.rng
        u = rng.random(self.n)
        up = _sigmoid(self.c - 1.0 - 0.5 * (self.shock_rem > 0)) * 0.35
        new = self.poverty.copy()
        new[(self.poverty == 0) & (u < up)] = 2
        new[(self.poverty == 1) & (u < up)] = 3
        new[(self.poverty == 2) & (u < 0.25)] = 3
        fall = (self.poverty >= 1) & (u > 1 - 0.02 - 0.1 * (self.shock_rem > 0))
        new[fall] = 0
        for h in np.flatnonzero((new != self.poverty) & self.member & (self.join_m < t)):
            self.rec.poverty(h, t, int(new[h]))
        self.poverty = np.where(self.member, new, self.poverty)

    def _leave(self, t: int) -> None:
        idle = self.member & (self.main_loan < 0) & (self.water_loan < 0) & (self.second_loan < 0)
        idle &= (self.ep_rem == 0) & (self.join_m < t)
        for h in np.flatnonzero(idle & (self.rng.random(self.n) < self.cfg.leave_rate_idle)):
            self.left_m[h] = t
            if self.balance[h] > 0:
                self.rec.savings(
                    np.array([h]), t, "withdrawal", np.array([self.balance[h]]), np.array([0])
                )
                self.balance[h] = 0
