"""A commune's members, their hidden traits, their group leaders and their loans.

:class:`Households` draws who the members are (group, join month, capacity, size, workers,
poverty, savings habit, pseudonymous id), the persistent group and village effects, and keeps the
state that changes over the years (leaders, loans, repayment record); the monthly dynamics are in
:class:`features.simulator.commune.CommuneSim`, which extends it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features import domain
from features.simulator.config import SimConfig
from features.simulator.lending import (
    HARVEST_PURPOSES,
    PROGRAM_CODES,
    SECOND,
    SECOND_P,
    P,
    after_harvest,
    choose_program,
    loan_terms,
    schedule,
)
from features.simulator.records import Recorder
from features.simulator.risk import random_effect, sigmoid

ETHNIC_MINORITIES = ["Vân Kiều", "Pa Kô", "Tà Ôi"]


@dataclass(frozen=True, eq=False)  # eq=False: frames have no truth value to compare
class CommuneSetup:
    """What one commune's simulation starts from: the district's draws that concern it.

    Attributes:
        cfg: Simulation parameters.
        index: The commune's position in the district (numbers its random streams).
        commune: Its row of the ``communes`` table.
        groups: Its rows of the ``groups`` table.
        months: The simulated months.
        members_per_group: Mean members a group ends with.
        pii_key: Key of the pseudonymous household ids.
    """

    cfg: SimConfig
    index: int
    commune: pd.Series
    groups: pd.DataFrame
    months: pd.DatetimeIndex
    members_per_group: float
    pii_key: bytes

    def rng(self, stream: int) -> np.random.Generator:
        """The commune's random stream ``stream`` (100 households, 300 hazards, 400 effects,
        500 the oracle, 600 the bank): each cause draws from its own, so a change to one
        leaves the others' draws, and the other communes', alone."""
        return np.random.default_rng([self.cfg.seed, stream + self.index])


class Households:
    """Members of one commune's groups and their loans."""

    def __init__(self, setup: CommuneSetup) -> None:
        cfg, commune, months = setup.cfg, setup.commune, setup.months
        self.cfg, self.commune, self.months = cfg, commune, months
        self.rng = setup.rng(100)
        self.groups = setup.groups.reset_index(drop=True)
        self.T = len(months)
        self.day = int(commune["transaction_day"])
        self.remote = float(commune["is_remote"])
        self.rec = Recorder(str(commune["commune_id"]), months, self.day)
        self._draw(setup.members_per_group, setup.pii_key)
        villages = pd.Index(pd.unique(self.groups["village_id"]))
        self.n_villages = len(villages)
        self.v = villages.get_indexer(self.groups["village_id"])[self.g]
        erng = setup.rng(400)
        group_effect = random_effect(erng, cfg.group_effect_sd, len(self.groups))
        village_effect = random_effect(erng, cfg.village_effect_sd, len(villages))
        self.effect = group_effect[self.g] + village_effect[self.v]

    def _draw(self, members_per_group: float, pii_key: bytes) -> None:
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
        order = np.lexsort(
            (np.arange(n), self.join_m, self.g)
        )  # the register: by group, then joining
        starts = np.searchsorted(self.g[order], self.g[order], side="left")
        self.member_no = np.empty(n, dtype=np.int64)
        self.member_no[order] = np.arange(n) - starts + 1
        self.minority = rng.random(n) < 0.8
        self.c = rng.normal(0, 1, n) - 0.2 * self.minority
        self.size = np.clip(2 + rng.poisson(2.5, n), 1, 12)
        self.workers = np.clip(rng.binomial(self.size, 0.4 + 0.15 * sigmoid(self.c)), 1, self.size)
        z = self.c + rng.normal(0, 0.5, n)
        self.poverty = np.digitize(z, [-0.35, 0.35, 0.8])  # 0 poor .. 3 other_policy
        self.save_level = np.clip(
            np.round(np.exp(rng.normal(np.log(60_000) + 0.4 * self.c, 0.5)) / 5000) * 5000,
            20_000,
            500_000,
        )
        self.save_habit = rng.normal(
            0, 0.8, n
        )  # how regularly a household deposits, whatever its stress
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
        self.repaid_ok = np.zeros(n)  # loans repaid without arrears, extension or overdue
        self.loan_age = np.full(n, 120, dtype=np.int64)
        for h in range(n):
            self.rec.poverty(h, int(self.join_m[h]), int(self.poverty[h]))

    # ------------------------------------------------------------------ leaders
    def init_leaders(self) -> None:
        """A leader for every group at its founding (weak with ``weak_leader_rate``)."""
        n_g = len(self.groups)
        self.leader_weak = self.rng.random(n_g) < self.cfg.weak_leader_rate
        self.leader = np.full(n_g, -1, dtype=np.int64)
        for gi in range(n_g):
            members = np.flatnonzero((self.g == gi) & (self.join_m <= 0))
            if members.size == 0:
                members = np.flatnonzero(self.g == gi)
            self.leader[gi] = int(self.rng.choice(members))
            self.rec.leader_start(gi, self.groups.at[gi, "founded_date"], self.leader[gi])

    def change_leaders(self, t: int, collection: np.ndarray) -> None:
        """Yearly leader changes; weak leaders of groups collecting badly go more often."""
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
    def originate(self, h: int, t: int, prog: int) -> int:
        """Book a new loan of program ``prog`` for household ``h`` in month ``t``."""
        cfg, rng = self.cfg, self.rng
        amount, term, grace, rate, purpose = loan_terms(
            rng,
            prog,
            (t - self.T + 1) / 12,
            int(self.workers[h]),
            float(self.c[h]),
            bool(self.minority[h]),
            cfg.amount_growth,
            cfg.loan_size_scale,
        )
        weak = self.leader_weak[self.g[h]]
        misuse = rng.random() < cfg.misuse_rate * (2.5 if weak else 1) * (
            1.5 if self.c[h] < -1 else 1
        )
        offsets, principal = schedule(amount, term, grace, PROGRAM_CODES[prog])
        if purpose in HARVEST_PURPOSES:
            offsets = after_harvest(offsets, (self.months[0].month - 1 + t) % 12 + 1, term, grace)
        return self.rec.loan(
            h,
            t,
            prog,
            purpose,
            amount,
            rate,
            term,
            grace,
            misuse,
            offsets,
            principal,
            int(rng.integers(10, 40)),
        )

    def initial_loans(self) -> None:
        """Loans already running at the first simulated month."""
        for h in np.flatnonzero(self.join_m < 0):
            if self.rng.random() < 0.85:
                prog = choose_program(self.rng, int(self.poverty[h]), bool(self.minority[h]))
                long = PROGRAM_CODES[prog] in ("housing", "student", "ethnic_minority_land")
                term_guess = 100 if long else 48
                disb = -int(self.rng.integers(1, min(term_guess, max(2, -self.join_m[h] + 1))))
                self.main_loan[h] = self.originate(h, disb, prog)

    def close_loans(self, t: int) -> None:
        """Close fully repaid loans; a clean repayment record makes the household safer."""
        freed, clean = self.rec.close_paid_loans(t)
        np.add.at(self.repaid_ok, self.rec.loans.cols["hh"][freed[clean]], 1)
        for col in (self.main_loan, self.water_loan, self.second_loan):
            col[np.isin(col, freed)] = -1

    def new_loans(self, t: int) -> None:
        """New main, water and second-program loans of members not in trouble."""
        rng, cfg = self.rng, self.cfg
        ok = self.member & (self.ep_rem == 0) & ~self.migrated & (self.join_m < t)
        for h in np.flatnonzero(
            ok & (self.main_loan < 0) & (rng.random(self.n) < cfg.new_loan_rate)
        ):
            prog = choose_program(rng, int(self.poverty[h]), bool(self.minority[h]))
            self.main_loan[h] = self.originate(h, t, prog)
        water = (
            ok
            & (self.water_loan < 0)
            & ~self.had_water
            & (rng.random(self.n) < cfg.water_loan_rate)
        )
        for h in np.flatnonzero(water):
            self.water_loan[h] = self.originate(h, t, P["clean_water"])
            self.had_water[h] = True
        ok2 = ok & (self.main_loan >= 0) & (self.second_loan < 0) & (self.c > -1.2)
        for h in np.flatnonzero(ok2 & (rng.random(self.n) < cfg.second_loan_rate)):
            prog = int(rng.choice(SECOND, p=SECOND_P))
            if prog != int(self.rec.loans.cols["prog"][self.main_loan[h]]):
                self.second_loan[h] = self.originate(h, t, prog)
