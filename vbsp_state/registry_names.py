"""The names the MLflow registry carries, declared once for every layer.

Training registers one model per view and moves the champion alias; the service loads the
model carrying the alias; the monitor and the fairness command read the portfolio champion.
They must agree on these strings, and the service database's ``model_alias_history`` records
them, so they live at the bottom of the house with the other state.
"""

from __future__ import annotations

PREFIX = "overdue-risk"
"""Prefix of the registered models and of the experiments (``overdue-risk-<view>``)."""
CHAMPION = "champion"
"""The registry alias of the model the service scores with (moved only by the gate)."""
MONITORING_EXPERIMENT = f"{PREFIX}-monitoring"
"""The experiment of the monthly monitoring runs."""


def model_name(view: str) -> str:
    """Registered model name of a view: ``overdue-risk-portfolio`` / ``overdue-risk-application``."""
    return f"{PREFIX}-{view}"


PORTFOLIO_MODEL = model_name("portfolio")
"""The portfolio view's registered model (the monitor's and the fairness report's default)."""
APPLICATION_MODEL = model_name("application")
"""The application view's registered model."""
