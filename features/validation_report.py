"""The validation report: failures with keys and values as stored, summary, JSON and CSV.

:func:`finish_failures` turns the checks' raw failure frames into the report's (keys and values
read from the stored cells, messages completed, contract order); :class:`ValidationReport`
holds them and writes them out; :class:`ContractViolation` carries a report out of the loader.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.contract import MANIFEST, TABLES
from features.table_checks import CheckedTable
from features.validation_rules import FAILURE_COLUMNS, Failure, empty_failures

_TABLE_ORDER = {name: i for i, name in enumerate([*TABLES, MANIFEST])}


@dataclass
class ValidationReport:
    """The outcome of validating a data folder.

    Attributes:
        data_dir: The folder validated.
        reference_date: Dates after it are ``future_date`` failures.
        row_counts: Rows read per table (tables without a file are absent).
        frame: One row per failure, columns ``table, row, key, column, rule, value, message``
            (``row`` is nullable Int64), ordered by table (contract order), row, column.
        quarantined: Rows set aside per table when loaded with a quarantine folder
            (failing rows and the rows the quarantine spread to); None otherwise.
    """

    data_dir: Path
    reference_date: pd.Timestamp
    row_counts: dict[str, int]
    frame: pd.DataFrame
    quarantined: dict[str, int] | None = None

    @property
    def ok(self) -> bool:
        """True when there is no failure."""
        return self.frame.empty

    @property
    def failures(self) -> list[Failure]:
        """The failures as records."""
        f = self.frame.astype(object).where(self.frame.notna(), None)
        return [Failure(**r) for r in f.to_dict("records")]

    def summary(self) -> pd.DataFrame:
        """Failure counts by table and rule (columns ``table, rule, count``)."""
        if self.frame.empty:
            return pd.DataFrame({"table": [], "rule": [], "count": []})
        counts = self.frame.groupby(["table", "rule"], sort=False).size()
        return counts.rename("count").reset_index()

    def to_dict(self) -> dict[str, object]:
        """The report without its failures list (see :meth:`to_json` for the full shape)."""
        return {
            "data_dir": str(self.data_dir),
            "reference_date": self.reference_date.strftime("%Y-%m-%d"),
            "ok": self.ok,
            "row_counts": dict(self.row_counts),
            "failure_count": len(self.frame),
            "summary": self.summary().to_dict("records"),
            **({} if self.quarantined is None else {"quarantined": dict(self.quarantined)}),
        }

    def to_json(self, path: Path) -> Path:
        """Write the report as JSON with every failure.

        Shape: ``{"data_dir", "reference_date", "ok", "row_counts": {table: n},
        "failure_count", "summary": [{"table", "rule", "count"}], "quarantined": {table: n}
        (only after a quarantine), "failures": [{"table", "row", "key", "column", "rule",
        "value", "message"}]}``.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        head = json.dumps(self.to_dict(), indent=2, ensure_ascii=False, default=int)
        failures = self.frame.to_json(orient="records", force_ascii=False, indent=2)
        path.write_text(head[:-2] + ',\n  "failures": ' + failures + "\n}\n", encoding="utf-8")
        return path

    def to_csv(self, path: Path) -> Path:
        """Write the failures as CSV (one line per failure)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.frame.to_csv(path, index=False)
        return path


class ContractViolation(ValueError):  # noqa: N818
    """The data folder breaks the contract; ``report`` lists every failure."""

    def __init__(self, report: ValidationReport, detail: str = "") -> None:
        self.report = report
        counts = ", ".join(f"{r.table}/{r.rule}: {r.count}" for r in report.summary().itertuples())
        super().__init__(
            f"{len(report.frame)} contract failure(s) in {report.data_dir}"
            f"{' (' + detail + ')' if detail else ''}: {counts}"
        )


def _text(s: pd.Series) -> pd.Series:
    """Cells as stored, as text ("" for empty)."""
    if pd.api.types.is_datetime64_any_dtype(s):
        day = s.dt.strftime("%Y-%m-%d")
        return day.where(s == s.dt.normalize(), s.astype(str)).fillna("")
    return s.astype(object).where(s.notna(), "").astype(str)


def finish_failures(frame: pd.DataFrame, tables: dict[str, CheckedTable]) -> pd.DataFrame:
    """Fill keys and values from the stored cells, fill messages, order the failures."""
    frame = frame.astype({"row": "Int64"})
    if frame.empty:
        return empty_failures().astype({c: object for c in FAILURE_COLUMNS if c != "row"})
    frame["key"] = frame["key"].astype(object)
    frame["value"] = frame["value"].astype(object)
    for name, table in tables.items():
        at = (frame["table"] == name).to_numpy() & frame["row"].notna().to_numpy()
        if not at.any():
            continue
        rows = frame.loc[at, "row"].to_numpy(dtype="int64")
        raw = table.raw
        key_cols = [c for c in table.spec.key if c in raw.columns]
        if key_cols:
            part = raw.iloc[rows]
            keys = pd.Series("", index=part.index, dtype=object)
            for i, c in enumerate(key_cols):
                keys = keys + ("" if i == 0 else ", ") + f"{c}=" + _text(part[c]).to_numpy()
            frame.loc[at, "key"] = keys.to_numpy()
        need = at & frame["value"].isna().to_numpy() & frame["column"].notna().to_numpy()
        for column in frame.loc[need, "column"].unique():
            cols = [c for c in str(column).split(",") if c in raw.columns]
            sel = need & (frame["column"] == column).to_numpy()
            if not cols:
                continue
            part = raw.iloc[frame.loc[sel, "row"].to_numpy(dtype="int64")]
            text = _text(part[cols[0]])
            for c in cols[1:]:
                text = text + ", " + _text(part[c]).to_numpy()
            frame.loc[sel, "value"] = text.to_numpy()
    frame["value"] = frame["value"].where(frame["value"].notna(), "")
    has = np.array(["{value}" in str(m) for m in frame["message"]], dtype=bool)
    if has.any():
        frame.loc[has, "message"] = [
            m.replace("{value}", v)
            for m, v in zip(frame.loc[has, "message"], frame.loc[has, "value"], strict=True)
        ]
    order = frame["table"].map(_TABLE_ORDER).fillna(len(_TABLE_ORDER))
    frame = frame.assign(_o=order, _r=frame["row"].fillna(-1))
    frame = frame.sort_values(["_o", "_r", "column", "rule"], kind="stable", na_position="first")
    frame = frame.drop(columns=["_o", "_r"]).reset_index(drop=True)
    for c in ("table", "key", "column", "rule", "value", "message"):
        frame[c] = frame[c].astype(object).where(frame[c].notna(), None)
    return frame[FAILURE_COLUMNS]
