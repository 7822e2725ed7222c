"""A deterministic simulator of a VBSP district, calibrated to ``shared/DOMAIN.md``.

``simulate(out_dir, SimConfig(...))`` writes the bank's tables (the data contract) to
``out_dir`` — commune-level tables as ``<table>/part-<commune>.parquet``, one commune at a time
so memory stays bounded — and, apart from them, ``truth/`` with every borrower's true monthly
probability of starting a trouble episode, for oracle scores in tests and benchmarks.
Same configuration and seed ⇒ byte-identical files.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features import storage
from features.contract import TABLES, TRUTH_DIR
from features.simulator.commune import CommuneSim
from features.simulator.config import SimConfig
from features.simulator.disasters import build_hazards
from features.simulator.households import CommuneSetup
from features.simulator.structure import build_structure, month_index

__all__ = ["SimConfig", "simulate"]

logger = logging.getLogger(__name__)
GENERATOR = "vbsp-risk simulator 2"


def _clear(out: Path) -> None:
    for name in [*TABLES, TRUTH_DIR]:
        for p in (out / name, out / f"{name}.parquet", out / f"{name}.csv"):
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()


def _write_truth(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata(None)
    pq.write_table(table, path, compression="zstd")


def pii_key(seed: int) -> bytes:
    """The key of a simulated district's national-ID pseudonyms (a real bank keeps its own)."""
    return hashlib.sha256(f"vbsp-risk-simulator-{seed}".encode()).digest()


def simulate(
    out_dir: Path, cfg: SimConfig | None = None, progress: Callable[[str], None] | None = None
) -> dict[str, object]:
    """Simulate a district and write it to ``out_dir``.

    Args:
        out_dir: Data folder to (re)write; existing tables and ``truth/`` in it are replaced.
        cfg: Simulation parameters (defaults: the Dakrong district).
        progress: Called with each commune id once it is written.

    Returns:
        The manifest written to ``out_dir/manifest.json``.
    """
    cfg = cfg or SimConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _clear(out)
    months = month_index(cfg.start, cfg.end)
    if len(months) < 12:
        raise ValueError(
            f"simulate: --start {cfg.start} to --end {cfg.end} must cover at least 12 months"
        )
    structure = build_structure(cfg)
    communes, groups = structure["communes"], structure["groups"]
    hazards = build_hazards(cfg, communes)
    members_per_group = cfg.households * cfg.members_per_borrower / len(groups)
    key = pii_key(cfg.seed)
    leaders, ratings = [], []
    for idx, commune in communes.iterrows():
        cid = str(commune["commune_id"])
        setup = CommuneSetup(
            cfg,
            int(idx),
            commune,
            groups[groups["commune_id"] == cid],
            months,
            members_per_group,
            key,
        )
        sim = CommuneSim(setup, hazards[hazards["commune_id"] == cid])
        tables = sim.run()
        for name, df in tables.items():
            if name == "truth":
                _write_truth(df, out / TRUTH_DIR / f"part-{cid}.parquet")
            elif name == "group_leaders":
                leaders.append(df)
            elif name == "group_ratings":
                if df is not None:
                    ratings.append(df)
            else:
                storage.write_part(df, out, name, cid)
        logger.debug("commune %s written", cid)
        if progress:
            progress(cid)
    storage.write_part(communes, out, "communes", None)
    storage.write_part(structure["villages"], out, "villages", None)
    storage.write_part(groups, out, "groups", None)
    storage.write_part(hazards, out, "hazard_events", None)
    storage.write_part(pd.concat(leaders, ignore_index=True), out, "group_leaders", None)
    storage.write_part(pd.concat(ratings, ignore_index=True), out, "group_ratings", None)
    manifest = {
        "generator": GENERATOR,
        "seed": cfg.seed,
        "households_target": cfg.households,
        "start": cfg.start,
        "end": cfg.end,
        "export_date": pd.Period(cfg.end, "M").end_time.strftime("%Y-%m-%d"),
        "truth": f"{TRUTH_DIR}/ holds simulated ground truth; it is not a bank table",
    }
    storage.write_manifest(out, manifest)
    return manifest
