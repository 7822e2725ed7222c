"""The data team's monthly routine: validate → features → train → gate → (promote) → materialize.

:func:`retrain` runs the steps on a data folder (the month's export) and records each completed
step in a small JSON state file keyed by the data's fingerprint (SHA-256 of every file of the
export, ``truth/`` excluded): run it again on the same export and completed steps are skipped
(idempotent); if a step fails, fix the cause and run it again, it resumes at that step.

Checks before any work, each failing with a message that says what to do:

* the export must pass the data contract (``vbsp-risk validate``); a program, purpose or other
  code the contract does not know is reported as a **new category** with its values;
* every commune must have interest sessions in every month from its first to the export month
  (**missing months** are listed);
* a commune absent from the previous retrain's export is reported as **new** (training works:
  the commune is not a model feature, its history starts empty) and recorded in the state.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from features.catalog import VIEWS
from features.numbers import finite_or_none
from training import N_BOOT, RETRAIN_GATE_N_BOOT
from vbsp_state.settings import StateSettings, get_state

logger = logging.getLogger(__name__)

STEPS = ("validate", "features", "train", "gate", "materialize")
VALIDATION_REPORT = "validation-report.json"
"""The validate step's report (every failure), in the state's reports folder."""
STATE_VERSION = 1


class RetrainError(RuntimeError):
    """A step cannot run on this export; the message says why and what to do."""


@dataclass
class RetrainResult:
    """What a retrain did (or found already done).

    Attributes:
        fingerprint: SHA-256 of the export's files.
        state_file: The JSON file of completed steps.
        steps: Step → its recorded result.
        skipped: Steps found completed (not run again).
        ran: Steps run now.
        notes: Warnings worth reading (new communes ...).
    """

    fingerprint: str
    state_file: Path
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def data_fingerprint(data_dir: Path) -> str:
    """SHA-256 over the relative path and bytes of every file of the export (``truth/`` out)."""
    data_dir = Path(data_dir)
    h = hashlib.sha256()
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(data_dir).as_posix()
        if rel.startswith("truth/"):
            continue
        h.update(rel.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _load_state(path: Path) -> dict[str, Any]:
    if path.is_file():
        return json.loads(path.read_text())
    return {"version": STATE_VERSION, "steps": {}}


def _save_state(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True, default=str))
    tmp.replace(path)


# --- checks ----------------------------------------------------------------------------------


def explain_validation(frame: pd.DataFrame, data_dir: Path) -> str:
    """A readable message for a failed validation, new categories first."""
    enum = frame[frame["rule"].astype(str).str.contains("enum|isin|categor", case=False)]
    lines = [f"the export {data_dir} breaks the data contract ({len(frame)} failure(s))."]
    if len(enum):
        for (table, column), part in enum.groupby(["table", "column"], sort=True):
            values = sorted({str(v) for v in part["value"]})[:10]
            lines.append(
                f"- new category in {table}.{column}: {', '.join(values)} ({len(part)} rows). "
                "Add it to features/domain.py (and the catalog's category set) and retrain, "
                "or correct the export."
            )
    other = frame.drop(index=enum.index)
    for (table, rule), part in other.groupby(["table", "rule"], sort=True):
        lines.append(f"- {table}: {rule} on {len(part)} row(s), e.g. {part['message'].iloc[0]}")
    lines.append("Run `vbsp-risk validate DIR` for the full row-level report.")
    return "\n".join(lines)


def missing_months(tables: dict[str, pd.DataFrame], export_date: str | pd.Timestamp) -> dict:
    """Commune → months (``YYYY-MM``) without any interest session between its first and the
    export's month."""
    interest = tables["interest"]
    end = pd.Timestamp(export_date).to_period("M")
    out = {}
    months = interest.assign(m=pd.to_datetime(interest["session_date"]).dt.to_period("M"))
    for cid, part in months.groupby("commune_id", sort=True):
        seen = set(part["m"])
        full = pd.period_range(min(seen), end, freq="M")
        gaps = [str(m) for m in full if m not in seen]
        if gaps:
            out[str(cid)] = gaps
    return out


# --- the routine -----------------------------------------------------------------------------


