"""The champion gate: who may carry the registry alias ``champion``, and the audit of every move.

:func:`evaluate_gate` judges a candidate; :func:`promote` moves the alias ``champion`` of a registered model (``overdue-risk-portfolio``,
``overdue-risk-application``) to a candidate version only when the gate passes:

1. **Same, newest test window.** The candidate's run stores its test window
   (``gate/test_window.parquet``: keys, label, commune and features). Both the candidate and the
   current champion are loaded from the registry as pyfunc models and re-score exactly those
   rows. A candidate whose test window ends before the champion's is refused (it was not
   evaluated on the newest data). A champion that cannot score the window (e.g. a feature it
   needs is gone) means no fair comparison: refused, unless forced.
2. **Better beyond the noise.** For ROC AUC and for capture at capacity (visits per commune and
   month, the capacity the candidate was trained with) the difference candidate − champion is
   bootstrapped *paired and clustered*: households of the window are drawn with replacement
   (the same draws for both models, ``n_boot`` = 500, seed 42) and the candidate must win on
   both metrics with the **lower bound of the 95 % interval (2.5th percentile) of the difference
   above zero**. Overlap of the two models' own intervals is not used: the models are scored on
   the same rows, so their errors are correlated and the paired difference is the honest (and
   more powerful) test. When the capacity visits (almost) every row of the window — 90 % or
   more, as in the application view, with few applications per commune and month — capture at
   capacity cannot differ between rankings and only ROC AUC decides.
3. **Calibration acceptable** on the window: calibration slope (``y ~ a + b·logit(p)``) within
   [0.8, 1.2] and predicted trouble rate within 20 % of the observed rate.

With no champion yet, step 2 compares the candidate with a *random ranking* (its expected
value: ROC AUC 0.5, capture at capacity = the share of each commune-month visited), with the
same paired bootstrap rule; step 3 is unchanged.

Metrics are the trainer's (:class:`training.evaluate.RankingEvaluator`), so the gate's figures
are the run's figures. ``force=True`` (for the data team) moves the alias whatever the gate says; the
gate is still evaluated and its verdict recorded next to ``forced``.

Every decision — promotion, refusal, forced move, no-op — is recorded (who, when, from version,
to version, candidate, why, forced, the gate's figures):

* in MLflow: tags ``gate.*`` on the candidate model version and on its training run, and one
  ``gate`` run per decision in the candidate's experiment (tags, figures as metrics,
  ``decision.json``);
* in the service's database, table ``model_alias_history`` (created if absent; SQLite by
  default, PostgreSQL by URL).

Limitation: when the champion was trained on rows of the candidate's test window (e.g. it was
trained on a newer table), the comparison flatters the champion; the gate is then conservative.
"""

from __future__ import annotations

import getpass
import json
import logging
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import sqlalchemy as sa
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from sqlalchemy.engine import Engine

from features.numbers import finite_or_none
from training import GATE_N_BOOT, tracking
from training.gate import DEFAULT_CAPACITY, GateDecision, gate_checks
from training.hazard_level import EXPOSURE_COLUMN
from training.pyfunc_model import schema_types, to_model_input
from vbsp_state.engine import make_engine
from vbsp_state.registry_names import CHAMPION
from vbsp_state.schema import alias_history, metadata
from vbsp_state.settings import get_state

logger = logging.getLogger(__name__)


# --- registry helpers -------------------------------------------------------------------------


def latest_version(client: MlflowClient, model_name: str) -> str:
    """The highest version number of a registered model.

    Raises:
        ValueError: If the model has no version.
    """
    versions = client.search_model_versions(f"name = '{model_name}'")
    if not versions:
        raise ValueError(f"registered model {model_name!r} has no version")
    return str(max(int(v.version) for v in versions))


def champion_version(client: MlflowClient, model_name: str) -> str | None:
    """The version carrying the ``champion`` alias, or ``None``."""
    try:
        return str(client.get_model_version_by_alias(model_name, CHAMPION).version)
    except MlflowException:
        return None


