"""``/v1/applications``: a loan application's risk, explained, audited, idempotent."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import Response

from serving.deps import Context, context
from serving.schemas import ApplicationIn, ApplicationScore, BatchIn, BatchScore, errors
from serving.scoring import ApplicationRejectedError
from serving.scoring_service import score_audited
from serving.strict_json import StrictJsonRoute

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
    body = await score_audited(ctx, [application], explain, idempotency_key, "score", what_if)
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
    scores = await score_audited(ctx, batch.applications, explain, idempotency_key, "score-batch")
    return {"scores": scores}
