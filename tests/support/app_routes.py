"""Every route of the app with the permission it checks, derived from the app itself.

The access and security tests walk this list, so a new route cannot escape them.
"""

from __future__ import annotations

import re

from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Route

from serving.web import render

ROLES = ("officer", "inspector", "data", "admin")


def _permission(dependant: object) -> str | None:
    for dep in dependant.dependencies:  # type: ignore[attr-defined]
        found = getattr(dep.call, "permission", None) or _permission(dep)
        if found:
            return found
    return None


def routes(app: object) -> list[tuple[str, str, str | None, bool]]:
    """(method, path with ids filled in, permission, is a page) of every route of the app.

    The API's permission is the one its ``require()`` dependency checks; a page's is its entry
    in :data:`serving.web.render.PAGES`.
    """
    out = []
    for ctx in iter_route_contexts(app.routes):  # type: ignore[attr-defined]
        route, path = ctx.original_route, ctx.path
        if not isinstance(route, Route) or path.startswith("/static"):
            continue
        filled = re.sub(r"\{[^}]+\}", "x1", path)
        page = path == "/" or path.startswith("/ui")
        for method in sorted(ctx.methods or ()):
            if method == "HEAD":
                continue
            if page:
                perm = render.PAGES.get((method, path), "missing from PAGES")
            else:
                perm = _permission(route.dependant) if isinstance(route, APIRoute) else None
            out.append((method, filled, perm, page))
    return out
