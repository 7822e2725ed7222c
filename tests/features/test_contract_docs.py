"""``docs/data-contract.md`` is rendered from code and never drifts from it."""

from __future__ import annotations

from pathlib import Path

from features import domain
from features.contract import TABLES
from features.contract_docs import DOC_NAME, render_contract_docs, write_contract_docs
from features.validation import RULES

REPO = Path(__file__).resolve().parents[2]


def test_committed_docs_equal_fresh_rendering() -> None:
    committed = (REPO / "docs" / DOC_NAME).read_text(encoding="utf-8")
    assert committed == render_contract_docs(), "run `vbsp-risk docs` and commit docs/"


def test_docs_cover_every_table_column_rule_and_program() -> None:
    text = render_contract_docs()
    for name, spec in TABLES.items():
        assert f"### `{name}`" in text
        for col in spec.columns:
            assert f"| `{col}` |" in text, (name, col)
    for code in RULES:
        assert f"`{code}`" in text
    for code in domain.PROGRAMS:
        assert f"| `{code}` |" in text
    assert "`truth/`" in text and "manifest.json" in text and "part-<commune_id>.parquet" in text


def test_column_lines_carry_type_unit_nullability_and_checks() -> None:
    text = render_contract_docs()
    assert (
        "| `amount` | integer | VND | no | greater than 0; at most 10000000000 "
        "| Disbursed principal |" in text
    )
    assert "| `closed_date` | date | ISO date | yes | on or after 1990-01-01 |" in text
    assert "one of `deposit`, `withdrawal`, `repayment`" in text
    assert (
        "(`household_id`, `commune_id`) → `households` (`household_id`, `commune_id`) — rule `loan_commune`"
        in text
    )


def test_write_contract_docs(tmp_path: Path) -> None:
    path = write_contract_docs(tmp_path / "docs")
    assert path == tmp_path / "docs" / DOC_NAME
    assert path.read_text(encoding="utf-8") == render_contract_docs()
