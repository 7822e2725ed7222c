"""Feature tables for the two views, from one set of feature definitions.

* **portfolio** — one row per household with an active loan at each month-end (inspectors:
  "who is heading for trouble"); ``as_of`` is the first day of the next month.
* **application** — one row per loan at its application date (loan officers: "how risky is this
  application"); history strictly before the application date, plus the application's own fields.
  The application date, not the disbursement date, is the cut-off because that is when the
  officer scores it: the weeks between application and disbursement are not yet known then.

Work is done commune by commune (a household's whole history lives in one commune), so memory is
bounded by the largest commune. Pure functions; I/O lives in the CLI.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.application import application_features
from features.catalog import LABELS, VIEWS, LabelDefinition, all_feature_names
from features.context import area_features, group_features
from features.history import borrower_features
from features.labels import make_labels
from features.pit import as_ns
from features.snapshots import portfolio_snapshots

logger = logging.getLogger(__name__)

PLACE = ["group_id", "village_id", "commune_id"]
APPLICATION_FIELDS = ["program", "purpose", "amount", "term_months", "grace_months"]


def key_columns(view: str) -> list[str]:
    """Identifying columns of a feature-table row (not features)."""
    return ["household_id", "as_of", "commune_id"] + (["loan_id"] if view == "application" else [])


def _with_place(snaps: pd.DataFrame, households: pd.DataFrame) -> pd.DataFrame:
    place = households[["household_id", *PLACE]].drop_duplicates("household_id")
    return snaps.merge(place, on="household_id", how="left", validate="many_to_one")


def application_snapshots(
    tables: Mapping[str, pd.DataFrame], start_month: str | None = None, end_month: str | None = None
) -> pd.DataFrame:
    """One row per loan, at its application date, with the application's own fields.

    Args:
        tables: Typed tables; reads ``loans`` and ``households``.
        start_month: First application month to include (``YYYY-MM``), or all.
        end_month: Last application month to include (``YYYY-MM``), or all.

    Returns:
        ``loan_id``, ``household_id``, ``as_of`` (= application date), the application fields and
        the household's group, village and commune.
    """
    loans = tables["loans"]
    snaps = loans[["loan_id", "household_id", *APPLICATION_FIELDS]].assign(
        as_of=as_ns(loans["application_date"]).dt.normalize()
    )
    month = snaps["as_of"].dt.to_period("M")
    if start_month:
        snaps = snaps[month >= pd.Period(start_month, "M")]
    if end_month:
        snaps = snaps[month.loc[snaps.index] <= pd.Period(end_month, "M")]
    snaps = snaps.sort_values(["as_of", "household_id", "loan_id"], kind="stable").reset_index(
        drop=True
    )
    return _with_place(snaps, tables["households"])


def feature_rows(
    tables: Mapping[str, pd.DataFrame], snaps: pd.DataFrame, view: str
) -> pd.DataFrame:
    """Every feature of ``view`` for prepared snapshots (keys, place and, for applications, fields).

    This is the one assembly used by batch feature tables and by the service.
    """
    hist = borrower_features(tables, snaps[["household_id", "as_of"]])
    group = group_features(tables, snaps)
    area = area_features(tables, snaps)
    parts = [snaps[[c for c in key_columns(view) if c in snaps.columns]].reset_index(drop=True)]
    for frame in (hist, group, area):
        parts.append(
            frame.drop(columns=[c for c in frame.columns if c in parts[0].columns or c in PLACE])
        )
    if view == "application":
        app = application_features(
            snaps[APPLICATION_FIELDS + ["household_id"]], tables["households"], hist
        )
        parts.append(app.drop(columns=[c for c in app.columns if c in parts[0].columns]))
    out = pd.concat([p.reset_index(drop=True) for p in parts], axis=1)
    return out[key_columns(view) + all_feature_names(view)]


def commune_tables(tables: Mapping[str, pd.DataFrame], commune_id: str) -> dict[str, pd.DataFrame]:
    """The rows of every table that belong to one commune (histories never cross communes)."""
    groups = tables["groups"]
    gids = set(groups.loc[groups["commune_id"] == commune_id, "group_id"])
    out: dict[str, pd.DataFrame] = {}
    for name, df in tables.items():
        if name == "protected_attributes":
            continue
        if "commune_id" in df.columns:
            out[name] = df[df["commune_id"] == commune_id]
        elif "group_id" in df.columns:
            out[name] = df[df["group_id"].isin(gids)]
        else:
            out[name] = df
    return out


def commune_feature_table(
    tables: Mapping[str, pd.DataFrame],
    view: str,
    export: pd.Timestamp,
    start_month: str,
    end_month: str,
    labels: Mapping[str, LabelDefinition],
) -> pd.DataFrame | None:
    """The feature table of one commune's tables (``None`` when it has no snapshot)."""
    if view == "portfolio":
        snaps = _with_place(
            portfolio_snapshots(tables, start_month, end_month), tables["households"]
        )
    else:
        snaps = application_snapshots(tables, start_month, end_month)
    if snaps.empty:
        return None
    feats = feature_rows(tables, snaps, view)
    lab = make_labels(tables, snaps[["household_id", "as_of"]], export, labels)
    out = pd.concat([feats, lab[list(labels)]], axis=1)
    return out[key_columns(view) + list(labels) + all_feature_names(view)]


