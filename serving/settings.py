"""The service's configuration: environment variables read once into a typed, checked model.

It extends :class:`vbsp_state.settings.StateSettings` (state folder, database URL, tracking URI,
actor, PII key): those are declared once, there. Every variable has the ``VBSP_RISK_`` prefix
except the tracking URI, which also honours MLflow's own ``MLFLOW_TRACKING_URI``. Bad values fail
at start with a message naming the variable.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode

from vbsp_state.registry_names import APPLICATION_MODEL, CHAMPION, PORTFOLIO_MODEL
from vbsp_state.settings import StateSettings

VIEWS = ("portfolio", "application")
_ORIGIN = re.compile(r"https?://(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:[0-9]{1,5})?")


def _listed(v: object) -> object:
    """A comma-separated environment value as a tuple (a list passed in code is kept)."""
    if isinstance(v, str):
        return tuple(part.strip() for part in v.split(",") if part.strip())
    return v


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
    required_views: Annotated[tuple[str, ...], NoDecode] = Field(
        VIEWS, description="views that must be loaded for /readyz to answer 200 (comma-separated)"
    )
    session_max_age_seconds: int = Field(
        12 * 3600, ge=300, le=7 * 86400, description="a page session ends this long after sign-in"
    )
    session_idle_seconds: int = Field(
        2 * 3600, ge=60, le=7 * 86400, description="…or after this long without a request"
    )
    public_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="origins the pages are reached at (comma-separated scheme://host[:port]); "
        "empty: the loopback address and port `vbsp-risk serve` listens on",
    )
    heavy_threads: int = Field(
        1, ge=1, le=32, description="worker threads for heavy reads (priorities, plans, pages)"
    )
    heavy_max_in_flight: int = Field(
        64, ge=1, le=10_000, description="heavy requests running or queued; above it 503"
    )
    gil_switch_ms: float = Field(
        0.5, ge=0.1, le=100.0, description="how long a thread may hold the GIL when another waits"
    )

    _split = field_validator("required_views", "public_origins", mode="before")(_listed)

    @field_validator("required_views")
    @classmethod
    def _known_views(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if unknown := [x for x in v if x not in VIEWS]:
            raise ValueError(
                f"VBSP_RISK_REQUIRED_VIEWS: unknown view {unknown[0]!r} (views: {', '.join(VIEWS)})"
            )
        return tuple(dict.fromkeys(v))

    @field_validator("public_origins")
    @classmethod
    def _origins(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for origin in v:
            if origin == "null" or not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"VBSP_RISK_PUBLIC_ORIGINS: {origin!r} is not scheme://host[:port] "
                    "(lowercase, http or https, no path, no trailing slash)"
                )
        return v

    @model_validator(mode="after")
    def _session_times(self) -> ServiceSettings:
        if self.session_idle_seconds > self.session_max_age_seconds:
            raise ValueError(
                "VBSP_RISK_SESSION_IDLE_SECONDS must not exceed VBSP_RISK_SESSION_MAX_AGE_SECONDS"
            )
        if self.heavy_max_in_flight < self.heavy_threads:
            raise ValueError(
                "VBSP_RISK_HEAVY_MAX_IN_FLIGHT must be at least VBSP_RISK_HEAVY_THREADS"
            )
        return self

    @property
    def keys_file(self) -> Path:
        """The API keys file actually used."""
        return self.api_keys_file or self.state_dir / "api_keys.json"

    def model_names(self) -> dict[str, str]:
        """Registered model name of each view."""
        return {"portfolio": self.portfolio_model, "application": self.application_model}

    def with_listen_origins(self, host: str, port: int) -> ServiceSettings:
        """These settings, with the origins of a loopback listener when none are configured.

        Pages reached only on the machine itself (``make run``) then work without configuration;
        a service reached by a public name must list it in ``VBSP_RISK_PUBLIC_ORIGINS``.
        """
        if self.public_origins or host not in ("127.0.0.1", "localhost", "::1"):
            return self
        origins = (f"http://127.0.0.1:{port}", f"http://localhost:{port}", f"http://[::1]:{port}")
        return self.model_copy(update={"public_origins": origins})
