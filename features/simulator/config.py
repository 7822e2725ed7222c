"""Calibration of the simulated district, in one place.

Defaults reproduce the Dakrong district of ``shared/DOMAIN.md``: 13 communes, 78 villages,
184 groups, about 8,500 borrower households and 597 bn VND outstanding at the end date,
12–15 % yearly growth, overdue near 0.04 % of outstanding, most groups rated good.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_HOUSEHOLDS = 8_500
DEFAULT_START = "2011-01"
DEFAULT_END = "2025-12"
DEFAULT_SEED = 20251231

# Dakrong's structure per 8,500 borrower households.
COMMUNES_PER_HH = 13 / 8_500
VILLAGES_PER_HH = 78 / 8_500
GROUPS_PER_HH = 184 / 8_500


@dataclass(frozen=True)
class SimConfig:
    """Parameters of one simulation run.

    Attributes:
        households: Target number of borrower households at the end date.
        seed: Seed of every random draw (same seed ⇒ same files).
        start: First month simulated (``YYYY-MM``).
        end: Last month simulated (``YYYY-MM``); the export date is its last day.
    """

    households: int = DEFAULT_HOUSEHOLDS
    seed: int = DEFAULT_SEED
    start: str = DEFAULT_START
    end: str = DEFAULT_END

    # membership: members at the end per borrower household; growth of membership per year
    members_per_borrower: float = 1.05
    member_growth: float = 0.035
    leave_rate_idle: float = 0.015  # per month, members without a loan
    # lending
    new_loan_rate: float = 0.075  # per month, members without a main loan
    water_loan_rate: float = 0.006  # per month
    second_loan_rate: float = 0.09  # per month, a second concurrent program
    amount_growth: float = 0.125  # yearly growth of typical loan sizes
    loan_size_scale: float = 1.29  # typical loan sizes at the end date / lending.TYPICAL
    # trouble (logit scale)
    base_logit: float = -7.0
    w_capacity: float = 0.75
    w_stress: float = 0.9
    w_hazard: float = 0.9
    w_weak_leader: float = 0.9
    w_contagion: float = 3.0
    w_misuse: float = 1.4
    w_burden: float = 0.5
    w_remote: float = 0.25
    # correlated risk: persistent group and village random effects (logit sd), peer trigger
    group_effect_sd: float = 0.55
    village_effect_sd: float = 0.3
    w_peer: float = 0.35  # per recent onset in the group (capped at 2), decaying
    peer_decay: float = 0.5  # per month
    # calendar: scale of the seasonal logit profile (lean months, Tết, flood season)
    season_scale: float = 0.8
    # loan life cycle: early-loan hazard, seasoning by installments paid, repeat borrowers,
    # burden relative to capacity
    w_new_loan: float = 0.8  # × exp(-loan age / new_loan_months)
    new_loan_months: float = 6.0
    w_seasoned: float = 0.5  # × share of the household's installments already paid
    w_repeat: float = 0.25  # per loan repaid without trouble (at most 3)
    w_burden_capacity: float = 0.4  # × excess of burden over what capacity carries
    # disasters: extra stress in exposed villages, on top of w_hazard (livestock disease: only
    # on households whose loan funds livestock)
    w_disaster: float = 2.0
    replay_events: tuple[str, ...] = ("asf_2019", "floods_2020_10")
    shock_rate: float = 0.004  # idiosyncratic shocks per household-month
    migration_rate: float = 0.00015
    misuse_rate: float = 0.025
    weak_leader_rate: float = 0.06
    leader_change_rate: float = 0.08  # per year
    one_off_late_rate: float = 0.003
    # debt handling. Extension practice: the chance an unpaid installment of a household in
    # trouble for a non-objective cause is extended rather than left overdue (documented range
    # 0.5–0.99, docs/simulator.md); objective causes are always extended once, then frozen.
    extension_prob_subjective: float = 0.85
    freeze_prob_objective: float = 0.6  # a second failure after an objective-cause extension
    # overdue installments cured per month (installments after harvest fall due before the
    # year's end less often, so the end-of-year overdue stock needs slower cures)
    cure_prob_per_month: float = 0.33
    migration_repaid_prob: float = 0.9
    freeze_prob_death: float = 0.5
    # write-offs (xóa nợ) of frozen debt, decided 12–36 months after the freeze: most debts of
    # deceased borrowers, some of the losses to disasters, illness and fire
    write_off_prob_death: float = 0.6
    write_off_prob_objective: float = 0.25
    # partial payments: a household in trouble pays, with this chance, a share of the month's
    # interest drawn from this range (the group leader collects what it can); the rest is arrears
    partial_pay_prob: float = 0.85
    partial_pay_share: tuple[float, float] = (0.6, 0.98)
    # state oracle: forward replicates of the hidden processes per household-month
    oracle_replicates: int = 16
    # inspections: share of borrowers visited per year, share of visits at random
    inspection_rate: float = 0.10
    random_visit_share: float = 0.2