@dataclass(frozen=True)
class FeatureJob:
    """A view's feature table, its months resolved: what one commune's piece needs (small, so
    the engines send it with every task)."""

    view: str
    export: pd.Timestamp
    start_month: str
    end_month: str
    labels: Mapping[str, LabelDefinition]

    def piece(self, tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame | None:
        """:func:`commune_feature_table` of one commune's tables (:func:`commune_tables`)."""
        return commune_feature_table(
            tables, self.view, self.export, self.start_month, self.end_month, self.labels
        )


@dataclass(frozen=True)
class FeatureWindow:
    """The months a feature table covers and the labels it carries, as asked for.

    Every builder of a feature table (in memory, streamed, by partition, on an engine) takes one
    and resolves it with :meth:`resolve`, so the defaults and the checks of the month range are
    the same everywhere.

    Attributes:
        start_month: First month (``YYYY-MM``); ``None``: the first month with interest data.
        end_month: Last month; ``None``: the export month.
        labels: Label definitions; ``None``: :data:`features.catalog.LABELS`.
    """

    start_month: str | None = None
    end_month: str | None = None
    labels: Mapping[str, LabelDefinition] | None = None

    def resolve(
        self, view: str, export: pd.Timestamp, first_month: Callable[[], str]
    ) -> FeatureJob:
        """The job of ``view`` for data exported on ``export``.

        Args:
            view: ``portfolio`` or ``application``.
            export: Last day covered by the data.
            first_month: The data's first month with interest (called only without
                ``start_month``: it may have to read files).

        Raises:
            ValueError: On an unknown view, a last month after the export month or a first
                month after the last.
        """
        if view not in VIEWS:
            raise ValueError(f"view must be one of {list(VIEWS)}, not {view!r}")
        start = self.start_month or first_month()
        end = self.end_month or export.strftime("%Y-%m")
        if pd.Period(end, "M") > export.to_period("M"):
            raise ValueError(f"last month {end} is after the export month {export:%Y-%m}")
        if pd.Period(start, "M") > pd.Period(end, "M"):
            raise ValueError(f"first month {start} is after the last month {end}")
        return FeatureJob(view, export, start, end, LABELS if self.labels is None else self.labels)


DEFAULT_WINDOW = FeatureWindow()
"""From the first month with interest data to the export month, with every label."""


def first_interest_month(tables: Mapping[str, pd.DataFrame]) -> str:
    """The first month (``YYYY-MM``) with interest data: where a feature table starts."""
    return as_ns(tables["interest"]["session_date"]).min().strftime("%Y-%m")


def iter_feature_table(
    tables: Mapping[str, pd.DataFrame],
    view: str,
    export_date: str | pd.Timestamp,
    window: FeatureWindow = DEFAULT_WINDOW,
) -> Iterator[tuple[str, pd.DataFrame | None]]:
    """Yield ``(commune_id, piece)`` of a view's feature table, one commune at a time.

    Args:
        tables: Typed tables of the data contract (``protected_attributes`` is never read).
        view: ``portfolio`` or ``application``.
        export_date: Last day covered by the data; labels whose horizon passes it are null.
        window: Months and labels (default: every month up to the export, every label).

    Raises:
        ValueError: On an unknown view or a bad month range (:meth:`FeatureWindow.resolve`).
    """
    job = window.resolve(view, pd.Timestamp(export_date), lambda: first_interest_month(tables))
    for cid in sorted(tables["communes"]["commune_id"]):
        yield cid, job.piece(commune_tables(tables, cid))


def build_feature_table(
    tables: Mapping[str, pd.DataFrame],
    view: str,
    export_date: str | pd.Timestamp,
    window: FeatureWindow = DEFAULT_WINDOW,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """The whole feature table of a view in memory (see :func:`iter_feature_table`).

    Returns:
        A frame following the feature-table contract (``docs/feature-table.md``).

    Raises:
        ValueError: On an unknown view, or when no snapshot falls in the months asked for.
    """
    pieces = []
    for cid, piece in iter_feature_table(tables, view, export_date, window):
        if piece is not None:
            pieces.append(piece)
        if progress:
            progress(cid)
    if not pieces:
        raise ValueError(f"no {view} snapshots between {window.start_month} and {window.end_month}")
    out = pd.concat(pieces, ignore_index=True)
    logger.info(
        "%s feature table: %d rows, %d features", view, len(out), len(all_feature_names(view))
    )
    return out


def write_feature_table(
    pieces: Iterator[tuple[str, pd.DataFrame | None]],
    out: Path,
    progress: Callable[[str], None] | None = None,
) -> int:
    """Stream commune pieces into one Parquet file (one row group per commune); return rows."""
    writer: pq.ParquetWriter | None = None
    rows = 0
    try:
        for cid, piece in pieces:
            if piece is not None and len(piece):
                table = pa.Table.from_pandas(piece, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(out, table.schema, compression="zstd")
                writer.write_table(table.cast(writer.schema))
                rows += len(piece)
            if progress:
                progress(cid)
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        raise ValueError("no snapshot in the months asked for")
    return rows


def partitioned_feature_table(
    data_dir: Path, view: str, window: FeatureWindow = DEFAULT_WINDOW
) -> tuple[Iterator[tuple[str, pd.DataFrame | None]], pd.Timestamp]:
    """Pieces of a view's feature table read, validated and built one commune at a time.

    For a folder stored by commune (``features.partitions``): only one commune's tables are in
    memory at once. Yields the same pieces as :func:`iter_feature_table` on the whole folder.

    Returns:
        The piece iterator (raises ``ContractViolation`` while iterating if a commune's data
        breaks the contract) and the export date.
    """
    from features import partitions

    export = export_of(data_dir)
    job = window.resolve(view, export, lambda: partitions.first_month(data_dir))

    def pieces() -> Iterator[tuple[str, pd.DataFrame | None]]:
        for cid, tables in partitions.iter_communes(data_dir):
            # the district tables (groups, villages, hazards…) are cut to the commune too, so
            # the work per commune does not grow with the number of communes
            yield cid, job.piece(commune_tables(tables, cid))

    return pieces(), export


def export_of(data_dir: Path) -> pd.Timestamp:
    """The export date of a folder stored by commune (its ``manifest.json``).

    Raises:
        ValueError: When the manifest has no export date (the pieces cannot be labelled).
    """
    from features import storage

    export_date = storage.read_manifest(data_dir).get("export_date")
    if export_date is None:
        raise ValueError(
            f"{data_dir}: manifest.json with export_date is needed to stream by commune"
        )
    return pd.Timestamp(export_date)
