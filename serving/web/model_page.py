"""The model page: the champion of each view, its figures beside the challenger, its card."""

from __future__ import annotations

import logging
import tempfile
import threading
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

from serving.bands import BANDS
from serving.web import i18n
from serving.web.model_card import card_html
from serving.web.render import Page, page_for, render

logger = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)


_run_cache: dict[str, dict] = {}
_run_lock = threading.Lock()


def _run_info(tracking_uri: str, run_id: str) -> dict:
    """Key metrics and the model card of a training run (cached: runs do not change)."""
    hit = _run_cache.get(run_id)
    if hit is not None:
        return hit
    info: dict = {"metrics": {}, "card": None}
    try:
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        metrics = client.get_run(run_id).data.metrics
        info["metrics"] = {
            ranker: {m: metrics.get(f"{ranker}.{m}") for m in i18n.METRICS}
            for ranker in i18n.RANKERS
            if any(f"{ranker}.{m}" in metrics for m in i18n.METRICS)
        }
        with tempfile.TemporaryDirectory() as tmp:
            path = client.download_artifacts(run_id, "training/model_card.md", tmp)
            info["card"] = Path(path).read_text(encoding="utf-8")
    except Exception as err:  # the page still shows what it has
        logger.warning("model page: run %s unreadable: %s", run_id, type(err).__name__)
    with _run_lock:
        _run_cache[run_id] = info
    return info


@router.get("/ui/model")
def model_page(request: Request) -> Response:
    page = page_for(request)
    if not isinstance(page, Page):
        return page
    from training.registry import alias_history_frame

    svc = page.svc
    views = []
    for view, m in sorted(svc.holder.all().items()):
        info = _run_info(svc.tracking_uri, m.run_id) if m.run_id else {"metrics": {}, "card": None}
        card = card_html(info["card"], page.lang) if info.get("card") else None
        views.append({"view": view, "model": m, **info, "card_html": card})
    try:
        history = alias_history_frame(svc.engine).tail(50).iloc[::-1].to_dict("records")
    except Exception as err:
        logger.warning("model page: alias history unreadable: %s", type(err).__name__)
        history = []
    return render(
        page,
        "model.html",
        views=views,
        history=history,
        rankers=i18n.RANKERS,
        metric_names=i18n.METRICS,
        pair=lambda p: i18n.pair(p, page.lang),
        bands=BANDS,
        actions=i18n.ACTIONS,
    )
