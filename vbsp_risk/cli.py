"""The ``vbsp-risk`` command line: one command per stage.

Each command writes what the next one needs and prints where it put it.
"""

from __future__ import annotations

import logging

import typer

app = typer.Typer(
    help="vbsp-risk: risk scoring for a VBSP district transaction office.", no_args_is_help=True
)


@app.callback()
def _main(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
) -> None:
    from serving.request_id import install_log_filter

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s",
    )
    install_log_filter()  # "-" outside the service's requests


# --- validate / docs (features.validation, features.contract_docs) ---------------------------
from vbsp_risk import validate_cmd as _validate_cmd  # noqa: E402

_validate_cmd.register(app)

# --- simulate / run (features.simulator) -------------------------------------------------------
from vbsp_risk import simulate_cmd as _simulate_cmd  # noqa: E402

_simulate_cmd.register(app)
from vbsp_risk import features_cmd as _features_cmd  # noqa: E402

_features_cmd.register(app)
from vbsp_risk import train_cmd as _train_cmd  # noqa: E402

_train_cmd.register(app)
from vbsp_risk import keys_cmd as _keys_cmd  # noqa: E402

_keys_cmd.register(app)
from vbsp_risk import serve_cmd as _serve_cmd  # noqa: E402

_serve_cmd.register(app)
from vbsp_risk import score_cmd as _score_cmd  # noqa: E402

_score_cmd.register(app)
from vbsp_risk import monitor_cmd as _monitor_cmd  # noqa: E402

_monitor_cmd.register(app)
from vbsp_risk import plan_cmd as _plan_cmd  # noqa: E402

_plan_cmd.register(app)
from vbsp_risk import contacts_cmd as _contacts_cmd  # noqa: E402

_contacts_cmd.register(app)
from vbsp_risk import audit_cmd as _audit_cmd  # noqa: E402

_audit_cmd.register(app)
