"""Pages of the portfolio: a commune's inspection priorities and a household's risk."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pandas as pd
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from features.numbers import finite_or_none
from serving import clock, contacts, household_finding, plan_service, plan_store
from serving.bands import BAND_NAMES, BANDS
from serving.bulkhead import heavy
from serving.priorities import group_rows, household_rows, household_scores, priorities
from serving.web import i18n
from serving.web.render import Page, not_found, page_for, render, valid_id, visible_communes
from vbsp_state.schema import portfolio_scores

router = APIRouter(include_in_schema=False)


def _trend(engine: sa.Engine, model_name: str, version: str, commune_id: str) -> dict:
    t = portfolio_scores
    q = (
        sa.select(t.c.as_of, t.c.band, sa.func.count(), sa.func.avg(t.c.probability))
        .where(
            (t.c.model_name == model_name)
            & (t.c.model_version == version)
            & (t.c.commune_id == commune_id)
        )
        .group_by(t.c.as_of, t.c.band)
        .order_by(t.c.as_of)
    )
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    months: dict[str, dict] = {}
    for as_of, band, n, mean in rows:
        m = months.setdefault(str(as_of)[:10], {"counts": dict.fromkeys(BAND_NAMES, 0), "sum": 0.0})
        m["counts"][band] = int(n)
        m["sum"] += float(mean) * int(n)
    out = []
    for as_of, m in sorted(months.items()):
        total = sum(m["counts"].values())
        out.append(
            {
                "as_of": as_of,
                "counts": m["counts"],
                "total": total,
                "mean": m["sum"] / total if total else None,
            }
        )
    return {"months": out, "bands": list(BAND_NAMES)}


def district_average(engine: sa.Engine, model_name: str, version: str) -> float | None:
    """Mean probability over the district's households at the model's latest scored month."""
    t = portfolio_scores
    cond = (t.c.model_name == model_name) & (t.c.model_version == version)
    latest = sa.select(sa.func.max(t.c.as_of)).where(cond).scalar_subquery()
    with engine.connect() as conn:
        mean = conn.execute(
            sa.select(sa.func.avg(t.c.probability)).where(cond & (t.c.as_of == latest))
        ).scalar()
    return None if mean is None else float(mean)


def legend(district: float | None, commune: float | None = None) -> dict:
    """The band legend: each band's range (from :data:`serving.bands.BANDS`) and the averages."""
    rows = [
        {"band": name, "lower": lower, "upper": BANDS[i + 1][1] if i + 1 < len(BANDS) else None}
        for i, (name, lower) in enumerate(BANDS)
    ]
    return {"bands": rows, "district": district, "commune": commune}


