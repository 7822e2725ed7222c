"""Prometheus metrics of one app instance (its own registry: no global state between apps)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class Metrics:
    """Request counts and latencies by route, scores served by model version, load shed."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            "vbsp_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "vbsp_http_request_seconds",
            "Request latency",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.scores = Counter(
            "vbsp_scores_total", "Scores served", ["endpoint", "model", "version"], registry=r
        )
        self._score_children: dict[tuple[str, str, str], object] = {}
        self.in_flight = Gauge("vbsp_http_in_flight", "Requests being handled", registry=r)
        self.shed = Counter(
            "vbsp_http_shed_total", "Requests refused with 503 (overload)", registry=r
        )
        self.model_info = Gauge(
            "vbsp_model_loaded",
            "Model version served (1)",
            ["view", "model", "version"],
            registry=r,
        )

    def scored(self, endpoint: str, model: str, version: str, n: int) -> None:
        """Count ``n`` scores served by ``model`` ``version`` on ``endpoint``."""
        key = (endpoint, model, version)
        child = self._score_children.get(key)
        if child is None:  # ``labels()`` takes a lock and checks its arguments on every call
            child = self._score_children[key] = self.scores.labels(*key)
        child.inc(n)

    def render(self) -> bytes:
        """The exposition text."""
        return generate_latest(self.registry)
