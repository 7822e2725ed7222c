"""Dependencies injected into the routers: services, the caller, the served models.

They are ``async`` because they do no blocking work (the key lookup is cached), so FastAPI runs
them on the event loop instead of hopping to a worker thread for each.

Everything a handler needs comes from ``app.state.services``, built in the app's lifespan, so
tests can build an app around their own database, keys and models.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader
from sqlalchemy.engine import Engine

from serving.audit_writer import AuditWriter
from serving.auth import ApiClient, ClientCache, allowed
from serving.metrics import Metrics
from serving.model_store import LoadedModel, ModelHolder
from serving.online_cache import OnlineCache
from serving.settings import ServiceSettings

api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="API key given by the data team"
)


@dataclass
class Services:
    """What the handlers share: configuration, database, callers, models, metrics."""

    settings: ServiceSettings
    engine: Engine
    holder: ModelHolder
    clients: ClientCache
    metrics: Metrics
    tracking_uri: str
    online: OnlineCache
    audit_writer: AuditWriter
    pii_key: bytes | None = None


async def services(request: Request) -> Services:
    """The app's services (built in the lifespan)."""
    return request.app.state.services


async def caller(
    key: str | None = Security(api_key_header), svc: Services = Depends(services)
) -> ApiClient:
    """The authenticated caller.

    Raises:
        HTTPException: 401 without a valid, active key.
    """
    client = svc.clients.get(key) if key else None
    if client is None:
        raise HTTPException(
            status_code=401,
            detail="a valid X-API-Key header is required",
            headers={"WWW-Authenticate": "APIKey"},
        )
    return client


def require(permission: str) -> Callable[..., ApiClient]:
    """A dependency admitting only callers whose role has ``permission`` (else 403)."""

    async def dependency(client: ApiClient = Depends(caller)) -> ApiClient:
        if not allowed(client.role, permission):
            raise HTTPException(
                status_code=403, detail=f"role {client.role!r} may not use {permission}"
            )
        return client

    dependency.permission = permission  # type: ignore[attr-defined]  (read by the access tests)
    return dependency


def served_model(view: str) -> Callable[..., LoadedModel]:
    """A dependency giving the model serving ``view`` now (503 when none is loaded)."""

    async def dependency(svc: Services = Depends(services)) -> LoadedModel:
        model = svc.holder.get(view)
        if model is None:
            raise HTTPException(
                status_code=503,
                detail=f"no {view} model is loaded; see /readyz",
                headers={"Retry-After": "30"},
            )
        return model

    return dependency
