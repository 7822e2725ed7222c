"""Reading a CSV file of the bank's tables as stored, with the faults of a damaged one.

Accepted: UTF-8, with or without a byte-order mark (Excel's "CSV UTF-8"), comma-separated, a
header row, ``\\n`` or ``\\r\\n`` line breaks, values holding commas or line breaks in double
quotes; blank lines are skipped. Encodings are never guessed: a file in Windows-1258, Latin-1 or
UTF-16 is an ``encoding`` fault naming the first line and column it breaks on, and is not read.
A line with too few or too many fields (cut short, an unquoted comma, an unclosed quote) is a
``csv_format`` fault naming its line, and only that line is left out.
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pv

from features.file_faults import FileFault

logger = logging.getLogger(__name__)

UTF8_BOM = b"\xef\xbb\xbf"
_OTHER_BOMS = {
    b"\xff\xfe\x00\x00": "UTF-32",
    b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe": "UTF-16",
    b"\xfe\xff": "UTF-16",
}
_SAVE_AS = "save it again as UTF-8 (in Excel: 'CSV UTF-8 (Comma delimited)')"
_SHOWN = 80
MAX_LINE_FAULTS = 50


def _shown(text: str) -> str:
    text = text.rstrip("\r\n").replace("\r", "").replace("\n", " ⏎ ")
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def _decode(data: bytes, name: str) -> tuple[str | None, list[FileFault]]:
    """The text of a CSV file, or an ``encoding`` fault (first bad line and column named)."""
    for bom, encoding in _OTHER_BOMS.items():
        if data.startswith(bom):
            msg = f"{name} is {encoding} (it starts with a {encoding} byte-order mark); {_SAVE_AS}."
            return None, [FileFault(name, "encoding", msg)]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        return None, [_encoding_fault(data, err.start, name)]
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        msg = (
            f"{name} line {line} holds NUL bytes: the file is probably UTF-16 without a "
            f"byte-order mark; {_SAVE_AS}."
        )
        return None, [FileFault(name, "encoding", msg, line=line)]
    return text, []


def _encoding_fault(data: bytes, start: int, name: str) -> FileFault:
    """The fault of a file that is not UTF-8, naming the first bad line, column and byte."""
    lines = data.split(b"\n")
    line_no = data.count(b"\n", 0, start) + 1
    bad_lines = sum(1 for b in lines if _not_utf8(b))
    header = next(csv.reader([lines[0].decode("utf-8", errors="replace")]), [])
    cells = next(csv.reader([lines[line_no - 1].decode("utf-8", errors="replace")]), [])
    column = next(
        (header[i] for i, c in enumerate(cells) if "\ufffd" in c and i < len(header)), None
    )
    at = f"line {line_no}" + (f", column {column}" if column else "")
    msg = (
        f"{name} is not UTF-8: {at} has the byte 0x{data[start]:02X}, which UTF-8 cannot "
        f"read ({bad_lines} line(s) have such bytes; the file looks saved as Windows-1258 "
        f"or Latin-1, so Vietnamese letters would come out wrong); {_SAVE_AS}. "
        "The file is not read."
    )
    return FileFault(name, "encoding", msg, line=line_no, column=column)


def _not_utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _header(text: str, name: str) -> tuple[list[str] | None, list[FileFault]]:
    """The header's column names, or a ``csv_format`` fault (wrong separator, a name twice)."""
    first = text.split("\n", 1)[0].rstrip("\r")
    header = next(csv.reader([first]), [])
    header = [c if c else f"Unnamed: {i}" for i, c in enumerate(header)]
    for sep, word in ((";", "semicolons (;)"), ("\t", "tabs")):
        if len(header) == 1 and sep in header[0]:
            msg = (
                f"{name} line 1 (the header) is separated by {word}, not commas; save it "
                "again as CSV with commas (in Excel: 'CSV UTF-8 (Comma delimited)')."
            )
            return None, [FileFault(name, "csv_format", msg, line=1)]
    twice = sorted({c for c in header if header.count(c) > 1})
    if twice:
        msg = f"{name} line 1 (the header) names {', '.join(twice)} twice; the file is not read."
        return None, [FileFault(name, "csv_format", msg, line=1, column=twice[0])]
    return header, []


