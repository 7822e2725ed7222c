"""Scoring of loan applications shared by ``/v1/applications`` and the application page.

One function resolves, scores, audits and answers, so the page's check is the API's score: the
same program rules, the same audit row, the same answer. The routers and the pages stay thin.
"""

from __future__ import annotations

import json

from anyio import to_thread
from fastapi import HTTPException
from sqlalchemy.exc import IntegrityError

from serving import audit
from serving.auth import ApiClient
from serving.deps import Context, Services
from serving.schemas import ApplicationIn
from serving.scoring import (
    ApplicationRejectedError,
    UnknownEntityError,
    application_fields,
    check_program,
    resolve,
    score_applications,
)
from serving.what_if import score_what_if


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


async def score_audited(
    ctx: Context,
    apps: list[ApplicationIn],
    explain: bool,
    idem: str | None,
    endpoint: str,
    what_if: bool = False,
) -> list[dict]:
    """Score applications with ``ctx``'s model and answer once the audit rows are committed.

    Args:
        ctx: The services, the caller and the model.
        apps: The applications (one for ``/score``, several for ``/score-batch``).
        explain: Attach the top reasons.
        idem: The caller's ``Idempotency-Key``: a resend of the same request answers the first
            scores and writes nothing (422 when the key was used for another request).
        endpoint: ``score`` or ``score-batch`` (audited, and how the key is stored).
        what_if: Add the probabilities at other amounts and terms (:mod:`serving.what_if`).

    Returns:
        The answers, one an application, in order.

    Raises:
        ApplicationRejectedError: A program rule broken (422, naming the item in a batch).
        UnknownEntityError: An unknown household or group, or one outside the key (404).
        HTTPException: 409 national ID without a pseudonym key, 422 key reused.
    """
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
