"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) from the service's own files, for offices
without internet.

FastAPI's own documentation pages load their scripts from a CDN (floating versions) and start
Swagger UI with an inline script, so they are blank without a connection and cannot run under the
pages' Content-Security-Policy. Here the assets come from the pinned ``fastapi-offline`` package
(mounted at ``/static/docs``), Swagger UI is started by our own ``/static/docs-init.js``, and both
pages are sent with the same CSP as the web pages (:data:`serving.web.render.SECURITY_HEADERS`).
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from serving.web.render import SECURITY_HEADERS

logger = logging.getLogger(__name__)

ASSETS_URL = "/static/docs"

_SWAGGER = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - Swagger UI</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="icon" href="{assets}/favicon.png">
</head><body>
<div id="swagger-ui" data-openapi-url="{openapi}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="/static/docs-init.js"></script>
</body></html>
"""

_REDOC = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - ReDoc</title>
<link rel="icon" href="{assets}/favicon.png">
</head><body>
<div id="redoc" data-openapi-url="{openapi}" data-nonce="{nonce}"></div>
<script src="{assets}/redoc.standalone.js"></script>
<script src="/static/docs-init.js"></script>
</body></html>
"""


def assets_dir() -> Path:
    """The folder of Swagger UI's and ReDoc's files shipped by the pinned package."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


# The two <style> elements the pinned ReDoc bundle (fastapi-offline 1.7.7, ReDoc 2.5.3) writes
# while it loads, before it can read the nonce: an empty one and its base rules.
REDOC_STYLE_HASHES = (
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
    "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='",
)


def with_style_nonce(nonce: str) -> dict[str, str]:
    """The pages' headers, their CSP also allowing ``<style>`` elements that carry ``nonce``
    (and ReDoc's two start-up styles, by hash)."""
    csp = SECURITY_HEADERS["Content-Security-Policy"].replace(
        "style-src 'self'", f"style-src 'self' 'nonce-{nonce}' {' '.join(REDOC_STYLE_HASHES)}"
    )
    assert csp != SECURITY_HEADERS["Content-Security-Policy"], "the pages' CSP has no style-src"
    return {**SECURITY_HEADERS, "Content-Security-Policy": csp}


def install(app: FastAPI) -> None:
    """Serve the offline documentation pages and their assets on ``app``.

    The app must be created with ``docs_url=None, redoc_url=None``; the assets are mounted
    before ``/static`` so that mount does not shadow them.
    """
    app.mount(ASSETS_URL, StaticFiles(directory=assets_dir()), name="docs-assets")
    title, openapi = app.title, app.openapi_url or "/openapi.json"
    router = APIRouter(include_in_schema=False)

    @router.get("/docs")
    def swagger_ui() -> HTMLResponse:
        html = _SWAGGER.format(title=title, assets=ASSETS_URL, openapi=openapi)
        return HTMLResponse(html, headers=SECURITY_HEADERS)

    @router.get("/redoc")
    def redoc() -> HTMLResponse:
        # ReDoc writes its styles into <style> elements: they carry this response's nonce.
        nonce = secrets.token_urlsafe(16)
        html = _REDOC.format(title=title, assets=ASSETS_URL, openapi=openapi, nonce=nonce)
        return HTMLResponse(html, headers=with_style_nonce(nonce))

    app.include_router(router)
