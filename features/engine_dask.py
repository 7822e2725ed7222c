"""The Dask engine of :mod:`features.engine`: commune tasks on a ``dask.distributed`` cluster.

``--engine dask --scheduler ADDRESS|local``: each item of a map is a task on a cluster — an
existing one (``tcp://host:8786``) or a ``LocalCluster`` started for the job (``local``). Results
come back in item order through a bounded window of in-flight tasks, so neither the workers nor
the client hold more than a few communes' results at once.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

logger = logging.getLogger(__name__)

LOCAL_SCHEDULER = "local"


class DaskEngine:
    """Tasks on a ``dask.distributed`` cluster.

    Args:
        scheduler: ``local`` starts a ``LocalCluster`` (one single-threaded worker process per
            core unless ``n_workers`` says otherwise) and stops it on :meth:`close`; anything
            else is the address of a running scheduler (``tcp://host:8786``), which is left
            running.
        n_workers: Workers of a local cluster (default: the machine's cores).
        window: Most tasks in flight at once (default: twice the cluster's threads). Results
            are consumed in order, so this bounds the results held on workers and client.
        client: An existing ``distributed.Client`` to use instead (not closed by :meth:`close`).
    """

    name = "dask"

    def __init__(
        self,
        scheduler: str = LOCAL_SCHEDULER,
        *,
        n_workers: int | None = None,
        window: int | None = None,
        client: Any = None,
    ) -> None:
        from distributed import Client, LocalCluster

        self._cluster = None
        self._own_client = client is None
        if client is not None:
            self.client = client
        elif scheduler == LOCAL_SCHEDULER:
            self._cluster = LocalCluster(
                n_workers=n_workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.WARNING,
            )
            self.client = Client(self._cluster)
        else:
            self.client = Client(scheduler)
        self._window = window
        logger.info("dask engine: %s, %d threads", self.client.scheduler.address, self.threads)

    @property
    def threads(self) -> int:
        """Worker threads of the cluster."""
        return int(sum(self.client.nthreads().values())) or 1

    def map(
        self, fn: Callable[..., Any], items: Iterable[Any], *args: Any, scatter: bool = False
    ) -> Iterator[Any]:
        """``fn(item, *args)`` as tasks, yielded in the order of ``items`` (bounded window;
        ``scatter``: each item is data, scattered to the cluster rather than put in the graph).
        """
        window = self._window or 2 * self.threads
        token = uuid.uuid4().hex[:8]
        todo = enumerate(items)
        pending: deque[Any] = deque()

        def submit_next() -> None:
            for i, item in todo:
                key = f"{fn.__name__}-{token}-{i}"
                arg = self.client.scatter([item], hash=False)[0] if scatter else item
                pending.append(self.client.submit(fn, arg, *args, key=key))
                return

        try:
            for _ in range(window):
                submit_next()
            while pending:
                future = pending.popleft()
                result = future.result()
                future.release()
                submit_next()
                yield result
        finally:
            if pending:
                self.client.cancel(list(pending))

    def share(self, obj: Any) -> Any:
        """A future of ``obj`` scattered to every worker (tasks receive the object)."""
        [future] = self.client.scatter([obj], broadcast=True, hash=False)
        return future

    def close(self) -> None:
        """Close the client (and the local cluster, if this engine started it)."""
        if self._own_client:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()

    def __enter__(self) -> DaskEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