def retrain(
    data_dir: Path,
    *,
    promote: bool = False,
    views: Sequence[str] = tuple(VIEWS),
    state_dir: Path | None = None,
    label: str = "trouble_12m",
    seed: int = 42,
    n_boot: int = N_BOOT,
    db_url: str | None = None,
    actor: str | None = None,
    reason: str = "",
    features_dir: Path | None = None,
    progress: Callable[[str, str], None] | None = None,
) -> RetrainResult:
    """Run the monthly routine on ``data_dir`` (module docstring).

    Args:
        data_dir: The month's export.
        promote: Move the champion alias when the gate passes (otherwise the gate's verdict is
            computed and recorded, nothing moves).
        views: Views to train (the application view pools the portfolio table).
        state_dir: The state folder (default ``$VBSP_RISK_STATE_DIR``); files go to
            ``<state>/retrain/<fingerprint[:16]>/``.
        label: Label trained on.
        seed: Seed of the training.
        n_boot: Bootstrap replicates of the metrics and the gate.
        db_url: The service's database (online store, gate audit); default the state's.
        actor: Who runs it (recorded by the gate).
        reason: Why (recorded by the gate; default ``vbsp-risk retrain (data <fingerprint>)``).
        features_dir: Where the feature tables go (default: the retrain's work folder).
        progress: Called with ``(step, status)``; ``status`` is ``start``, ``done`` or
            ``skipped``.

    Returns:
        The :class:`RetrainResult`.

    Raises:
        RetrainError: With a clear message when the export cannot be used.
        FileNotFoundError: If ``data_dir`` does not exist.
    """
    from features import storage

    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"data folder {data_dir} does not exist")
    settings = StateSettings(state_dir=state_dir) if state_dir is not None else get_state()
    db_url = db_url or settings.db_url
    fp = data_fingerprint(data_dir)
    work = settings.state_dir / "retrain" / fp[:16]
    state_file = work / "state.json"
    state = _load_state(state_file)
    state.update(
        fingerprint=fp, data_dir=str(data_dir.resolve()), promote=promote, views=list(views)
    )
    result = RetrainResult(fp, state_file)
    reason = reason or f"vbsp-risk retrain (data {fp[:12]})"
    say = progress or (lambda step, status: None)
    manifest = storage.read_manifest(data_dir)
    export = pd.Timestamp(manifest["export_date"])
    tables: dict[str, pd.DataFrame] | None = None

    def tables_() -> dict[str, pd.DataFrame]:
        nonlocal tables
        if tables is None:
            from features.validation import load_tables

            tables = load_tables(data_dir)
        return tables

    def done(step: str) -> bool:
        rec = state["steps"].get(step)
        if rec is None:
            return False
        if step == "features":
            return all(Path(p).is_file() for p in rec.get("files", {}).values())
        if step == "gate":  # a promote run after a dry run must ask the gate again
            return bool(rec.get("promote")) or not promote
        return True

    for step in STEPS:
        if done(step):
            result.skipped.append(step)
            result.steps[step] = state["steps"][step]
            say(step, "skipped")
            continue
        say(step, "start")
        started = time.perf_counter()
        if step == "validate":
            rec = _validate(data_dir, export, tables_, settings, result)
        elif step == "features":
            rec = _features(data_dir, tables_, export, views, features_dir or work)
        elif step == "train":
            files = state["steps"]["features"]["files"]
            rec = _train(files, views, data_dir, label, seed, n_boot)
        elif step == "gate":
            rec = _gate(state["steps"]["train"], promote, n_boot, db_url, actor, reason)
        else:
            rec = _materialize(tables_(), export, db_url)
        rec["completed_at"] = _now()
        rec["seconds"] = round(time.perf_counter() - started, 2)
        state["steps"][step] = rec
        _save_state(state_file, state)
        result.steps[step] = rec
        result.ran.append(step)
        say(step, "done")
    result.notes = state["steps"]["validate"].get("notes", [])
    _save_state(
        settings.state_dir / "retrain" / "last.json",
        {
            "fingerprint": fp,
            "export_date": str(export.date()),
            "state_file": str(state_file),
            "communes": state["steps"]["validate"].get("communes", []),
        },
    )
    return result


def _validate(
    data_dir: Path,
    export: pd.Timestamp,
    tables_: Callable,
    settings: StateSettings,
    result: RetrainResult,
) -> dict[str, Any]:
    from features.validation import validate_dir

    state_dir = settings.state_dir
    report = validate_dir(data_dir)
    report.to_json(settings.reports_dir / VALIDATION_REPORT)
    if not report.ok:
        raise RetrainError(explain_validation(report.frame, data_dir))
    tables = tables_()
    gaps = missing_months(tables, export)
    if gaps:
        listed = "; ".join(
            f"{c}: {', '.join(m[:6])}{' …' if len(m) > 6 else ''}" for c, m in gaps.items()
        )
        raise RetrainError(
            f"missing months in {data_dir}: no interest session in {listed}. A month without "
            "sessions would read as a month of perfect payment; export the missing months (or "
            "the commune's transaction-day records) and run again."
        )
    communes = sorted(tables["communes"]["commune_id"].astype(str))
    notes = []
    last = state_dir / "retrain" / "last.json"
    if last.is_file():
        before = set(json.loads(last.read_text()).get("communes", []))
        new = sorted(set(communes) - before) if before else []
        if new:
            notes.append(
                f"new commune(s) {', '.join(new)}: trained with the others (the commune is not a "
                "feature; its households' histories start at their first records)"
            )
    for n in notes:
        logger.warning(n)
    return {
        "rows": report.row_counts,
        "communes": communes,
        "notes": notes,
        "export_date": str(export.date()),
    }


