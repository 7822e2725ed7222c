"""Models served, reload of the champions, and the benchmark's no-op endpoint."""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from serving.auth import ApiClient
from serving.deps import Context, Services, context, require, services
from serving.lifecycle import reload_models
from serving.routers.applications import Explain, IdempotencyKey
from serving.schemas import ApplicationIn, ModelInfo, ReloadReport, errors
from serving.strict_json import StrictJsonRoute

router = APIRouter(prefix="/v1", tags=["models"])
bench = APIRouter(prefix="/v1/bench", tags=["benchmark"], route_class=StrictJsonRoute)


def model_infos(svc: Services) -> list[dict]:
    """The models being served."""
    return [
        {
            "view": view,
            "name": m.name,
            "version": m.version,
            "run_id": m.run_id,
            "loaded_at": m.loaded_at,
        }
        for view, m in sorted(svc.holder.all().items())
    ]


@router.get("/models", response_model=list[ModelInfo], responses=errors())
def models(
    client: ApiClient = Depends(require("models:read")), svc: Services = Depends(services)
) -> list[dict]:
    """The champion model served for each view."""
    return model_infos(svc)


@router.post("/admin/reload", response_model=ReloadReport, responses=errors(413))
async def reload(
    request: Request,
    client: ApiClient = Depends(require("admin:reload")),
    svc: Services = Depends(services),
) -> dict:
    """Load the current champions now; a model that fails to load or to pass its smoke check
    is not swapped in, and the one before keeps serving. Recorded in the security log."""
    if svc.security is not None:
        svc.security.record(request, 200, "admin: model reload", client, kind="admin")
    result = await to_thread.run_sync(reload_models, svc, client.client_id)
    return {"result": result, "models": model_infos(svc)}


@bench.post("/noop", responses=errors(413, 415))
async def noop(
    application: ApplicationIn,
    explain: bool = Explain,
    idempotency_key: str | None = IdempotencyKey,
    ctx: Context = Depends(context("applications:score", "application")),
) -> Response:
    """The scoring endpoint's signature (body, parameters, key, model) and nothing else: no
    scoring, no audit (the benchmark's baseline)."""
    return Response(b'{"ok":true}', media_type="application/json")
