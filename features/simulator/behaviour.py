"""What members and officers do each month besides borrowing: savings, inspections, ratings,
poverty reviews, leaving the group.

Savings follow the calendar (more after harvests, less before Tết and in the lean months) and
each household's own habit, and signal stress only noisily, as real savings do. Group ratings
are what a rating officer can see — interest collected, overdue debt, and the state of the
group's records and meetings at the review — never the leader's hidden quality.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from features.simulator.risk import DEPOSIT_AMOUNT, DEPOSIT_SEASON, WITHDRAWAL_RATE, sigmoid

if TYPE_CHECKING:
    from features.simulator.households import Households as CommuneSim  # no import cycle

RECORDS_OK = {
    False: 0.975,
    True: 0.55,
}  # records and meetings in order at a review, by leader weakness
# A good group collects nearly all its interest: with partial payments of members in trouble
# a half-year under 97 % means several members in arrears for months (calibrated so that about
# 90 % of groups are rated good, DOMAIN.md: 85–96 %).
GOOD_COLLECTION = 0.97


def savings(sim: CommuneSim, t: int) -> None:
    """The month's deposits and withdrawals."""
    rng, n, mon = sim.rng, sim.n, sim.months[t].month
    p_dep = sigmoid(
        2.2
        + sim.save_habit
        + DEPOSIT_SEASON[mon - 1]
        - 0.9 * sim.s
        - 1.5 * (sim.shock_rem > 0)
        - 3.0 * (sim.ep_rem > 0)
        + 0.3 * sim.c
    )
    dep = sim.member & ~sim.migrated & (rng.random(n) < p_dep)
    noise = np.exp(rng.normal(0, 0.35, n)) * DEPOSIT_AMOUNT[mon - 1]
    amount = np.maximum(np.round(sim.save_level * noise / 5000) * 5000, 5000).astype(np.int64)
    sim.balance[dep] += amount[dep]
    sim.rec.savings(np.flatnonzero(dep), t, "deposit", amount[dep], sim.balance[dep])
    rate = WITHDRAWAL_RATE[mon - 1] * (1 + 2.0 * (sim.shock_rem > 0))
    wd = sim.member & (sim.balance >= 100_000) & (rng.random(n) < rate)
    share = rng.uniform(0.2, 0.8, n)
    amt = (sim.balance[wd] * share[wd] // 1000 * 1000).astype(np.int64)
    keep = amt > 0
    wd_idx = np.flatnonzero(wd)[keep]
    sim.balance[wd_idx] -= amt[keep]
    sim.rec.savings(wd_idx, t, "withdrawal", amt[keep], sim.balance[wd_idx])


def inspections(sim: CommuneSim, t: int) -> None:
    """Routine (targeted at visible trouble and recent loans) and random inspection visits."""
    rng, cfg = sim.rng, sim.cfg
    borrowers = np.flatnonzero(sim.member & ((sim.main_loan >= 0) | (sim.water_loan >= 0)))
    if borrowers.size == 0:
        return
    k = rng.binomial(borrowers.size, cfg.inspection_rate / 12)
    if k == 0:
        return
    k_rand = rng.binomial(k, cfg.random_visit_share)
    w = 1.0 + 2.0 * (sim.ep_rem[borrowers] > 0) + 2.0 * sim.rec.recent_disbursement(borrowers, t)
    routine = rng.choice(
        borrowers, size=min(k - k_rand, borrowers.size), replace=False, p=w / w.sum()
    )
    rest = np.setdiff1d(borrowers, routine)
    random_ = rng.choice(rest, size=min(k_rand, rest.size), replace=False)
    for sel, hs in (("routine", routine), ("random", random_)):
        for h in hs:
            loan = int(sim.main_loan[h] if sim.main_loan[h] >= 0 else sim.water_loan[h])
            mis = sim.rec.loan_misuse(loan)
            u = rng.random()
            use = (
                "misuse"
                if mis and u < 0.85
                else ("partial" if u < (0.5 if mis else 0.06) else "correct")
            )
            present = (not sim.migrated[h]) and rng.random() < 0.95
            records_ok = rng.random() < (0.7 if sim.leader_weak[sim.g[h]] else 0.97)
            sim.rec.inspection(h, loan, t, sel, use, present, bool(sim.migrated[h]), records_ok)


def rate_groups(sim: CommuneSim, t: int, collection: np.ndarray) -> None:
    """Half-yearly ratings from collection, overdue and the records and meetings seen."""
    overdue, outstanding = sim.rec.group_overdue(sim.g, len(sim.groups))
    ratio = np.where(outstanding > 0, overdue / np.maximum(outstanding, 1), 0.0).clip(0, 1)
    p_ok = np.where(sim.leader_weak, RECORDS_OK[True], RECORDS_OK[False])
    records_ok = sim.rng.random(len(sim.groups)) < p_ok
    weak = (ratio > 0.04) | (collection < 0.8) | (~records_ok & (collection < 0.9))
    good = (collection >= GOOD_COLLECTION) & (ratio < 0.01) & records_ok
    fair = (collection >= 0.9) & (ratio < 0.02)
    rating = np.where(weak, "weak", np.where(good, "good", np.where(fair, "fair", "average")))
    sim.rec.ratings(t, rating, collection, ratio)


def review_poverty(sim: CommuneSim, t: int) -> None:
    """The yearly poverty review: households move out of (and back into) poverty."""
    u = sim.rng.random(sim.n)
    up = sigmoid(sim.c - 1.0 - 0.5 * (sim.shock_rem > 0)) * 0.35
    new = sim.poverty.copy()
    new[(sim.poverty == 0) & (u < up)] = 2
    new[(sim.poverty == 1) & (u < up)] = 3
    new[(sim.poverty == 2) & (u < 0.25)] = 3
    fall = (sim.poverty >= 1) & (u > 1 - 0.02 - 0.1 * (sim.shock_rem > 0))
    new[fall] = 0
    for h in np.flatnonzero((new != sim.poverty) & sim.member & (sim.join_m < t)):
        sim.rec.poverty(h, t, int(new[h]))
    sim.poverty = np.where(sim.member, new, sim.poverty)


def leave(sim: CommuneSim, t: int) -> None:
    """Members without loans leave now and then, taking their savings."""
    idle = sim.member & (sim.main_loan < 0) & (sim.water_loan < 0) & (sim.second_loan < 0)
    idle &= (sim.ep_rem == 0) & (sim.join_m < t)
    for h in np.flatnonzero(idle & (sim.rng.random(sim.n) < sim.cfg.leave_rate_idle)):
        sim.left_m[h] = t
        if sim.balance[h] > 0:
            sim.rec.savings(
                np.array([h]), t, "withdrawal", np.array([sim.balance[h]]), np.array([0])
            )
            sim.balance[h] = 0
