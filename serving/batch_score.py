"""Batch scores of a portfolio feature table, mapped over communes on an engine.

The one definition of a score row is :func:`serving.portfolio.score_frame`; this module maps it
over communes with :mod:`features.engine` (``--engine local|dask``):

* :func:`score_frame` — a frame in memory, scored commune by commune, rows back in its order;
* :func:`score_parquet` — a feature table file (or folder of files), scored row group by row
  group (one per commune when written by ``vbsp-risk features``), each read by the worker that
  scores it, results gathered in file order (for the service's database);
* :func:`write_score_parts` — the same, but each worker writes its commune's scores to
  ``<out>/part-<commune>.parquet`` and returns only a count and its own timings (nothing but a
  few numbers travels back: what a province or the nation uses).

Workers read only the columns a score needs (keys, the model's features, outstanding principal).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.engine import Engine, checked

if TYPE_CHECKING:
    from serving.model_store import LoadedModel

logger = logging.getLogger(__name__)

ROW_KEYS = ("household_id", "as_of", "commune_id")
PLACES = ("group_id", "village_id")


def _piece(frame: pd.DataFrame, model: LoadedModel, explain: bool | None) -> pd.DataFrame:
    """:func:`serving.portfolio.score_frame` rows; ``explain=None``: keys and probability only."""
    from serving.portfolio import fast_matrix, score_frame

    if explain is None:
        keys = [c for c in ROW_KEYS if c in frame.columns]
        out = pd.DataFrame({k: frame[k].reset_index(drop=True) for k in keys})
        out["probability"] = model.predict(fast_matrix(model, frame))
        return out
    return score_frame(model, frame, explain=explain)


def score_frame(
    model: LoadedModel, frame: pd.DataFrame, engine: Engine, explain: bool | None = True
) -> pd.DataFrame:
    """:func:`serving.portfolio.score_frame` mapped over the communes of ``frame``.

    Rows come back in the order of ``frame`` (same result as scoring it whole). ``explain=None``
    returns only the keys and the calibrated probability (no bands or reasons).
    """
    if frame.empty:
        return _piece(frame, model, explain)
    codes, cids = pd.factorize(frame["commune_id"], sort=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(cids) + 1))
    shared = engine.share(model)
    parts = (frame.iloc[order[a:b]] for a, b in zip(bounds[:-1], bounds[1:], strict=True))
    pieces = checked(engine.map(_piece, parts, shared, explain, scatter=True))
    out = pd.concat(list(pieces), ignore_index=True)
    inverse = np.empty(len(order), dtype="int64")
    inverse[order] = np.arange(len(order))
    return out.iloc[inverse].reset_index(drop=True)


@dataclass(frozen=True, eq=False)  # eq=False: a households frame has no truth value to compare
class ScoreOptions:
    """Which rows of a feature table are scored and what a score row carries.

    One value for :func:`score_parquet` and :func:`write_score_parts`, which differ only in
    where the scores go.

    Attributes:
        months: Score only the last ``months`` snapshot dates (``None``: all).
        households: ``household_id, group_id, village_id`` of the households, joined to the
            rows (needed unless the table already has group and village).
        explain: Attach reasons (one contribution pass per row); ``None``: keys and calibrated
            probability only (no bands, exposure or reasons).
    """

    months: int | None = None
    households: pd.DataFrame | None = None
    explain: bool | None = True


EVERY_ROW = ScoreOptions()
"""Every snapshot date, the table's own places, with reasons."""


