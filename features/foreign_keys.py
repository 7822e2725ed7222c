"""Foreign keys between the checked tables, single- and multi-column.

Every :class:`~features.contract.ForeignKey` of the contract is checked; a multi-column key
that fails while its narrower key holds names the columns that disagree with the parent row
(e.g. a household whose commune is not its group's). Rule codes: ``foreign_key``, and the
keys listed in :data:`FK_RULES` under a rule of their own.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.contract import ForeignKey
from features.table_checks import CheckedTable
from features.validation_rules import failure_frame

#: Multi-column foreign keys reported under a rule of their own instead of ``foreign_key``.
FK_RULES: dict[tuple[str, tuple[str, ...]], str] = {
    ("loans", ("household_id", "commune_id")): "loan_commune",
}


def check_foreign_keys(tables: dict[str, CheckedTable]) -> None:
    """Check every foreign key of the contract between the checked tables (in place).

    A child row is checked when it passed its cell checks; a parent row counts when its
    referenced cells are readable (a parent failing another check still exists). A
    multi-column key is checked only on rows whose narrower keys (column subsets) hold, and
    not against a parent row that itself failed (its fault is reported once, on the parent).
    Tables are visited in contract order, so parents are checked before their children.
    """
    for name, table in tables.items():
        fks = sorted(table.spec.foreign_keys, key=lambda f: len(f.columns))
        broken: dict[ForeignKey, pd.Index] = {}
        for fk in fks:
            parent = tables.get(fk.ref_table)
            cols = list(fk.columns)
            if parent is None or any(c in table.missing for c in cols):
                continue
            if any(c in parent.missing for c in fk.ref_columns):
                continue
            child = table.checked[cols].dropna()
            child = child[~child.index.isin(table.rows_failing(cols))]
            for narrow, rows in broken.items():
                if set(narrow.columns) < set(fk.columns):
                    child = child[~child.index.isin(rows)]
                    if narrow.ref_table == fk.ref_table:
                        child = _skip_failed_parents(child, narrow, parent)
            ref = parent.values(fk.ref_columns)
            ref.columns = cols
            found = _isin(child, ref)
            bad = child[~found]
            broken[fk] = bad.index
            if len(bad):
                table.add(_fk_failures(name, fk, bad, ref, broken))


def _skip_failed_parents(
    child: pd.DataFrame, narrow: ForeignKey, parent: CheckedTable
) -> pd.DataFrame:
    """Leave out child rows whose parent (found by ``narrow``) failed: it is reported."""
    ref = parent.values(narrow.ref_columns)
    ref = ref[parent.failed[ref.index.to_numpy()]]
    if ref.empty:
        return child
    ref.columns = list(narrow.columns)
    return child[~_isin(child[list(narrow.columns)], ref)]


def _isin(child: pd.DataFrame, ref: pd.DataFrame) -> np.ndarray:
    if child.shape[1] == 1:
        c = child.columns[0]
        return child[c].isin(ref[c]).to_numpy()
    return pd.MultiIndex.from_frame(child).isin(pd.MultiIndex.from_frame(ref))


def _fk_failures(
    name: str,
    fk: ForeignKey,
    bad: pd.DataFrame,
    ref: pd.DataFrame,
    broken: dict[ForeignKey, pd.Index],
) -> pd.DataFrame:
    """Failures of one foreign key, naming the columns that disagree with the parent."""
    cols = list(fk.columns)
    rule = FK_RULES.get((name, fk.columns), "foreign_key")
    # A narrower key to the same table that holds: find the parent and name what differs.
    narrow = [
        f
        for f in broken
        if f.ref_table == fk.ref_table and set(f.columns) < set(fk.columns) and f is not fk
    ]
    if not narrow:
        shown = ", ".join(cols)
        values = bad.astype(str).agg(", ".join, axis=1) if len(cols) > 1 else None
        msg = (
            f"No {fk.ref_table} row has ({', '.join(fk.ref_columns)}) = ({{value}}); "
            f"the {shown} of this {name} row must refer to an existing {fk.ref_table} row."
        )
        return failure_frame(name, bad.index, ",".join(cols), rule, msg, values)
    on = list(max(narrow, key=lambda f: len(f.columns)).columns)
    parent = ref.drop_duplicates(on).set_index(on)
    got = parent.reindex(pd.MultiIndex.from_frame(bad[on]) if len(on) > 1 else bad[on[0]])
    other = [c for c in cols if c not in on]
    diff_cols, values, messages = [], [], []
    child_vals = bad[other].astype(str).to_numpy()
    parent_vals = got[other].astype(str).to_numpy()
    on_vals = bad[on].astype(str).to_numpy()
    for cv, pv, ov in zip(child_vals, parent_vals, on_vals, strict=True):
        idx = [i for i in range(len(other)) if cv[i] != pv[i]] or list(range(len(other)))
        diff_cols.append(",".join(other[i] for i in idx))
        values.append(", ".join(cv[i] for i in idx))
        theirs = ", ".join(f"{other[i]}={pv[i]}" for i in idx)
        ours = ", ".join(f"{other[i]}={cv[i]}" for i in idx)
        ref_key = ", ".join(f"{c}={v}" for c, v in zip(on, ov, strict=True))
        messages.append(
            f"This {name} row has {ours}, but its {fk.ref_table} row ({ref_key}) has {theirs}."
        )
    return failure_frame(name, bad.index, diff_cols, rule, messages, values)
