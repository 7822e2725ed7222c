"""Where generated state lives and who acts on it, read from the environment once and checked.

Everything the project generates (simulated data, MLflow store and artifacts, the service's
database, models) lives under one state folder, ``$VBSP_RISK_STATE_DIR`` (default ``./state``).
Every layer reads these values from here, never from ``os.environ``, and nothing writes the
environment: a value a child process needs is passed to it (an explicit ``env``) or passed as an
argument. :class:`serving.settings.ServiceSettings` extends this class with the service's own
options, so the state folder and database URL are declared once.

Every variable has the ``VBSP_RISK_`` prefix except the tracking URI, which also honours MLflow's
own ``MLFLOW_TRACKING_URI``. Bad values fail at start with a message naming the variable.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class StateSettings(BaseSettings):
    """Paths of the generated state and the shared identities; fails fast on unusable values."""

    model_config = SettingsConfigDict(
        env_prefix="VBSP_RISK_", extra="ignore", populate_by_name=True
    )

    state_dir: Path = Path("state")

    @field_validator("state_dir")
    @classmethod
    def _usable(cls, v: Path) -> Path:
        if v.exists() and not v.is_dir():
            raise ValueError(f"VBSP_RISK_STATE_DIR={v} exists and is not a folder")
        return v

    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default SQLite file state/service.db"
    )
    tracking_uri: str | None = Field(
        None,
        validation_alias=AliasChoices("VBSP_RISK_TRACKING_URI", "MLFLOW_TRACKING_URI"),
        description="MLflow tracking URI; default the SQLite store under state/mlflow",
    )
    actor: str | None = Field(None, description="who is recorded for gate decisions")
    pii_key: SecretStr | None = Field(
        None, description="hex key of the national-ID pseudonym (HMAC-SHA256)"
    )

    @field_validator("database_url")
    @classmethod
    def _db_scheme(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("sqlite:///", "postgresql")):
            raise ValueError("VBSP_RISK_DATABASE_URL must be sqlite:///… or postgresql+psycopg://…")
        return v

    @field_validator("pii_key")
    @classmethod
    def _hex_key(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None:
            raw = v.get_secret_value()
            try:
                key = bytes.fromhex(raw)
            except ValueError as err:
                raise ValueError("VBSP_RISK_PII_KEY must be hexadecimal") from err
            if len(key) < 16:
                raise ValueError("VBSP_RISK_PII_KEY must be at least 16 bytes (32 hex digits)")
        return v

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

    @property
    def mlflow_uri(self) -> str:
        """The tracking URI in use: the configured one, else the embedded SQLite store."""
        return self.tracking_uri or default_tracking_uri(self.state_dir)


def default_tracking_uri(state_dir: Path) -> str:
    """The embedded store: ``sqlite:///<state>/mlflow/mlflow.db`` (absolute path)."""
    return f"sqlite:///{((state_dir / 'mlflow').resolve() / 'mlflow.db').as_posix()}"


def get_state(state_dir: Path | None = None) -> StateSettings:
    """Read the state settings from the environment (no work at import time).

    Args:
        state_dir: Overrides ``$VBSP_RISK_STATE_DIR`` (the other values still come from the
            environment).
    """
    return StateSettings() if state_dir is None else StateSettings(state_dir=Path(state_dir))
