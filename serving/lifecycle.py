"""Start, reload and stop: what the app's lifespan does, kept apart from the app's wiring."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
from datetime import UTC, datetime

from anyio import to_thread

from serving import web_sessions
from serving.audit_writer import AuditWriter
from serving.auth import ClientCache, read_keys_file, sync_clients
from serving.deps import Services
from serving.loop_audit_writer import LoopAuditWriter
from serving.metrics import Metrics
from serving.model_store import ModelHolder
from serving.online_cache import OnlineCache
from serving.portfolio import has_scores, score_online_store
from serving.security_log import SecurityLog
from serving.settings import ServiceSettings
from vbsp_state.digests import digest_key
from vbsp_state.engine import make_engine
from vbsp_state.migrate import check_current
from vbsp_state.schema import service_events

logger = logging.getLogger(__name__)

# MLflow retries an unreachable tracking server 7 times with exponential backoff (about four
# minutes) and waits 120 s per request: the service would not start, or a reload would hang, for
# that long. Bounded here unless MLflow's own variables are set: the limits become MLflow's
# defaults (read at each request, after the environment), so the environment is never written.
TRACKING_REQUEST_LIMITS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": 2,
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": 1,
    "MLFLOW_HTTP_REQUEST_TIMEOUT": 10,
}


def bound_tracking_requests() -> None:
    """Make :data:`TRACKING_REQUEST_LIMITS` MLflow's defaults (its variables, when set, win)."""
    from mlflow import environment_variables

    for name, value in TRACKING_REQUEST_LIMITS.items():
        getattr(environment_variables, name).default = value


def build_services(
    settings: ServiceSettings, holder: ModelHolder | None = None, metrics: Metrics | None = None
) -> Services:
    """Connect the database, check its schema, load the API keys file; models are loaded after.

    Raises:
        RuntimeError: The database is not migrated to the code's revision.
        ValueError: The API keys file is invalid (names the entry and rule).
    """
    bound_tracking_requests()
    engine = make_engine(settings.db_url)
    check_current(engine)
    if settings.keys_file.is_file():
        n = sync_clients(engine, read_keys_file(settings.keys_file))
        logger.info("%d API clients from %s", n, settings.keys_file)
    else:
        logger.warning("no API keys file at %s: every request will get 401", settings.keys_file)
    if gone := web_sessions.purge(engine):  # sessions over for a month: nothing to keep
        logger.info("%d old web sessions deleted", gone)
    pii = settings.pii_key.get_secret_value() if settings.pii_key else None
    online = OnlineCache(engine)
    online.load()
    return Services(
        settings=settings,
        engine=engine,
        holder=holder or ModelHolder(),
        clients=ClientCache(engine),
        metrics=metrics or Metrics(),
        tracking_uri=settings.mlflow_uri,
        online=online,
        audit_writer=(
            LoopAuditWriter(engine) if engine.dialect.name == "sqlite" else AuditWriter(engine)
        ),
        pii_key=bytes.fromhex(pii) if pii else None,
        digest_key=digest_key(settings),
        security=SecurityLog(engine),
    )


def freeze_heap(svc: Services) -> None:
    """Keep what is loaded now (models, online store, libraries) out of the collector's full passes.

    A full (generation-2) collection walks every tracked object. With the online store and the
    models in memory (hundreds of thousands of objects on the default district) one holds the
    event loop for a long pause, every few seconds under load, and sets the score's p99
    (figures in ``docs/measurements.md``, ``benchmarks/bench_serving.py``). Called after start and after a reload that changed
    something, so what a reload brings in is frozen too; the heap is unfrozen and collected
    first, so what the reload dropped is freed (one pause per reload, not per few seconds).
    """
    if not svc.settings.freeze_heap:
        return
    t0 = time.perf_counter()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    logger.info(
        "heap frozen: %d objects (%.0f ms)", gc.get_freeze_count(), 1e3 * (time.perf_counter() - t0)
    )


def record_event(svc: Services, kind: str, detail: dict) -> None:
    """Append a service event (model reloads, alerts) to the database; never raises."""
    try:
        with svc.engine.begin() as conn:
            conn.execute(
                service_events.insert(),
                {
                    "created_at": datetime.now(UTC).replace(tzinfo=None),
                    "kind": kind,
                    "detail": json.dumps(detail, default=str),
                },
            )
    except Exception as err:  # the event log must not take the service down
        logger.warning("service event %s not recorded: %s", kind, err)


def reload_models(svc: Services, actor: str = "service") -> dict[str, str]:
    """Load the champions (keeping old models on failure) and make sure the portfolio model has
    scores for the online store's date; record what happened."""
    s = svc.settings
    result = svc.holder.reload(svc.tracking_uri, s.model_names(), s.model_alias)
    if svc.online.refresh_if_changed():
        result["online_store"] = "reloaded"
    svc.metrics.model_info.clear()
    for view, model in svc.holder.all().items():
        svc.metrics.model_info.labels(view, model.name, model.version).set(1)
    portfolio = svc.holder.get("portfolio")
    if portfolio is not None and not has_scores(svc.engine, portfolio):
        n = score_online_store(svc.engine, portfolio)
        result["portfolio_scores"] = f"{n} households scored with v{portfolio.version}"
    if any(not r.startswith("unchanged") for r in result.values()):
        record_event(svc, "model_reload", {"actor": actor, "result": result})
        freeze_heap(svc)
    return result


async def reload_periodically(svc: Services) -> None:
    """Check for a new champion every ``reload_interval_seconds`` (0: never)."""
    interval = svc.settings.reload_interval_seconds
    if interval <= 0:
        return
    while True:
        await asyncio.sleep(interval)
        try:
            await to_thread.run_sync(reload_models, svc, "periodic-check")
        except Exception as err:
            logger.error("periodic model check failed: %s", err)