class Places:
    """Each household's group and village, looked up by household id (built once per worker)."""

    def __init__(self, households: pd.DataFrame) -> None:
        ids = households["household_id"]
        if not ids.is_unique:
            first = ids[ids.duplicated()].iloc[0]
            raise ValueError(f"households table: household_id {first} appears more than once")
        self.index = pd.Index(ids)
        self.group = households["group_id"].array
        self.village = households["village_id"].array

    def attach(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with ``group_id`` and ``village_id`` from the households table (as
        :func:`serving.portfolio.feature_table_months` joins them).

        Raises:
            ValueError: If a row's household is not in the households table.
        """
        codes, uniq = pd.factorize(frame["household_id"])  # a household repeats every month
        pos = np.where(codes < 0, -1, self.index.get_indexer(uniq)[codes])  # null id: missing
        missing = pos < 0
        if missing.any():
            first = frame["household_id"].iloc[int(np.flatnonzero(missing)[0])]
            raise ValueError(
                f"feature table: {int(missing.sum())} rows of households absent from the "
                f"households table (first: {first})"
            )
        out = frame.drop(columns=list(PLACES), errors="ignore").reset_index(drop=True)
        out["group_id"] = self.group.take(pos)
        out["village_id"] = self.village.take(pos)
        return out


def table_files(path: Path) -> list[Path]:
    """The Parquet files of a feature table: the file itself, or a folder's files in name order.

    Raises:
        FileNotFoundError: If there is no such file or no Parquet file in the folder.
    """
    path = Path(path).resolve()
    files = sorted(path.rglob("*.parquet")) if path.is_dir() else [path] if path.exists() else []
    if not files:
        raise FileNotFoundError(f"feature table {path}: no Parquet file found")
    return files


def _since(files: list[Path], months: int | None) -> pd.Timestamp | None:
    """First snapshot date of the last ``months`` dates of the table (None: all)."""
    import pyarrow.parquet as pq

    if months is None:
        return None
    dates: set[np.datetime64] = set()
    for f in files:
        col = pq.read_table(f, columns=["as_of"]).column(0).to_pandas()
        dates.update(pd.to_datetime(col).unique())
    ordered = sorted(dates)
    return pd.Timestamp(ordered[-months]) if ordered else None


def _columns(model: LoadedModel, schema_names: list[str]) -> list[str]:
    wanted = [*ROW_KEYS, *PLACES, "outstanding_principal", *model.scorer.inputs]
    return [c for c in dict.fromkeys(wanted) if c in schema_names]


def _read_group(
    item: tuple[Path, int], model: LoadedModel, since: pd.Timestamp | None, places: Places | None
) -> pd.DataFrame | None:
    import pyarrow.parquet as pq

    path, group = item
    f = pq.ParquetFile(path)
    frame = f.read_row_group(group, columns=_columns(model, f.schema_arrow.names)).to_pandas()
    if since is not None:
        frame = frame[pd.to_datetime(frame["as_of"]).to_numpy() >= since.to_datetime64()]
    if frame.empty:
        return None
    return places.attach(frame) if places is not None else frame


def _score_group(
    item: tuple[Path, int],
    model: LoadedModel,
    explain: bool | None,
    since: pd.Timestamp | None,
    places: Places | None,
) -> pd.DataFrame | None:
    frame = _read_group(item, model, since, places)
    return None if frame is None else _piece(frame, model, explain)


def _groups(files: list[Path]) -> list[tuple[Path, int]]:
    import pyarrow.parquet as pq

    return [(f, g) for f in files for g in range(pq.ParquetFile(f).metadata.num_row_groups)]


def _on_workers(
    engine: Engine,
    task: Callable[..., Any],
    items: list,
    files: list[Path],
    model: LoadedModel,
    options: ScoreOptions,
    *more: object,
) -> list:
    """``task(item, model, explain, since, places, *more)`` for each item on the engine's
    workers, the model and the households' places shared once; the results that are not
    ``None``, in item order (a worker's error raised as :func:`checked` does)."""
    places = Places(options.households) if options.households is not None else None
    results = engine.map(
        task,
        items,
        engine.share(model),
        options.explain,
        _since(files, options.months),
        engine.share(places) if places is not None else None,
        *more,
    )
    return [r for r in checked(results) if r is not None]


def score_parquet(
    model: LoadedModel, path: Path, engine: Engine, options: ScoreOptions = EVERY_ROW
) -> pd.DataFrame:
    """Score a portfolio feature table row group by row group; the rows, in file order.

    With ``months`` and ``households`` this is ``score_frame(model, feature_table_months(table,
    months, households))`` of ``vbsp-risk score``, without the table ever being whole in memory.

    Args:
        model: A portfolio-view model (:func:`serving.model_store.from_scorer`).
        path: Parquet feature table, file or folder (visible to the workers at the same path).
        engine: Where to run.
        options: Months, households and reasons (default: every row, with reasons).

    Raises:
        FileNotFoundError: If the table has no Parquet file.
        ValueError: If a row's household is not in ``households``.
    """
    files = table_files(path)
    pieces = _on_workers(engine, _score_group, _groups(files), files, model, options)
    if not pieces:
        return _piece(pd.DataFrame(columns=list(ROW_KEYS)), model, options.explain)
    return pd.concat(pieces, ignore_index=True)


@dataclass(frozen=True)
class PartWritten:
    """What a worker reports for one commune's score file (timings measured on the worker)."""

    name: str
    rows: int
    read_s: float
    score_s: float
    write_s: float


def _commune_tasks(files: list[Path]) -> list[tuple[str, list[tuple[Path, int]]]]:
    """Row groups gathered by commune (from the column statistics), as ``(part name, groups)``;
    a row group holding several communes (or without statistics) is a part of its own."""
    import pyarrow.parquet as pq

    tasks: dict[str, list[tuple[Path, int]]] = {}
    for f in files:
        meta = pq.ParquetFile(f).metadata
        names = [meta.schema.column(i).name for i in range(meta.num_columns)]
        col = names.index("commune_id") if "commune_id" in names else None
        for g in range(meta.num_row_groups):
            stats = meta.row_group(g).column(col).statistics if col is not None else None
            one = stats is not None and stats.has_min_max and stats.min == stats.max
            cid = (
                stats.min.decode()
                if one and isinstance(stats.min, bytes)
                else stats.min
                if one
                else None
            )
            name = f"part-{cid}" if one else f"part-{len(tasks):05d}"
            tasks.setdefault(name, []).append((f, g))
    return list(tasks.items())


def _write_part(
    task: tuple[str, list[tuple[Path, int]]],
    model: LoadedModel,
    explain: bool | None,
    since: pd.Timestamp | None,
    places: Places | None,
    out_dir: Path,
) -> PartWritten | None:
    name, groups = task
    t0 = time.perf_counter()
    frames = [
        f for f in (_read_group(item, model, since, places) for item in groups) if f is not None
    ]
    if not frames:
        return None
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    t1 = time.perf_counter()
    scores = _piece(frame, model, explain)
    t2 = time.perf_counter()
    if "as_of" in scores.columns:  # a date column as stored, not the database's date objects
        scores["as_of"] = pd.to_datetime(frame["as_of"]).to_numpy()
    scores.to_parquet(out_dir / f"{name}.parquet", index=False)
    return PartWritten(name, len(scores), t1 - t0, t2 - t1, time.perf_counter() - t2)


def write_score_parts(
    model: LoadedModel, path: Path, out_dir: Path, engine: Engine, options: ScoreOptions = EVERY_ROW
) -> list[PartWritten]:
    """:func:`score_parquet`, with each worker writing ``<out_dir>/part-<commune>.parquet``.

    A commune's row groups (read from the ``commune_id`` column statistics) make one task and
    one file. ``out_dir`` is created and must be visible to the workers at the same path. Returns one
    :class:`PartWritten` per file, in file order (the scores themselves stay on disk).
    """
    files = table_files(path)
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    written = _on_workers(
        engine, _write_part, _commune_tasks(files), files, model, options, out_dir
    )
    logger.info(
        "wrote %d score files (%d rows) to %s", len(written), sum(p.rows for p in written), out_dir
    )
    return written
