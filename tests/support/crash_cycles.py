"""``kill -9`` cycles against a real server, and the check that nothing acknowledged was lost.

Each cycle starts ``vbsp-risk serve``, first retries (same ``Idempotency-Key``, same body) every
request of the previous cycle that got no answer and a few that did, then streams scoring
requests with fresh keys from several threads and kills the server with SIGKILL at a random
moment. Afterwards :func:`check` compares what clients were told with the audit log.
Shared by ``tests/serving/test_crash.py`` (a few cycles) and ``benchmarks/crash_consistency.py``.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.support.live_server import SCORE, Outcome, send, start_server, stream
from vbsp_state import digests


@dataclass
class CrashReport:
    """What the clients saw over all cycles, and what the audit log holds."""

    outcomes: list[Outcome] = field(default_factory=list)
    cycles: int = 0
    replays: int = 0
    replays_differing: int = 0
    unanswered_committed: int = 0
    rows_lost: int = 0
    rows_differing: int = 0
    integrity: str = ""
    secret: bytes = b""  # the server's digest secret: idempotency keys are stored as HMACs

    def counts(self) -> dict[str, int]:
        """Requests sent, by status class and by kind of failure."""
        c = Counter(o.kind for o in self.outcomes)
        s = Counter(o.status // 100 for o in self.outcomes if o.kind == "answered")
        return {
            "sent": len(self.outcomes),
            "2xx": s[2],
            "4xx": s[4],
            "5xx": s[5],
            "no_response": c["no_response"],
            "truncated": c["truncated"],
            "timeout": c["timeout"],
            "error": c["error"],
        }


def _secret(env: Mapping[str, str]) -> bytes:
    """The server's digest secret (keys are stored as HMACs): from the PII key, else the state's."""
    pii = env.get("VBSP_RISK_PII_KEY")
    if pii:
        return digests.derive_key(bytes.fromhex(pii))
    return bytes.fromhex((Path(env["VBSP_RISK_STATE_DIR"]) / digests.KEY_FILE).read_text())


def _rows(engine: Engine, keys: list[str], secret: bytes) -> dict[str, dict]:
    """Audit rows by the caller's idempotency key."""
    raw = {digests.idempotency_key(secret, k): k for k in keys}
    stored = list(raw)
    out: dict[str, dict] = {}
    with engine.connect() as conn:
        for i in range(0, len(stored), 500):
            q = sa.text(
                "SELECT idempotency_key, score_id, response FROM score_audit "
                "WHERE idempotency_key IN :keys"
            ).bindparams(sa.bindparam("keys", expanding=True))
            for key, score_id, response in conn.execute(q, {"keys": stored[i : i + 500]}):
                out[raw[key]] = {"score_id": score_id, "response": json.loads(response)}
    return out


def run_cycles(
    env: Mapping[str, str],
    engine: Engine,
    log: Path,
    make: Callable[[str], tuple[dict, dict]],
    cycles: int,
    seed: int,
    threads: int = 4,
    kill_after: tuple[float, float] = (0.3, 2.0),
) -> CrashReport:
    """Run ``cycles`` start / retry / stream / ``kill -9`` cycles; see the module docstring."""
    rng = random.Random(seed)
    report = CrashReport(secret=_secret(env))
    pending: list[str] = []
    for cycle in range(cycles):
        server = start_server(env, log)
        try:
            committed = _rows(engine, pending, report.secret) if pending else {}
            report.unanswered_committed += len(committed)
            answered = [o for o in report.outcomes if o.status == 200 and o.body]
            again = rng.sample(answered, min(3, len(answered)))
            with httpx.Client(base_url=server.base, timeout=30) as client:
                for key in pending:
                    body, headers = make(key)
                    out = send(client, SCORE, body, {**headers, "Idempotency-Key": key}, key)
                    report.outcomes.append(out)
                    if key in committed and out.body != committed[key]["response"]:
                        report.replays_differing += 1
                for first in again:
                    body, headers = make(first.key)
                    out = send(
                        client, SCORE, body, {**headers, "Idempotency-Key": first.key}, first.key
                    )
                    report.outcomes.append(out)
                    report.replays += 1
                    report.replays_differing += out.body != first.body
                body, headers = make(f"c{cycle}-warm")  # the kill comes after one answer
                out = send(
                    client,
                    SCORE,
                    body,
                    {**headers, "Idempotency-Key": f"c{cycle}-warm"},
                    f"c{cycle}-warm",
                )
                report.outcomes.append(out)
            stop = threading.Event()
            timer = threading.Timer(rng.uniform(*kill_after), server.kill)
            timer.start()
            deadline = threading.Timer(60, stop.set)
            deadline.start()

            def keyed(key: str) -> tuple[dict, dict]:
                body, headers = make(key)
                return body, {**headers, "Idempotency-Key": key}

            outcomes = stream(server.base, keyed, f"c{cycle}", threads, stop)
            deadline.cancel()
            timer.join()
        finally:
            if server.proc.poll() is None:
                server.kill()
        report.outcomes.extend(outcomes)
        pending = [o.key for o in outcomes if o.kind != "answered"]
        report.cycles += 1
    return report


def check(report: CrashReport, engine: Engine) -> CrashReport:
    """Fill in rows lost (a 200 without its audit row), rows differing from the answer, and the
    database's integrity check (SQLite)."""
    answered = {o.key: o for o in report.outcomes if o.status == 200 and o.body}
    rows = _rows(engine, list(answered), report.secret)
    for key, out in answered.items():
        row = rows.get(key)
        if row is None or row["score_id"] != out.body.get("score_id"):  # type: ignore[union-attr]
            report.rows_lost += 1
        elif row["response"] != out.body:
            report.rows_differing += 1
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            report.integrity = ", ".join(conn.exec_driver_sql("PRAGMA integrity_check").scalars())
        else:
            report.integrity = "ok" if conn.execute(sa.text("SELECT 1")).scalar() == 1 else "?"
    return report
