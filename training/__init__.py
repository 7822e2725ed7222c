"""Training: splits, LightGBM fits, evaluation, MLflow tracking and the champion gate."""

N_BOOT = 1000
"""Bootstrap replicates of the test-window intervals. The bounds are the 2.5 and 97.5 percentiles;
with 200 replicates each bound rests on the 5th value from an end and moved by about ±0.01 of
capture between seeds, as much as the margin by which model and practice intervals are compared."""
