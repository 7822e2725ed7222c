"""Quarantine: set failing rows aside, with why, and keep what is returned consistent.

Used by :func:`features.validation.load_tables` when given a quarantine folder. Rows with a
failure are written as stored to ``<folder>/<table>.csv`` with ``_row``, ``_rule``,
``_column`` and ``_message``; the quarantine spreads to a loan whose installment is quarantined
(``schedule_quarantined``) and down the foreign keys (``parent_quarantined``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from features import storage
from features.table_checks import CheckedTable
from features.validation_rules import failure_frame

logger = logging.getLogger(__name__)


def quarantine_rows(
    failures: pd.DataFrame, tables: dict[str, CheckedTable]
) -> dict[str, dict[str, object]]:
    """Rows to set aside per table: ``{"mask": bool array, "failures": frame}``."""
    out: dict[str, dict[str, object]] = {}
    for name, t in tables.items():
        f = failures[(failures["table"] == name) & failures["row"].notna()]
        mask = np.zeros(len(t.raw), dtype=bool)
        mask[f["row"].to_numpy(dtype="int64")] = True
        out[name] = {"mask": mask, "failures": [f]}

    def spread(name: str, rows: np.ndarray, rule: str, column: str, messages: object) -> None:
        if len(rows):
            out[name]["mask"][rows] = True
            out[name]["failures"].append(failure_frame(name, rows, column, rule, messages))

    if "loans" in tables and "installments" in tables:
        inst, loans = tables["installments"], tables["loans"]
        lost = inst.typed.loc[out["installments"]["mask"], "loan_id"].dropna().unique()
        ids = loans.typed["loan_id"]
        hit = np.flatnonzero(ids.isin(lost).to_numpy() & ~out["loans"]["mask"])
        msg = "An installment of loan " + ids.iloc[hit].astype(str) + " was quarantined."
        spread("loans", hit, "schedule_quarantined", "loan_id", msg.to_numpy())
    for name, t in tables.items():  # contract order: parents before children
        for fk in t.spec.foreign_keys:
            parent = tables.get(fk.ref_table)
            if parent is None:
                continue
            cols = list(fk.columns)
            child = t.values(cols)
            child = child[~out[name]["mask"][child.index.to_numpy()]]
            ref = parent.values(fk.ref_columns)
            ref = ref[~out[fk.ref_table]["mask"][ref.index.to_numpy()]]
            ref.columns = cols
            if len(cols) == 1:
                found = child[cols[0]].isin(ref[cols[0]]).to_numpy()
            else:
                found = pd.MultiIndex.from_frame(child).isin(pd.MultiIndex.from_frame(ref))
            rows = child.index[~found].to_numpy()
            msg = f"The {fk.ref_table} row it refers to ({', '.join(cols)}) was quarantined."
            spread(name, rows, "parent_quarantined", ",".join(cols), msg)
    return out


def _why(failures: pd.DataFrame) -> pd.DataFrame:
    """Rule, column and message per quarantined row (several joined by ``" | "``)."""
    f = failures.astype({"row": "int64"}).sort_values("row", kind="stable")
    f = f.rename(columns={"rule": "_rule", "column": "_column", "message": "_message"})
    f = (
        f[["row", "_rule", "_column", "_message"]]
        .fillna({"_column": ""})
        .astype({"_rule": object, "_column": object, "_message": object})
    )
    several = f["row"].duplicated(keep=False).to_numpy()
    single = f[~several].set_index("row")
    if not several.any():
        return single
    joined = f[several].groupby("row", sort=True).agg(" | ".join)
    return pd.concat([single, joined]).sort_index()


def write_quarantine(
    qdir: Path, bad: dict[str, dict[str, object]], tables: dict[str, CheckedTable]
) -> None:
    """Write the quarantined rows of each table, as stored, with why."""
    qdir.mkdir(parents=True, exist_ok=True)
    for name, t in tables.items():
        mask = bad[name]["mask"]
        path = qdir / f"{name}.csv"
        if not mask.any():
            if path.exists():
                path.unlink()
            continue
        f = pd.concat(bad[name]["failures"], ignore_index=True)
        why = _why(f)
        rows = np.flatnonzero(mask)
        part = t.raw.iloc[rows].copy()
        part.insert(0, "_row", rows)
        part = part.join(why, on="_row")
        storage.write_csv(part, path)
        counts = f.drop_duplicates(["row", "rule"])["rule"].value_counts().sort_index()
        logger.info(
            "quarantined %d of %d %s rows to %s (%s)",
            len(rows),
            len(t.raw),
            name,
            path,
            ", ".join(f"{r}: {c}" for r, c in counts.items()),
        )
