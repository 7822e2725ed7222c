"""``/v1/applications``: a loan application's risk, explained, audited, idempotent."""

from __future__ import annotations

import json

import orjson
from anyio import to_thread
from fastapi import APIRouter, Depends, Header, HTTPException, Query
from fastapi.responses import Response
from sqlalchemy.exc import IntegrityError

from serving import audit
from serving.auth import ApiClient
from serving.deps import Context, Services, context
from serving.schemas import ApplicationIn, ApplicationScore, BatchIn, BatchScore, errors
from serving.scoring import (
    ApplicationRejectedError,
    UnknownEntityError,
    application_fields,
    check_program,
    resolve,
    score_applications,
)
from serving.strict_json import StrictJsonRoute
from serving.what_if import score_what_if

router = APIRouter(prefix="/v1/applications", tags=["applications"], route_class=StrictJsonRoute)
IdempotencyKey = Header(
    None, alias="Idempotency-Key", min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$"
)
Explain = Query(True, description="Attach the top reasons (false: probability and band only)")
WhatIfFlag = Query(
    False,
    description="Also return the probability at other amounts and terms around the request "
    "(within the program's cap and longest term): what a smaller loan or a longer term would do",
)


def _national_ids_configured(svc: Services, apps: list[ApplicationIn]) -> None:
    """Refuse national IDs when no pseudonym key is configured (before anything is digested).

    Raises:
        HTTPException: 409 naming the item.
    """
    if svc.pii_key is not None:
        return
    for i, app in enumerate(apps):
        if app.national_id is not None:
            where = f"applications[{i}]: " if len(apps) > 1 else ""
            raise HTTPException(
                409,
                f"{where}national_id: lookup by citizen ID is not configured; give household_id",
            )


def _resolve(svc: Services, client: ApiClient, apps: list[ApplicationIn]) -> list:
    """The stored rows of the applications; errors name the item, never an identifier.

    An identifier is not echoed back (a caller may have typed a name or a citizen ID there); an
    unknown household, a group not in the given village and one outside the key's communes are
    all the same 404, so a key cannot probe other communes.

    Raises:
        UnknownEntityError: As above (404).
    """
    rows = []
    for i, app in enumerate(apps):
        where = f"applications[{i}]: " if len(apps) > 1 else ""
        try:
            rows.append(resolve(svc.online.get, app, svc.pii_key, client.communes))
        except (UnknownEntityError, ApplicationRejectedError):
            what = (
                "group in this village"
                if app.household_id is None and app.national_id is None
                else "household"
            )
            raise UnknownEntityError(
                f"{where}unknown {what} (or outside this key's communes)"
            ) from None
    return rows


async def _score(
    ctx: Context,
    apps: list[ApplicationIn],
    explain: bool,
    idem: str | None,
    endpoint: str,
    what_if: bool = False,
) -> list[dict]:
    svc, client, model = ctx.svc, ctx.client, ctx.model
    _national_ids_configured(svc, apps)
    raw_keys = [idem] if endpoint == "score" else [f"{idem}#{i}" for i in range(len(apps))]
    keys = audit.stored_keys(svc.digest_key, raw_keys) if idem else raw_keys
    # digested after the national ID is replaced by its pseudonym: nothing stored holds the ID
    dumps = [a.model_dump(mode="json") for a in apps]
    request = {
        "apps": [audit.without_national_id(d, svc.pii_key) for d in dumps],
        "explain": explain,
    }
    flag = {"what_if": True} if what_if else {}
    digest = audit.request_digest(svc.digest_key, {**request, **flag})
    if idem:
        stored = await to_thread.run_sync(audit.replay, svc.engine, client.client_id, keys)
        if stored is not None:
            raw = audit.as_digested_before_0003(dumps, explain, what_if)  # in memory only
            if not audit.same_request(svc.digest_key, stored[0]["request_sha256"], digest, raw):
                raise HTTPException(422, "Idempotency-Key was already used for another request")
            return [json.loads(r["response"]) for r in stored]
    fields = [application_fields(app) for app in apps]
    for i, f in enumerate(fields):
        try:
            check_program(f)
        except ApplicationRejectedError as err:
            if len(apps) == 1:
                raise
            raise ApplicationRejectedError(
                [f"applications[{i}]: {p}" for p in err.problems]
            ) from None
    rows = _resolve(svc, client, apps)
    scored = score_applications(model, rows, apps, explain, fields)
    responses, audit_rows = [], []
    for i, s in enumerate(scored):
        score_id = audit.new_score_id()
        body = {
            "score_id": score_id,
            "probability": s.probability,
            "band": s.band,
            "reasons": s.reasons,
            "model": {"name": model.name, "version": model.version},
            "feature_as_of": str(s.stored["as_of"]),
            "entity": "household" if s.stored["entity_type"] == "household" else "new_member",
            "commune_id": s.stored["commune_id"],
        }
        if what_if:
            body["what_if"] = score_what_if(model, s.stored, fields[i], s.probability)
        responses.append(body)
        audit_rows.append(
            audit.audit_row(
                score_id=score_id,
                endpoint=endpoint,
                client_id=client.client_id,
                role=client.role,
                idempotency_key=keys[i] if idem else None,
                digest=digest,
                stored=s.stored,
                model_name=model.name,
                model_version=model.version,
                probability=s.probability,
                band=s.band,
                request=fields[i],
                response=body,
            )
        )
    try:  # answered only once the audit rows are committed
        await svc.audit_writer.write(audit_rows)
    except IntegrityError:
        stored = (
            await to_thread.run_sync(audit.replay, svc.engine, client.client_id, keys)
            if idem
            else None
        )
        if stored is None:
            raise
        return [json.loads(r["response"]) for r in stored]
    svc.metrics.scored(endpoint, model.name, model.version, len(responses))
    return responses


@router.post("/score", response_model=ApplicationScore, responses=errors(404, 409, 413, 415))
async def score_application(
    application: ApplicationIn,
    explain: bool = Explain,
    what_if: bool = WhatIfFlag,
    idempotency_key: str | None = IdempotencyKey,
    ctx: Context = Depends(context("applications:score", "application")),
) -> Response:
    """Probability of trouble within 12 months if this loan is granted, with the reasons.

    An amount over the program's cap, a term or grace period over its limits, is a 422 with
    the rule broken, not a score. Every score is written to the audit log before it is answered;
    a retry with the same ``Idempotency-Key`` returns the same answer and writes nothing.
    ``what_if=true`` adds ``what_if``: the probability at up to five amounts and five terms
    around the request (``serving/what_if.py``), audited with the answer.
    """
    body = await _score(ctx, [application], explain, idempotency_key, "score", what_if)
    # Built to the response model above (tests check it); returned as is, not validated again.
    return Response(orjson.dumps(body[0]), media_type="application/json")


@router.post("/score-batch", response_model=BatchScore, responses=errors(404, 409, 413, 415))
async def score_batch(
    batch: BatchIn,
    explain: bool = Explain,
    idempotency_key: str | None = IdempotencyKey,
    ctx: Context = Depends(context("applications:score", "application")),
) -> dict:
    """Several applications at once (at most ``VBSP_RISK_MAX_BATCH``); all or none are scored."""
    if len(batch.applications) > ctx.svc.settings.max_batch:
        raise ApplicationRejectedError(
            [
                f"applications: at most {ctx.svc.settings.max_batch} per batch, got {len(batch.applications)}"
            ]
        )
    scores = await _score(ctx, batch.applications, explain, idempotency_key, "score-batch")
    return {"scores": scores}
