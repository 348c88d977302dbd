"""Prometheus metrics (prometheus-client), one registry per app so test apps don't collide."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30, 60)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter("summarizer_http_requests", "HTTP requests by route and status.", ["method", "route", "status"], registry=r)
        self.latency = Histogram(
            "summarizer_http_request_duration_seconds", "Time to the response, by route.", ["method", "route"],
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.queue_depth = Gauge("summarizer_queue_depth", "Requests waiting for or using the model.", registry=r)
        self.expected_wait = Gauge(
            "summarizer_expected_wait_seconds",
            "Expected wait of a request admitted now: queue depth times the recent service time per request.",
            registry=r,
        )
        self.batch_items = Counter(
            "summarizer_batch_items", "Articles answered through POST /v1/summaries:batch, by status.", ["status"], registry=r
        )
        self.prompt_tokens = Counter("summarizer_model_prompt_tokens", "Tokens the model read.", registry=r)
        self.generated_tokens = Counter("summarizer_model_generated_tokens", "Tokens the model wrote (backend 'openai').", registry=r)
        self.scored_tokens = Counter("summarizer_model_scored_tokens", "Candidate tokens the model scored (local backend).", registry=r)
        self.load_seconds = Gauge("summarizer_model_load_seconds", "Seconds the model took to load.", registry=r)

    def observe_request(self, method: str, route: str, status: int, seconds: float | None) -> None:
        self.requests.labels(method, route, str(status)).inc()
        if seconds is not None:
            self.latency.labels(method, route).observe(seconds)

    def observe_usage(self, usage: dict[str, int]) -> None:
        self.prompt_tokens.inc(usage.get("prompt_tokens", 0))
        self.generated_tokens.inc(usage.get("generated_tokens", 0))
        self.scored_tokens.inc(usage.get("scored_tokens", 0))

    def render(self) -> bytes:
        return generate_latest(self.registry)
