"""Sensitivity of the label and the district to the office's extension practice.

Run on demand:  .venv/bin/python benchmarks/bench_extension.py [--values 0.5 0.85 0.99] [--households 1300]

For each value of ``SimConfig.extension_prob_subjective`` (documented range 0.5–0.99,
``docs/simulator.md``) the district is simulated with the same seed (the random streams part
after the first decision that differs) and the base rate of each label, the overdue ratio and the extension
share of principal due are printed. Model figures across the range need a full
``vbsp-risk run`` per value (not done here).
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

import pandas as pd

from features import storage
from features.contract import TRUTH_DIR
from features.labels import make_labels
from features.simulator import SimConfig, simulate
from features.simulator.realism import realism_report
from features.summary import summarize
from features.validation import load_tables


def one(value: float, households: int, seed: int) -> dict[str, float]:
    """Label base rates and district figures at one extension practice."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "d"
        simulate(
            out,
            replace(SimConfig(), households=households, seed=seed, extension_prob_subjective=value),
        )
        tables = load_tables(out)
        truth = pd.read_parquet(out / TRUTH_DIR)
        export = storage.read_manifest(out)["export_date"]
        snaps = truth[["household_id", "month"]].rename(columns={"month": "as_of"})
        labels = make_labels(tables, snaps, export)
        s = summarize(tables, pd.Timestamp(export))
        facts = realism_report(tables, truth).set_index("fact")["value"]
    row = {
        c: float(labels[c].dropna().astype(float).mean())
        for c in ("trouble_12m", "overdue_12m", "arrears_12m")
    }
    row.update(overdue_ratio=s["overdue_ratio"], extension_share=float(facts["extension_share"]))
    return row


def main() -> None:
    """Print one row per value."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--values", type=float, nargs="+", default=[0.5, 0.85, 0.99])
    ap.add_argument("--households", type=int, default=1_300)
    ap.add_argument("--seed", type=int, default=20251231)
    args = ap.parse_args()
    rows = {v: one(v, args.households, args.seed) for v in args.values}
    print(
        pd.DataFrame(rows)
        .T.rename_axis("extension_prob_subjective")
        .to_string(float_format=lambda x: f"{x:.4f}")
    )


if __name__ == "__main__":
    main()
