"""Data-side faults: a damaged export gets clear failures or documented handling, never a crash.

Each fault of :data:`FAULTS` is planted in the tiny district (``tests/support/tiny_district.py``) written
as CSV or as Parquet parts by commune, then ``vbsp-risk validate`` and ``vbsp-risk features``
run on it. A failing fault must exit 1 with exactly the expected failures (table, rule, column,
file/line or key, message words) and no traceback, while every other table is still read in full
("nothing valid dropped"); an accepted fault must exit 0 and give the clean district's features.
The handling is documented in docs/data-contract.md ("Faulty inputs").
"""

from __future__ import annotations

import json
import shutil
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from features.csv_files import read_csv_file
from features.validation import validate_dir
from tests.support.tiny_district import tiny_district, write_csv, write_parquet
from vbsp_risk.cli import app

runner = CliRunner()
CLEAN_ROWS = {name: len(df) for name, df in tiny_district().items()}


@pytest.fixture(autouse=True)
def _state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VBSP_RISK_STATE_DIR", str(tmp_path / "state"))


# --- planting faults ------------------------------------------------------------------------


def cp1258(text: str) -> bytes:
    """Text as Windows-1258 (Vietnamese letters as base letter + combining tone mark)."""
    out = b""
    for ch in text:
        try:
            out += ch.encode("cp1258")
        except UnicodeEncodeError:
            d = unicodedata.normalize("NFD", ch)
            base = unicodedata.normalize("NFC", d[:2])
            try:
                out += base.encode("cp1258") + d[2:].encode("cp1258")
            except UnicodeEncodeError:
                out += d.encode("cp1258")
    return out


