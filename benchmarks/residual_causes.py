"""Which hidden causes do the features miss? Correlate each latent cause with the residual.

The simulator's ``truth/`` holds only the true monthly probability, not its causes. This script
re-simulates a district with the same seed (the bank's tables come out byte-identical: the hook
draws no random number) while recording, for every truth row, the hidden state behind it:
capacity, stress, a running personal shock, hazard pressure, a weak leader, group contagion
(share of the group's borrowers in a trouble episode), misuse and debt burden. It then scores a
feature table's test window with a registered champion and prints, for each cause, the Pearson
and Spearman correlation with the residual ``label - probability``: a cause the model captured
leaves no correlation; one it misses leaves some.

Usage::

    python benchmarks/residual_causes.py latents --seed 20251231 --out /tmp/latents.parquet
    python benchmarks/residual_causes.py residuals --latents /tmp/latents.parquet \
        --features FEATURES.parquet --tracking-uri sqlite:///.../mlflow.db \
        --model overdue-risk-portfolio --from 2024-02 --to 2025-01
    python benchmarks/residual_causes.py gains --latents /tmp/latents.parquet \
        --state STATE  # the state folder of `vbsp-risk run --no-serve` of the same seed

``gains`` answers the question the correlations only hint at: how much of the gap between the
model and the state oracle would close if the bank could see one hidden cause. It trains the
portfolio view as the run does (``train_view``, same split, seed and hazard level) once on the
feature table as it is and once more with each cause at ``as_of`` added as an extra feature
(then with all of them), and prints each test-window ROC AUC, its gap to the state oracle and
its paired, household-clustered bootstrap gain over the table as it is.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

CAUSES = ("capacity", "stress", "shock", "hazard", "weak_leader", "contagion", "misuse", "burden")


def capture_latents(seed: int, out: Path) -> pd.DataFrame:
    """Simulate the default district of ``seed`` and keep the hidden state of every truth row."""
    from features.simulator import SimConfig, commune, households, simulate
    from features.simulator.records import Recorder

    rows: list[pd.DataFrame] = []

    class LatentRecorder(Recorder):
        sim: object = None

        def truth(self, hh: np.ndarray, t: int, p: np.ndarray, in_ep: np.ndarray) -> None:
            super().truth(hh, t, p, in_ep)
            s = self.sim
            n = s.n  # type: ignore[attr-defined]
            growth = (1 + s.cfg.amount_growth) ** ((t - s.T + 1) / 12)  # type: ignore[attr-defined]
            burden = self.household_outstanding(n) / (np.maximum(s.workers, 1) * 60e6 * growth)  # type: ignore[attr-defined]
            g = s.g[hh]  # type: ignore[attr-defined]
            ep = (s.ep_rem[hh] > 0).astype(float)  # type: ignore[attr-defined]
            share = np.bincount(g, weights=ep, minlength=g.max() + 1 if len(g) else 0)
            count = np.maximum(np.bincount(g, minlength=len(share)), 1)
            rows.append(
                pd.DataFrame(
                    {
                        "commune_id": self.commune_id if hasattr(self, "commune_id") else "",
                        "capacity": s.c[hh],
                        "stress": s.s[hh],  # type: ignore[attr-defined]
                        "shock": (s.shock_rem[hh] > 0).astype(float),  # type: ignore[attr-defined]
                        "hazard": s.hazards.pressure[t][s.v[hh]],  # type: ignore[attr-defined]
                        "weak_leader": s.leader_weak[g].astype(float),  # type: ignore[attr-defined]
                        "contagion": np.minimum(share / count, 0.5)[g],
                        "misuse": self.household_misuse(n)[hh].astype(float),
                        "burden": np.minimum(burden[hh], 3),
                    }
                )
            )

    original_init = commune.CommuneSim.__init__

    def init(self, *args, **kwargs) -> None:
        original_init(self, *args, **kwargs)
        self.rec.sim = self

    households.Recorder = LatentRecorder  # type: ignore[misc]  # where the simulation makes it
    commune.CommuneSim.__init__ = init  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as tmp:
        simulate(Path(tmp), SimConfig(seed=seed))
        truth = pd.concat(
            [pd.read_parquet(f) for f in sorted((Path(tmp) / "truth").glob("part-*.parquet"))],
            ignore_index=True,
        )
    latents = pd.concat(rows, ignore_index=True).drop(columns="commune_id")
    if len(latents) != len(truth):
        raise RuntimeError(f"{len(latents)} latent rows for {len(truth)} truth rows")
    out_frame = pd.concat([truth[["household_id", "month"]], latents], axis=1)
    out_frame.to_parquet(out, index=False)
    return out_frame


def _month_start(dates: pd.Series) -> pd.Series:
    """The first day of each date's month: how feature rows and latent rows are matched."""
    return pd.to_datetime(dates).dt.to_period("M").dt.start_time


