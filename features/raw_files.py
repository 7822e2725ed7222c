"""Reading one table's files as stored, reporting damaged files and lines instead of crashing.

A bank export can arrive damaged: a Parquet part cut short, an empty file, a CSV saved in
Windows-1258 / Latin-1 or UTF-16 instead of UTF-8, a CSV line cut in the middle or with an extra
unquoted comma, a part missing a column the other parts have. :func:`read_files` reads what can
be read and returns a :class:`FileFault` (rule, file, line, column, message) for the rest; the
validator turns faults into failures (``unreadable_file``, ``encoding``, ``csv_format``,
``missing_column``), so ``vbsp-risk validate`` names the file and line and carries on with the
other tables.

CSV files are read by :mod:`features.csv_files`; both report :class:`features.file_faults.FileFault`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.csv_files import read_csv_file
from features.file_faults import FileFault

logger = logging.getLogger(__name__)


def read_files(
    paths: list[Path], data_dir: Path, columns: list[str], quote_lines: bool = True
) -> tuple[pd.DataFrame | None, list[FileFault]]:
    """Read a table's files (concatenated in order) and the faults of those that are damaged.

    Args:
        paths: The table's files (``storage.table_paths``).
        data_dir: The data folder (file names in faults are relative to it).
        columns: The contract's columns (a part lacking one that other parts have is a fault).
        quote_lines: Quote a bad CSV line's text in its fault (False for sensitive tables).

    Returns:
        The rows that could be read (None when no file could), and the faults.
    """
    frames: list[tuple[str, pd.DataFrame]] = []
    faults: list[FileFault] = []
    for path in paths:
        name = _relative(path, data_dir)
        if path.suffix == ".csv":
            df, found = read_csv_file(path, name, quote_lines)
        else:
            df, found = read_parquet_file(path, name)
        faults.extend(found)
        if df is not None:
            frames.append((name, df))
    lacking = _lacking_columns([(name, list(df.columns)) for name, df in frames], columns)
    faults.extend(lacking)
    frames = [(name, df) for name, df in frames if name not in {f.file for f in lacking}]
    if not frames:
        return None, faults
    if len(frames) == 1:
        return frames[0][1], faults
    return pd.concat([df for _, df in frames], ignore_index=True), faults


def _lacking_columns(files: list[tuple[str, list[str]]], columns: list[str]) -> list[FileFault]:
    """``missing_column`` faults of files lacking a contract column that other files have."""
    if len(files) < 2:
        return []
    present = {c for _, names in files for c in names if c in columns}
    faults = []
    for name, names in files:
        for c in (c for c in columns if c in present and c not in names):
            msg = (
                f"Column {c} is missing from {name} (other files of the table have it); "
                "this file is not read until it has every column."
            )
            faults.append(FileFault(name, "missing_column", msg, column=c))
    return faults


def check_parquet_files(paths: list[Path], data_dir: Path, columns: list[str]) -> list[FileFault]:
    """Faults found from the Parquet files' footers alone (cheap: no data is read).

    Finds files that are empty or cut short (a cut file loses its footer) and parts lacking a
    column; a file damaged inside is only found by reading it (:func:`read_files`).
    """
    faults, files = [], []
    for path in paths:
        name = _relative(path, data_dir)
        try:
            if path.stat().st_size == 0:
                raise OSError("0 bytes")
            files.append((name, pq.read_schema(path).names))
        except (pa.ArrowException, OSError):
            faults.extend(read_parquet_file(path, name)[1])
    return faults + _lacking_columns(files, columns)


def _relative(path: Path, data_dir: Path) -> str:
    try:
        return path.relative_to(data_dir).as_posix()
    except ValueError:
        return path.name


def read_parquet_file(path: Path, name: str) -> tuple[pd.DataFrame | None, list[FileFault]]:
    """One Parquet file as stored, or an ``unreadable_file`` fault (empty, cut short, corrupt)."""
    size = path.stat().st_size
    if size == 0:
        msg = f"{name} is empty (0 bytes), not a Parquet file; export it again."
        return None, [FileFault(name, "unreadable_file", msg)]
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        reason = "no Parquet footer at its end" if "magic bytes" in str(err) else str(err)
        msg = (
            f"{name} cannot be read as Parquet ({size:,} bytes, {reason.strip()}): the file "
            "is cut short (truncated) or damaged; export it again."
        )
        return None, [FileFault(name, "unreadable_file", msg)]
    return table.to_pandas(date_as_object=False, types_mapper=None), []


#: (fault, rule, handling) rows of the "Faulty inputs" section of docs/data-contract.md.
FAULTS = [
    (
        "A Parquet file cut short, damaged, or empty (0 bytes)",
        "unreadable_file",
        "The file is not read; the table's other files are still read and checked.",
    ),
    ("A CSV file that is empty (not even a header)", "unreadable_file", "As above."),
    (
        "A CSV file with only its header row",
        "—",
        "A valid, empty table. `features` needs `--from YYYY-MM` when `interest` is empty.",
    ),
    (
        "A CSV line cut short, with an extra unquoted comma, or an unclosed quote",
        "csv_format",
        "The line is named (line 1 is the header) with its text (not for `protected_attributes`), "
        "and not read; the file's other lines are read and checked. At most 50 such lines are "
        "listed per file.",
    ),
    (
        "A CSV file not ending with a line break",
        "csv_format",
        "Reported, as its last line may have been cut; the line is still read and checked.",
    ),
    (
        "A CSV file separated by semicolons or tabs, or naming a column twice",
        "csv_format",
        "The file is not read.",
    ),
    (
        "A CSV file in Windows-1258, Latin-1 (ANSI) or UTF-16",
        "encoding",
        "The file is not read; the failure names the first line, column and byte UTF-8 cannot "
        "read, and how many lines have such bytes. Encodings are never guessed: any byte reads "
        "as Latin-1, so a guess would silently turn Vietnamese names into wrong letters.",
    ),
    ("A CSV file in UTF-8 with a byte-order mark (Excel's *CSV UTF-8*)", "—", "Accepted."),
    (
        "The same monthly row twice (e.g. one loan's interest session, one savings transaction)",
        "unique_key",
        "Every copy is reported with its key; the message says the copies are "
        "identical (keep one). With `--quarantine` every copy is set aside: the validator does "
        "not choose.",
    ),
    (
        "The same month twice with conflicting amounts",
        "unique_key",
        "As above; the message names the columns that differ (keep the right one).",
    ),
    ("A table without a file", "missing_table", "The other tables are checked."),
    (
        "A column missing from a table",
        "missing_column",
        "Reported once for the table; when only one part of a table stored by commune lacks it, "
        "that part is named and not read.",
    ),
    (
        "A commune with no households, loans or events",
        "—",
        "Valid. `features` writes no rows for it and says so (a note and a log line naming the "
        "commune); every other commune's rows are exactly those of the folder without it.",
    ),
]


def faulty_inputs_section() -> list[str]:
    """The "Faulty inputs" section of ``docs/data-contract.md`` (:data:`FAULTS`)."""
    lines = [
        "## Faulty inputs",
        "",
        "What `vbsp-risk validate DIR` and `vbsp-risk features --data DIR` do with a damaged "
        "export (tested in `tests/vbsp_risk/test_data_faults.py`). `validate` never stops at "
        "the first fault: every table and every readable file is checked, and each failure "
        "names the table, the file and line (`file:line` in `value`) or the row's key, the "
        "column and the rule; it exits 1 (0 when clean, 2 when the folder does not exist), "
        "never with a traceback. `features` and `materialize` load through the same validator "
        "and write nothing when it fails: they exit 1, print the first failures and save the "
        "report (for a folder stored by commune, the first failing commune's — run `validate` "
        "for all; damaged Parquet files are found from their footers before any commune is "
        "built). A table that lost rows to a damaged file or line still gets its own checks "
        "(types, ranges, keys) on the rows read, but is left out of the foreign-key and "
        "cross-table checks, as parent and as child, until it is fixed: its missing rows would "
        "make other tables' rows look wrong.",
        "",
        "| fault | rule | handling |",
        "| --- | --- | --- |",
    ]
    for fault, rule, handling in FAULTS:
        code = rule if rule == "—" else f"`{rule}`"
        lines.append(f"| {fault} | {code} | {handling} |")
    lines.append("")
    return lines