def _bytes(name: str, edit: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def plant(d: Path) -> None:
        p = d / name
        p.write_bytes(edit(p.read_bytes()))

    return plant


def _lines(name: str, edit: Callable[[list[str]], list[str]]) -> Callable[[Path], None]:
    def plant(d: Path) -> None:
        p = d / name
        p.write_text("".join(edit(p.read_text("utf-8").splitlines(keepends=True))), "utf-8")

    return plant


def _recode(name: str, encode: Callable[[str], bytes]) -> Callable[[Path], None]:
    return _bytes(name, lambda b: encode(b.decode("utf-8")))


def _drop_column(name: str, column: str) -> Callable[[Path], None]:
    def plant(d: Path) -> None:
        p = d / name
        if p.suffix == ".csv":
            pd.read_csv(p, dtype=str).drop(columns=column).to_csv(p, index=False)
        else:
            pq.write_table(pq.read_table(p).drop([column]), p)

    return plant


def _part_row_twice(name: str, row: int) -> Callable[[Path], None]:
    def plant(d: Path) -> None:
        table = pq.read_table(d / name)
        pq.write_table(pa.concat_tables([table, table.slice(row, 1)]), d / name)

    return plant


def _remove(name: str) -> Callable[[Path], None]:
    def plant(d: Path) -> None:
        p = d / name
        shutil.rmtree(p) if p.is_dir() else p.unlink()

    return plant


def _empty_commune(d: Path) -> None:
    """Add commune C3 to ``communes``: no village, group, household, loan or event."""
    from features import storage
    from features.contract import TABLES

    c3 = {
        "commune_id": "C3",
        "name": "Xã Ba",
        "transaction_day": 15,
        "is_difficult": False,
        "is_border": False,
        "is_remote": True,
        "distance_km": 3.5,
    }
    communes = pd.concat([tiny_district()["communes"], pd.DataFrame([c3])], ignore_index=True)
    if (d / "communes.csv").exists():
        storage.write_csv(communes, d / "communes.csv")
    else:
        storage.write_table(communes, d / "communes.parquet", TABLES["communes"])


def _conflicting_month(lines: list[str]) -> list[str]:
    """Interest of L1 for 2021-02-25 again, with other amounts paid and in arrears."""
    assert lines[1].startswith("L1,C1,2021-02-25,165000,165000,0")
    return [*lines, lines[1].replace("165000,0", "100000,65000")]


# --- the fault table ------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """A planted fault and what must come of it.

    Attributes:
        id: Test id.
        layout: ``csv`` (one file per table) or ``parquet`` (parts by commune).
        plant: Damages the written folder.
        failures: Expected failures ``(table, rule, column, value)``; value is the file (and
            line) for file faults, the key's values for row faults. Empty: the folder is valid.
        words: Words the failures' messages must hold.
        rows: Rows read per table where it differs from the clean district (absent: not read).
        features: For a valid folder, what equals the clean district's feature table:
            ``all`` rows and values, or only the ``keys``.
        output: Words ``features`` must print (besides the failures).
        hidden: Words neither the report nor any output may hold (protected attributes).
    """

    id: str
    layout: str
    plant: Callable[[Path], None]
    failures: frozenset[tuple[str, str, str | None, str]] = frozenset()
    words: tuple[str, ...] = ()
    rows: dict[str, int | None] = field(default_factory=dict)
    features: str = "all"
    output: tuple[str, ...] = ()
    hidden: tuple[str, ...] = ()


def fails(*failures: tuple[str, str, str | None, str]) -> frozenset:
    """The expected failures."""
    return frozenset(failures)


FAULTS = [
    # truncated and empty files
    Fault(
        "parquet-part-cut-in-half",
        "parquet",
        _bytes("loans/part-C1.parquet", lambda b: b[: len(b) // 2]),
        fails(("loans", "unreadable_file", None, "loans/part-C1.parquet")),
        ("cannot be read as Parquet", "cut short"),
        {"loans": 1},
    ),
    Fault(
        "parquet-table-cut-in-half",
        "parquet",
        _bytes("communes.parquet", lambda b: b[: len(b) // 2]),
        fails(("communes", "unreadable_file", None, "communes.parquet")),
        ("cut short",),
        {"communes": None},
    ),
    Fault(
        "parquet-part-empty",
        "parquet",
        _bytes("interest/part-C2.parquet", lambda b: b""),
        fails(("interest", "unreadable_file", None, "interest/part-C2.parquet")),
        ("0 bytes",),
        {"interest": 2},
    ),
    Fault(
        "csv-cut-mid-line",
        "csv",
        _bytes("interest.csv", lambda b: b[:-12]),
        fails(("interest", "csv_format", "interest_paid", "interest.csv:5")),
        ("line 5 has 4 of the header's 6 fields", "cut short", "not read"),
        {"interest": 3},
    ),
    Fault(
        "csv-empty-file",
        "csv",
        _bytes("savings.csv", lambda b: b""),
        fails(("savings", "unreadable_file", None, "savings.csv")),
        ("empty", "header"),
        {"savings": None},
    ),
    Fault(
        "csv-header-only",
        "csv",
        _lines("savings.csv", lambda ls: ls[:1]),
        rows={"savings": 0},
        features="keys",
    ),
    Fault(
        "csv-no-final-line-break",
        "csv",
        _bytes("interest.csv", lambda b: b.rstrip(b"\n")),
        fails(("interest", "csv_format", None, "interest.csv:5")),
        ("line break", "may have been cut"),
    ),
    # wrong encodings (Vietnamese place names) and CSV shape
    Fault(
        "csv-cp1258",
        "csv",
        _recode("villages.csv", cp1258),
        fails(("villages", "encoding", "name", "villages.csv:2")),
        ("not UTF-8", "line 2, column name", "0xF4", "Windows-1258", "2 line(s)"),
        {"villages": None},
    ),
    Fault(
        "csv-latin-1",
        "csv",
        _recode("communes.csv", lambda t: t.encode("latin-1", "replace")),
        fails(("communes", "encoding", "name", "communes.csv:2")),
        ("not UTF-8", "0xE3", "Latin-1"),
        {"communes": None},
    ),
    Fault(
        "csv-utf-16",
        "csv",
        _recode("groups.csv", lambda t: t.encode("utf-16")),
        fails(("groups", "encoding", None, "groups.csv")),
        ("is UTF-16", "CSV UTF-8"),
        {"groups": None},
    ),
    Fault("csv-utf-8-bom", "csv", _recode("villages.csv", lambda t: t.encode("utf-8-sig"))),
    Fault(
        "csv-unquoted-comma",
        "csv",
        _lines("villages.csv", lambda ls: [ls[0], ls[1].replace("Thôn A", "Thôn A, B"), *ls[2:]]),
        fails(("villages", "csv_format", None, "villages.csv:2")),
        ("5 fields but the header has 4", "double quotes", "Thôn A, B"),
        {"villages": 1},
    ),
    Fault(
        "csv-unclosed-quote",
        "csv",
        _lines("villages.csv", lambda ls: [*ls[:2], ls[2].replace("Bản B", '"Bản B')]),
        fails(("villages", "csv_format", "distance_km", "villages.csv:3")),
        ("double quote is not closed",),
        {"villages": 1},
    ),
    Fault(
        "csv-semicolons",
        "csv",
        _lines("households.csv", lambda ls: [ln.replace(",", ";") for ln in ls]),
        fails(("households", "csv_format", None, "households.csv:1")),
        ("semicolons",),
        {"households": None},
    ),
    Fault(
        "csv-bad-line-of-protected-attributes",
        "csv",
        _lines(
            "protected_attributes.csv",
            lambda ls: [ls[0], ls[1].replace("Vân Kiều", "Vân, Kiều"), *ls[2:]],
        ),
        fails(("protected_attributes", "csv_format", None, "protected_attributes.csv:2")),
        ("5 fields but the header has 4", "its text is not shown"),
        {"protected_attributes": 2},
        hidden=("Kiều",),
    ),
    # duplicated months
    Fault(
        "interest-month-twice",
        "csv",
        _lines("interest.csv", lambda ls: [*ls, ls[2]]),
        fails(("interest", "unique_key", "loan_id,session_date", "L1, 2021-03-25")),
        ("appears 2 times", "identical"),
        {"interest": 5},
    ),
    Fault(
        "savings-row-twice",
        "csv",
        _lines("savings.csv", lambda ls: [*ls, ls[2]]),
        fails(("savings", "unique_key", "txn_id", "S2")),
        ("identical",),
        {"savings": 4},
    ),
    Fault(
        "interest-month-twice-parts",
        "parquet",
        _part_row_twice("interest/part-C2.parquet", 1),
        fails(("interest", "unique_key", "loan_id,session_date", "L2, 2023-05-10")),
        ("appears 2 times", "identical"),
        {"interest": 5},
        output=("first failing commune",),
    ),
    Fault(
        "interest-month-conflicting-amounts",
        "csv",
        _lines("interest.csv", _conflicting_month),
        fails(("interest", "unique_key", "loan_id,session_date", "L1, 2021-02-25")),
        ("differ in interest_paid, arrears_after",),
        {"interest": 5},
    ),
    # missing table, missing column
    Fault(
        "missing-table",
        "csv",
        _remove("savings.csv"),
        fails(("savings", "missing_table", None, "")),
        ("no savings.csv",),
        {"savings": None},
    ),
    Fault(
        "missing-table-parts",
        "parquet",
        _remove("savings"),
        fails(("savings", "missing_table", None, "")),
        ("savings/",),
        {"savings": None},
    ),
    Fault(
        "missing-column",
        "csv",
        _drop_column("loans.csv", "rate_pct"),
        fails(("loans", "missing_column", "rate_pct", "")),
        ("rate_pct is missing",),
    ),
    Fault(
        "part-missing-column",
        "parquet",
        _drop_column("loans/part-C1.parquet", "rate_pct"),
        fails(("loans", "missing_column", "rate_pct", "loans/part-C1.parquet")),
        ("other files of the table have it",),
        {"loans": 1},
    ),
    # a commune with no history, in either layout
    *(
        Fault(
            f"commune-without-history-{suffix}",
            layout,
            _empty_commune,
            rows={"communes": 3},
            output=("1 commune(s) have no", "C3"),
        )
        for layout, suffix in (("csv", "csv"), ("parquet", "parts"))
    ),
]


def _folder(fault: Fault, root: Path) -> Path:
    data = root / "data"
    (write_csv if fault.layout == "csv" else write_parquet)(tiny_district(), data)
    fault.plant(data)
    return data


def _no_crash(result: object) -> None:
    exc = result.exception  # type: ignore[attr-defined]
    assert exc is None or isinstance(exc, SystemExit), repr(exc)
    assert "Traceback" not in result.output  # type: ignore[attr-defined]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.id for f in FAULTS])
def test_validate_names_each_fault_and_reads_everything_else(fault: Fault, tmp_path: Path) -> None:
    data = _folder(fault, tmp_path)
    report = tmp_path / "report.json"
    result = runner.invoke(app, ["validate", str(data), "--report", str(report)])
    _no_crash(result)
    assert result.exit_code == (1 if fault.failures else 0), result.output
    doc = json.loads(report.read_text("utf-8"))
    found = {(f["table"], f["rule"], f["column"], f["value"]) for f in doc["failures"]}
    assert found == set(fault.failures), doc["failures"]
    messages = " ".join(f["message"] for f in doc["failures"])
    for word in fault.words:
        assert word in messages, (word, messages)
    for f in doc["failures"]:
        assert f["table"] in messages or f["column"] in messages or f["value"] in messages
        assert f["rule"] in result.output
    for word in fault.hidden:
        assert word not in report.read_text("utf-8") and word not in result.output
    expected = {n: c for n, c in {**CLEAN_ROWS, **fault.rows}.items() if c is not None}
    assert doc["row_counts"] == expected  # every other table (and file) read in full


@pytest.fixture(scope="module")
def clean_features(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """The clean tiny district's portfolio feature table."""
    root = tmp_path_factory.mktemp("clean-features")
    data = write_parquet(tiny_district(), root / "clean")
    out = root / "clean.parquet"
    result = runner.invoke(app, ["features", "--data", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return pd.read_parquet(out)


@pytest.mark.parametrize("fault", FAULTS, ids=[f.id for f in FAULTS])
def test_features_refuses_or_builds_exactly_the_valid_data(
    fault: Fault, tmp_path: Path, clean_features: pd.DataFrame
) -> None:
    data = _folder(fault, tmp_path)
    out = tmp_path / "features.parquet"
    result = runner.invoke(app, ["features", "--data", str(data), "--out", str(out)])
    _no_crash(result)
    if fault.failures:
        assert result.exit_code == 1, result.output
        assert not out.exists()
        assert "breaks the data contract" in result.output
        assert not any(word in result.output for word in fault.hidden)
        for word in fault.output:
            assert word in result.output, result.output
        for table, rule, column, value in fault.failures:
            assert f"- {table} ({rule})" in result.output, result.output
            assert (column or "") in result.output
            assert value in result.output or rule == "unique_key"  # a row is named by its key
        return
    assert result.exit_code == 0, result.output
    for word in fault.output:
        assert word in result.output, result.output
    got = pd.read_parquet(out)
    if fault.features == "all":
        pd.testing.assert_frame_equal(got, clean_features, check_exact=True)
    else:
        keys = ["household_id", "as_of"]
        pd.testing.assert_frame_equal(got[keys], clean_features[keys])


def test_quarantine_refuses_damaged_files(tmp_path: Path) -> None:
    data = _folder(FAULTS[3], tmp_path)  # a CSV line cut short
    args = ["validate", str(data), "--quarantine", str(tmp_path / "q")]
    result = runner.invoke(app, [*args, "--report", str(tmp_path / "r.json")])
    _no_crash(result)
    assert result.exit_code == 1 and "cannot quarantine" in result.output


def test_csv_lines_are_numbered_as_in_the_file(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_bytes(b'a,b,c\r\n1,2,3\r\n14,5,6\r\n\r\n4,5\r\n6,"7\n8",9\r\n10,11,12,13\r\n7,8,9\r\n')
    df, faults = read_csv_file(p, "t.csv")
    assert df.to_dict("list") == {
        "a": ["1", "14", "6", "7"],
        "b": ["2", "5", "7\n8", "8"],
        "c": ["3", "6", "9", "9"],
    }
    assert [(f.line, f.column, f.rule) for f in faults] == [
        (5, "c", "csv_format"),
        (8, None, "csv_format"),
    ]


def test_truncated_part_of_the_small_district(small_district: Path, tmp_path: Path) -> None:
    """At scale: the interest part cut short; every other table is still read and checked."""
    data = tmp_path / "district"
    shutil.copytree(small_district, data)
    part = sorted((data / "interest").glob("part-*.parquet"))[0]
    part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
    report = validate_dir(data)
    assert [(f.table, f.rule, f.value) for f in report.failures] == [
        ("interest", "unreadable_file", f"interest/{part.name}")
    ]
    assert len(report.row_counts) == 14  # all but interest (its only part is cut)
    for name, count in report.row_counts.items():
        files = sorted((data / name).glob("*.parquet")) or [data / f"{name}.parquet"]
        assert count == sum(pq.read_metadata(p).num_rows for p in files if p != part), name


def test_unclosed_quote_in_a_large_csv_names_its_line(tmp_path: Path) -> None:
    """A quote left open swallows the rest of the file (past the reader's block): not read."""
    p = tmp_path / "big.csv"
    rows = [f"{i},x{i},{2 * i}" for i in range(150_000)]
    rows[3] = '3,"x3,6'
    p.write_text("a,b,c\n" + "\n".join(rows) + "\n", "utf-8")
    df, faults = read_csv_file(p, "big.csv")
    assert df is None
    assert [(f.rule, f.line) for f in faults] == [("csv_format", 5)]
    assert "double quote" in faults[0].message
