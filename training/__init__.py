"""Training: splits, LightGBM fits, evaluation, MLflow tracking and the champion gate."""

N_BOOT = 1000
"""Bootstrap replicates of the test-window intervals. The bounds are the 2.5 and 97.5 percentiles;
with 200 replicates each bound rests on the 5th value from an end and moved by about ±0.01 of
capture between seeds, as much as the margin by which model and practice intervals are compared."""
BOOT_ROW_BUDGET = 40_000_000
"""Most rows × replicates one evaluation bootstraps: the default district's portfolio test window
(98,000 monthly rows) gets 408 replicates instead of 1000, which keeps training both views within
its 3-minute budget; the application view's (4,800 rows) keeps 1000."""
MIN_BOOT = 200
"""Fewest replicates the row budget may leave."""
GATE_N_BOOT = 500
"""Replicates of the champion gate's paired, household-clustered bootstrap of the difference
candidate − champion (:mod:`training.gate`): its lower 2.5 % bound decides, so it needs more draws
than a report's interval."""
RETRAIN_GATE_N_BOOT = 200
"""At most this many gate replicates in the monthly retrain (:mod:`training.retrain`), which asks
the gate for both views on every run: each replicate re-scores both models' window."""
FAIRNESS_N_BOOT = 200
"""Replicates of the fairness report's group intervals (:mod:`training.fairness`): descriptive
figures per group, read beside each other, not a decision."""


def boot_replicates(
    n_rows: int, n_boot: int, min_boot: int = MIN_BOOT, row_budget: int = BOOT_ROW_BUDGET
) -> int:
    """Replicates a bootstrap of ``n_rows`` rows gets: ``n_boot`` within the row budget, never
    fewer than ``min_boot`` (nor more than asked)."""
    return min(n_boot, max(min_boot, row_budget // max(n_rows, 1)))
