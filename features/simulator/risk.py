"""The onset hazard of a trouble episode: every latent cause on the logit scale, declared once.

The month-by-month simulation (:mod:`features.simulator.commune`) and the state oracle
(:mod:`features.simulator.oracle`) both call these functions, so the oracle integrates exactly
the hazard the simulated world draws from. The logit splits into a part that is fixed over a
12-month horizon given today's state (:func:`static_logit`: capacity, leader, misuse, burden,
remoteness, group and village effects, repayment record) and a part that moves with the hidden
processes (:func:`onset_probability`: stress, shocks, hazard pressure, contagion, peer trigger,
calendar, loan age). Every function broadcasts, so the oracle passes ``(replicates, households)``
arrays where the simulation passes one value per household.
"""

from __future__ import annotations

import numpy as np

from features.simulator.config import SimConfig

# Seasonal logit profile, January..December. Quảng Trị: Tết cash needs in January–February; lean
# months before the winter–spring harvest (March–April) and the summer–autumn harvest
# (July–August); harvest money in May–June and September; the flood season October–November.
# Centred so that exp(profile) averages 1: the calendar moves risk between months, not its level.
_SEASON_RAW = np.array([0.45, 0.55, 0.35, 0.25, -0.45, -0.35, 0.15, 0.3, -0.4, 0.2, 0.2, -0.5])
SEASON = _SEASON_RAW - np.log(np.mean(np.exp(_SEASON_RAW)))

# Deposits follow income: more after harvests, fewer before Tết and in the lean months.
DEPOSIT_SEASON = np.array([-0.9, -0.6, -0.3, -0.3, 0.6, 0.5, -0.2, -0.3, 0.6, 0.1, 0.0, 0.3])
DEPOSIT_AMOUNT = np.array([0.6, 0.8, 0.9, 0.9, 1.5, 1.3, 0.9, 0.8, 1.4, 1.0, 1.0, 1.1])
WITHDRAWAL_RATE = np.array(
    [0.06, 0.05, 0.015, 0.015, 0.005, 0.005, 0.015, 0.02, 0.005, 0.01, 0.01, 0.03]
)
SHOCK_LOGIT = 2.2
STRESS_AR, STRESS_SD = 0.85, 0.3


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function."""
    return 1.0 / (1.0 + np.exp(-x))


def random_effect(rng: np.random.Generator, sd: float, size: int) -> np.ndarray:
    """A persistent logit effect with mean correction, so ``E[exp(effect)] = 1``.

    Why: a random effect should make some groups riskier and others safer without raising the
    district's trouble level (the calibration targets stay put).
    """
    return rng.normal(-(sd**2) / 2, sd, size)


def static_logit(
    cfg: SimConfig,
    capacity: np.ndarray,
    weak_leader: np.ndarray,
    misuse: np.ndarray,
    burden: np.ndarray,
    remote: float,
    effect: np.ndarray,
    repaid_ok: np.ndarray,
    paid_share: np.ndarray,
) -> np.ndarray:
    """Logit terms fixed over the horizon given today's state.

    ``burden`` is outstanding over the workers' typical yearly capacity; a household of low
    capacity carries the same burden worse (``w_burden_capacity`` on the excess over
    ``exp(0.5 * capacity)``). ``effect`` is the group plus village random effect.
    """
    excess = np.maximum(burden - np.exp(0.5 * capacity), 0.0)
    return (
        cfg.base_logit
        - cfg.w_capacity * capacity
        + cfg.w_weak_leader * weak_leader
        + cfg.w_misuse * misuse
        + cfg.w_burden * np.minimum(burden, 3)
        + cfg.w_burden_capacity * np.minimum(excess, 3)
        + cfg.w_remote * remote
        + effect
        - cfg.w_repeat * np.minimum(repaid_ok, 3)
        - cfg.w_seasoned * paid_share
    )


def group_logit(cfg: SimConfig, contagion: np.ndarray, peer: np.ndarray) -> np.ndarray:
    """Group terms: contagion (share of the group's borrowers in an episode last month, capped)
    and the peer trigger (decaying count of the group's recent onsets, capped)."""
    return cfg.w_contagion * np.minimum(contagion, 0.5) + cfg.w_peer * np.minimum(peer, 2.0)


def onset_probability(
    cfg: SimConfig,
    static: np.ndarray,
    stress: np.ndarray,
    shock_on: np.ndarray,
    hazard: np.ndarray | None,
    livestock: np.ndarray,
    livestock_wave: bool | np.ndarray,
    group: np.ndarray,
    month: int | np.ndarray,
    loan_age: np.ndarray,
) -> np.ndarray:
    """The month's probability of starting an episode: :func:`static_logit` plus the logit
    terms that move month by month.

    Why one function: the simulation draws onsets from it and the state oracle integrates it, so
    the two cannot drift apart. Every argument broadcasts: the oracle passes
    ``(replicates, rows)`` arrays where the simulation passes one value per household.

    Args:
        hazard: Hazard pressure on the household's village (0 where the village is not exposed;
            ``None`` when no village is under pressure).
        livestock: 1 where an active loan of the household funds livestock.
        livestock_wave: Whether the dominant hazard is a livestock-disease wave: it weighs more
            on livestock loans, and its disaster stress falls on them only.
        static: The household's :func:`static_logit`.
        group: The household's :func:`group_logit`.
        month: Calendar month 1..12 (one, or one per household).
        loan_age: Months since the household's newest active loan was disbursed.
    """
    row = cfg.season_scale * SEASON[month - 1] + cfg.w_new_loan * np.exp(
        -np.maximum(loan_age, 0) / cfg.new_loan_months
    )
    # the oracle works in float32: per-household terms must not widen its (replicates, rows) arrays
    z = cfg.w_stress * stress + SHOCK_LOGIT * shock_on + group + row.astype(stress.dtype)
    if hazard is not None:
        hit = np.where(livestock_wave, livestock, 1.0)
        z = z + hazard * (
            cfg.w_hazard * (1 + 0.5 * livestock * livestock_wave) + cfg.w_disaster * hit
        )
    return sigmoid(static + z)


def stress_step(stress: np.ndarray, innovation: np.ndarray) -> np.ndarray:
    """A month of the AR(1) stress process (innovations of sd ``STRESS_SD``)."""
    return STRESS_AR * stress + innovation


def episode_length(
    rng: np.random.Generator,
    shape: int | tuple[int, ...],
    shock_rem: np.ndarray,
    hazard: np.ndarray,
) -> np.ndarray:
    """Months a new episode lasts: at least 2, longer after a shock or in a disaster."""
    return 1 + rng.geometric(0.6, shape) + shock_rem // 2 + (hazard > 0.3) * 2
