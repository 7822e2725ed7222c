"""Reading and writing the bank's tables: one folder, CSV or Parquet, optionally by commune.

A data folder holds, for every table of :mod:`features.contract`, one of:

* ``<table>.csv`` — UTF-8 (a byte-order mark is accepted), header row, ISO dates, empty
  cell = null;
* ``<table>.parquet`` — one file;
* ``<table>/part-<commune_id>.parquet`` — one file per commune (the simulator's layout).

and optionally ``manifest.json`` (export date, generator, seed). Readers return the data as
stored (CSV cells as strings); typing and checking are the validator's job
(:mod:`features.validation`), so nothing is silently coerced here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features import raw_files
from features.contract import MANIFEST, TABLES, TableSpec
from features.file_faults import FileFault

logger = logging.getLogger(__name__)


#: Tables whose damaged CSV lines are not quoted in failures (Decree 13/2023 attributes).
SENSITIVE_TABLES = frozenset({"protected_attributes"})


class MissingTableError(FileNotFoundError):
    """A table of the contract has no file in the data folder."""


class UnreadableFileError(ValueError):
    """A file of a table is damaged (see :class:`~features.file_faults.FileFault`)."""

    def __init__(self, faults: list[FileFault]) -> None:
        self.faults = faults
        more = f" (and {len(faults) - 1} more fault(s))" if len(faults) > 1 else ""
        super().__init__(faults[0].message + more)


def table_paths(data_dir: Path, name: str) -> list[Path]:
    """Files holding table ``name`` in ``data_dir`` (sorted; empty if none)."""
    part_dir = data_dir / name
    if part_dir.is_dir():
        return sorted(part_dir.glob("*.parquet"))
    for suffix in (".parquet", ".csv"):
        p = data_dir / f"{name}{suffix}"
        if p.exists():
            return [p]
    return []


def read_raw(data_dir: Path, name: str) -> pd.DataFrame:
    """Read table ``name`` as stored, without coercion.

    Args:
        data_dir: The data folder.
        name: A table of the contract.

    Returns:
        The table; CSV columns are strings (empty cells null), Parquet columns keep their types.

    Raises:
        MissingTableError: If the table has no file.
        UnreadableFileError: If a file is damaged (:func:`read_table` reads around it).
    """
    frame, faults = read_table(data_dir, name)
    if faults:
        raise UnreadableFileError(faults)
    assert frame is not None  # no fault: every file was read
    return frame


def read_table(data_dir: Path, name: str) -> tuple[pd.DataFrame | None, list[FileFault]]:
    """Read table ``name`` as stored, with the faults of damaged files instead of raising.

    Args:
        data_dir: The data folder.
        name: A table of the contract.

    Returns:
        The rows that could be read (None when no file could) and the faults
        (:class:`~features.file_faults.FileFault`: file cut short or empty, not UTF-8, a CSV
        line with the wrong number of fields, a part lacking a column).

    Raises:
        MissingTableError: If the table has no file.
    """
    paths = table_paths(Path(data_dir), name)
    if not paths:
        raise MissingTableError(
            f"table '{name}': no {name}.csv, {name}.parquet or {name}/ in {data_dir}"
        )
    quote = name not in SENSITIVE_TABLES
    return raw_files.read_files(paths, Path(data_dir), TABLES[name].columns, quote)


def check_parquet_files(data_dir: Path) -> list[tuple[str, FileFault]]:
    """``(table, fault)`` of the folder's damaged Parquet files, from their footers alone.

    Cheap (no data is read): finds empty or cut files and parts lacking a column, before a
    job streams a large folder commune by commune. CSV files are not looked at.
    """
    out = []
    for name, spec in TABLES.items():
        paths = [p for p in table_paths(Path(data_dir), name) if p.suffix == ".parquet"]
        out += [(name, f) for f in raw_files.check_parquet_files(paths, data_dir, spec.columns)]
    return out


def iter_commune_parts(data_dir: Path, name: str) -> Iterator[tuple[str, Path]]:
    """Yield ``(commune_id, path)`` for a table stored by commune."""
    for p in table_paths(Path(data_dir), name):
        if p.parent.name == name and p.stem.startswith("part-"):
            yield p.stem.removeprefix("part-"), p


def _arrow_table(df: pd.DataFrame, spec: TableSpec) -> pa.Table:
    schema_cols = spec.model.to_schema().columns
    arrays, fields = [], []
    for col in spec.columns:
        if col not in df.columns and not schema_cols[col].required:
            continue  # an optional column the producer does not have
        s = df[col]
        dtype = str(schema_cols[col].dtype)
        if dtype.startswith("datetime64"):
            arr = pa.array(pd.to_datetime(s).dt.date.where(s.notna(), None), type=pa.date32())
        elif dtype == "int64":
            arr = pa.array(s.to_numpy(), type=pa.int64())
        elif dtype == "float64":
            arr = pa.array(s.to_numpy(dtype="float64"), type=pa.float64())
        elif dtype == "bool":
            arr = pa.array(s.to_numpy(dtype=bool), type=pa.bool_())
        else:
            arr = pa.array(s.astype(object).where(s.notna(), None).tolist(), type=pa.string())
        arrays.append(arr)
        fields.append(pa.field(col, arr.type, nullable=bool(schema_cols[col].nullable)))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def write_table(df: pd.DataFrame, path: Path, spec: TableSpec) -> None:
    """Write one table (or one commune's part of it) as Parquet, deterministically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(_arrow_table(df, spec), path, compression="zstd", write_statistics=True)


def write_part(df: pd.DataFrame, data_dir: Path, name: str, commune_id: str | None) -> Path:
    """Write table ``name`` for one commune (or whole, if ``commune_id`` is None)."""
    spec = TABLES[name]
    if commune_id is None:
        path = Path(data_dir) / f"{name}.parquet"
    else:
        path = Path(data_dir) / name / f"part-{commune_id}.parquet"
    write_table(df, path, spec)
    return path


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """Write a table as contract CSV (ISO dates, empty cell for null)."""
    out = df.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%d")
    out.to_csv(path, index=False)


def read_manifest(data_dir: Path) -> dict:
    """The folder's manifest, or an empty dict when there is none."""
    p = Path(data_dir) / MANIFEST
    return json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}


def write_manifest(data_dir: Path, manifest: dict) -> None:
    """Write ``manifest.json`` with sorted keys (deterministic)."""
    p = Path(data_dir) / MANIFEST
    p.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
