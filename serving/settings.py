"""The service's configuration: environment variables read once into a typed, checked model.

It extends :class:`vbsp_state.settings.StateSettings` (state folder, database URL, tracking URI,
actor, PII key): those are declared once, there. Every variable has the ``VBSP_RISK_`` prefix
except the tracking URI, which also honours MLflow's own ``MLFLOW_TRACKING_URI``. Bad values fail
at start with a message naming the variable.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from vbsp_state.registry_names import APPLICATION_MODEL, CHAMPION, PORTFOLIO_MODEL
from vbsp_state.settings import StateSettings


class ServiceSettings(StateSettings):
    """Configuration of ``vbsp-risk serve`` (see the README's configuration table)."""

    portfolio_model: str = Field(PORTFOLIO_MODEL, min_length=1, max_length=128)
    application_model: str = Field(APPLICATION_MODEL, min_length=1, max_length=128)
    model_alias: str = Field(CHAMPION, pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
    api_keys_file: Path | None = Field(None, description="default state/api_keys.json")
    max_batch: int = Field(100, ge=1, le=1000)
    max_body_bytes: int = Field(64 * 1024, ge=1024, le=16 * 1024 * 1024)
    reload_interval_seconds: float = Field(300.0, ge=0.0, description="0 turns the check off")
    max_in_flight: int = Field(64, ge=1, le=10_000, description="above it requests get 503")
    history_months: int = Field(12, ge=1, le=120)
    bench_endpoints: bool = Field(False, description="expose POST /v1/bench/noop (benchmarks)")
    freeze_heap: bool = Field(
        True, description="after start and each reload, keep what is loaded out of full GC passes"
    )

    @property
    def keys_file(self) -> Path:
        """The API keys file actually used."""
        return self.api_keys_file or self.state_dir / "api_keys.json"

    def model_names(self) -> dict[str, str]:
        """Registered model name of each view."""
        return {"portfolio": self.portfolio_model, "application": self.application_model}