def residual_correlations(
    latents: pd.DataFrame, features: Path, tracking_uri: str, model_name: str, start: str, end: str
) -> pd.DataFrame:
    """Correlation of each cause with ``trouble_12m - p`` over the test window's rows."""
    import mlflow

    from training.pyfunc_model import schema_types, to_model_input

    frame = pd.read_parquet(features)
    month = pd.to_datetime(frame["as_of"]).dt.to_period("M")
    frame = frame[(month >= pd.Period(start, "M")) & (month <= pd.Period(end, "M"))]
    frame = frame[frame["trouble_12m"].notna()].reset_index(drop=True)
    mlflow.set_tracking_uri(tracking_uri)  # the registered pyfunc: any catalog version
    model = mlflow.pyfunc.load_model(f"models:/{model_name}@champion")
    p = np.asarray(model.predict(to_model_input(frame, schema_types(model))), dtype="float64")
    frame = frame.assign(
        residual=frame["trouble_12m"].astype(float) - p,
        month=_month_start(frame["as_of"]),
    )
    lat = latents.assign(month=_month_start(latents["month"]))
    merged = frame[["household_id", "month", "residual"]].merge(
        lat, on=["household_id", "month"], how="inner"
    )
    out = []
    for cause in CAUSES:
        x = merged[cause]
        out.append(
            {
                "cause": cause,
                "rows": len(merged),
                "pearson": float(np.corrcoef(x, merged["residual"])[0, 1])
                if x.std() > 0
                else np.nan,
                "spearman": float(x.rank().corr(merged["residual"].rank())),
            }
        )
    return pd.DataFrame(out)


def cause_gains(
    latents: pd.DataFrame, state: Path, seed: int, n_boot: int, causes: tuple[str, ...] = CAUSES
) -> pd.DataFrame:
    """Test-window AUC of the portfolio view trained with each hidden cause as a feature."""
    from training.gate import paired_bootstrap
    from training.pipeline import hazard_events, read_truth
    from training.train import train_view
    from training.training_table import read_training_table

    data = state / "data" / "district"
    table = read_training_table(state / "features" / "portfolio.parquet", "trouble_12m")
    lat = latents.assign(month=_month_start(latents["month"]))
    lat = lat.drop_duplicates(["household_id", "month"])
    keys = table[["household_id"]].assign(month=_month_start(table["as_of"]))
    joined = keys.merge(lat, on=["household_id", "month"], how="left")  # keeps the table's order
    truth, hazards = read_truth(data / "truth"), hazard_events(data)
    variants: list[tuple[str, tuple[str, ...]]] = [("none", ())]
    variants += [(c, (c,)) for c in causes] + [("all", causes)]
    out, base = [], None
    with tempfile.TemporaryDirectory() as tmp:
        for name, cols in variants:
            t = table.assign(**{f"hidden_{c}": joined[c].to_numpy("float64") for c in cols})
            r = train_view(
                t,
                "trouble_12m",
                "portfolio",
                Path(tmp) / name,
                seed=seed,
                truth=truth,
                n_boot=n_boot,
                hazards=hazards,
                contract_checked=True,
            )
            m, frame = r.metrics, r.test_frame
            row = {
                "added": name,
                "roc_auc": m["lightgbm"]["roc_auc"],
                "lo": m["lightgbm"].get("roc_auc_lo", np.nan),
                "hi": m["lightgbm"].get("roc_auc_hi", np.nan),
                "gap_state_oracle": m["lightgbm"]["roc_auc"] - m["state_oracle"]["roc_auc"],
            }
            if base is None:
                base = frame
                row.update(gain=0.0, gain_lo=0.0, gain_hi=0.0)
            else:
                res = paired_bootstrap(
                    base,
                    "label",
                    {"with": frame["lightgbm"].to_numpy(), "without": base["lightgbm"].to_numpy()},
                    5,
                    n_boot,
                )
                g = res["gap_with_vs_without"]
                row.update(gain=g["roc_auc"], gain_lo=g["roc_auc_lo"], gain_hi=g["roc_auc_hi"])
            out.append(row)
            print(
                f"{name:12s} AUC {row['roc_auc']:.3f} ({row['lo']:.3f}-{row['hi']:.3f}) "
                f"gap to state oracle {row['gap_state_oracle']:+.3f} gain {row['gain']:+.3f} "
                f"({row['gain_lo']:+.3f}..{row['gain_hi']:+.3f})",
                flush=True,
            )
    return pd.DataFrame(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("latents")
    a.add_argument("--seed", type=int, default=20251231)
    a.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("residuals")
    r.add_argument("--latents", type=Path, required=True)
    r.add_argument("--features", type=Path, required=True)
    r.add_argument("--tracking-uri", required=True)
    r.add_argument("--model", default="overdue-risk-portfolio")
    r.add_argument("--from", dest="start", default="2024-02")
    r.add_argument("--to", dest="end", default="2025-01")
    g = sub.add_parser("gains")
    g.add_argument("--latents", type=Path, required=True)
    g.add_argument("--state", type=Path, required=True, help="state folder of the same seed's run")
    g.add_argument("--seed", type=int, default=42, help="training seed (the run's)")
    g.add_argument("--n-boot", type=int, default=200)
    g.add_argument("--causes", default=",".join(CAUSES))
    args = ap.parse_args()
    if args.cmd == "latents":
        lat = capture_latents(args.seed, args.out)
        print(f"{len(lat)} latent rows → {args.out}")
    elif args.cmd == "gains":
        causes = tuple(c for c in args.causes.split(",") if c)
        unknown = set(causes) - set(CAUSES)
        if unknown:
            ap.error(f"--causes: unknown {sorted(unknown)}; known: {', '.join(CAUSES)}")
        cause_gains(pd.read_parquet(args.latents), args.state, args.seed, args.n_boot, causes)
    else:
        lat = pd.read_parquet(args.latents)
        table = residual_correlations(
            lat, args.features, args.tracking_uri, args.model, args.start, args.end
        )
        print(table.to_string(index=False, float_format=lambda v: f"{v:+.3f}"))


if __name__ == "__main__":
    main()
