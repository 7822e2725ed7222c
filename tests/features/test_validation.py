"""The validator and the typed loader, on the tiny hand-made district."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from features.contract import TABLES
from features.validation import (
    RULES,
    ContractViolation,
    Failure,
    load_tables,
    load_with_report,
    validate_dir,
)
from tests.support.tiny_district import (
    EXPORT_DATE,
    as_text,
    tiny_district,
    write_csv,
    write_manifest,
    write_parquet,
)

Tables = dict[str, pd.DataFrame]
M = 1_000_000


def _found(report) -> set[tuple[str, str | None, str | None, str]]:
    return {(f.table, f.key, f.column, f.rule) for f in report.failures}


# --- a clean district ---------------------------------------------------------------------------


@pytest.mark.parametrize("write", [write_parquet, write_csv], ids=["parquet", "csv"])
def test_tiny_district_is_clean_and_loads_with_contract_types(
    tmp_path: Path, write: Callable
) -> None:
    original = tiny_district()
    data = write(original, tmp_path)
    loaded, report = load_with_report(data)
    assert report.ok, report.frame.to_string()
    assert report.reference_date == pd.Timestamp(EXPORT_DATE)
    assert report.row_counts == {n: len(df) for n, df in original.items()}
    assert report.summary().empty
    # schema round trip: what was written comes back identical, typed as the contract
    assert list(loaded) == list(TABLES)
    for name, df in original.items():
        pd.testing.assert_frame_equal(loaded[name], df, check_exact=True, obj=name)
        kinds = {str(t) for t in loaded[name].dtypes}
        assert kinds <= {"str", "int64", "float64", "bool", "datetime64[ns]"}


def test_load_tables_subset_reads_only_what_it_needs(tmp_path: Path) -> None:
    original = tiny_district()
    data = write_parquet(original, tmp_path)
    (data / "savings").rename(data / "savings-elsewhere")  # not needed for loans
    loaded = load_tables(data, tables=["loans"])
    assert list(loaded) == ["loans"]
    pd.testing.assert_frame_equal(loaded["loans"], original["loans"])


def test_missing_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        validate_dir(tmp_path / "nope")


# --- one broken fixture per rule ----------------------------------------------------------------


def _set(name: str, row: int, column: str, value: object) -> Callable[[Tables], None]:
    def mutate(t: Tables) -> None:
        df = t[name]
        if isinstance(value, str) and df[column].dtype != "str":
            as_text(df, column)  # plant text that is not of the column's type
        df.loc[row, column] = value

    return mutate


def _chain(*steps: Callable[[Tables], None]) -> Callable[[Tables], None]:
    def mutate(t: Tables) -> None:
        for s in steps:
            s(t)

    return mutate


def _append_copy(name: str, row: int) -> Callable[[Tables], None]:
    def mutate(t: Tables) -> None:
        t[name] = pd.concat([t[name], t[name].iloc[[row]]], ignore_index=True)

    return mutate


def _drop(name: str, column: str) -> Callable[[Tables], None]:
    def mutate(t: Tables) -> None:
        t[name] = t[name].drop(columns=[column])

    return mutate


def _add_column(name: str, column: str) -> Callable[[Tables], None]:
    def mutate(t: Tables) -> None:
        t[name][column] = "x"

    return mutate


L1, L2 = "loan_id=L1", "loan_id=L2"
# (id, mutation, expected failures as (table, key, column, rule))
CASES = [
    (
        "type_int",
        _set("loans", 0, "amount", "30m"),
        {("loans", L1, "amount", "type")},
    ),
    (
        "type_float",
        _set("villages", 1, "distance_km", "far"),
        {("villages", "village_id=V2", "distance_km", "type")},
    ),
    (
        "type_bool",
        _set("communes", 0, "is_border", "yes"),
        {("communes", "commune_id=C1", "is_border", "type")},
    ),
    (
        "type_date_not_iso",
        _set("interest", 1, "session_date", "2021-3-25"),
        {("interest", "loan_id=L1, session_date=2021-3-25", "session_date", "type")},
    ),
    (
        "type_date_impossible",
        _set("households", 1, "joined_date", "2019-02-30"),
        {("households", "household_id=H2", "joined_date", "type")},
    ),
    (
        "type_int_not_whole",
        _set("installments", 4, "installment_no", "2.5"),
        {("installments", "loan_id=L2, installment_no=2.5", "installment_no", "type")},
    ),
    (
        "not_null",
        _set("households", 1, "group_id", None),
        {("households", "household_id=H2", "group_id", "not_null")},
    ),
    (
        "range_number",
        _set("households", 0, "household_size", 0),
        {("households", "household_id=H1", "household_size", "range")},
    ),
    (
        "range_date",
        _set("groups", 0, "founded_date", pd.Timestamp("1985-01-01")),
        {("groups", "group_id=G1", "founded_date", "range")},
    ),
    (
        "enum",
        _set("loans", 1, "purpose", "gambling"),
        {("loans", L2, "purpose", "enum")},
    ),
    (
        "pattern",
        _set("savings", 2, "txn_id", "S 3"),
        {("savings", "txn_id=S 3", "txn_id", "pattern")},
    ),
    (
        "length",
        _set("communes", 1, "name", "X" * 81),
        {("communes", "commune_id=C2", "name", "length")},
    ),
    (
        "unique_key",
        _append_copy("interest", 2),
        {("interest", "loan_id=L2, session_date=2023-04-10", "loan_id,session_date", "unique_key")},
    ),
    (
        "foreign_key",
        _set("inspections", 0, "loan_id", "L9"),
        {("inspections", "inspection_id=I1", "loan_id", "foreign_key")},
    ),
    (
        "foreign_key_multi_column",
        _set("households", 2, "commune_id", "C1"),
        {("households", "household_id=H3", "commune_id", "foreign_key")},
    ),
    (
        "foreign_key_multi_column_no_parent_row",
        _set("debt_events", 0, "installment_no", 7),
        {("debt_events", "event_id=E1", "loan_id,installment_no", "foreign_key")},
    ),
    (
        "loan_commune",
        _set("loans", 1, "commune_id", "C1"),
        {("loans", L2, "commune_id", "loan_commune")},
    ),
    (
        "date_order_application",
        _set("loans", 0, "application_date", pd.Timestamp("2021-02-01")),
        {("loans", L1, "disbursement_date", "date_order")},
    ),
    (
        "date_order_maturity",
        _set("loans", 1, "maturity_date", pd.Timestamp("2023-03-10")),
        {("loans", L2, "maturity_date", "date_order")},
    ),
    (
        "date_order_hazard",
        _set("hazard_events", 0, "end_date", pd.Timestamp("2024-04-30")),
        {("hazard_events", "event_id=Z1", "end_date", "date_order")},
    ),
    (
        "date_order_leader",
        _set("group_leaders", 0, "end_date", pd.Timestamp("2017-12-31")),
        {("group_leaders", "group_id=G1, start_date=2018-01-01", "end_date", "date_order")},
    ),
    (
        "payment_before_disbursement_interest",
        _set("interest", 0, "session_date", pd.Timestamp("2021-01-10")),
        {
            (
                "interest",
                "loan_id=L1, session_date=2021-01-10",
                "session_date",
                "payment_before_disbursement",
            )
        },
    ),
    (
        "payment_before_disbursement_installment",
        _set("installments", 0, "paid_date", pd.Timestamp("2020-12-31")),
        {
            (
                "installments",
                "loan_id=L1, installment_no=1",
                "paid_date",
                "payment_before_disbursement",
            )
        },
    ),
    (
        "payment_before_disbursement_debt_event",
        _set("debt_events", 0, "event_date", pd.Timestamp("2023-03-01")),
        {("debt_events", "event_id=E1", "event_date", "payment_before_disbursement")},
    ),
    (
        "installments_sum",
        _set("installments", 2, "principal_due", 9 * M),
        {("loans", L1, "amount", "installments_sum")},
    ),
    (
        "program_cap",
        _chain(
            _set("loans", 1, "amount", 60 * M),
            _set("installments", 3, "principal_due", 30 * M),
            _set("installments", 4, "principal_due", 30 * M),
        ),
        {("loans", L2, "amount", "program_cap")},
    ),
    (
        "program_term",
        _set("loans", 1, "term_months", 72),
        {("loans", L2, "term_months", "program_term")},
    ),
    (
        "program_grace",
        _set("loans", 1, "grace_months", 12),
        {("loans", L2, "grace_months", "program_grace")},
    ),
    (
        "program_rate",
        _set("loans", 0, "rate_pct", 7.0),
        {("loans", L1, "rate_pct", "program_rate")},
    ),
    (
        "future_date",
        _set("inspections", 1, "inspection_date", pd.Timestamp("2025-03-01")),
        {("inspections", "inspection_id=I2", "inspection_date", "future_date")},
    ),
    (
        "missing_column",
        _drop("villages", "distance_km"),
        {("villages", None, "distance_km", "missing_column")},
    ),
    (
        "unknown_column",
        _add_column("communes", "mayor"),
        {("communes", None, "mayor", "unknown_column")},
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_rule_reports_exactly_the_fault(
    tmp_path: Path, mutate: Callable[[Tables], None], expected: set
) -> None:
    t = tiny_district()
    mutate(t)
    report = validate_dir(write_csv(t, tmp_path))
    assert _found(report) == expected, report.frame.to_string()
    assert not report.ok
    for f in report.failures:
        assert f.message and f.rule in RULES


def test_every_table_and_cell_rule_has_a_case() -> None:
    covered = {rule for *_, expected in CASES for (_, _, _, rule) in expected}
    quarantine_only = {c for c, r in RULES.items() if r.scope == "quarantine"}
    file_rules = {
        "unreadable_file",
        "encoding",
        "csv_format",
    }  # tests/vbsp_risk/test_data_faults.py
    assert set(RULES) - covered - quarantine_only - file_rules == {"missing_table", "bad_manifest"}


def test_missing_table(tmp_path: Path) -> None:
    data = write_parquet(tiny_district(), tmp_path)
    (data / "hazard_events.parquet").unlink()
    report = validate_dir(data)
    assert _found(report) == {("hazard_events", None, None, "missing_table")}
    assert "hazard_events" not in report.row_counts


def test_bad_manifest_falls_back_to_today(tmp_path: Path) -> None:
    data = write_parquet(tiny_district(), tmp_path)
    write_manifest(data, "31/12/2024")
    report = validate_dir(data)
    assert _found(report) == {("manifest.json", None, "export_date", "bad_manifest")}
    assert report.failures[0].value == "31/12/2024"
    assert report.reference_date == pd.Timestamp.today().normalize()


def test_reference_date_argument_overrides_manifest(tmp_path: Path) -> None:
    data = write_parquet(tiny_district(), tmp_path)
    report = validate_dir(data, reference_date="2024-06-30")
    late = {(f.table, f.column, f.value) for f in report.failures}
    assert {f.rule for f in report.failures} == {"future_date"}
    assert ("hazard_events", None, None) not in late
    assert ("debt_events", "event_date", "2024-06-10") not in late
    assert ("inspections", "inspection_date", "2024-07-01") in late
    # scheduled dates may lie after the reference date
    assert not any(c in ("maturity_date", "due_date", "new_due_date") for _, c, _ in late)


def test_failure_records_carry_row_value_and_message(tmp_path: Path) -> None:
    t = tiny_district()
    _set("loans", 1, "amount", "20 triệu")(t)
    report = validate_dir(write_csv(t, tmp_path))
    (f,) = report.failures
    assert f == Failure(
        table="loans",
        row=1,
        key="loan_id=L2",
        column="amount",
        rule="type",
        value="20 triệu",
        message="amount must be a whole number; '20 triệu' cannot be read as one.",
    )


def test_unique_key_reports_every_duplicate_row(tmp_path: Path) -> None:
    t = tiny_district()
    _append_copy("savings", 0)(t)
    _append_copy("savings", 0)(t)
    report = validate_dir(write_parquet(t, tmp_path))
    rows = sorted(f.row for f in report.failures if f.rule == "unique_key")
    assert rows == [0, 2, 3]  # commune C1's part first: S1, S2, then the copies of S1
    assert all("appears 3 times" in f.message for f in report.failures)


def test_rows_with_unreadable_cells_are_not_checked_further(tmp_path: Path) -> None:
    t = tiny_district()
    _set("loans", 0, "amount", "abc")(t)  # the loan's other faults are not reported again
    _set("loans", 0, "rate_pct", "9.9")(t)
    report = validate_dir(write_csv(t, tmp_path))
    assert _found(report) == {("loans", L1, "amount", "type")}


def test_several_faults_are_all_reported(tmp_path: Path) -> None:
    picked = [c for c in CASES if c[0] in {"type_int", "enum", "future_date", "pattern"}]
    picked += [c for c in CASES if c[0] in {"foreign_key_multi_column", "date_order_hazard"}]
    picked += [c for c in CASES if c[0] in {"program_term", "unique_key"}]
    t = tiny_district()
    for _, mutate, _ in picked:
        mutate(t)
    # two more faults in one column of one table: every row is reported, not only the first
    _set("interest", 0, "interest_due", -1)(t)
    _set("interest", 3, "interest_due", -5)(t)
    report = validate_dir(write_csv(t, tmp_path))
    expected = set().union(*(e for *_, e in picked))
    expected |= {
        ("interest", "loan_id=L1, session_date=2021-02-25", "interest_due", "range"),
        ("interest", "loan_id=L2, session_date=2023-05-10", "interest_due", "range"),
    }
    assert _found(report) == expected
    summary = report.summary().set_index(["table", "rule"])["count"]
    assert summary[("interest", "range")] == 2
    assert summary[("interest", "unique_key")] == 2


def test_report_json_and_csv(tmp_path: Path) -> None:
    t = tiny_district()
    _set("loans", 1, "purpose", "gambling")(t)
    report = validate_dir(write_csv(t, tmp_path / "data"))
    doc = json.loads(report.to_json(tmp_path / "r.json").read_text(encoding="utf-8"))
    assert set(doc) == {
        "data_dir",
        "reference_date",
        "ok",
        "row_counts",
        "failure_count",
        "summary",
        "failures",
    }
    assert doc["ok"] is False and doc["failure_count"] == 1
    assert doc["reference_date"] == EXPORT_DATE
    assert doc["summary"] == [{"table": "loans", "rule": "enum", "count": 1}]
    assert doc["failures"] == [
        {
            "table": "loans",
            "row": 1,
            "key": "loan_id=L2",
            "column": "purpose",
            "rule": "enum",
            "value": "gambling",
            "message": doc["failures"][0]["message"],
        }
    ]
    assert "gambling" in doc["failures"][0]["message"]
    csv = pd.read_csv(report.to_csv(tmp_path / "r.csv"))
    assert list(csv.columns) == ["table", "row", "key", "column", "rule", "value", "message"]
    assert len(csv) == 1


def test_clean_report_json(tmp_path: Path) -> None:
    report = validate_dir(write_parquet(tiny_district(), tmp_path / "data"))
    doc = json.loads(report.to_json(tmp_path / "r.json").read_text(encoding="utf-8"))
    assert doc["ok"] is True and doc["failures"] == [] and doc["summary"] == []


# --- the loader ---------------------------------------------------------------------------------


def test_load_tables_raises_with_the_report(tmp_path: Path) -> None:
    t = tiny_district()
    _set("loans", 1, "purpose", "gambling")(t)
    with pytest.raises(ContractViolation) as err:
        load_tables(write_parquet(t, tmp_path))
    assert _found(err.value.report) == {("loans", L2, "purpose", "enum")}
    assert "loans/enum: 1" in str(err.value)


def test_quarantine_keeps_valid_rows_and_sets_the_others_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    original = tiny_district()
    t = tiny_district()
    _set("loans", 0, "amount", "30m")(t)  # L1 unreadable: its rows follow it
    _set("savings", 2, "amount", 0)(t)
    _set("savings", 2, "txn_type", "gift")(t)  # two faults in one row: one quarantined line
    data = write_csv(t, tmp_path / "data")
    qdir = tmp_path / "quarantine"
    with caplog.at_level(logging.INFO, logger="features.quarantine"):
        loaded = load_tables(data, quarantine_dir=qdir)

    kept = {
        "loans": original["loans"]["loan_id"] != "L1",
        "installments": original["installments"]["loan_id"] != "L1",
        "interest": original["interest"]["loan_id"] != "L1",
        "inspections": original["inspections"]["loan_id"] != "L1",
        "savings": original["savings"]["txn_id"] != "S3",
    }
    for name, df in original.items():
        expected = df[kept[name]].reset_index(drop=True) if name in kept else df
        pd.testing.assert_frame_equal(loaded[name], expected, obj=name)

    assert sorted(p.name for p in qdir.iterdir()) == [
        "inspections.csv",
        "installments.csv",
        "interest.csv",
        "loans.csv",
        "savings.csv",
    ]
    loans = pd.read_csv(qdir / "loans.csv", dtype=str)
    assert loans[["loan_id", "amount", "_row", "_rule", "_column"]].values.tolist() == [
        ["L1", "30m", "0", "type", "amount"]
    ]
    inst = pd.read_csv(qdir / "installments.csv", dtype=str)
    assert inst["_rule"].tolist() == ["parent_quarantined"] * 3
    assert inst["_column"].tolist() == ["loan_id"] * 3
    assert inst["installment_no"].tolist() == ["1", "2", "3"]
    savings = pd.read_csv(qdir / "savings.csv", dtype=str)
    assert savings[["txn_id", "_rule", "_column"]].values.tolist() == [
        ["S3", "range | enum", "amount | txn_type"]
    ]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "quarantined 1 of 2 loans rows" in logged
    assert "quarantined 3 of 5 installments rows" in logged
    assert "quarantined 1 of 3 savings rows" in logged


def test_quarantined_installment_takes_its_loan_along(tmp_path: Path) -> None:
    t = tiny_district()
    _set("installments", 3, "principal_paid", -1)(t)  # an installment of L2
    qdir = tmp_path / "q"
    loaded = load_tables(write_parquet(t, tmp_path / "data"), quarantine_dir=qdir)
    assert loaded["loans"]["loan_id"].tolist() == ["L1"]
    assert set(loaded["installments"]["loan_id"]) == {"L1"}
    assert loaded["debt_events"].empty
    loans = pd.read_csv(qdir / "loans.csv", dtype=str)
    assert loans[["loan_id", "_rule"]].values.tolist() == [["L2", "schedule_quarantined"]]
    inst = pd.read_csv(qdir / "installments.csv", dtype=str)
    assert inst["_rule"].tolist() == ["range", "parent_quarantined"]
    events = pd.read_csv(qdir / "debt_events.csv", dtype=str)
    assert events[["event_id", "_rule"]].values.tolist() == [["E1", "parent_quarantined"]]


def test_quarantine_cannot_fix_a_missing_column(tmp_path: Path) -> None:
    t = tiny_district()
    _drop("villages", "distance_km")(t)
    with pytest.raises(ContractViolation, match="folder-level"):
        load_tables(write_csv(t, tmp_path / "data"), quarantine_dir=tmp_path / "q")


def test_load_tables_rejects_unknown_table(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="unknown table"):
        load_tables(write_parquet(tiny_district(), tmp_path), tables=["nope"])


def test_empty_tables_are_valid_and_keep_contract_types(tmp_path: Path) -> None:
    t = tiny_district()
    for name in ("hazard_events", "debt_events", "inspections"):
        t[name] = t[name].iloc[:0]
    loaded = load_tables(write_csv(t, tmp_path))
    for name in ("hazard_events", "debt_events", "inspections"):
        assert loaded[name].empty
        pd.testing.assert_series_equal(loaded[name].dtypes, t[name].dtypes, obj=name)


def test_parquet_stored_with_other_types_is_read_cell_by_cell(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = write_parquet(tiny_district(), tmp_path)
    (data / "hazard_events.parquet").unlink()
    table = pa.table(
        {
            "event_id": ["Z1", "Z2"],
            "commune_id": ["C2", "C1"],
            "hazard_type": ["flood", "drought"],
            "start_date": pa.array(
                [pd.Timestamp("2024-05-01"), pd.Timestamp("2024-06-01 08:30")], pa.timestamp("ms")
            ),
            "end_date": ["2024-05-10", "2024-06-30"],  # text dates are parsed
            "severity": [2.0, 1.5],  # floats must be whole for an integer column
        }
    )
    pq.write_table(table, data / "hazard_events.parquet")
    report = validate_dir(data)
    assert _found(report) == {
        ("hazard_events", "event_id=Z2", "start_date", "type"),
        ("hazard_events", "event_id=Z2", "severity", "type"),
    }
    assert {f.value for f in report.failures} == {"2024-06-01 08:30:00", "1.5"}


@pytest.mark.parametrize(
    ("table", "column", "value", "key"),
    [
        ("savings", "commune_id", "C2", "txn_id=S1"),  # H1 lives in C1
        ("inspections", "household_id", "H3", "inspection_id=I1"),  # L1 is H1's loan
        ("interest", "commune_id", "C2", None),
    ],
)
def test_partition_and_household_links_are_foreign_keys(
    tmp_path: Path, table: str, column: str, value: str, key: str | None
) -> None:
    t = tiny_district()
    _set(table, 0, column, value)(t)
    report = validate_dir(write_parquet(t, tmp_path))
    found = {(tb, c, r) for tb, _k, c, r in _found(report)}
    assert (table, None, "foreign_key") in {(tb, None, r) for tb, _c, r in found}
    if key is not None:
        assert any(tb == table and k == key for tb, k, _c, _r in _found(report))
