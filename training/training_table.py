"""A feature table read for training: checked row group by row group, held in compact dtypes.

A province's portfolio table (100,000 households, ten years of month-ends: about 10 million rows)
takes about 4.5 GB in memory as stored (454 bytes a row) and three to four times that while a
model is fitted. Training needs far less:

* **only the columns it uses** — keys, the label trained on, the model's features (the other
  labels are left on disk);
* **compact numbers** — real-valued features as float32 (7 significant digits, much finer than
  LightGBM's 63 bins, ``max_bin``, so the booster sees the same bins; the service still scores
  float64 vectors) and integer counts as int8/int16 when they fit (exact). LightGBM then builds
  its input matrix in float32 too (``numpy.result_type`` of the columns), half the float64 one;
* the contract (:func:`features.feature_table.check_feature_table`) is checked on every row group
  *as stored*, before it is made compact, so every type and value rule still applies.

This takes the table to about 250 bytes a row. Which rows train the model is decided later, by
the split (and ``--train-months``, :func:`training.train.train_view`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from features.feature_table import (
    KEYS,
    OPTIONAL_KEYS,
    FeatureTableError,
    check_feature_table,
    feature_columns,
)

logger = logging.getLogger(__name__)


def _smallest_int(col: pd.Series) -> str | None:
    """``int8`` or ``int16`` when every value fits (``None``: keep the column's dtype)."""
    if col.empty:
        return "int8"
    lo, hi = int(col.min()), int(col.max())
    for dtype in ("int8", "int16"):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return dtype
    return None


def compact(frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """``frame`` with its real-valued features as float32 and its integer features as int8 or
    int16 when every value fits (else as they are); keys, labels, booleans and categories as
    they are. Integers stay integers, so the model's MLflow signature keeps ``long`` for them."""
    out = {}
    for name in frame.columns:
        col = frame[name]
        if name in features and pd.api.types.is_float_dtype(col.dtype):
            col = col.astype("float32")
        elif (
            name in features
            and pd.api.types.is_integer_dtype(col.dtype)
            and isinstance(col.dtype, np.dtype)
            and (small := _smallest_int(col)) is not None
        ):
            col = col.astype(small)
        out[name] = col
    return pd.DataFrame(out)


def training_columns(names: list[str], label: str) -> list[str]:
    """Keys, ``label`` and the feature columns among a table's column ``names``, in table order."""
    empty = pd.DataFrame(columns=names)
    keep = {*KEYS, *OPTIONAL_KEYS, label, *feature_columns(empty)}
    return [n for n in names if n in keep]


def _files(path: Path) -> list[Path]:
    return sorted(path.rglob("*.parquet")) if path.is_dir() else [path]


def read_training_table(path: Path, label: str) -> pd.DataFrame:
    """Read a Parquet feature table for training (see the module docstring).

    Args:
        path: The table: a Parquet file, or a folder of Parquet files.
        label: The label trained on.

    Returns:
        The compact table: keys, ``label`` and features, in file order.

    Raises:
        FileNotFoundError: If the path does not exist.
        ValueError: If it is not a readable Parquet file.
        features.feature_table.FeatureTableError: If a row group breaks the contract (its
            problems, prefixed with the file and row group).
    """
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"feature table {path} does not exist")
    pieces: list[pd.DataFrame] = []
    try:
        for f in _files(path):
            pf = pq.ParquetFile(f)
            columns = training_columns(pf.schema_arrow.names, label)
            for g in range(max(pf.metadata.num_row_groups, 1)):
                if pf.metadata.num_row_groups:
                    piece = pf.read_row_group(g, columns=columns).to_pandas()
                else:
                    piece = pf.schema_arrow.empty_table().select(columns).to_pandas()
                problems = check_feature_table(piece, label)
                if problems:
                    raise FeatureTableError([f"{f.name} row group {g}: {p}" for p in problems])
                pieces.append(compact(piece, feature_columns(piece)))
    except (FeatureTableError, FileNotFoundError):
        raise
    except Exception as err:  # pyarrow raises several types for a bad file
        raise ValueError(f"{path} is not a readable Parquet feature table: {err}") from err
    if not pieces:
        raise ValueError(f"{path}: no Parquet file in the folder")
    table = pd.concat(pieces, ignore_index=True) if len(pieces) > 1 else pieces[0]
    logger.info(
        "training table %s: %d rows, %.0f MB in memory",
        path.name,
        len(table),
        table.memory_usage(deep=True).sum() / 2**20,
    )
    return table
