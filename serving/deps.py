"""Dependencies injected into the routers: services, the caller, the served models.

They are ``async`` because they do no blocking work (the key lookup is cached), so FastAPI runs
them on the event loop instead of hopping to a worker thread for each.

A guarded route takes one dependency, :func:`require` or :func:`context`, that authenticates the
caller (401), checks the role (403) and, with :func:`context`, picks the model serving the view
(503), in that order. One dependency rather than a chain of small ones: FastAPI resolves each
node of a chain separately, and for a score that resolution was a fifth of the request's CPU.

Everything a handler needs comes from ``app.state.services``, built in the app's lifespan, so
tests can build an app around their own database, keys and models.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyHeader
from sqlalchemy.engine import Engine

from serving.audit_writer import AuditWriter
from serving.auth import ApiClient, ClientCache, allowed
from serving.loop_audit_writer import LoopAuditWriter
from serving.metrics import Metrics
from serving.model_store import LoadedModel, ModelHolder
from serving.online_cache import OnlineCache
from serving.security_log import SecurityLog
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
    audit_writer: AuditWriter | LoopAuditWriter
    pii_key: bytes | None = None
    digest_key: bytes = (
        b""  # HMAC secret of stored digests and idempotency keys (vbsp_state.digests)
    )
    security: SecurityLog | None = None  # refusals and admin actions (serving.security_log)


@dataclass(frozen=True)
class Context:
    """A guarded request's services, its authorised caller and the model serving its view."""

    svc: Services
    client: ApiClient
    model: LoadedModel


async def services(request: Request) -> Services:
    """The app's services (built in the lifespan)."""
    return request.app.state.services


def authenticate(svc: Services, key: str | None) -> ApiClient:
    """The caller holding ``key``.

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


def authorize(client: ApiClient, permission: str) -> ApiClient:
    """``client`` when its role has ``permission``.

    Raises:
        HTTPException: 403 otherwise.
    """
    if not allowed(client.role, permission):
        raise HTTPException(
            status_code=403, detail=f"role {client.role!r} may not use {permission}"
        )
    return client


def current_model(svc: Services, view: str) -> LoadedModel:
    """The model serving ``view`` now.

    Raises:
        HTTPException: 503 when none is loaded.
    """
    model = svc.holder.get(view)
    if model is None:
        raise HTTPException(
            status_code=503,
            detail=f"no {view} model is loaded; see /readyz",
            headers={"Retry-After": "30"},
        )
    return model


def require(permission: str) -> Callable[..., ApiClient]:
    """A dependency giving the caller, admitted only when its role has ``permission``."""

    async def dependency(request: Request, key: str | None = Security(api_key_header)) -> ApiClient:
        return authorize(authenticate(request.app.state.services, key), permission)

    dependency.permission = permission  # type: ignore[attr-defined]  (read by the access tests)
    return dependency


def context(permission: str, view: str) -> Callable[..., Context]:
    """A dependency giving services, caller (as :func:`require`) and the model serving ``view``."""

    async def dependency(request: Request, key: str | None = Security(api_key_header)) -> Context:
        svc = request.app.state.services
        client = authorize(authenticate(svc, key), permission)
        return Context(svc, client, current_model(svc, view))

    dependency.permission = permission  # type: ignore[attr-defined]  (read by the access tests)
    return dependency
