"""Where generated state lives, read from the environment once and checked.

Everything the project generates (simulated data, MLflow store and artifacts, the service's
database, models) lives under one state folder, ``$VBSP_RISK_STATE_DIR`` (default ``./state``).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class StateSettings(BaseSettings):
    """Paths of the generated state; fails fast on an unusable folder."""

    model_config = SettingsConfigDict(env_prefix="VBSP_RISK_", extra="ignore")

    state_dir: Path = Path("state")

    @field_validator("state_dir")
    @classmethod
    def _usable(cls, v: Path) -> Path:
        if v.exists() and not v.is_dir():
            raise ValueError(f"VBSP_RISK_STATE_DIR={v} exists and is not a folder")
        return v

    database_url: str | None = None

    @property
    def db_url(self) -> str:
        """The service's database (``$VBSP_RISK_DATABASE_URL``; default SQLite in the state folder)."""
        return self.database_url or f"sqlite:///{(self.state_dir / 'service.db').as_posix()}"

    @property
    def data_dir(self) -> Path:
        """Simulated (or imported) district data."""
        return self.state_dir / "data" / "district"

    @property
    def reports_dir(self) -> Path:
        """Validation reports and other machine-readable outputs."""
        return self.state_dir / "reports"

    @property
    def mlflow_dir(self) -> Path:
        """Local MLflow tracking store (SQLite) and artifacts."""
        return self.state_dir / "mlflow"


def get_state() -> StateSettings:
    """Read the state settings from the environment (no work at import time)."""
    return StateSettings()
