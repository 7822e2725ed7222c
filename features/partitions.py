"""Commune-by-commune loading of a data folder stored by commune (bounded memory).

A household's and a group's whole history lives in one commune, so a commune's part of every
commune table, together with the small district tables (communes, villages, groups, leaders,
ratings, hazards), is a complete, self-consistent data folder. :func:`iter_communes` lays out
such a folder for each commune (symbolic links, no copy) and loads it through the same validator
as a whole folder, so every rule is checked and memory is bounded by the largest commune.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa

from features import storage
from features.contract import MANIFEST, TABLES
from features.validation import ContractViolation, ValidationReport, load_tables

logger = logging.getLogger(__name__)


def is_partitioned(data_dir: Path) -> bool:
    """True when every commune table is stored as ``<table>/part-<commune>.parquet``."""
    commune_tables = [n for n, spec in TABLES.items() if spec.by_commune]
    return all((Path(data_dir) / n).is_dir() for n in commune_tables)


def commune_ids(data_dir: Path) -> list[str]:
    """Communes that have a part in any commune table."""
    ids: set[str] = set()
    for name, spec in TABLES.items():
        if spec.by_commune:
            ids |= {cid for cid, _ in storage.iter_commune_parts(Path(data_dir), name)}
    return sorted(ids)


def _district_tables(data_dir: Path) -> dict[str, pd.DataFrame]:
    """The small district tables, as stored (read once)."""
    return {n: storage.read_raw(data_dir, n) for n, spec in TABLES.items() if not spec.by_commune}


def _commune_rows(name: str, df: pd.DataFrame, cid: str, group_ids: set[str]) -> pd.DataFrame:
    if "commune_id" in df.columns:
        return df[df["commune_id"].astype(str) == cid]
    if "group_id" in df.columns:
        return df[df["group_id"].astype(str).isin(group_ids)]
    return df


def _link_view(data_dir: Path, cid: str, view: Path, district: dict[str, pd.DataFrame]) -> None:
    """Lay out one commune's folder: its parts (linked) and its rows of the district tables.

    The district tables are cut to the commune (its groups, villages, leaders, ratings, hazards)
    so that the work per commune does not grow with the size of the district.
    """
    for name, spec in TABLES.items():
        if spec.by_commune:
            target = data_dir / name / f"part-{cid}.parquet"
            (view / name).mkdir()
            if target.exists():
                os.symlink(target.resolve(), view / name / target.name)
            else:  # a commune without rows in this table: an empty part of the right schema
                storage.write_part(pd.DataFrame({c: [] for c in spec.columns}), view, name, cid)
    groups = district["groups"]
    group_ids = set(groups.loc[groups["commune_id"].astype(str) == cid, "group_id"].astype(str))
    for name, df in district.items():
        try:
            storage.write_part(_commune_rows(name, df, cid, group_ids), view, name, None)
        except (
            pa.ArrowException,
            ValueError,
            TypeError,
        ):  # badly typed: let the validator report it
            for src in storage.table_paths(data_dir, name):
                os.symlink(src.resolve(), view / src.name)
    if (data_dir / MANIFEST).exists():
        os.symlink((data_dir / MANIFEST).resolve(), view / MANIFEST)


def iter_communes(data_dir: Path) -> Iterator[tuple[str, dict[str, pd.DataFrame]]]:
    """Yield ``(commune_id, typed tables)`` for each commune of a partitioned folder.

    Raises:
        ValueError: If the folder is not stored by commune.
        ContractViolation: When a commune's data breaks the contract (raised for the first
            failing commune; use :func:`validate_by_commune` for a report over all of them).
    """
    data_dir = Path(data_dir)
    if not is_partitioned(data_dir):
        raise ValueError(f"{data_dir} is not stored by commune (<table>/part-<commune>.parquet)")
    district = _district_tables(data_dir)
    for cid in commune_ids(data_dir):
        with tempfile.TemporaryDirectory(prefix=f"vbsp-{cid}-") as tmp:
            _link_view(data_dir, cid, Path(tmp), district)
            tables = load_tables(Path(tmp))
        logger.debug("commune %s loaded: %d loans", cid, len(tables["loans"]))
        yield cid, tables


def first_month(data_dir: Path) -> str:
    """The first month with interest data in a partitioned folder (reads one column)."""
    firsts = [
        pd.read_parquet(p, columns=["session_date"])["session_date"].min()
        for _cid, p in storage.iter_commune_parts(Path(data_dir), "interest")
    ]
    firsts = [f for f in firsts if pd.notna(f)]
    if not firsts:
        raise ValueError(f"{data_dir}: no interest sessions")
    return pd.Timestamp(min(firsts)).strftime("%Y-%m")


def validate_by_commune(data_dir: Path) -> ValidationReport | None:
    """Validate a partitioned folder commune by commune; the first failing report, or None."""
    try:
        for _cid, _tables in iter_communes(data_dir):
            pass
    except ContractViolation as err:
        return err.report
    return None