def _score(model_name: str, version: str, frame: pd.DataFrame) -> np.ndarray:
    return _score_both(model_name, version, frame)[0]


def _score_both(
    model_name: str, version: str, frame: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray | None]:
    """Served probabilities of ``frame``'s rows, and their probabilities at the realised hazard
    exposure the window stores (``None`` when it stores none or the model has no hazard level)."""
    model = mlflow.pyfunc.load_model(f"models:/{model_name}/{version}")
    types = schema_types(model)
    served = np.asarray(model.predict(to_model_input(frame, types)), dtype="float64")
    scorer = getattr(model.unwrap_python_model(), "scorer", None)
    if EXPOSURE_COLUMN not in frame.columns or scorer is None:
        return served, None
    return served, scorer.predict_proba_at(frame, frame[EXPOSURE_COLUMN].to_numpy("float64"))


def _default_actor() -> str:
    try:
        return get_state().actor or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _store_name(uri: str) -> str:
    """Tracking URI without credentials."""
    return uri.split("@")[-1] if "@" in uri else uri


# --- the audit --------------------------------------------------------------------------------


def ensure_audit_table(engine: Engine) -> None:
    """Create ``model_alias_history`` if absent."""
    metadata.create_all(engine, tables=[alias_history], checkfirst=True)


def record_audit(engine: Engine, decision: GateDecision, store: str = "") -> None:
    """Append a decision to ``model_alias_history``."""
    ensure_audit_table(engine)
    row = {
        "decided_at": decision.decided_at,
        "model_name": decision.model_name,
        "alias": CHAMPION,
        "action": decision.action,
        "from_version": decision.from_version,
        "to_version": decision.to_version,
        "candidate_version": decision.candidate_version,
        "forced": decision.forced,
        "gate_passed": decision.gate_passed,
        "actor": decision.actor,
        "reason": decision.reason,
        "summary": decision.summary,
        "figures": json.dumps(_finite(decision.figures), sort_keys=True),
        "gate_run_id": decision.gate_run_id,
        "tracking_store": store[:500],
    }
    with engine.begin() as conn:
        conn.execute(alias_history.insert().values(**row))


def alias_history_frame(engine: Engine, model_name: str | None = None) -> pd.DataFrame:
    """The audit table (optionally of one model), oldest first."""
    ensure_audit_table(engine)
    q = sa.select(alias_history).order_by(alias_history.c.id)
    if model_name is not None:
        q = q.where(alias_history.c.model_name == model_name)
    with engine.connect() as conn:
        rows = conn.execute(q).mappings().all()
    return pd.DataFrame([dict(r) for r in rows], columns=[c.name for c in alias_history.columns])


def _finite(figures: dict[str, float]) -> dict[str, float | None]:
    return {k: finite_or_none(v) for k, v in figures.items()}


def _record_mlflow(client: MlflowClient, decision: GateDecision, run_id: str | None) -> str | None:
    """Tags on the candidate version and its run, plus one ``gate`` run; returns its id."""
    tags = {
        "gate.action": decision.action,
        "gate.decided_at": decision.decided_at.isoformat(),
        "gate.actor": decision.actor,
        "gate.reason": decision.reason[:5000],
        "gate.forced": str(decision.forced).lower(),
        "gate.passed": str(decision.gate_passed).lower(),
        "gate.from_version": decision.from_version or "",
        "gate.to_version": decision.to_version or "",
        "gate.summary": decision.summary[:5000],
    }
    name, version = decision.model_name, decision.candidate_version
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    if decision.from_version and decision.promoted and decision.from_version != version:
        client.set_model_version_tag(name, decision.from_version, "gate.replaced_by", version)
    experiment_id = None
    if run_id:
        try:
            run = client.get_run(run_id)
            experiment_id = run.info.experiment_id
            for key, value in tags.items():
                client.set_tag(run_id, key, value)
        except MlflowException as err:
            logger.warning("training run %s of %s v%s: %s", run_id, name, version, err)
    if experiment_id is None:
        experiment_id = tracking.ensure_experiment(f"{name}-gate")
    gate_run = client.create_run(
        experiment_id,
        run_name=f"gate {name} v{version}: {decision.action}",
        tags={
            **tags,
            "kind": "gate",
            "model_name": name,
            "candidate_version": version,
            "candidate_run_id": run_id or "",
        },
    )
    gid = gate_run.info.run_id
    now = int(decision.decided_at.timestamp() * 1000)
    metrics = [
        Metric(tracking.metric_key(k), float(v), now, 0)
        for k, v in decision.figures.items()
        if np.isfinite(v)
    ]
    client.log_batch(gid, metrics=metrics, synchronous=True)
    d = decision.to_dict()
    d["gate_run_id"] = gid
    d["figures"] = _finite(decision.figures)
    client.log_dict(gid, d, "decision.json")
    client.set_terminated(gid)
    return gid


