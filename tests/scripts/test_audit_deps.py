"""The dependency audit's fallback for pins PyPI holds no per-release record of (no network)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("audit_deps", ROOT / "scripts/audit_deps.py")
audit_deps = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(audit_deps)

RECORDS = {
    "fresh": {"info": {"version": "2.0"}, "vulnerabilities": []},
    "leaky": {
        "info": {"version": "1.5"},
        "vulnerabilities": [
            {"id": "PYSEC-1", "fixed_in": ["1.6"], "withdrawn": None},
            {"id": "PYSEC-0", "fixed_in": [], "withdrawn": "2026-01-01"},
        ],
    },
    "old": {"info": {"version": "9.0"}, "vulnerabilities": []},
}


def test_latest_pins_are_audited_from_the_project_record() -> None:
    skipped = [
        {"name": n, "version": v, "skip_reason": "no record"}
        for n, v in [("fresh", "2.0"), ("leaky", "1.5"), ("old", "8.1"), ("gone", "1.0")]
    ]
    vulnerable, unaudited = audit_deps.audit_latest_pins(skipped, fetch=RECORDS.get)
    # a withdrawn advisory does not count; an advisory of the latest release does
    assert [(d["name"], v["id"], v["fix_versions"]) for d, v in vulnerable] == [
        ("leaky", "PYSEC-1", ["1.6"])
    ]
    # an older pin, and a package PyPI does not know, are reported as not audited (never "ok")
    assert sorted(d["name"] for d in unaudited) == ["gone", "old"]


def test_lock_pins_normalise_names(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text("# comment\nImportlib_Metadata==9.1.0\njsonschema_rs==0.60.3  # pin\n-e .\n")
    assert audit_deps.lock_pins(lock) == {"importlib-metadata": "9.1.0", "jsonschema-rs": "0.60.3"}
