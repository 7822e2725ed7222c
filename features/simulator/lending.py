"""Loan origination: program, amount, term, grace, rate, purpose and principal schedule."""

from __future__ import annotations

import numpy as np

from features import domain

PROGRAM_CODES = list(domain.PROGRAMS)
P = {c: i for i, c in enumerate(PROGRAM_CODES)}
PURPOSE = {c: i for i, c in enumerate(domain.PURPOSES)}

# Program mix by poverty status (poor, near_poor, escaped_poverty, other_policy).
_MIX = {
    0: {
        "poor_household": 0.62,
        "housing": 0.07,
        "ethnic_minority_land": 0.06,
        "difficult_area": 0.1,
        "job_creation": 0.1,
        "student": 0.05,
    },
    1: {"near_poor": 0.62, "job_creation": 0.15, "difficult_area": 0.15, "student": 0.08},
    2: {"escaped_poverty": 0.6, "job_creation": 0.2, "difficult_area": 0.2},
    3: {"difficult_area": 0.5, "job_creation": 0.35, "student": 0.15},
}
MIX = {
    k: (np.array([P[c] for c in v]), np.array(list(v.values())) / sum(v.values()))
    for k, v in _MIX.items()
}


def _cdf(p: np.ndarray) -> np.ndarray:
    c = np.cumsum(p)
    return c / c[-1]


def _pick(rng: np.random.Generator, cdf: np.ndarray) -> int:
    """Index drawn with the probabilities of ``cdf``: the same draw as ``rng.choice(p=...)``
    (one uniform), without its per-call checks (it is called once per loan)."""
    return int(cdf.searchsorted(rng.random(), side="right"))


_MIX_CDF = {k: (codes, _cdf(p)) for k, (codes, p) in MIX.items()}

# Typical loan size at the end date (VND) and term choices (months) per program.
TYPICAL = {
    "poor_household": 95e6,
    "near_poor": 90e6,
    "escaped_poverty": 90e6,
    "job_creation": 90e6,
    "clean_water": 22e6,
    "difficult_area": 85e6,
    "student": 60e6,
    "housing": 40e6,
    "ethnic_minority_land": 65e6,
}
TERMS = {
    "poor_household": [48, 60, 60, 84, 120],
    "near_poor": [48, 60, 60],
    "escaped_poverty": [48, 60, 60],
    "job_creation": [60, 84, 120],
    "clean_water": [36, 60],
    "difficult_area": [12, 36, 60, 84],
    "student": [96, 120, 144],
    "housing": [180],
    "ethnic_minority_land": [120],
}
PURPOSES = {
    "poor_household": {
        "livestock": 0.45,
        "crops": 0.3,
        "trade_services": 0.1,
        "aquaculture": 0.05,
        "forestry": 0.1,
    },
    "near_poor": {"livestock": 0.4, "crops": 0.3, "trade_services": 0.2, "forestry": 0.1},
    "escaped_poverty": {"livestock": 0.4, "crops": 0.3, "trade_services": 0.3},
    "job_creation": {"vocational": 0.3, "livestock": 0.3, "trade_services": 0.4},
    "clean_water": {"water_sanitation": 1.0},
    "difficult_area": {"livestock": 0.4, "crops": 0.3, "forestry": 0.2, "trade_services": 0.1},
    "student": {"education": 1.0},
    "housing": {"housing": 1.0},
    "ethnic_minority_land": {"crops": 0.5, "forestry": 0.3, "vocational": 0.2},
}


_PURPOSE_CDF = {
    code: ([PURPOSE[u] for u in v], _cdf(np.array(list(v.values()))))
    for code, v in PURPOSES.items()
}

SECOND = np.array([P["student"], P["housing"], P["job_creation"], P["difficult_area"]])
SECOND_P = np.array([0.15, 0.2, 0.4, 0.25])


def choose_program(rng: np.random.Generator, poverty: int, minority: bool) -> int:
    """Draw a main-loan program for a household of a poverty status."""
    codes, cdf = _MIX_CDF[poverty]
    prog = int(codes[_pick(rng, cdf)])
    if prog == P["ethnic_minority_land"] and not minority:
        prog = P["poor_household"]
    return prog


