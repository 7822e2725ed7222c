"""Render ``docs/data-contract.md`` from the contract and the validation rules.

Everything in the document comes from code: tables, columns, units and descriptions from
:mod:`features.contract`, rules from :mod:`features.validation_rules`, program limits from
:mod:`features.domain`. ``vbsp-risk docs`` regenerates it and a test checks that the committed
file equals a fresh rendering, so the document never drifts from the validator.
"""

from __future__ import annotations

import inspect
import logging
from pathlib import Path

from features import domain
from features.contract import DATE_MIN, ID_PATTERN, MANIFEST, TABLES, TRUTH_DIR, TableSpec
from features.cross_checks import DATE_ORDERS, PAYMENT_DATES, RATE_TOLERANCE_PCT
from features.foreign_keys import FK_RULES
from features.raw_files import faulty_inputs_section
from features.table_checks import FORWARD_DATES, describe_check
from features.validation_rules import RULES
from features.validation_types import column_kind, table_schema

logger = logging.getLogger(__name__)

DOC_NAME = "data-contract.md"
_TYPE_WORDS = {
    "str": "text",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "date": "date",
}
_SCOPES = {
    "folder": "Folder and columns",
    "cell": "Cells and rows",
    "table": "Rows of a table together",
    "cross-table": "Across tables",
    "quarantine": "Loader with a quarantine folder",
}