# --- the gate ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class GateVerdict:
    """The gate's verdict on a candidate against the current champion; nothing moved yet.

    Attributes:
        model_name: Registered model.
        candidate_version: The version judged.
        candidate_run_id: Its training run (where the test window is).
        champion_version: The champion it was compared with (``None``: a random ranking).
        passed: Every check passed; ``None`` when it could not be evaluated or the candidate is
            already the champion.
        checks: Check name → passed.
        figures: The numbers behind the checks.
        lines: Why, one line per check (human readable).
    """

    model_name: str
    candidate_version: str
    candidate_run_id: str | None
    champion_version: str | None
    passed: bool | None
    checks: dict[str, bool] = field(default_factory=dict)
    figures: dict[str, float] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    @property
    def already_champion(self) -> bool:
        """Whether the candidate already carries the alias (nothing to judge)."""
        return self.champion_version == self.candidate_version

    @property
    def summary(self) -> str:
        """The lines as one text."""
        return "\n".join(self.lines)


def evaluate_gate(
    model_name: str,
    version: str | int | None = None,
    *,
    n_boot: int = GATE_N_BOOT,
    client: MlflowClient | None = None,
) -> GateVerdict:
    """Apply the gate's rule (module docstring) to a candidate; move and record nothing.

    :func:`promote` acts on this verdict; the monthly retrain's dry run shows it. A failure to
    evaluate (a champion that cannot score the window, a missing test window ...) is a verdict
    with ``passed=None`` and a ``FAIL`` line, not an exception. MLflow must already point at the
    tracking store (:func:`training.tracking.configure`).

    Args:
        model_name: Registered model name.
        version: Candidate version (default: the newest).
        n_boot: Bootstrap replicates of the paired difference.
        client: An MLflow client (default: one on the configured store).

    Returns:
        The :class:`GateVerdict`.

    Raises:
        ValueError: If the model or version does not exist.
    """
    client = client or MlflowClient()
    try:
        client.get_registered_model(model_name)
    except MlflowException as err:
        raise ValueError(f"no registered model named {model_name!r}") from err
    version = str(version) if version is not None else latest_version(client, model_name)
    try:
        candidate = client.get_model_version(model_name, version)
    except MlflowException as err:
        raise ValueError(f"{model_name} has no version {version}") from err
    before = champion_version(client, model_name)
    verdict = partial(GateVerdict, model_name, version, candidate.run_id, before)
    if before == version:
        return verdict(None, lines=[f"version {version} is already the champion"])
    try:
        checks, figures, lines = _evaluate(client, model_name, candidate, before, n_boot)
    except (ValueError, KeyError, FileNotFoundError, MlflowException) as err:
        return verdict(None, lines=[f"FAIL the gate could not be evaluated: {err}"])
    return verdict(all(checks.values()), checks, figures, lines)