def loan_terms(
    rng: np.random.Generator,
    prog: int,
    year_offset: float,
    workers: int,
    capacity: float,
    minority: bool,
    amount_growth: float,
    size_scale: float,
) -> tuple[int, int, int, float, int]:
    """Amount (VND), term, grace, yearly rate and purpose index of a new loan.

    Args:
        year_offset: Years from the end date (negative in the past); typical sizes grow yearly.
        amount_growth: Yearly growth of typical sizes.
        size_scale: Multiplier of the programs' typical sizes at the end date (calibrates the
            district's outstanding balance).
    """
    code = PROGRAM_CODES[prog]
    spec = domain.PROGRAMS[code]
    typical = size_scale * TYPICAL[code] * (1 + amount_growth) ** year_offset
    size = (
        typical * np.exp(rng.normal(0.0, 0.25) + 0.08 * capacity) * (0.85 + 0.05 * min(workers, 4))
    )
    amount = int(np.clip(round(size / 1e6), 5, spec.cap_vnd // 1_000_000)) * 1_000_000
    term = TERMS[code][int(rng.integers(0, len(TERMS[code])))]  # as rng.choice(TERMS[code])
    grace = {"student": term - 60, "housing": 60, "ethnic_minority_land": 24}.get(code, 0)
    grace = max(0, min(grace, spec.max_grace_months))
    if code == "job_creation":
        rate = 3.96 if minority else 7.92
    elif code == "poor_household":
        rate = 3.3  # poorest ("30a") district rate
    else:
        rate = spec.rate_min_pct
    purposes, cdf = _PURPOSE_CDF[code]
    purpose = purposes[_pick(rng, cdf)]
    return amount, term, grace, float(rate), purpose


def schedule(amount: int, term: int, grace: int, code: str) -> tuple[np.ndarray, np.ndarray]:
    """Due months (offsets from disbursement) and principal of each installment.

    Short loans repay at maturity; others every 6 months (terms up to 3 years) or yearly
    after the grace period; the last installment takes the remainder, so installments sum to the amount.
    """
    step = 6 if term <= 36 else 12
    if term <= 12:
        offsets = np.array([term])
    else:
        offsets = np.arange(grace + step, term + 1, step)
        if offsets.size == 0 or offsets[-1] != term:
            offsets = np.append(offsets, term)
    k = offsets.size
    each = (amount // k) // 1000 * 1000
    principal = np.full(k, each, dtype=np.int64)
    principal[-1] = amount - each * (k - 1)
    return offsets.astype(np.int64), principal


# Installments of farm loans fall due after a harvest where the program lets the schedule follow
# the production cycle: June (winter–spring rice harvested in May) or September (summer–autumn
# rice harvested in August, before the floods).
HARVEST_DUE_MONTHS = (6, 9)
_HARVEST = np.isin(np.arange(13), HARVEST_DUE_MONTHS)  # by calendar month 1..12
HARVEST_PURPOSES = frozenset(PURPOSE[c] for c in ("crops", "livestock", "aquaculture", "forestry"))
# nearest first (earlier on a tie); the last installment may move back further to stay by maturity
_SHIFTS = np.array([0, -1, 1, -2, 2, -3, 3, -4, 4, -5, 5, -6, -7, -8, -9, -10, -11])


def after_harvest(offsets: np.ndarray, disb_month: int, term: int, grace: int) -> np.ndarray:
    """Move each due month to the nearest harvest due month (earlier on a tie).

    The moved installments stay after the grace period, on or before maturity and in order;
    where that cannot hold, the loan keeps its regular schedule.

    Args:
        offsets: Due months as offsets from disbursement.
        disb_month: Calendar month (1..12) of the disbursement.
        term: Term in months (no installment after maturity).
        grace: Grace period in months.
    """
    cand = offsets[:, None] + _SHIFTS[None, :]
    ok = _HARVEST[(disb_month - 1 + cand) % 12 + 1] & (cand > max(grace, 0))
    ok &= cand <= term
    if not ok.any(axis=1).all():
        return offsets
    moved = cand[np.arange(offsets.size), ok.argmax(axis=1)]
    return moved if (np.diff(moved) > 0).all() else offsets
