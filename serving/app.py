"""The FastAPI app: wiring only. ``create_app()`` builds it; nothing happens at import time.

The lifespan connects the database, loads the API keys and the champion models (unless a test
injects its own :class:`~serving.model_store.ModelHolder`), and starts the periodic model check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator

from anyio import to_thread
from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from serving import api_docs, error_handlers
from serving.bulkhead import Bulkhead
from serving.deps import Services, services
from serving.lifecycle import build_services, reload_models, reload_periodically
from serving.metrics import Metrics
from serving.middleware import GuardMiddleware
from serving.model_store import ModelHolder
from serving.readiness import readiness, views_line
from serving.routers import admin, applications, households, inspections, plans
from serving.security_headers import SecurityHeadersMiddleware
from serving.settings import ServiceSettings
from serving.web import data_page, offline_pages, pages, render

logger = logging.getLogger(__name__)


def create_app(
    settings: ServiceSettings | None = None, holder: ModelHolder | None = None
) -> FastAPI:
    """The scoring service.

    Args:
        settings: Configuration (default: read from the environment at start).
        holder: Models to serve (tests); default: the registry's champions, loaded at start.
    """

    cfg = settings or ServiceSettings()
    metrics = Metrics()
    heavy = Bulkhead(cfg.heavy_threads, cfg.heavy_max_in_flight)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # a heavy read's thread hands the GIL to the event loop (scoring) after this long
        sys.setswitchinterval(cfg.gil_switch_ms / 1000)
        svc = await to_thread.run_sync(build_services, cfg, holder, metrics)
        app.state.services = svc
        if holder is None:
            result = await to_thread.run_sync(reload_models, svc, "startup")
            logger.info("models at start: %s", result)
        logger.info("%s", views_line(svc))
        task = asyncio.create_task(reload_periodically(svc))
        try:
            yield
        finally:
            task.cancel()
            await to_thread.run_sync(svc.audit_writer.close)
            if svc.security is not None:
                await to_thread.run_sync(svc.security.close)
            svc.engine.dispose()

    app = FastAPI(
        title="vbsp-risk scoring service",
        version="1",
        description="Risk of repayment trouble for VBSP loan applications and inspection "
        "priorities. Every endpoint but /healthz, /readyz and /metrics needs an X-API-Key.",
        lifespan=lifespan,
        docs_url=None,  # served offline by serving.api_docs
        redoc_url=None,
    )
    # pages.router last: it ends with the friendly 404 of every unknown /ui/ path
    for router in (
        applications.router,
        households.router,
        inspections.router,
        plans.router,
        admin.router,
        offline_pages.router,
        data_page.router,
        pages.router,
    ):
        app.include_router(router)
    api_docs.install(app)  # /docs, /redoc and their assets (before /static)
    app.mount("/static", render.static_files(), name="static")
    if cfg.bench_endpoints:
        app.include_router(admin.bench)
    error_handlers.install(app)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], responses={503: {"description": "Not ready"}})
    def readyz(svc: Services = Depends(services)) -> JSONResponse:
        """Each view (loaded, model, version, required); 200 when the required views
        (``VBSP_RISK_REQUIRED_VIEWS``) are loaded and the database answers, 503 otherwise."""
        status, body = readiness(svc)
        return JSONResponse(body, status)

    @app.get("/metrics", tags=["health"], response_class=PlainTextResponse)
    def metrics_text(svc: Services = Depends(services)) -> Response:
        """Prometheus metrics: requests, latencies, scores by model version, load shed."""
        return Response(svc.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(
        GuardMiddleware,
        metrics=metrics,
        max_body=cfg.max_body_bytes,
        max_in_flight=cfg.max_in_flight,
        heavy=heavy,
    )
    app.add_middleware(SecurityHeadersMiddleware)  # outermost: also on the guard's 413 and 503
    _state_the_batch_limit(app, cfg.max_batch)
    return app


def _state_the_batch_limit(app: FastAPI, max_batch: int) -> None:
    """The spec's largest batch is the configured one (the model's bound is only the ceiling)."""
    base = app.openapi

    def openapi() -> dict:
        spec = base()
        batch = spec.get("components", {}).get("schemas", {}).get("BatchIn")
        if batch is not None:
            batch["properties"]["applications"]["maxItems"] = max_batch
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
