"""Typing the bank's cells per the contract: column kinds, cell-by-cell coercion, exact dtypes.

CSV cells arrive as text and Parquet columns with their stored types (see
:mod:`features.storage`); :func:`coerce_column` reads every cell as the contract's kind and
marks the non-empty cells it cannot read (rule ``type``). :func:`final_dtypes` casts readable
rows to the contract's exact dtypes (dates ``datetime64[ns]``, integers ``int64``, booleans
``bool``, text ``str``).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pandera.pandas as pa

from features.contract import TABLES, TableSpec

KIND_WORDS = {
    "int": "a whole number",
    "float": "a number",
    "bool": "true/false (or 1/0)",
    "date": "a date written YYYY-MM-DD",
    "str": "text",
}
_DATE_RE = r"\d{4}-\d{2}-\d{2}"
_NS_MIN, _NS_MAX = pd.Timestamp("1677-09-22"), pd.Timestamp("2262-04-11")
_BOOL_TEXT = {"true": True, "false": False, "1": True, "0": False}
_FINAL_DTYPE = {"int": "int64", "float": "float64", "bool": "bool", "date": "datetime64[ns]"}


def column_kind(spec: TableSpec, column: str) -> str:
    """The kind of a contract column: ``str``, ``int``, ``float``, ``bool`` or ``date``."""
    dtype = str(table_schema(spec.name).columns[column].dtype)
    if dtype.startswith("datetime64"):
        return "date"
    if dtype.startswith("int"):
        return "int"
    if dtype.startswith("float"):
        return "float"
    if dtype == "bool":
        return "bool"
    return "str"


@cache
def table_schema(name: str) -> pa.DataFrameSchema:
    """The pandera schema of a contract table (built once)."""
    return TABLES[name].model.to_schema()


def _text(s: pd.Series) -> pd.Series:
    """The column as text (``str`` dtype; nulls kept), to parse values stored another way."""
    return s if str(s.dtype) == "str" else s.astype("str")


def _numbers(raw: pd.Series) -> pd.Series:
    """Numbers from any stored column (NaN where unreadable)."""
    dt = raw.dtype
    if pd.api.types.is_bool_dtype(dt) or pd.api.types.is_datetime64_any_dtype(dt):
        return pd.Series(np.nan, index=raw.index)
    if pd.api.types.is_numeric_dtype(dt):
        return raw
    return pd.to_numeric(_text(raw), errors="coerce")


def coerce_column(raw: pd.Series, kind: str) -> tuple[pd.Series, np.ndarray]:
    """Type one column cell by cell.

    Args:
        raw: The column as stored (CSV: strings; Parquet: typed).
        kind: Contract kind of the column (see :func:`column_kind`).

    Returns:
        ``(typed, bad)``: the typed column (null where a cell is empty or unreadable; integers
        stay float while such nulls remain) and the mask of non-empty cells that could not be
        read as ``kind``.
    """
    present = raw.notna().to_numpy()
    none_bad = np.zeros(len(raw), dtype=bool)
    dt = raw.dtype
    if kind == "str":
        return _text(raw), none_bad
    if kind in ("int", "float"):
        num = _numbers(raw)
        if num.dtype.kind == "i" and not pd.api.types.is_extension_array_dtype(num.dtype):
            return num.astype("int64" if kind == "int" else "float64"), none_bad
        values = num.to_numpy(dtype="float64", na_value=np.nan, copy=True)
        ok = np.isfinite(values)
        if kind == "int":
            with np.errstate(invalid="ignore"):
                ok &= (values == np.floor(values)) & (np.abs(values) < 2.0**63)
        bad = present & ~ok
        values[bad] = np.nan
        return pd.Series(values, index=raw.index), bad
    if kind == "bool":
        if dt == np.dtype(bool):
            return raw, none_bad
        text = _text(raw).str.strip().str.lower()
        if pd.api.types.is_float_dtype(dt):
            text = text.replace({"1.0": "1", "0.0": "0"})
        typed = text.map(_BOOL_TEXT)
        return typed, present & typed.isna().to_numpy()
    # dates
    if pd.api.types.is_datetime64_any_dtype(dt) and getattr(dt, "tz", None) is None:
        values = raw
        bad = present & (raw != raw.dt.normalize()).to_numpy()
    else:
        text = _text(raw)
        shaped = text.str.fullmatch(_DATE_RE).fillna(False).to_numpy(dtype=bool)
        values = pd.to_datetime(text.where(shaped), format="%Y-%m-%d", errors="coerce")
        bad = present & (~shaped | values.isna().to_numpy())
    in_ns = ((values >= _NS_MIN) & (values <= _NS_MAX)).to_numpy(dtype=bool)
    bad |= present & ~in_ns
    if bad.any():
        values = values.where(~bad)
    return values.astype("datetime64[ns]"), bad


def final_dtypes(frame: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """Cast a frame of readable rows to the contract's exact dtypes."""
    out = {}
    for col in frame.columns:
        kind = column_kind(spec, col)
        s = frame[col]
        target = _FINAL_DTYPE.get(kind)
        if target is None or s.dtype == target:
            out[col] = s
        elif kind in ("int", "bool") and s.isna().any():
            out[col] = s  # only possible in a nullable int/bool column: keep as is
        else:
            out[col] = s.astype(target)
    return pd.DataFrame(out, index=frame.index)