def read_csv_file(
    path: Path, name: str, quote_lines: bool = True
) -> tuple[pd.DataFrame | None, list[FileFault]]:
    """One CSV file as stored (cells as strings, empty = null), with its faults.

    A line with fewer or more fields than the header is a ``csv_format`` fault and is not
    read; the other lines are. A file not ending with a line break is a ``csv_format`` fault
    too (its last line may have been cut); that line is still read when it has every field.

    Args:
        path: The file.
        name: Its name in messages (relative to the data folder).
        quote_lines: Quote a bad line's text in its fault (False for protected attributes).
    """
    data = path.read_bytes()
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM) :]
    if not data.strip(b" \r\n\t"):
        msg = f"{name} is empty: not even the header row; export it again."
        return None, [FileFault(name, "unreadable_file", msg)]
    text, faults = _decode(data, name)
    if text is None:
        return None, faults
    header, faults = _header(text, name)
    if header is None:
        return None, faults
    bad: list[pv.InvalidRow] = []

    def skip(row: pv.InvalidRow) -> str:
        bad.append(row)
        return "skip"

    try:
        table = pv.read_csv(
            io.BytesIO(data),
            read_options=pv.ReadOptions(use_threads=False, column_names=header, skip_rows=1),
            parse_options=pv.ParseOptions(newlines_in_values=True, invalid_row_handler=skip),
            convert_options=pv.ConvertOptions(
                column_types={c: pa.string() for c in header},
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid as err:  # e.g. an unclosed quote swallowing the rest of the file
        line = _unclosed_quote_line(text)
        at = f" line {line}" if line else ""
        msg = (
            f"{name}{at} cannot be read as CSV ({err}): a double quote is probably not "
            "closed; the file is not read."
        )
        return None, [FileFault(name, "csv_format", msg, line=line)]
    faults = _line_faults(name, data, text, header, bad, quote_lines)
    if not text.endswith(("\n", "\r")):
        last = text.count("\n") + 1
        if not any(f.line == last for f in faults):
            msg = (
                f"{name} does not end with a line break: its last line (line {last}) may "
                "have been cut; check it or export the file again."
            )
            faults.append(FileFault(name, "csv_format", msg, line=last, rows_lost=False))
    return table.to_pandas(), faults


def _line_faults(
    name: str,
    data: bytes,
    text: str,
    header: list[str],
    bad: list[pv.InvalidRow],
    quote_lines: bool,
) -> list[FileFault]:
    """One fault per line with the wrong number of fields (at most :data:`MAX_LINE_FAULTS`)."""
    faults, offset, line = [], 0, 1
    cut_at_end = not text.endswith(("\n", "\r"))
    for row in bad[:MAX_LINE_FAULTS]:
        raw = row.text.encode("utf-8")
        at = _line_start(data, raw, offset)
        if at >= 0:  # the row's line in the file (blank lines and quoted breaks counted)
            line += data.count(b"\n", offset, at)
            offset = at
        else:  # not found as a whole line: the reader's record number (blank lines not counted)
            line = row.number or line
        last = cut_at_end and at >= 0 and at + len(raw) >= len(data.rstrip(b"\r\n"))
        shown = f": '{_shown(row.text)}'" if quote_lines else " (its text is not shown)"
        fault = _field_count_fault(name, line, row.actual_columns, row.text, header, last, shown)
        faults.append(fault)
    if len(bad) > MAX_LINE_FAULTS:
        msg = (
            f"{name}: {len(bad) - MAX_LINE_FAULTS} more line(s) have the wrong number of "
            "fields and are not read."
        )
        faults.append(FileFault(name, "csv_format", msg))
    return faults


def _unclosed_quote_line(text: str) -> int | None:
    """The line where a double quote opens and is not closed on it (None if none)."""
    for i, line in enumerate(text.splitlines(), start=1):
        if line.count('"') % 2:
            return i
    return None


def _line_start(data: bytes, raw: bytes, offset: int) -> int:
    """Where a whole line ``raw`` starts in ``data`` at or after ``offset`` (-1: not found)."""
    at = data.find(b"\n" + raw, max(offset - 1, 0))
    while at >= 0 and data[at + 1 + len(raw) : at + 2 + len(raw)] not in (b"", b"\r", b"\n"):
        at = data.find(b"\n" + raw, at + 1)
    return at + 1 if at >= 0 else -1


def _field_count_fault(
    name: str, line: int, fields: int, text: str, header: list[str], last: bool, shown: str
) -> FileFault:
    n = len(header)
    if fields < n:
        if text.count('"') % 2:
            why = "a double quote is not closed"
        elif last:
            why = "the file ends in the middle of it (cut short)"
        else:
            why = "a value or separator is missing"
        column = header[fields]
        what = f"has {fields} of the header's {n} fields (it stops before {column}): {why}"
    else:
        column = None
        what = f"has {fields} fields but the header has {n}: a value holding a comma must be in double quotes"
    msg = f"{name} line {line} {what}; this line is not read{shown}."
    return FileFault(name, "csv_format", msg, line=line, column=column)