def _cell(text: object) -> str:
    """Text safe inside a markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _code(items: tuple[str, ...] | list[str]) -> str:
    return ", ".join(f"`{c}`" for c in items)


def _constraints(spec: TableSpec, column: str) -> str:
    col = table_schema(spec.name).columns[column]
    kind = column_kind(spec, column)
    parts = []
    for check in col.checks:
        if check.name == "isin":
            parts.append("one of " + _code([str(v) for v in check.statistics["allowed_values"]]))
        elif check.name == "str_matches":
            parts.append(f"pattern `{check.statistics['pattern']}`")
        else:
            parts.append(describe_check(check.name, check.statistics, kind))
    if col.unique:
        parts.append("unique")
    return "; ".join(parts)


def _table_section(spec: TableSpec) -> list[str]:
    doc = inspect.cleandoc(spec.model.__doc__ or "")
    lines = [f"### `{spec.name}`", "", doc, ""]
    lines.append(f"- **Key:** ({_code(spec.key)})")
    if spec.foreign_keys:
        lines.append("- **Foreign keys:**")
        for fk in spec.foreign_keys:
            rule = FK_RULES.get((spec.name, fk.columns), "foreign_key")
            lines.append(
                f"  - ({_code(fk.columns)}) → `{fk.ref_table}` ({_code(fk.ref_columns)})"
                f" — rule `{rule}`"
            )
    else:
        lines.append("- **Foreign keys:** none")
    if spec.by_commune:
        storage = (
            f"by commune, `{spec.name}/part-<commune_id>.parquet` (or one "
            f"`{spec.name}.parquet` / `{spec.name}.csv`)"
        )
    else:
        storage = f"one file, `{spec.name}.parquet` or `{spec.name}.csv`"
    lines.append(f"- **Storage:** {storage}")
    forward = FORWARD_DATES.get(spec.name)
    if forward:
        lines.append(f"- **Scheduled dates** (may be after the export date): {_code(forward)}")
    lines += [
        "",
        "| column | type | unit | nullable | allowed values / range / pattern | description |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    schema = table_schema(spec.name)
    for name in spec.columns:
        col = schema.columns[name]
        meta = col.metadata or {}
        row = [
            f"`{name}`",
            _TYPE_WORDS[column_kind(spec, name)],
            meta.get("unit", ""),
            "yes" if col.nullable else "no",
            _constraints(spec, name),
            meta.get("description", ""),
        ]
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    lines.append("")
    return lines


def _folder_section() -> list[str]:
    return [
        "## Folder format",
        "",
        "A district's data folder holds, for every table below, exactly one of:",
        "",
        "- `<table>.csv` — UTF-8 (a byte-order mark is accepted), comma-separated, a header "
        "row with the contract's column names, one row per record, every line ending with a "
        "line break; an empty cell is null; a value holding a comma is in double quotes; dates "
        "are ISO `YYYY-MM-DD`; booleans `true`/`false` (or `1`/`0`, any case); integers are "
        "whole numbers; decimals use a point;",
        "- `<table>.parquet` — one Parquet file with the contract's types (dates as `date32`);",
        "- `<table>/part-<commune_id>.parquet` — one Parquet file per commune (the simulator's "
        "layout for tables stored by commune); parts are read in file-name order.",
        "",
        f"and optionally `{MANIFEST}`: a JSON object with `export_date` (`YYYY-MM-DD`, the "
        "reference date of the `future_date` rule; without it the validator uses today), and "
        "for simulated data `generator`, `seed`, `start`, `end`.",
        "",
        f"`{TRUTH_DIR}/` holds the simulator's ground truth (each borrower's true monthly "
        "probability of trouble). It is **not** one of the bank's tables: the validator and the "
        "loader ignore it, and no feature may read it. Other files in the folder are ignored "
        "too.",
        "",
        "Identifiers (`*_id`) match the pattern "
        f"`{ID_PATTERN}`; dates are on or after {DATE_MIN}. Money is in whole VND. "
        "`household_id` is a keyed pseudonym (HMAC-SHA256 of the national ID), never the ID "
        "itself; ethnicity lives only in `protected_attributes` (Decree 13/2023).",
        "",
        "Failures name the row by its 0-based number in the table as loaded (parts "
        "concatenated in file-name order) and by its key as stored.",
        "",
    ]


def _rules_section() -> list[str]:
    lines = [
        "## Validation rules",
        "",
        "`vbsp-risk validate DIR` (or `features.validation.validate_dir`) reports every "
        "failure with its table, row, key, column, rule code, value and a message. Checks "
        "run in this order: folder and columns; cell types and empty cells (a row failing "
        "them is left out of every later check); ranges, allowed values, patterns and "
        "lengths (the pandera model); future dates; unique keys; foreign keys; cross-table "
        "rules. A rule across tables only reads rows without an earlier failure on the "
        "columns it uses, so one fault is reported once.",
        "",
    ]
    for scope, title in _SCOPES.items():
        rules = [r for r in RULES.values() if r.scope == scope]
        lines += [
            f"### {title}",
            "",
            "| rule | applies to | what must hold |",
            "| --- | --- | --- |",
        ]
        for r in rules:
            lines.append(f"| `{r.code}` | {_cell(r.applies_to)} | {_cell(r.description)} |")
        lines.append("")
    lines += ["### Details", ""]
    lines.append(
        "- `date_order`: "
        + "; ".join(
            f"`{t}.{a}` {'<' if strict else '<='} `{t}.{b}`" for t, a, b, strict in DATE_ORDERS
        )
        + " (an empty later date is not checked)."
    )
    lines.append(
        "- `payment_before_disbursement`: "
        + ", ".join(f"`{t}.{c}`" for t, c in PAYMENT_DATES)
        + " >= `loans.disbursement_date` of the row's loan."
    )
    forward = [f"`{t}.{c}`" for t, cols in FORWARD_DATES.items() for c in cols]
    lines.append(
        "- `future_date` does not apply to the scheduled dates " + ", ".join(forward) + "."
    )
    lines += [
        "",
        "### Program limits (`program_cap`, `program_term`, `program_grace`, `program_rate`)",
        "",
        f"From `features/domain.py`; rates are checked with a tolerance of {RATE_TOLERANCE_PCT} "
        "%/year.",
        "",
        "| program | name | cap (VND) | longest term (months) | longest grace (months) "
        "| rate (%/year) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for p in domain.PROGRAMS.values():
        rate = (
            f"{p.rate_min_pct}"
            if p.rate_min_pct == p.rate_max_pct
            else f"{p.rate_min_pct} – {p.rate_max_pct}"
        )
        lines.append(
            f"| `{p.code}` | {_cell(p.label_en)} ({_cell(p.label_vi)}) | {p.cap_vnd:,} "
            f"| {p.max_term_months} | {p.max_grace_months} | {rate} |"
        )
    lines += [
        "",
        "## Loading with a quarantine folder",
        "",
        "`features.validation.load_tables(DIR, quarantine_dir=Q)` (or `vbsp-risk validate DIR "
        "--quarantine Q`) writes every row with a failure to `Q/<table>.csv` as stored, with "
        "the extra columns `_row`, `_rule`, `_column` and `_message` (several failures of a "
        "row joined by ` | `), and returns the other rows unchanged. The quarantine spreads so "
        "that what is returned stays consistent: a loan with a quarantined installment is "
        "quarantined (`schedule_quarantined`), and every row referring by a foreign key to a "
        "quarantined row is quarantined (`parent_quarantined`). Folder-level failures (a "
        "missing table or column, an unknown column, a bad manifest) cannot be quarantined.",
        "",
    ]
    return lines + faulty_inputs_section()


def render_contract_docs() -> str:
    """The markdown text of ``docs/data-contract.md``."""
    lines = [
        "# Data contract: the tables a district office exports",
        "",
        "<!-- Generated by `vbsp-risk docs` from features/contract.py, "
        "features/validation_rules.py and features/domain.py. Do not edit by hand. -->",
        "",
        "The bank's data for one district transaction office, as the validator, the loader, "
        "the simulator and the feature pipeline read it. Validate a folder with "
        "`vbsp-risk validate DIR`.",
        "",
    ]
    lines += _folder_section()
    lines += [
        "## Tables",
        "",
        "| table | key | stored | description |",
        "| --- | --- | --- | --- |",
    ]
    for spec in TABLES.values():
        first = inspect.cleandoc(spec.model.__doc__ or "").splitlines()[0]
        stored = "by commune" if spec.by_commune else "one file"
        lines.append(
            f"| [`{spec.name}`](#{spec.name}) | {_code(spec.key)} | {stored} | {_cell(first)} |"
        )
    lines.append("")
    for spec in TABLES.values():
        lines += _table_section(spec)
    lines += _rules_section()
    return "\n".join(lines).rstrip("\n") + "\n"


def write_contract_docs(out_dir: Path) -> Path:
    """Write ``data-contract.md`` into ``out_dir``.

    Args:
        out_dir: Folder of the documentation (created if needed).

    Returns:
        The path written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / DOC_NAME
    path.write_text(render_contract_docs(), encoding="utf-8")
    logger.info("wrote %s", path)
    return path
