"""A real ``vbsp-risk serve`` process on a loopback port, and clients that stream requests to it.

Used by the shutdown, crash and load tests and by ``benchmarks/crash_consistency.py`` and
``benchmarks/load_shed.py``. Every outcome of a request is classified, so a test can tell a
clean refusal (the connection was refused or closed before the request was read) from a
truncated answer or a timeout.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

SCORE = "/v1/applications/score"
VBSP_RISK = Path(sys.executable).with_name("vbsp-risk")


def served_env(served: object, db_url: str, **extra: object) -> dict[str, str]:
    """Environment serving the test fixture ``served`` (a :class:`tests.support.served.Served`)."""
    from tests.support.served import PII_KEY

    env = {
        "VBSP_RISK_STATE_DIR": str(served.folder / "state"),  # type: ignore[attr-defined]
        "VBSP_RISK_DATABASE_URL": db_url,
        "VBSP_RISK_TRACKING_URI": served.tracking_uri,  # type: ignore[attr-defined]
        "VBSP_RISK_API_KEYS_FILE": str(served.keys_file),  # type: ignore[attr-defined]
        "VBSP_RISK_PII_KEY": PII_KEY,
        "VBSP_RISK_RELOAD_INTERVAL_SECONDS": "0",
    }
    env.update({f"VBSP_RISK_{k.upper()}": str(v) for k, v in extra.items()})
    return env


def filled_sqlite(served: object, folder: Path) -> str:
    """URL of a fresh copy of the filled service database (filled once per test run)."""
    from tests.support.served import filled_sqlite_copy

    return filled_sqlite_copy(served, folder)  # type: ignore[arg-type]


def household_ids(db_url: str, n: int) -> list[str]:
    """The first ``n`` household ids of the online store (stable order)."""
    import sqlalchemy as sa

    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    sa.text(
                        "SELECT entity_id FROM online_features WHERE entity_type = 'household' "
                        "ORDER BY entity_id LIMIT :n"
                    ),
                    {"n": n},
                ).scalars()
            )
    finally:
        engine.dispose()


def application(household_id: str, **fields: object) -> dict:
    """A valid application of a known household (``fields`` override the defaults)."""
    return {
        "household_id": household_id,
        "program": "poor_household",
        "purpose": "crops",
        "amount": 10_000_000,
        "term_months": 24,
        **fields,
    }


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    """A running ``vbsp-risk serve``; ``stop``/``kill`` end it."""

    proc: subprocess.Popen
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Until ``/readyz`` is 200. Raises RuntimeError (with the log's tail) otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if httpx.get(self.base + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        tail = self.log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"server not ready (exit {self.proc.poll()}):\n{tail}")

    def kill(self) -> None:
        """``kill -9``."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)


def start_server(env: Mapping[str, str], log: Path, ready: bool = True) -> LiveServer:
    """Start ``vbsp-risk serve --no-migrate`` with ``env`` added to this process's environment."""
    port = free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(VBSP_RISK), "serve", "--port", str(port), "--no-migrate"],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(proc, port, log)
    if ready:
        try:
            server.wait_ready()
        except RuntimeError:
            server.kill()
            raise
    return server


@dataclass
class Outcome:
    """One request: ``status`` (0 without a response) and ``kind``: ``answered``,
    ``no_response`` (connection refused, or reset or closed before any byte of a response),
    ``truncated`` (a response cut short), ``timeout`` or ``error``."""

    key: str
    status: int = 0
    kind: str = "answered"
    body: dict | None = None
    headers: dict = field(default_factory=dict)
    seconds: float = 0.0
    ended: float = field(default_factory=time.monotonic)


def send(client: httpx.Client, url: str, body: dict, headers: dict, key: str) -> Outcome:
    """POST and classify what came back."""
    t = time.perf_counter()
    try:
        r = client.post(url, json=body, headers=headers)
    except httpx.ConnectError:
        return Outcome(key, kind="no_response", seconds=time.perf_counter() - t)
    except httpx.TimeoutException:
        return Outcome(key, kind="timeout", seconds=time.perf_counter() - t)
    except httpx.RemoteProtocolError as err:
        clean = "without sending a response" in str(err)
        return Outcome(key, kind="no_response" if clean else "truncated")
    except (httpx.ReadError, httpx.WriteError):  # reset (responses are one small write)
        return Outcome(key, kind="no_response")
    except httpx.TransportError:
        return Outcome(key, kind="error")
    try:
        parsed = r.json()
    except ValueError:
        parsed = None
    return Outcome(key, r.status_code, "answered", parsed, dict(r.headers), time.perf_counter() - t)


def stream(
    base: str,
    make: Callable[[str], tuple[dict, dict]],
    prefix: str,
    threads: int,
    stop: threading.Event,
    until_gone: bool = True,
    timeout: float = 30.0,
) -> list[Outcome]:
    """POST score requests from ``threads`` threads until ``stop`` is set (or, with
    ``until_gone``, until a thread gets no response: the server has gone).

    ``make(key)`` gives the body and headers of the request with idempotency key ``key``.
    """
    outcomes: list[Outcome] = []
    lock = threading.Lock()

    def worker(t: int) -> None:
        n = 0
        with httpx.Client(base_url=base, timeout=timeout) as client:
            while not stop.is_set():
                key = f"{prefix}-{t}-{n}"
                body, headers = make(key)
                out = send(client, SCORE, body, headers, key)
                with lock:
                    outcomes.append(out)
                n += 1
                if until_gone and out.kind == "no_response":
                    return

    pool = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    return outcomes
