"""Known vulnerabilities of the pinned dependencies (``requirements.lock``), by pip-audit.

    .venv/bin/python scripts/audit_deps.py [--lock requirements.lock] [--strict]

pip-audit asks PyPI's JSON API about each pinned release (``/pypi/<name>/<version>/json``),
without resolving or installing anything (``--no-deps --disable-pip``: the lock is complete).

Where PyPI holds no record of a pinned release (this machine's registry serves only project
records, ``/pypi/<name>/json``), the pin is checked against the project record instead when it is
the project's latest release: that record's ``vulnerabilities`` are the latest release's (the
same advisories pip-audit's PyPI service reads). A pin that is neither is *not audited*.

Exit 1 when a pin has a known vulnerability (upgrade that pin in the lock), or when PyPI cannot
be reached at all. Pins that could not be audited are named loudly with their count; they fail
the audit with ``--strict`` (or ``AUDIT_STRICT=1``) — the script never reports "no known
vulnerabilities" for pins it could not check.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PYPI_PROBE = "https://pypi.org/pypi/pip/json"


def pypi_reachable(timeout: float = 15.0) -> bool:
    """Whether PyPI's JSON API answers at all."""
    try:
        with urllib.request.urlopen(PYPI_PROBE, timeout=timeout) as r:
            return r.status == 200
    except OSError:
        return False


def run_pip_audit(lock: Path) -> dict:
    """pip-audit's JSON report of ``lock`` (raises with its error output when it gives none)."""
    exe = Path(sys.executable).with_name("pip-audit")
    cmd = [
        str(exe),
        "-r",
        str(lock),
        "--no-deps",
        "--disable-pip",
        "--progress-spinner",
        "off",
        "--format",
        "json",
        "--desc",
        "off",
        "--timeout",
        "30",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:
        raise SystemExit(
            f"pip-audit gave no report (exit {done.returncode}):\n{done.stderr}"
        ) from None


def project_record(name: str, timeout: float = 30.0) -> dict | None:
    """PyPI's project record (``/pypi/<name>/json``), or ``None`` when it has none."""
    try:
        with urllib.request.urlopen(f"https://pypi.org/pypi/{name}/json", timeout=timeout) as r:
            return json.load(r)
    except (OSError, ValueError):
        return None


def lock_pins(lock: Path) -> dict[str, str]:
    """Normalised name → pinned version, from ``name==version`` lines of the lock."""
    pins = {}
    for line in lock.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)", line)
        if m:
            pins[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = m.group(2)
    return pins


def audit_latest_pins(skipped: list[dict], fetch=project_record) -> tuple[list, list]:
    """Audit pins pip-audit skipped through their project record, where the pin is the latest.

    Args:
        skipped: pip-audit's dependency entries with a ``skip_reason``, each with its pinned
            ``version`` filled in.
        fetch: Name → project record (or ``None``); injected so tests need no network.

    Returns:
        ``(vulnerable, unaudited)``: ``(entry, advisory)`` pairs of the latest-release pins with a
        known vulnerability, and the entries that could not be audited at all.
    """
    vulnerable, unaudited = [], []
    with ThreadPoolExecutor(8) as pool:  # one HTTP round trip each: overlap them
        records = list(pool.map(fetch, [d["name"] for d in skipped]))
    for dep, record in zip(skipped, records, strict=True):
        if not record or record.get("info", {}).get("version") != dep.get("version"):
            unaudited.append(dep)
            continue
        advisories = [v for v in record.get("vulnerabilities") or [] if not v.get("withdrawn")]
        vulnerable += [
            (dep, {"id": v.get("id"), "fix_versions": v.get("fixed_in", [])}) for v in advisories
        ]
    return vulnerable, unaudited


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--lock", type=Path, default=Path("requirements.lock"))
    ap.add_argument("--strict", action="store_true", default=os.environ.get("AUDIT_STRICT") == "1")
    args = ap.parse_args()
    if not pypi_reachable():
        print(
            f"audit FAILED: PyPI's JSON API ({PYPI_PROBE}) cannot be reached from this machine;"
            " the pinned dependencies were not checked for known vulnerabilities."
        )
        return 1
    report = run_pip_audit(args.lock)
    deps = report.get("dependencies", [])
    vulnerable = [(d, v) for d in deps for v in d.get("vulns", [])]
    pins = lock_pins(args.lock)
    skipped = [
        {**d, "version": d.get("version") or pins.get(d["name"].lower())}
        for d in deps
        if d.get("skip_reason")
    ]
    by_record, unaudited = audit_latest_pins(skipped)
    vulnerable += by_record
    for d, v in vulnerable:
        fix = ", ".join(v.get("fix_versions", [])) or "no fixed release yet"
        print(f"VULNERABLE {d['name']}=={d.get('version')}: {v['id']} (fixed in: {fix})")
    audited = len(deps) - len(unaudited)
    if vulnerable:
        print(
            f"audit FAILED: {len(vulnerable)} known vulnerabilities in {len(deps)} pins;"
            f" upgrade the pins above in {args.lock}."
        )
        return 1
    if unaudited:
        names = ", ".join(sorted(f"{d['name']}=={d.get('version')}" for d in unaudited))
        print(
            f"audit INCOMPLETE: {audited} of {len(deps)} pins audited, no known vulnerabilities"
            f" among them; {len(unaudited)} pins are older than their project's latest release"
            f" and PyPI here holds no record of them ({names}), so they were NOT checked"
            " (AUDIT_STRICT=1 makes this a failure)."
        )
        return 1 if args.strict else 0
    print(f"audit ok: {len(deps)} pinned packages, no known vulnerabilities (pip-audit, PyPI).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
