"""Execution engines: the same pandas feature functions, mapped over commune partitions.

A household's and a group's whole history lives in one commune, so every batch job of the
project — feature tables, the online store's rows, batch scores — is a map of one pure pandas
function over communes followed by an ordered concatenation. This module runs that map on one of
two engines:

* :class:`LocalEngine` (``--engine local``, the default): in this process, one commune after the
  other (today's behaviour; memory bounded by the largest commune).
* :class:`DaskEngine` (``--engine dask --scheduler ADDRESS|local``): each commune is a
  ``dask.distributed`` task on a cluster — an existing one (``tcp://host:8786``) or a
  ``LocalCluster`` started for the job (``local``). Results come back in commune order through a
  bounded window of in-flight tasks, so neither the workers nor the client hold more than a few
  communes' results at once.

The functions mapped are the existing ones (:func:`features.build.commune_feature_table`,
:func:`features.online_store.compute_store_rows`, :func:`serving.portfolio.score_frame`):
there is one definition of every feature, and the engines give identical results
(``tests/features/test_engine.py``). Workers read the commune parts themselves, so the data
folder must be visible to them at the same path (shared disk or object store mount).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from features import build, online_store, partitions, storage
from features.catalog import LABELS, LabelDefinition
from features.pit import as_ns
from features.validation import ContractViolation, ValidationReport, load_tables

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine as DbEngine

    from serving.model_store import LoadedModel

logger = logging.getLogger(__name__)

ENGINES = ("local", "dask")
LOCAL_SCHEDULER = "local"


class Engine(Protocol):
    """What the batch jobs need from an engine."""

    name: str

    def map(
        self, fn: Callable[..., Any], items: Iterable[Any], *args: Any, scatter: bool = False
    ) -> Iterator[Any]:
        """``fn(item, *args)`` for each item, yielded in the order of ``items`` (``scatter``:
        the items are data, sent to the workers ahead of their tasks)."""
        ...

    def share(self, obj: Any) -> Any:
        """A handle on ``obj`` to pass as an argument of every task (sent once per worker)."""
        ...

    def close(self) -> None:
        """Release what the engine started."""
        ...


class LocalEngine:
    """Pandas in this process, one item after the other."""

    name = "local"

    def map(
        self, fn: Callable[..., Any], items: Iterable[Any], *args: Any, scatter: bool = False
    ) -> Iterator[Any]:
        """``fn(item, *args)`` for each item, in order."""
        for item in items:
            yield fn(item, *args)

    def share(self, obj: Any) -> Any:
        """The object itself."""
        return obj

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DaskEngine:
    """Tasks on a ``dask.distributed`` cluster.

    Args:
        scheduler: ``local`` starts a ``LocalCluster`` (one single-threaded worker process per
            core unless ``n_workers`` says otherwise) and stops it on :meth:`close`; anything
            else is the address of a running scheduler (``tcp://host:8786``), which is left
            running.
        n_workers: Workers of a local cluster (default: the machine's cores).
        window: Most tasks in flight at once (default: twice the cluster's threads). Results
            are consumed in order, so this bounds the results held on workers and client.
        client: An existing ``distributed.Client`` to use instead (not closed by :meth:`close`).
    """

    name = "dask"

    def __init__(
        self,
        scheduler: str = LOCAL_SCHEDULER,
        *,
        n_workers: int | None = None,
        window: int | None = None,
        client: Any = None,
    ) -> None:
        from distributed import Client, LocalCluster

        self._cluster = None
        self._own_client = client is None
        if client is not None:
            self.client = client
        elif scheduler == LOCAL_SCHEDULER:
            self._cluster = LocalCluster(
                n_workers=n_workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.WARNING,
            )
            self.client = Client(self._cluster)
        else:
            self.client = Client(scheduler)
        self._window = window
        logger.info("dask engine: %s, %d threads", self.client.scheduler.address, self.threads)

    @property
    def threads(self) -> int:
        """Worker threads of the cluster."""
        return int(sum(self.client.nthreads().values())) or 1

    def map(
        self, fn: Callable[..., Any], items: Iterable[Any], *args: Any, scatter: bool = False
    ) -> Iterator[Any]:
        """``fn(item, *args)`` as tasks, yielded in the order of ``items`` (bounded window;
        ``scatter``: each item is data, scattered to the cluster rather than put in the graph).
        """
        window = self._window or 2 * self.threads
        token = uuid.uuid4().hex[:8]
        todo = enumerate(items)
        pending: deque[Any] = deque()

        def submit_next() -> None:
            for i, item in todo:
                key = f"{fn.__name__}-{token}-{i}"
                arg = self.client.scatter([item], hash=False)[0] if scatter else item
                pending.append(self.client.submit(fn, arg, *args, key=key))
                return

        try:
            for _ in range(window):
                submit_next()
            while pending:
                future = pending.popleft()
                result = future.result()
                future.release()
                submit_next()
                yield result
        finally:
            if pending:
                self.client.cancel(list(pending))

    def share(self, obj: Any) -> Any:
        """A future of ``obj`` scattered to every worker (tasks receive the object)."""
        [future] = self.client.scatter([obj], broadcast=True, hash=False)
        return future

    def close(self) -> None:
        """Close the client (and the local cluster, if this engine started it)."""
        if self._own_client:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()

    def __enter__(self) -> DaskEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_engine(name: str = "local", scheduler: str = LOCAL_SCHEDULER) -> LocalEngine | DaskEngine:
    """The engine called ``name`` (``local`` or ``dask``; ``scheduler`` is for ``dask`` only)."""
    if name == "local":
        return LocalEngine()
    if name == "dask":
        return DaskEngine(scheduler)
    raise ValueError(f"engine must be one of {ENGINES}, not {name!r}")


# --- commune tasks ---------------------------------------------------------------------------


@dataclass
class _Violation:
    """A worker's contract violation, carried back as data (the exception does not pickle)."""

    report: ValidationReport


def _checked(results: Iterator[Any]) -> Iterator[Any]:
    """Results with a worker's contract violation raised here; the map is closed on exit."""
    try:
        for result in results:
            if isinstance(result, _Violation):
                raise ContractViolation(result.report)
            yield result
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()


def load_commune(data_dir: Path, cid: str, district: Mapping[str, pd.DataFrame]) -> dict:
    """One commune of a partitioned folder, validated and typed (as :func:`partitions.iter_communes`
    lays it out: its parts linked, the district tables cut to it)."""
    with tempfile.TemporaryDirectory(prefix=f"vbsp-{cid}-") as tmp:
        partitions._link_view(Path(data_dir), cid, Path(tmp), dict(district))
        return load_tables(Path(tmp))


@dataclass(frozen=True)
class FeatureJob:
    """What one commune's feature-table task needs (small; sent with every task)."""

    view: str
    export: pd.Timestamp
    start_month: str
    end_month: str
    labels: Mapping[str, LabelDefinition]


def _feature_piece_from_folder(
    cid: str, data_dir: Path, district: Mapping[str, pd.DataFrame], job: FeatureJob
) -> tuple[str, pd.DataFrame | None] | _Violation:
    try:
        tables = load_commune(data_dir, cid, district)
    except ContractViolation as err:
        return _Violation(err.report)
    piece = build.commune_feature_table(
        build.commune_tables(tables, cid), job.view, job.export, job.start_month, job.end_month,
        job.labels,
    )  # fmt: skip
    return cid, piece


def _feature_piece_from_tables(
    item: tuple[str, Mapping[str, pd.DataFrame]], job: FeatureJob
) -> tuple[str, pd.DataFrame | None]:
    cid, tables = item
    return cid, build.commune_feature_table(
        tables, job.view, job.export, job.start_month, job.end_month, job.labels
    )


def _months(
    first: str, export: pd.Timestamp, start_month: str | None, end_month: str | None
) -> tuple[str, str]:
    """Resolve and check the month range as :mod:`features.build` does."""
    start = start_month or first
    end = end_month or export.strftime("%Y-%m")
    if pd.Period(end, "M") > export.to_period("M"):
        raise ValueError(f"last month {end} is after the export month {export:%Y-%m}")
    if pd.Period(start, "M") > pd.Period(end, "M"):
        raise ValueError(f"first month {start} is after the last month {end}")
    return start, end


def partitioned_pieces(
    data_dir: Path,
    view: str,
    engine: Engine,
    start_month: str | None = None,
    end_month: str | None = None,
    labels: Mapping[str, LabelDefinition] | None = None,
) -> tuple[Iterator[tuple[str, pd.DataFrame | None]], pd.Timestamp]:
    """``(commune_id, piece)`` of a view's feature table from a folder stored by commune.

    On the local engine this is :func:`features.build.partitioned_feature_table` itself; on
    Dask each commune is read, validated and built by a worker. Same pieces, same order.

    Raises:
        ValueError: On an unknown view, a folder without export date, or a bad month range.
        ContractViolation: While iterating, for the first commune that breaks the contract.
    """
    data_dir = Path(data_dir)
    if isinstance(engine, LocalEngine):
        return build.partitioned_feature_table(data_dir, view, start_month, end_month, labels)
    if view not in build.VIEWS:
        raise ValueError(f"view must be one of {build.VIEWS}, not {view!r}")
    export_date = storage.read_manifest(data_dir).get("export_date")
    if export_date is None:
        raise ValueError(f"{data_dir}: manifest.json with export_date is needed to map communes")
    export = pd.Timestamp(export_date)
    first = partitions.first_month(data_dir) if start_month is None else start_month
    start, end = _months(first, export, start_month, end_month)
    job = FeatureJob(view, export, start, end, LABELS if labels is None else labels)
    cids = partitions.commune_ids(data_dir)
    district = engine.share(partitions._district_tables(data_dir))

    results = engine.map(_feature_piece_from_folder, cids, data_dir.resolve(), district, job)
    return _checked(results), export


def table_pieces(
    tables: Mapping[str, pd.DataFrame],
    view: str,
    export_date: str | pd.Timestamp,
    engine: Engine,
    start_month: str | None = None,
    end_month: str | None = None,
    labels: Mapping[str, LabelDefinition] | None = None,
) -> Iterator[tuple[str, pd.DataFrame | None]]:
    """``(commune_id, piece)`` of a view's feature table from tables in memory.

    On the local engine this is :func:`features.build.iter_feature_table`; on Dask each
    commune's rows (:func:`features.build.commune_tables`) are sent to a worker with its task.
    """
    if isinstance(engine, LocalEngine):
        return build.iter_feature_table(tables, view, export_date, start_month, end_month, labels)
    if view not in build.VIEWS:
        raise ValueError(f"view must be one of {build.VIEWS}, not {view!r}")
    export = pd.Timestamp(export_date)
    first = as_ns(tables["interest"]["session_date"]).min().strftime("%Y-%m")
    start, end = _months(first, export, start_month, end_month)
    job = FeatureJob(view, export, start, end, LABELS if labels is None else labels)
    cids = sorted(tables["communes"]["commune_id"])
    items = ((cid, build.commune_tables(tables, cid)) for cid in cids)
    return _checked(engine.map(_feature_piece_from_tables, items, job, scatter=True))


# --- online store ----------------------------------------------------------------------------


def _store_rows_from_folder(
    cid: str, data_dir: Path, district: Mapping[str, pd.DataFrame], as_of: pd.Timestamp
) -> pd.DataFrame | None | _Violation:
    try:
        tables = load_commune(data_dir, cid, district)
    except ContractViolation as err:
        return _Violation(err.report)
    return _store_rows_from_tables((cid, build.commune_tables(tables, cid)), as_of)


def _store_rows_from_tables(
    item: tuple[str, Mapping[str, pd.DataFrame]], as_of: pd.Timestamp
) -> pd.DataFrame | None:
    _cid, tables = item
    if tables["households"].empty and tables["groups"].empty:
        return None
    return online_store.compute_store_rows(tables, as_of)


def store_rows(
    data: Path | Mapping[str, pd.DataFrame], as_of: str | pd.Timestamp, engine: Engine
) -> pd.DataFrame:
    """The online store's rows (:func:`features.online_store.compute_store_rows`) by commune.

    Args:
        data: A folder stored by commune (each worker reads its commune), or typed tables.
        as_of: Feature date.
        engine: Where to run.

    Returns:
        The same frame as ``compute_store_rows`` on the whole district.

    Raises:
        ContractViolation: For the first commune of a folder that breaks the contract.
    """
    as_of = pd.Timestamp(as_of).normalize()
    if isinstance(data, Mapping):
        cids = sorted(data["communes"]["commune_id"])
        items = ((cid, build.commune_tables(data, cid)) for cid in cids)
        results = engine.map(_store_rows_from_tables, items, as_of, scatter=True)
    else:
        data_dir = Path(data)
        district = engine.share(partitions._district_tables(data_dir))
        results = engine.map(
            _store_rows_from_folder, partitions.commune_ids(data_dir), data_dir.resolve(),
            district, as_of,
        )  # fmt: skip
    pieces = [r for r in _checked(results) if r is not None and len(r)]
    if not pieces:
        raise ValueError("no household or group to materialize")
    return pd.concat(pieces, ignore_index=True)


@contextlib.contextmanager
def _substitute(module: Any, name: str, value: Any) -> Iterator[None]:
    old = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, old)


def write_store_rows(rows: pd.DataFrame, db: DbEngine, as_of: str | pd.Timestamp) -> int:
    """Replace the online store with precomputed ``rows``; return rows written.

    The rows go through :func:`features.online_store.materialize` itself (its JSON encoding,
    table and single transaction), with its row computation replaced by ``rows``.
    """

    def computed(_tables: object, _as_of: object) -> pd.DataFrame:
        return rows

    with _substitute(online_store, "compute_store_rows", computed):
        return online_store.materialize({}, db, as_of)


def materialize(
    data: Path | Mapping[str, pd.DataFrame],
    db: DbEngine,
    as_of: str | pd.Timestamp,
    engine: Engine,
) -> int:
    """:func:`features.online_store.materialize` with the rows computed on ``engine``."""
    if isinstance(engine, LocalEngine) and isinstance(data, Mapping):
        return online_store.materialize(data, db, as_of)
    return write_store_rows(store_rows(data, as_of, engine), db, as_of)


# --- batch scores ----------------------------------------------------------------------------


def _score_piece(frame: pd.DataFrame, model: LoadedModel, explain: bool | None) -> pd.DataFrame:
    """``serving.portfolio.score_frame`` rows; ``explain=None``: keys and probability only."""
    if explain is None:
        keys = [c for c in ("household_id", "as_of", "commune_id") if c in frame.columns]
        out = frame[keys].reset_index(drop=True)
        out["probability"] = model.predict(model.matrix_from_frame(frame))
        return out
    from serving.portfolio import score_frame

    return score_frame(model, frame, explain=explain)


def _score_row_group(
    item: tuple[Path, int],
    model: LoadedModel,
    explain: bool | None,
    since: pd.Timestamp | None,
    households: pd.DataFrame | None,
) -> pd.DataFrame | None:
    import pyarrow.parquet as pq

    from serving.portfolio import feature_table_months

    path, group = item
    frame = pq.ParquetFile(path).read_row_group(group).to_pandas()
    if since is not None:
        frame = frame[pd.to_datetime(frame["as_of"]) >= since]
    if frame.empty:
        return None
    if households is not None:
        frame = feature_table_months(frame, frame["as_of"].nunique(), households)
    return _score_piece(frame, model, explain)


def score_frame(
    model: LoadedModel, frame: pd.DataFrame, engine: Engine, explain: bool | None = True
) -> pd.DataFrame:
    """:func:`serving.portfolio.score_frame` mapped over the communes of ``frame``.

    Rows come back in the order of ``frame`` (same result as scoring it whole). ``explain=None``
    returns only the keys and the calibrated probability (the numpy path, no bands or reasons).
    """
    if frame.empty:
        return _score_piece(frame, model, explain)
    codes, cids = pd.factorize(frame["commune_id"], sort=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(cids) + 1))
    shared = engine.share(model)
    parts = (frame.iloc[order[a:b]] for a, b in zip(bounds[:-1], bounds[1:], strict=True))
    pieces = _checked(engine.map(_score_piece, parts, shared, explain, scatter=True))
    out = pd.concat(list(pieces), ignore_index=True)
    inverse = np.empty(len(order), dtype="int64")
    inverse[order] = np.arange(len(order))
    return out.iloc[inverse].reset_index(drop=True)


def score_parquet(
    model: LoadedModel,
    path: Path,
    engine: Engine,
    months: int | None = None,
    households: pd.DataFrame | None = None,
    explain: bool | None = True,
) -> pd.DataFrame:
    """Score a portfolio feature table file row group by row group (one per commune when
    written by ``vbsp-risk features``), each read by the worker that scores it.

    With ``months`` and ``households`` this is ``score_frame(model, feature_table_months(table,
    months, households))`` of ``vbsp-risk score``, without the table ever being whole in memory.

    Args:
        model: A portfolio-view model (:func:`serving.model_store.from_scorer`).
        path: Parquet feature table (visible to the workers at the same path).
        engine: Where to run.
        months: Score only the last ``months`` snapshot dates (default: all).
        households: ``household_id, group_id, village_id`` of the households, joined to the
            rows as :func:`serving.portfolio.feature_table_months` does (needed unless the
            table already has group and village).
        explain: Attach reasons (one contribution pass per row); ``None``: keys and calibrated
            probability only (no bands, exposure or reasons).
    """
    import pyarrow.parquet as pq

    path = Path(path).resolve()
    since = None
    if months is not None:
        dates = pd.to_datetime(pq.read_table(path, columns=["as_of"]).column(0).to_pandas())
        since = sorted(dates.unique())[-months]
    places = None
    if households is not None:
        places = households[["household_id", "group_id", "village_id"]]
    groups = range(pq.ParquetFile(path).metadata.num_row_groups)
    results = engine.map(
        _score_row_group, ((path, g) for g in groups), engine.share(model), explain, since,
        engine.share(places) if places is not None else None,
    )  # fmt: skip
    return pd.concat([p for p in _checked(results) if p is not None], ignore_index=True)
