"""Readiness per view: which views serve, and whether the service is ready for a load balancer.

The two views are independent: the portfolio view (priorities, household risk, plans) and the
application view (scores) each have their own champion. A view without one answers 503 on its
own endpoints while the other keeps serving. ``/readyz`` reports each view and answers 200 when
the views of ``required_views`` (a setting; default both) are loaded and the database answers,
so an office that only plans visits can require the portfolio view alone and stay in its load
balancer while the application model is being retrained.
"""

from __future__ import annotations

import logging

from sqlalchemy import text

from serving.deps import Services
from serving.settings import VIEWS

logger = logging.getLogger(__name__)


def view_status(svc: Services) -> dict[str, dict]:
    """Each view: loaded or not, its model and version, whether it is required, and why not."""
    out = {}
    for view in VIEWS:
        model = svc.holder.get(view)
        entry: dict = {
            "loaded": model is not None,
            "required": view in svc.settings.required_views,
            "model": model.name if model else None,
            "version": model.version if model else None,
        }
        if model is None:
            entry["error"] = svc.holder.last_error.get(view, "not loaded")
        out[view] = entry
    return out


def readiness(svc: Services) -> tuple[int, dict]:
    """The ``/readyz`` answer: 200 when every required view is loaded and the database answers,
    503 otherwise; ``status`` is ``degraded`` when ready with an optional view missing."""
    views = view_status(svc)
    problems = [
        f"no {v} model: {s['error']}" for v, s in views.items() if s["required"] and not s["loaded"]
    ]
    try:
        with svc.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as err:
        problems.append(f"database unreachable: {type(err).__name__}")
    missing = [v for v, s in views.items() if not s["loaded"]]
    status = "not ready" if problems else ("degraded" if missing else "ready")
    body = {
        "status": status,
        "views": views,
        "required_views": list(svc.settings.required_views),
        "models": {v: f"{s['model']} v{s['version']}" for v, s in views.items() if s["loaded"]},
        "problems": problems,
    }
    return (503 if problems else 200), body


def views_line(svc: Services) -> str:
    """One line naming what serves and what does not (printed and logged at start)."""
    parts = []
    for view, s in view_status(svc).items():
        need = "required" if s["required"] else "optional"
        if s["loaded"]:
            parts.append(f"{view}: {s['model']} v{s['version']} ({need})")
        else:
            parts.append(f"{view}: NOT SERVING ({need}; {s['error'][:120]})")
    return "views — " + "; ".join(parts)