@router.get("/ui/priorities")
@heavy  # a commune's table: off the event loop, in the heavy reads' threads (serving.bulkhead)
def priorities_page(
    request: Request,
    commune_id: str | None = None,
    village_id: str | None = None,
    group_id: str | None = None,
    band: str | None = None,
    sort: str = "risk",
    rising: str | None = None,
    limit: int = 50,
    today: date = Depends(clock.today),
) -> Response:
    page = page_for(request)
    if not isinstance(page, Page):
        return page
    svc, lang = page.svc, page.lang
    model = svc.holder.get("portfolio")
    if model is None:
        return render(
            page, "message.html", 503, title=page.t("nav_priorities"), message=page.t("no_model")
        )
    communes = visible_communes(page, model.name, model.version)
    commune_id = valid_id(commune_id)
    if commune_id not in communes:
        commune_id = communes[0] if communes else None
    sort = sort if sort in ("risk", "exposure") else "risk"
    limit = min(max(limit, 1), 500)
    places = plan_service.places(svc)
    ctx: dict[str, Any] = {
        "communes": communes,
        "commune_id": commune_id,
        "village_id": None,
        "group_id": None,
        "band": band if band in BAND_NAMES else None,
        "sort": sort,
        "rising": bool(rising),
        "limit": limit,
        "villages": [],
        "groups_all": [],
        "rows": [],
        "groups": [],
        "as_of": None,
        "model": model,
        "total": 0,
        "shown_of": 0,
        "chart": None,
        "commune_names": places.commune_names,
        "village_names": places.village_names,
        "bands": BAND_NAMES,
        "fresh": None,
        "legend": None,
        "chart_labels": {
            "bands": list(BAND_NAMES),
            "lang": lang,
            "band_names": [i18n.band_name(b, lang) for b in BAND_NAMES],
        },
    }
    ctx["query"] = {
        "commune_id": commune_id,
        "band": ctx["band"],
        "sort": sort,
        "rising": "1" if rising else None,
        "limit": str(limit),
    }
    if commune_id is None:
        return render(page, "priorities.html", **ctx)
    as_of, ranked, groups = priorities(svc.engine, model.name, model.version, commune_id, sort=sort)
    if as_of is None:
        return render(page, "priorities.html", **ctx)
    ctx["villages"] = sorted(ranked["village_id"].unique())
    village_id = valid_id(village_id)
    village_id = village_id if village_id in ctx["villages"] else None
    sel = ranked if village_id is None else ranked[ranked["village_id"] == village_id]
    ctx["groups_all"] = sorted(sel["group_id"].unique())
    group_id = valid_id(group_id)
    group_id = group_id if group_id in ctx["groups_all"] else None
    if group_id is not None:
        sel = sel[sel["group_id"] == group_id]
    if ctx["band"]:
        sel = sel[sel["band"] == ctx["band"]]
    if rising:
        sel = sel[sel["rising"]]
    shown = sel.head(limit)
    seen = plan_store.last_visits(svc.engine, list(shown["household_id"]))
    rows = [
        {
            **row,
            "rising": bool(rising_now),
            "reasons": [x[f"text_{lang}"] for x in row["reasons"][:3]],
            "last_visit": seen.get(row["household_id"]),
        }
        for row, rising_now in zip(household_rows(shown), shown["rising"], strict=True)
    ]
    gsel = groups
    if village_id is not None:
        gsel = gsel[gsel["village_id"] == village_id]
    commune_mean = float(ranked["probability"].mean()) if len(ranked) else None
    ctx.update(
        fresh=clock.freshness(as_of, today),
        legend=legend(district_average(svc.engine, model.name, model.version), commune_mean),
        village_id=village_id,
        group_id=group_id,
        rows=rows,
        as_of=as_of,
        total=len(ranked),
        shown_of=len(sel),
        groups=group_rows(gsel.head(30)),
        chart=_trend(svc.engine, model.name, model.version, commune_id),
        contacts=contacts.for_client(
            svc.engine,
            contacts.pii_hex(svc.settings),
            page.client,
            [r["household_id"] for r in rows],
        ),
        finding=household_finding.finding(svc.settings.state_dir / "data" / "district"),
    )
    return render(page, "priorities.html", **ctx)


def _household_visits(engine: sa.Engine, household_id: str) -> list[dict]:
    from vbsp_state.schema import inspection_plans, plan_visits, visit_outcomes

    v, o, p = plan_visits, visit_outcomes, inspection_plans
    q = (
        sa.select(
            v.c.visit_date,
            v.c.selection,
            v.c.plan_id,
            p.c.month,
            o.c.use_of_funds,
            o.c.borrower_present,
            o.c.migrated,
            o.c.recorded_at,
            o.c.notes,
        )
        .select_from(
            v.join(p, p.c.plan_id == v.c.plan_id).outerjoin(o, o.c.visit_id == v.c.visit_id)
        )
        .where(v.c.household_id == household_id)
        .order_by(v.c.visit_date.desc())
    )
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]


@router.get("/ui/households/{household_id}")
@heavy
def household_page(
    request: Request, household_id: str, today: date = Depends(clock.today)
) -> Response:
    page = page_for(request)
    if not isinstance(page, Page):
        return page
    svc = page.svc
    hid = valid_id(household_id)
    rows = (
        household_scores(svc.engine, svc.settings.portfolio_model, hid) if hid else pd.DataFrame()
    )
    if rows.empty:
        return not_found(page, "household_title")
    if not page.client.can_see_commune(str(rows["commune_id"].iloc[-1])):  # type: ignore[union-attr]
        return not_found(page, "household_title", "household outside the session's communes")
    rows = rows.tail(svc.settings.history_months)
    last = rows.iloc[-1]
    history = [
        {
            "as_of": str(r["as_of"])[:10],
            "probability": float(r["probability"]),
            "band": r["band"],
            "version": r["model_version"],
        }
        for r in rows.to_dict("records")
    ]
    places = plan_service.places(svc)
    return render(
        page,
        "household.html",
        household_id=hid,
        commune_id=last["commune_id"],
        village_id=last["village_id"],
        group_id=last["group_id"],
        probability=float(last["probability"]),
        band=last["band"],
        outstanding=finite_or_none(last["outstanding"]),
        reasons=json.loads(last["reasons"]),
        history=history,
        chart={"history": history},
        visits=_household_visits(svc.engine, hid) if page.can("inspections:read") else [],
        commune_names=places.commune_names,
        village_names=places.village_names,
        as_of=last["as_of"],
        fresh=clock.freshness(pd.Timestamp(last["as_of"]).date(), today),
        legend=legend(
            district_average(svc.engine, svc.settings.portfolio_model, str(last["model_version"]))
        ),
    )
