"""The ``vbsp-risk`` command line: one command per stage.

Each command writes what the next one needs and prints where it put it.
"""

from __future__ import annotations

import logging

import typer

from vbsp_risk import (
    audit_cmd,
    contacts_cmd,
    db_cmd,
    docs_cmd,
    fairness_cmd,
    features_cmd,
    keys_cmd,
    monitor_cmd,
    plan_cmd,
    retrain_cmd,
    run_cmd,
    score_cmd,
    serve_cmd,
    simulate_cmd,
    summary_cmd,
    train_cmd,
    validate_cmd,
)

COMMANDS = (
    validate_cmd,
    docs_cmd,
    simulate_cmd,
    summary_cmd,
    run_cmd,
    features_cmd,
    train_cmd,
    keys_cmd,
    db_cmd,
    serve_cmd,
    score_cmd,
    monitor_cmd,
    fairness_cmd,
    retrain_cmd,
    plan_cmd,
    contacts_cmd,
    audit_cmd,
)
"""Command modules, each named for its command; each adds itself with ``register(app)``."""

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


for _module in COMMANDS:
    _module.register(app)
