"""The loan officer's application check: a household's (or a new member's) risk, explained."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from pydantic import ValidationError

from features import domain
from features.catalog import CATEGORY_LABELS
from features.numbers import finite_or_none
from serving import clock, plan_service, scoring_service
from serving.deps import Context
from serving.priorities import household_scores
from serving.schemas import ApplicationIn
from serving.scoring import ApplicationRejectedError, UnknownEntityError
from serving.web import i18n, messages
from serving.web.render import Page, form_fields, form_number, page_for, render, valid_id
from vbsp_state.schema import online_features

router = APIRouter(include_in_schema=False)


def _groups_for(page: Page) -> list[dict]:
    t = online_features
    q = sa.select(t.c.entity_id, t.c.village_id, t.c.commune_id).where(t.c.entity_type == "group")
    with page.svc.engine.connect() as conn:
        rows = conn.execute(q.order_by(t.c.entity_id)).all()
    return [
        {"group_id": g, "village_id": v, "commune_id": c}
        for g, v, c in rows
        if page.client is not None and page.client.can_see_commune(c)
    ]


def _application_ctx(page: Page) -> dict:
    labels = CATEGORY_LABELS.get("app_purpose", {})
    return {
        "programs": [
            {
                "code": p.code,
                "label": p.label_vi if page.lang == "vi" else p.label_en,
                "cap": p.cap_vnd,
                "term": p.max_term_months,
            }
            for p in domain.PROGRAMS.values()
        ],
        "purposes": [
            (p, i18n.pair(labels[p][::-1], page.lang) if p in labels else p)
            for p in domain.PURPOSES
        ],
        "groups": _groups_for(page),
    }


@router.get("/ui/application")
def application_page(
    request: Request, household_id: str | None = None, today: date = Depends(clock.today)
) -> Response:
    page = page_for(request)
    if not isinstance(page, Page):
        return page
    lookup = None
    hid = valid_id(household_id)
    if hid:
        stored = page.svc.online.get(household_id=hid)
        if stored is not None and page.client.can_see_commune(str(stored["commune_id"])):  # type: ignore[union-attr]
            rows = household_scores(page.svc.engine, page.svc.settings.portfolio_model, hid)
            lookup = {
                "household_id": hid,
                "commune_id": stored["commune_id"],
                "village_id": stored["village_id"],
                "group_id": stored["group_id"],
                "band": None if rows.empty else rows["band"].iloc[-1],
                "outstanding": None if rows.empty else finite_or_none(rows["outstanding"].iloc[-1]),
                "fresh": None if rows.empty else clock.freshness(rows["as_of"].iloc[-1], today),
            }
        else:
            lookup = {}
    # An id that found nothing is not shown back (it may be a mistyped citizen ID or a name).
    form = {
        "identity": "household",
        "household_id": hid if lookup else "",
        "program": "poor_household",
        "purpose": "livestock",
        "amount": "",
        "term_months": "36",
        "grace_months": "0",
    }
    return render(
        page,
        "application.html",
        form=form,
        result=None,
        errors=[],
        lookup=lookup,
        places=plan_service.places(page.svc),
        fresh=None,
        **_application_ctx(page),
    )


def _shown_form(page: Page, form: dict[str, str]) -> dict[str, str]:
    """The form as shown again: the national ID never, the household id only when it names a
    household the caller may see (an unknown one may be a mistyped citizen ID or a name)."""
    shown = {k: v for k, v in form.items() if k not in ("national_id", "household_id")}
    hid = valid_id(form.get("household_id", "").strip())
    stored = page.svc.online.get(household_id=hid) if hid else None
    if stored is not None and page.client.can_see_commune(str(stored["commune_id"])):  # type: ignore[union-attr]
        shown["household_id"] = hid
    return shown


def _app_fields(form: dict[str, str]) -> dict[str, object]:
    fields: dict[str, object] = {
        "program": form.get("program", ""),
        "purpose": form.get("purpose", ""),
        "amount": form_number(
            form.get("amount", "")
            .replace(".", "")
            .replace(",", "")
            .replace(" ", "")
            .replace("₫", "")
            or None
        ),
        "term_months": form_number(form.get("term_months") or None),
        "grace_months": form_number(form.get("grace_months") or 0),
    }
    identity = form.get("identity", "household")
    if identity == "national":
        fields["national_id"] = form.get("national_id", "").strip() or None
    elif identity == "new":
        group = form.get("group_id", "")
        fields["group_id"] = group or None
        fields["village_id"] = form.get(f"village_of_{group}") or form.get("village_id") or None
    else:
        fields["household_id"] = form.get("household_id", "").strip() or None
    return fields


@router.post("/ui/application")
async def application_score(request: Request, today: date = Depends(clock.today)) -> Response:
    page = page_for(request)
    if not isinstance(page, Page):
        return page
    form = await form_fields(request)
    if form.get("identity") == "new" and form.get("group_id"):
        g = next((g for g in _groups_for(page) if g["group_id"] == form["group_id"]), None)
        if g is not None:
            form["village_id"] = g["village_id"]
    errors: list[str] = []
    result = None
    status = 200
    fields = _app_fields(form)
    try:
        app = ApplicationIn(**fields)
        model = page.svc.holder.get("application")
        if model is None:
            raise HTTPException(503, page.t("no_model"))
        ctx = Context(page.svc, page.client, model)  # type: ignore[arg-type]
        result = (
            await scoring_service.score_audited(ctx, [app], True, None, "score", what_if=True)
        )[0]
    except ValidationError as err:  # the API's 422, in the page's words
        errors, status = messages.validation_messages(err, page.lang), 422
    except ApplicationRejectedError as err:
        errors = [messages.application_problem(p, fields, page.lang) for p in err.problems]
        status = 422
    except UnknownEntityError:
        errors, status = [messages.unknown_household(page.lang)], 404
    except HTTPException as err:
        errors, status = (
            [page.t("no_model") if err.status_code == 503 else page.t("unavailable")],
            err.status_code,
        )
    fresh = None
    if result is not None and result.get("feature_as_of"):
        fresh = clock.freshness(result["feature_as_of"], today)
    shown = _shown_form(page, form)
    return render(
        page,
        "application.html",
        status,
        form=shown,
        result=result,
        errors=errors,
        lookup=None,
        places=plan_service.places(page.svc),
        fresh=fresh,
        **_application_ctx(page),
    )
