"""The FastAPI app: wiring only. ``create_app()`` builds it; nothing happens at import time.

The lifespan connects the database, loads the API keys and the champion models (unless a test
injects its own :class:`~serving.model_store.ModelHolder`), and starts the periodic model check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from anyio import to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError

from serving.deps import Services, services
from serving.lifecycle import build_services, reload_models, reload_periodically
from serving.metrics import Metrics
from serving.middleware import GuardMiddleware
from serving.model_store import ModelHolder
from serving.routers import admin, applications, households, inspections, plans
from serving.scoring import ApplicationRejectedError, UnknownEntityError
from serving.settings import ServiceSettings
from serving.web import pages

logger = logging.getLogger(__name__)
VIEWS = ("portfolio", "application")


def _field(loc: tuple) -> str:
    return ".".join(str(p) for p in loc)


async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    # The input is never echoed back: it may hold a national ID or other personal data.
    errors = [
        {"field": _field(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    fields = ", ".join(e["field"] for e in errors[:5])
    return JSONResponse({"detail": f"invalid request: {fields}", "errors": errors}, 422)


async def _rejected(request: Request, exc: ApplicationRejectedError) -> JSONResponse:
    errors = [{"field": "body", "message": p, "type": "rule"} for p in exc.problems]
    return JSONResponse({"detail": "; ".join(exc.problems), "errors": errors}, 422)


async def _unknown(request: Request, exc: UnknownEntityError) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, 404)


async def _db_busy(request: Request, exc: Exception) -> JSONResponse:
    logger.error("database unavailable on %s: %s", request.url.path, type(exc).__name__)
    return JSONResponse({"detail": "database busy or unreachable; retry shortly"}, 503,
                        headers={"Retry-After": "2"})  # fmt: skip


async def _internal(request: Request, exc: Exception) -> JSONResponse:
    logger.error("internal error on %s: %s", request.url.path, type(exc).__name__)
    return JSONResponse({"detail": "internal error"}, 500)


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

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc = await to_thread.run_sync(build_services, cfg, holder, metrics)
        app.state.services = svc
        if holder is None:
            result = await to_thread.run_sync(reload_models, svc, "startup")
            logger.info("models at start: %s", result)
        task = asyncio.create_task(reload_periodically(svc))
        try:
            yield
        finally:
            task.cancel()
            await to_thread.run_sync(svc.audit_writer.close)
            svc.engine.dispose()

    app = FastAPI(
        title="vbsp-risk scoring service",
        version="1",
        description="Risk of repayment trouble for VBSP loan applications and inspection "
        "priorities. Every endpoint but /healthz, /readyz and /metrics needs an X-API-Key.",
        lifespan=lifespan,
    )
    for router in (applications.router, households.router, inspections.router, plans.router,
                   admin.router, pages.router):  # fmt: skip
        app.include_router(router)
    app.mount("/static", pages.static_files(), name="static")
    if cfg.bench_endpoints:
        app.include_router(admin.bench)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(ApplicationRejectedError, _rejected)
    app.add_exception_handler(UnknownEntityError, _unknown)
    app.add_exception_handler(OperationalError, _db_busy)
    app.add_exception_handler(DBAPIError, _db_busy)
    app.add_exception_handler(Exception, _internal)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], responses={503: {"description": "Not ready"}})
    def readyz(svc: Services = Depends(services)) -> JSONResponse:
        """Ready when every view has a model and the database answers; 503 otherwise."""
        problems = [f"no {v} model: {svc.holder.last_error.get(v, 'not loaded')}"
                    for v in VIEWS if svc.holder.get(v) is None]  # fmt: skip
        try:
            with svc.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as err:
            problems.append(f"database unreachable: {type(err).__name__}")
        models = {v: f"{m.name} v{m.version}" for v, m in svc.holder.all().items()}
        body = {
            "status": "not ready" if problems else "ready",
            "models": models,
            "problems": problems,
        }
        return JSONResponse(body, 503 if problems else 200)

    @app.get("/metrics", tags=["health"], response_class=PlainTextResponse)
    def metrics_text(svc: Services = Depends(services)) -> Response:
        """Prometheus metrics: requests, latencies, scores by model version, load shed."""
        return Response(svc.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(
        GuardMiddleware,
        metrics=metrics,
        max_body=cfg.max_body_bytes,
        max_in_flight=cfg.max_in_flight,
    )
    return app
