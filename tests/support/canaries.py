"""Canary citizen IDs: every national ID the test suite sends, and a scanner that finds them.

Tests that send a national ID (or type one into a note, a header or a form) take it from
:data:`NATIONAL_IDS`, so a scan after the whole suite (database files, WAL, logs) can look for
every one of them; :func:`planted` makes a canary resolve to a real household of a test database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from features.domain import pseudonym

NATIONAL_IDS = (
    "079912345678",  # test_security: stored nowhere in clear
    "012345678901",  # test_api, test_idempotency: looked up through the pseudonym
    "123456789012",  # test_pages: typed into the application page
    "079123456789",  # test_request_id: sent as a request id
    "001203004005",  # test_trust_*: scored, used as an idempotency key, written in notes
    "038096001122",  # test_trust_*: scored in a batch
)
"""Every national ID the suite sends to the service."""


def forms(canary: str) -> set[str]:
    """How a canary could be written down: as is, JSON- or URL-escaped, grouped by 3 or 4."""
    groups = {" ".join(re.findall(r".{1,3}", canary)), " ".join(re.findall(r".{1,4}", canary))}
    return {canary, quote(canary), *groups, *(g.replace(" ", ".") for g in groups)}


def find_in_text(text: str, where: str, canaries: Iterable[str] = NATIONAL_IDS) -> list[str]:
    """``where: canary`` for each canary found in ``text``."""
    return [f"{where}: {c}" for c in canaries for f in forms(c) if f in text]


def find_in_files(paths: Iterable[Path], canaries: Iterable[str] = NATIONAL_IDS) -> list[str]:
    """Canaries found in the bytes of ``paths`` (UTF-8 and UTF-16, as SQLite may store text)."""
    found = []
    for path in paths:
        if not path.is_file():
            continue
        data = path.read_bytes()
        for c in canaries:
            for f in forms(c):
                if f.encode() in data or f.encode("utf-16-le") in data:
                    found.append(f"{path.name}: {c}")
    return found


CLIENT_LINE = re.compile(r"^\S+\s+(httpx|httpcore)[.:]")
"""A log line of the tests' own HTTP client (it logs the URLs the tests send)."""
SCANNED = (".db", ".db-wal", ".db-shm", ".sqlite", ".log", ".jsonl", ".json", ".txt")
"""Files a whole-suite scan reads: databases, their WAL and shared memory, logs, JSON outputs."""


def scan_tree(
    roots: Iterable[Path], canaries: Iterable[str] = NATIONAL_IDS
) -> tuple[int, list[str]]:
    """Files scanned under ``roots`` and the canaries found in them (``path: canary``).

    Run after the whole suite on pytest's temporary folders (databases, WAL, logs), e.g.
    ``python -m tests.support.canaries /tmp/pytest-of-$USER``.
    """
    files = [
        p
        for root in roots
        for p in Path(root).rglob("*")
        if p.is_file() and p.name.endswith(SCANNED) and p.stat().st_size < 512 * 2**20
    ]
    found = []
    for path in files:
        if path.suffix == ".log":  # the service's lines, not the test's HTTP client's
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            text = "\n".join(line for line in lines if not CLIENT_LINE.match(line))
            found += [
                f"{path}: {hit.split(': ', 1)[1]}" for hit in find_in_text(text, "", canaries)
            ]
            continue
        found += [f"{path}: {hit.split(': ', 1)[1]}" for hit in find_in_files([path], canaries)]
    return len(files), found


def sqlite_files(engine: Engine) -> list[Path]:
    """The database file of a SQLite engine and its WAL and shared-memory files."""
    db = Path(str(engine.url.database))
    return [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]


def table_text(engine: Engine) -> str:
    """Every row of every table as text (for a back end whose files the test cannot read)."""
    chunks = []
    with engine.connect() as conn:
        for table in sa.inspect(engine).get_table_names():
            for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                chunks.append(" ".join(str(v) for v in row))
    return "\n".join(chunks)


def planted(engine: Engine, national_id: str, pii_key: bytes, like: Mapping[str, object]) -> str:
    """Make ``national_id`` resolve to a copy of household ``like`` (its pseudonym's row)."""
    alias = pseudonym(national_id, pii_key)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM online_features WHERE entity_id = :a"), {"a": alias})
        conn.execute(
            sa.text(
                "INSERT INTO online_features SELECT entity_type, :a, group_id, village_id, "
                "commune_id, workers, as_of, feature_set_version, features, materialized_at "
                "FROM online_features WHERE entity_type = 'household' AND entity_id = :h"
            ),
            {"a": alias, "h": like["entity_id"]},
        )
    return alias


if __name__ == "__main__":
    import sys

    n, hits = scan_tree(Path(a) for a in sys.argv[1:])
    sys.stdout.write("".join(f"{h}\n" for h in hits) + f"{n} files scanned, {len(hits)} canaries\n")
    sys.exit(1 if hits else 0)