def promote(
    model_name: str,
    version: str | int | None = None,
    force: bool = False,
    reason: str = "",
    actor: str | None = None,
    *,
    db_url: str | None = None,
    engine: Engine | None = None,
    n_boot: int = GATE_N_BOOT,
) -> GateDecision:
    """Move the ``champion`` alias to ``version`` if the gate passes (or ``force``); record it.

    The rule is in the module docstring; the verdict is :func:`evaluate_gate`'s. MLflow must
    already point at the tracking store (:func:`training.tracking.configure`).

    Args:
        model_name: Registered model name.
        version: Candidate version (default: the newest).
        force: Move the alias whatever the gate says (recorded as forced).
        reason: Why (recorded).
        actor: Who (default: ``$VBSP_RISK_ACTOR`` or the login name).
        db_url: The service's database (default: the state settings' ``db_url``).
        engine: An engine to use instead of ``db_url``.
        n_boot: Bootstrap replicates of the gate.

    Returns:
        The decision, as recorded.

    Raises:
        ValueError: If the model or version does not exist.
    """
    client = MlflowClient()
    verdict = evaluate_gate(model_name, version, n_boot=n_boot, client=client)
    version, before = verdict.candidate_version, verdict.champion_version
    actor = actor or _default_actor()
    lines = list(verdict.lines)
    if verdict.already_champion:
        action = "unchanged"
    else:
        action = "promoted" if (verdict.passed or force) else "refused"
        if force:
            lines.append(f"FORCED by {actor}: the alias moves whatever the gate says")
    decision = GateDecision(
        model_name=model_name,
        candidate_version=version,
        from_version=before,
        to_version=version if action == "promoted" else before,
        action=action,
        forced=bool(force) and action == "promoted",
        gate_passed=verdict.passed,
        actor=actor,
        reason=reason or "",
        summary="\n".join(lines),
        checks=dict(verdict.checks),
        figures=dict(verdict.figures),
    )
    if action == "promoted":
        client.set_registered_model_alias(model_name, CHAMPION, version)
    decision.gate_run_id = _record_mlflow(client, decision, verdict.candidate_run_id)
    if engine is None:
        engine = make_engine(db_url or get_state().db_url)
    record_audit(engine, decision, _store_name(mlflow.get_tracking_uri()))
    logger.info(
        "%s v%s: %s (champion %s → %s)%s",
        model_name,
        version,
        action,
        before,
        decision.to_version,
        " [forced]" if decision.forced else "",
    )
    return decision


def _evaluate(
    client: MlflowClient, model_name: str, candidate: Any, before: str | None, n_boot: int
) -> tuple[dict[str, bool], dict[str, float], list[str]]:
    """Re-score candidate and champion on the candidate's test window and apply the rule."""
    run = client.get_run(candidate.run_id)
    label = run.data.tags.get("label") or run.data.params.get("label")
    if not label:
        raise ValueError(f"run {candidate.run_id} does not say which label it was trained on")
    capacity = int(run.data.params.get("capacity_per_commune_month", DEFAULT_CAPACITY))
    frame = tracking.load_test_window(candidate.run_id)
    frame = frame[frame[label].notna()].reset_index(drop=True)
    frame[label] = frame[label].astype("int64")
    lines: list[str] = []
    window = (
        f"{run.data.tags.get('test.as_of_min', '?')} .. {run.data.tags.get('test.as_of_max', '?')}"
    )
    p_cand, p_at = _score_both(model_name, candidate.version, frame)
    p_champ = None
    if before is not None:
        champ = client.get_model_version(model_name, before)
        champ_end = ""
        if champ.run_id:
            champ_end = client.get_run(champ.run_id).data.tags.get("test.as_of_max", "")
        cand_end = run.data.tags.get("test.as_of_max", "")
        if champ_end and cand_end and cand_end < champ_end:
            raise ValueError(
                f"the candidate's test window ends {cand_end}, before the champion's ({champ_end}):"
                " it was not evaluated on the newest data"
            )
        try:
            p_champ = _score(model_name, before, frame)
        except KeyError as err:
            raise ValueError(
                f"champion v{before} cannot score the candidate's window: {err}"
            ) from err
        lines.append(
            f"candidate v{candidate.version} vs champion v{before} on test window {window}"
        )
    else:
        lines.append(
            f"no champion yet: candidate v{candidate.version} vs a random ranking on {window}"
        )
    checks, figures, more = gate_checks(
        frame, label, p_cand, p_champ, capacity, n_boot, at_hazards=p_at
    )
    return checks, figures, lines + more