def _features(
    data_dir: Path,
    tables_: Callable[[], dict],
    export: pd.Timestamp,
    views: Sequence[str],
    out: Path,
) -> dict:
    """Each view's feature table streamed commune by commune into ``out/<view>.parquet``: read
    from the folder one commune at a time when it is stored by commune (bounded memory, the
    default district), else from the tables in memory; the same pieces either way."""
    from features import partitions
    from features.build import iter_feature_table, partitioned_feature_table, write_feature_table

    out.mkdir(parents=True, exist_ok=True)
    by_commune = partitions.is_partitioned(data_dir)
    files, rows = {}, {}
    for view in dict.fromkeys(["portfolio", *views]) if "application" in views else views:
        if by_commune:
            pieces, _ = partitioned_feature_table(data_dir, view)
        else:
            pieces = iter_feature_table(tables_(), view, export)
        path = out / f"{view}.parquet"
        files[view], rows[view] = str(path), write_feature_table(pieces, path)
    return {"files": files, "rows": rows}


def _plain_metrics(metrics: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """The trainer's metrics by ranking as plain floats (``None`` for NaN), for the JSON state."""
    return {
        str(ranking): {str(k): finite_or_none(v) for k, v in values.items()}
        for ranking, values in metrics.items()
        if isinstance(values, dict)
    }


def _train(
    files: dict, views: Sequence[str], data_dir: Path, label: str, seed: int, n_boot: int
) -> dict:
    from training.pipeline import run_training
    from training.split import TooFewPositivesError

    truth = data_dir / "truth"
    out = {}
    for view in views:
        try:
            res = run_training(
                Path(files[view]),
                label,
                view=view,
                seed=seed,
                truth_dir=truth if truth.is_dir() else None,
                n_boot=n_boot,
                data_dir=data_dir,
                pool_features=Path(files["portfolio"]) if view == "application" else None,
            )
        except TooFewPositivesError as err:  # a district too small or too calm to train on
            raise RetrainError(f"{view} view not trained: {err}") from err
        lg = res.metrics.get("lightgbm", {})
        out[view] = {
            "model_name": res.model_name,
            "model_version": res.model_version,
            "run_id": res.run_id,
            "roc_auc": lg.get("roc_auc"),
            "capture_at_capacity": lg.get("capture_at_capacity"),
            "metrics": _plain_metrics(res.metrics),
        }
    return {"models": out}


def _gate(
    train: dict, promote: bool, n_boot: int, db_url: str, actor: str | None, reason: str
) -> dict:
    from training import registry, tracking

    tracking.configure()
    out: dict[str, Any] = {"promote": promote, "decisions": {}}
    for view, m in train["models"].items():
        name, version = m["model_name"], m["model_version"]
        if promote:
            d = registry.promote(
                name,
                version,
                reason=reason,
                actor=actor,
                db_url=db_url,
                n_boot=min(n_boot, RETRAIN_GATE_N_BOOT),
            )
            out["decisions"][view] = {
                "action": d.action,
                "champion": d.to_version,
                "candidate": version,
                "summary": d.summary,
                "gate_passed": d.gate_passed,
            }
            continue
        verdict = registry.evaluate_gate(name, version, n_boot=min(n_boot, RETRAIN_GATE_N_BOOT))
        out["decisions"][view] = {
            "action": "not asked (--promote not given)",
            "champion": verdict.champion_version,
            "candidate": version,
            "summary": verdict.summary,
            "gate_passed": verdict.passed,
        }
    return out


def _materialize(tables: dict, export: pd.Timestamp, db_url: str) -> dict:
    from features.online_store import default_as_of, materialize
    from vbsp_state.engine import make_engine
    from vbsp_state.migrate import upgrade

    engine = make_engine(db_url)
    try:
        upgrade(engine)
        when = default_as_of(export)
        n = materialize(tables, engine, when)
    finally:
        engine.dispose()
    return {"rows": n, "as_of": str(when.date())}
