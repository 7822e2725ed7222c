"""The service worker's script at ``/ui/sw.js``, so it controls the plan pages offline.

A service worker controls only the pages under the folder its script is served from (or the
folder ``Service-Worker-Allowed`` allows). The pages live under ``/ui/``; the file itself sits
with the other static files (``serving/web/static/sw.js``) but is served from ``/ui/`` with
``Service-Worker-Allowed: /ui/`` so its scope covers them, while the session cookie (path ``/ui``)
goes with the plan pages it fetches. It holds no data, so it needs no sign-in.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from serving.web.render import HERE, PAGES

router = APIRouter(include_in_schema=False)
PAGES.update({("GET", "/ui/sw.js"): None})  # public: a script, no data (see render.PAGES)


@router.get("/ui/sw.js")
def service_worker() -> FileResponse:
    """The service worker (``no-cache``: a new version reaches phones at their next visit)."""
    return FileResponse(
        HERE / "static" / "sw.js",
        media_type="text/javascript",
        headers={
            "Service-Worker-Allowed": "/ui/",
            "Cache-Control": "no-cache",
            "Content-Security-Policy": "default-src 'self'",
        },
    )
