"""Execution engines: the same pandas feature functions, mapped over commune partitions.

A household's and a group's whole history lives in one commune, so every batch job of the
project — feature tables, the online store's rows, batch scores — is a map of one pure pandas
function over communes followed by an ordered concatenation. This module runs that map on one of
two engines:

* :class:`LocalEngine` (``--engine local``, the default): in this process, one commune after the
  other (today's behaviour; memory bounded by the largest commune).
* :class:`~features.engine_dask.DaskEngine` (``--engine dask --scheduler ADDRESS|local``): each
  commune is a ``dask.distributed`` task on a cluster (:mod:`features.engine_dask`).

The functions mapped are the existing ones (:func:`features.build.commune_feature_table`,
:func:`features.online_store.compute_store_rows`, and :func:`serving.portfolio.score_frame` in
:mod:`serving.batch_score`):
there is one definition of every feature, and the engines give identical results
(``tests/features/test_engine.py``). Workers read the commune parts themselves, so the data
folder must be visible to them at the same path (shared disk or object store mount).
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from features import build, online_store, partitions
from features.build import DEFAULT_WINDOW, FeatureJob, FeatureWindow
from features.engine_dask import LOCAL_SCHEDULER, DaskEngine
from features.validation import ContractViolation, ValidationReport, load_tables

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine as DbEngine

logger = logging.getLogger(__name__)

ENGINES = ("local", "dask")


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


def checked(results: Iterator[Any]) -> Iterator[Any]:
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


def _feature_piece_from_folder(
    cid: str, data_dir: Path, district: Mapping[str, pd.DataFrame], job: FeatureJob
) -> tuple[str, pd.DataFrame | None] | _Violation:
    try:
        tables = load_commune(data_dir, cid, district)
    except ContractViolation as err:
        return _Violation(err.report)
    return cid, job.piece(build.commune_tables(tables, cid))


def _feature_piece_from_tables(
    item: tuple[str, Mapping[str, pd.DataFrame]], job: FeatureJob
) -> tuple[str, pd.DataFrame | None]:
    cid, tables = item
    return cid, job.piece(tables)


def partitioned_pieces(
    data_dir: Path, view: str, engine: Engine, window: FeatureWindow = DEFAULT_WINDOW
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
        return build.partitioned_feature_table(data_dir, view, window)
    export = build.export_of(data_dir)
    job = window.resolve(view, export, lambda: partitions.first_month(data_dir))
    cids = partitions.commune_ids(data_dir)
    district = engine.share(partitions._district_tables(data_dir))

    results = engine.map(_feature_piece_from_folder, cids, data_dir.resolve(), district, job)
    return checked(results), export


def table_pieces(
    tables: Mapping[str, pd.DataFrame],
    view: str,
    export_date: str | pd.Timestamp,
    engine: Engine,
    window: FeatureWindow = DEFAULT_WINDOW,
) -> Iterator[tuple[str, pd.DataFrame | None]]:
    """``(commune_id, piece)`` of a view's feature table from tables in memory.

    On the local engine this is :func:`features.build.iter_feature_table`; on Dask each
    commune's rows (:func:`features.build.commune_tables`) are sent to a worker with its task.
    """
    if isinstance(engine, LocalEngine):
        return build.iter_feature_table(tables, view, export_date, window)
    export = pd.Timestamp(export_date)
    job = window.resolve(view, export, lambda: build.first_interest_month(tables))
    cids = sorted(tables["communes"]["commune_id"])
    items = ((cid, build.commune_tables(tables, cid)) for cid in cids)
    return checked(engine.map(_feature_piece_from_tables, items, job, scatter=True))


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
            _store_rows_from_folder,
            partitions.commune_ids(data_dir),
            data_dir.resolve(),
            district,
            as_of,
        )
    pieces = [r for r in checked(results) if r is not None and len(r)]
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
