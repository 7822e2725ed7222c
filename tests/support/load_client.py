"""An asyncio load client: many concurrent connections, every outcome classified.

Used by ``tests/serving/test_load.py`` (a small burst) and ``benchmarks/load_shed.py`` (a
longer run above capacity). ``wrk`` measures latency better but cannot tell a 503 with
``Retry-After`` from any other error, nor count timeouts per request; this client can.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np

from tests.support.live_server import SCORE, Outcome


async def _one(client: httpx.AsyncClient, body: dict, headers: dict, key: str) -> Outcome:
    t = time.perf_counter()
    try:
        r = await client.post(SCORE, json=body, headers=headers)
    except httpx.TimeoutException:
        return Outcome(key, kind="timeout", seconds=time.perf_counter() - t)
    except httpx.TransportError:
        return Outcome(key, kind="error", seconds=time.perf_counter() - t)
    return Outcome(key, r.status_code, "answered", None, dict(r.headers), time.perf_counter() - t)


async def _closed_loop(
    base: str,
    make: Callable[[str], tuple[dict, dict]],
    concurrency: int,
    seconds: float,
    total: int | None,
    timeout: float,
) -> list[Outcome]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    outcomes: list[Outcome] = []
    deadline = time.monotonic() + seconds
    sent = 0
    async with httpx.AsyncClient(base_url=base, timeout=timeout, limits=limits) as client:

        async def worker(w: int) -> None:
            nonlocal sent
            n = 0
            while time.monotonic() < deadline and (total is None or sent < total):
                sent += 1
                body, headers = make(f"load-{w}-{n}")
                outcomes.append(await _one(client, body, headers, f"load-{w}-{n}"))
                n += 1

        await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return outcomes


def run_load(
    base: str,
    make: Callable[[str], tuple[dict, dict]],
    concurrency: int,
    seconds: float = 3600.0,
    total: int | None = None,
    timeout: float = 30.0,
) -> list[Outcome]:
    """``concurrency`` connections each sending one request after another until ``seconds`` have
    passed or ``total`` requests were sent.

    The loop runs in a thread of its own: the calling thread may already run one (Playwright's
    sync API keeps an event loop in the main thread for the whole test session).
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(
            asyncio.run, _closed_loop(base, make, concurrency, seconds, total, timeout)
        ).result()


def summary(outcomes: list[Outcome]) -> dict[str, float]:
    """Requests sent, 2xx, 503 (with and without ``Retry-After``), other 5xx, 4xx, timeouts,
    transport errors; p50 and p99 (ms) of the 2xx answers."""
    status = Counter(o.status for o in outcomes if o.kind == "answered")
    kinds = Counter(o.kind for o in outcomes)
    ok = np.array([o.seconds for o in outcomes if 200 <= o.status < 300]) * 1e3
    shed = [o for o in outcomes if o.status == 503]
    return {
        "sent": len(outcomes),
        "2xx": sum(n for s, n in status.items() if 200 <= s < 300),
        "503": len(shed),
        "503_without_retry_after": sum("retry-after" not in o.headers for o in shed),
        "other_5xx": sum(n for s, n in status.items() if s >= 500 and s != 503),
        "4xx": sum(n for s, n in status.items() if 400 <= s < 500),
        "timeouts": kinds["timeout"],
        "errors": kinds["error"],
        "p50_ms": float(np.percentile(ok, 50)) if len(ok) else float("nan"),
        "p99_ms": float(np.percentile(ok, 99)) if len(ok) else float("nan"),
    }
