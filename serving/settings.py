"""The service's configuration: environment variables read once into a typed, checked model.

Every variable has the ``VBSP_RISK_`` prefix except the tracking URI, which also honours MLflow's
own ``MLFLOW_TRACKING_URI``. Bad values fail at start with a message naming the variable.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Configuration of ``vbsp-risk serve`` (see the README's configuration table)."""

    model_config = SettingsConfigDict(
        env_prefix="VBSP_RISK_", extra="ignore", populate_by_name=True
    )

    state_dir: Path = Path("state")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default SQLite file state/service.db"
    )
    tracking_uri: str | None = Field(
        None,
        validation_alias=AliasChoices("VBSP_RISK_TRACKING_URI", "MLFLOW_TRACKING_URI"),
        description="MLflow tracking URI; default the SQLite store under state/mlflow",
    )
    portfolio_model: str = Field("overdue-risk-portfolio", min_length=1, max_length=128)
    application_model: str = Field("overdue-risk-application", min_length=1, max_length=128)
    model_alias: str = Field("champion", pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
    api_keys_file: Path | None = Field(None, description="default state/api_keys.json")
    pii_key: SecretStr | None = Field(
        None, description="hex key of the national-ID pseudonym (HMAC-SHA256)"
    )
    max_batch: int = Field(100, ge=1, le=1000)
    max_body_bytes: int = Field(64 * 1024, ge=1024, le=16 * 1024 * 1024)
    reload_interval_seconds: float = Field(300.0, ge=0.0, description="0 turns the check off")
    max_in_flight: int = Field(64, ge=1, le=10_000, description="above it requests get 503")
    history_months: int = Field(12, ge=1, le=120)
    bench_endpoints: bool = Field(False, description="expose POST /v1/bench/noop (benchmarks)")
    freeze_heap: bool = Field(
        True, description="after start and each reload, keep what is loaded out of full GC passes"
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
        """The database URL actually used."""
        return self.database_url or f"sqlite:///{(self.state_dir / 'service.db').as_posix()}"

    @property
    def keys_file(self) -> Path:
        """The API keys file actually used."""
        return self.api_keys_file or self.state_dir / "api_keys.json"

    def model_names(self) -> dict[str, str]:
        """Registered model name of each view."""
        return {"portfolio": self.portfolio_model, "application": self.application_model}
