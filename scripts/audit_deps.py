"""Known vulnerabilities of the pinned dependencies (``requirements.lock``), by pip-audit.

    .venv/bin/python scripts/audit_deps.py [--lock requirements.lock] [--strict]

pip-audit asks PyPI's JSON API about each pinned release (``/pypi/<name>/<version>/json``),
without resolving or installing anything (``--no-deps --disable-pip``: the lock is complete).

Exit 1 when a pin has a known vulnerability (upgrade that pin in the lock), or when PyPI cannot
be reached at all. When PyPI answers but holds no record of some pinned releases (a partial
mirror), those pins are not audited: the script says so loudly, with their count and names, and
fails with ``--strict`` (or ``AUDIT_STRICT=1``) — it never reports "no known vulnerabilities"
for pins it could not check.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import urllib.request
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
    cmd = [str(exe), "-r", str(lock), "--no-deps", "--disable-pip", "--progress-spinner", "off",
           "--format", "json", "--desc", "off", "--timeout", "30"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:
        raise SystemExit(
            f"pip-audit gave no report (exit {done.returncode}):\n{done.stderr}"
        ) from None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--lock", type=Path, default=Path("requirements.lock"))
    ap.add_argument("--strict", action="store_true", default=os.environ.get("AUDIT_STRICT") == "1")
    args = ap.parse_args()
    if not pypi_reachable():
        print(f"audit FAILED: PyPI's JSON API ({PYPI_PROBE}) cannot be reached from this machine;"
              " the pinned dependencies were not checked for known vulnerabilities.")  # fmt: skip
        return 1
    report = run_pip_audit(args.lock)
    deps = report.get("dependencies", [])
    vulnerable = [(d, v) for d in deps for v in d.get("vulns", [])]
    skipped = [d for d in deps if d.get("skip_reason")]
    for d, v in vulnerable:
        fix = ", ".join(v.get("fix_versions", [])) or "no fixed release yet"
        print(f"VULNERABLE {d['name']}=={d.get('version')}: {v['id']} (fixed in: {fix})")
    audited = len(deps) - len(skipped)
    if vulnerable:
        print(f"audit FAILED: {len(vulnerable)} known vulnerabilities in {len(deps)} pins;"
              f" upgrade the pins above in {args.lock}.")  # fmt: skip
        return 1
    if skipped:
        names = ", ".join(sorted(d["name"] for d in skipped)[:12])
        checked = f"{audited} of {len(deps)} pins audited, no known vulnerabilities among them"
        print(f"audit INCOMPLETE: {checked if audited else f'none of {len(deps)} pins audited'};"
              f" PyPI holds no record of {len(skipped)} pinned releases"
              f" ({names}{', …' if len(skipped) > 12 else ''}), so they were NOT checked"
              " (AUDIT_STRICT=1 makes this a failure).")  # fmt: skip
        return 1 if args.strict else 0
    print(f"audit ok: {len(deps)} pinned packages, no known vulnerabilities (pip-audit, PyPI).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
