"""The data team's page (``/ui/data``): champions and their gate decisions, the last monitor
run's alerts, label maturity and back-test, the fairness summary, and a reload button.

The reload is a state-changing form post: like every page form it carries the session's CSRF
token, checked with its origin by :func:`serving.web.guard.form_fields`.
"""

from __future__ import annotations

import logging

from anyio import to_thread
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from features.catalog import VIEWS
from serving.lifecycle import reload_models
from serving.web import data_reports
from serving.web.render import PAGES, Page, form_fields, page_for, render

logger = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
PAGES.update({("GET", "/ui/data"): "admin:reload", ("POST", "/ui/data/reload"): "admin:reload"})


def _decisions(page: Page) -> dict[str, dict]:
    """The newest gate decision of each served model (``{}`` when the audit is unreadable)."""
    from training.registry import alias_history_frame

    try:
        history = alias_history_frame(page.svc.engine)
    except Exception as err:  # the page still shows the rest
        logger.warning("data page: alias history unreadable: %s", type(err).__name__)
        return {}
    out = {}
    for view, m in page.svc.holder.all().items():
        rows = history[history["model_name"] == m.name]
        if not rows.empty:
            out[view] = rows.iloc[-1].to_dict()
    return out


def reload_lines(page: Page, result: dict[str, str]) -> list[tuple[str, str, str]]:
    """The reload's report in the page's language (the service words it in English): per line
    the label, the words and the model reference (an identifier, shown untranslated)."""
    lines = []
    for key, text in result.items():
        label = page.t(f"view_{key}" if key in VIEWS else f"data_{key}")
        word, _, rest = text.partition(" ")
        if word.rstrip(":") in ("unchanged", "loaded", "failed", "reloaded"):
            lines.append((label, page.t("data_r_" + word.rstrip(":")), rest.strip()))
        elif rest.startswith("households scored with "):
            ident = rest.removeprefix("households scored with ")
            lines.append((label, f"{word} {page.t('data_scored')}", ident))
        else:
            lines.append((label, text, ""))
    return lines


def _render(page: Page, status: int = 200, reloaded: dict | None = None, error: str | None = None):
    reports = page.svc.settings.state_dir / "reports"
    fairness = (
        data_reports.fairness_summary(reports / "fairness") if page.can("fairness:read") else None
    )
    return render(
        page,
        "data.html",
        status,
        champions=sorted(page.svc.holder.all().items()),
        decisions=_decisions(page),
        monitor=data_reports.monitor_report(reports / "monitor"),
        fairness=fairness,
        fairness_metrics=data_reports.FAIRNESS_METRICS,
        error=error,
        reloaded=None if reloaded is None else reload_lines(page, reloaded),
    )


@router.get("/ui/data")
def data_page(request: Request) -> Response:
    page = page_for(request)
    if not isinstance(page, Page):
        return page
    return _render(page)


@router.post("/ui/data/reload")
async def data_reload(request: Request) -> Response:
    page = page_for(request)
    if not isinstance(page, Page):
        return page
    try:
        await form_fields(request)
    except HTTPException:
        logger.warning("data page: reload refused (CSRF token or origin wrong)")
        return _render(page, 403, error=page.t("data_csrf"))
    actor = f"page:{page.client.client_id}"  # type: ignore[union-attr]
    if page.svc.security is not None:  # an admin action, on record (serving.security_log)
        reason = "admin: model reload (page)"
        page.svc.security.record(request, 200, reason, page.client, kind="admin")
    result = await to_thread.run_sync(reload_models, page.svc, actor)
    logger.info("models reloaded from the data page by %s: %s", actor, result)
    return _render(page, reloaded=result)
