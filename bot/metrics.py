"""Prometheus metrics in a registry of their own, and the small HTTP app that exposes them with a health check.

Every series is prefixed ``reelbot_``. Callers increment the metrics themselves; this module only defines them:

* ``jobs_submitted_total{model}``, ``jobs_finished_total{model,outcome}`` (``succeeded``, ``cancelled`` or an
  ErrorKind value);
* ``submit_errors_total{kind}``, ``poll_errors_total{kind}`` (ErrorKind values), ``polls_total``;
* ``deliveries_total{result}`` (posted, compressed, linked, failed), ``delivery_lag_seconds`` (job finished to
  delivered), ``credits_spent_total``;
* gauges ``queue_depth`` (jobs waiting or running) and ``jobs_in_state{state,model}`` (from store counts);
* ``database_statements_total``: statements (round trips) this process sent to its database, read at each scrape.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from bot.domain import ErrorKind

log = logging.getLogger(__name__)

NAMESPACE = "reelbot"
# unreachable: a private job whose member's DMs and private reply were both closed (it is still kept for them).
DELIVERY_RESULTS = ("posted", "compressed", "linked", "explained", "notice", "failed", "unreachable")
LAG_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600)


class Metrics:
    """The bot's metrics, registered in ``self.registry`` (never the global default registry)."""

    def __init__(self, *, runtime: bool = True) -> None:
        self.registry = CollectorRegistry()
        ns, reg = NAMESPACE, self.registry
        self.jobs_submitted = Counter(
            "jobs_submitted", "Jobs accepted by the gateway.", ["model"], namespace=ns, registry=reg
        )
        self.jobs_finished = Counter(
            "jobs_finished", "Jobs that reached a final state.", ["model", "outcome"], namespace=ns, registry=reg
        )
        self.submit_errors = Counter("submit_errors", "Failed submits, by kind.", ["kind"], namespace=ns, registry=reg)
        self.poll_errors = Counter("poll_errors", "Failed polls, by kind.", ["kind"], namespace=ns, registry=reg)
        self.polls = Counter("polls", "Status polls sent to the gateway.", namespace=ns, registry=reg)
        self.deliveries = Counter(
            "deliveries", "Results handed to users, by how.", ["result"], namespace=ns, registry=reg
        )
        self.delivery_lag = Histogram(
            "delivery_lag_seconds",
            "Time from a job finishing to its result being delivered.",
            namespace=ns,
            registry=reg,
            buckets=LAG_BUCKETS,
        )
        self.queue_depth = Gauge("queue_depth", "Jobs waiting or running.", namespace=ns, registry=reg)
        self.credits_spent = Counter("credits_spent", "Credits charged for jobs.", namespace=ns, registry=reg)
        self.jobs_in_state = Gauge(
            "jobs_in_state", "Stored jobs, by state and model.", ["state", "model"], namespace=ns, registry=reg
        )
        self._state_labels: set[tuple[str, str]] = set()
        if runtime:
            ProcessCollector(registry=reg)
            PlatformCollector(registry=reg)
            GCCollector(registry=reg)
        for result in DELIVERY_RESULTS:
            self.deliveries.labels(result=result)
        for kind in ErrorKind:
            self.submit_errors.labels(kind=kind.value)
            self.poll_errors.labels(kind=kind.value)
        self.set_job_states({})

    def job_submitted(self, model: str) -> None:
        """Count a job the gateway accepted."""
        self.jobs_submitted.labels(model=model).inc()

    def job_finished(self, model: str, outcome: str) -> None:
        """Count a finished job; ``outcome`` is ``succeeded``, ``cancelled`` or an ErrorKind value."""
        self.jobs_finished.labels(model=model, outcome=outcome).inc()

    def delivered(self, result: str, lag_seconds: float | None = None) -> None:
        """Count a delivery (one of DELIVERY_RESULTS) and, when known, how long after finishing it came."""
        self.deliveries.labels(result=result).inc()
        if lag_seconds is not None:
            self.delivery_lag.observe(max(0.0, lag_seconds))

    def set_job_states(self, counts: Mapping[tuple[str, str], int]) -> None:
        """Set ``jobs_in_state`` from store counts keyed by (state, model); pairs seen before but gone are set to 0."""
        self._state_labels |= set(counts)
        for state, model in self._state_labels:
            self.jobs_in_state.labels(state=state, model=model).set(counts.get((state, model), 0))

    def track_queue_depth(self, source: Callable[[], float]) -> None:
        """Read ``queue_depth`` from ``source`` (synchronous, cheap) at every scrape instead of setting it."""
        self.queue_depth.set_function(source)

    def track_database_statements(self, source: Callable[[], int]) -> None:
        """Read ``database_statements_total`` from ``source`` (the Database's own count) at every scrape."""
        self.registry.register(
            _CountFrom(f"{NAMESPACE}_database_statements", "Statements sent to the database.", source)
        )


class _CountFrom(Collector):
    """A counter kept elsewhere, read when scraped."""

    def __init__(self, name: str, documentation: str, source: Callable[[], int]) -> None:
        self._name = name
        self._documentation = documentation
        self._source = source

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(self._name, self._documentation, value=self._source())


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """One dependency's state."""

    ok: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class HealthReport:
    """The state of each dependency (by convention ``discord``, ``database`` and ``gateway``)."""

    checks: Mapping[str, HealthCheck] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return all(check.ok for check in self.checks.values())

    def to_json(self) -> dict[str, object]:
        """The /healthz body."""
        return {"ok": self.ok, "checks": {name: {"ok": c.ok, "detail": c.detail} for name, c in self.checks.items()}}


_METRICS: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)
_HEALTH: web.AppKey[Callable[[], Awaitable[HealthReport]]] = web.AppKey("health")
_HEALTH_TIMEOUT: web.AppKey[float] = web.AppKey("health_timeout", float)


def create_metrics_app(
    metrics: Metrics, health: Callable[[], Awaitable[HealthReport]], *, health_timeout: float = 5.0
) -> web.Application:
    """An app with GET /metrics (Prometheus exposition) and GET /healthz (200 when healthy, else 503)."""
    app = web.Application()
    app[_METRICS] = metrics
    app[_HEALTH] = health
    app[_HEALTH_TIMEOUT] = health_timeout
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _healthz)
    return app


async def _metrics(request: web.Request) -> web.Response:
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encoder(request.app[_METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})


async def _healthz(request: web.Request) -> web.Response:
    body: dict[str, object]
    try:
        async with asyncio.timeout(request.app[_HEALTH_TIMEOUT]):
            report = await request.app[_HEALTH]()
        body, ok = report.to_json(), report.ok
    except Exception as exc:  # a health check that breaks is itself a failed check
        log.warning("Health check failed: %r", exc)
        body, ok = {"ok": False, "checks": {}, "error": type(exc).__name__}, False
    return web.json_response(body, status=200 if ok else 503, headers={"Cache-Control": "no-store"})
