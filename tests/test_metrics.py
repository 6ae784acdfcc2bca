"""Metrics: separate registries, the /metrics exposition and the /healthz status codes, over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.media.server import serve
from bot.metrics import HealthCheck, HealthReport, Metrics, create_metrics_app

Health = Callable[[], Awaitable[HealthReport]]


def healthy() -> Health:
    async def report() -> HealthReport:
        return HealthReport({"discord": HealthCheck(True), "database": HealthCheck(True), "gateway": HealthCheck(True)})

    return report


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


async def start(metrics: Metrics, health: Health, **kwargs: Any) -> tuple[aiohttp.ClientSession, str, Any]:
    runner = await serve(
        create_metrics_app(metrics, health, **kwargs), "127.0.0.1:0", header_timeout_seconds=15, max_connections=256
    )
    host, port = runner.addresses[0][:2]
    return aiohttp.ClientSession(), f"http://{host}:{port}", runner


@pytest.fixture
async def client(metrics: Metrics) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    http, base, runner = await start(metrics, healthy())
    try:
        yield http, base
    finally:
        await http.close()
        await runner.cleanup()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample in a text exposition, keyed by name and sorted labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_counters_and_gauges_appear_with_their_labels(
    metrics: Metrics, client: tuple[aiohttp.ClientSession, str]
) -> None:
    metrics.job_submitted("sora-2")
    metrics.job_submitted("sora-2")
    metrics.job_finished("sora-2", "succeeded")
    metrics.job_finished("veo-3", "timed_out")
    metrics.submit_errors.labels(kind="balance").inc()
    metrics.poll_errors.labels(kind="unavailable").inc(3)
    metrics.polls.inc(5)
    metrics.delivered("posted", lag_seconds=4.0)
    metrics.delivered("linked", lag_seconds=90.0)
    metrics.delivered("failed")
    metrics.credits_spent.inc(2.5)
    metrics.queue_depth.set(7)
    metrics.set_job_states({("running", "sora-2"): 2, ("queued", "veo-3"): 1})

    http, base = client
    async with http.get(f"{base}/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        got = samples(await resp.text())

    assert got[("reelbot_jobs_submitted_total", (("model", "sora-2"),))] == 2
    assert got[("reelbot_jobs_finished_total", (("model", "sora-2"), ("outcome", "succeeded")))] == 1
    assert got[("reelbot_jobs_finished_total", (("model", "veo-3"), ("outcome", "timed_out")))] == 1
    assert got[("reelbot_submit_errors_total", (("kind", "balance"),))] == 1
    assert got[("reelbot_submit_errors_total", (("kind", "auth"),))] == 0  # known kinds start at zero
    assert got[("reelbot_poll_errors_total", (("kind", "unavailable"),))] == 3
    assert got[("reelbot_polls_total", ())] == 5
    assert got[("reelbot_deliveries_total", (("result", "posted"),))] == 1
    assert got[("reelbot_deliveries_total", (("result", "compressed"),))] == 0
    assert got[("reelbot_deliveries_total", (("result", "failed"),))] == 1
    assert got[("reelbot_delivery_lag_seconds_count", ())] == 2
    assert got[("reelbot_delivery_lag_seconds_sum", ())] == 94.0
    assert got[("reelbot_delivery_lag_seconds_bucket", (("le", "5.0"),))] == 1
    assert got[("reelbot_delivery_lag_seconds_bucket", (("le", "+Inf"),))] == 2
    assert got[("reelbot_credits_spent_total", ())] == 2.5
    assert got[("reelbot_queue_depth", ())] == 7
    assert got[("reelbot_jobs_in_state", (("model", "sora-2"), ("state", "running")))] == 2
    assert got[("reelbot_jobs_in_state", (("model", "veo-3"), ("state", "queued")))] == 1


async def test_openmetrics_is_served_when_asked_for(client: tuple[aiohttp.ClientSession, str]) -> None:
    http, base = client
    async with http.get(f"{base}/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
        assert (await resp.text()).endswith("# EOF\n")


def test_registries_are_separate() -> None:
    one, two = Metrics(runtime=False), Metrics(runtime=False)
    one.job_submitted("m")
    assert one.registry.get_sample_value("reelbot_jobs_submitted_total", {"model": "m"}) == 1
    assert two.registry.get_sample_value("reelbot_jobs_submitted_total", {"model": "m"}) is None


def test_job_states_missing_from_the_counts_drop_to_zero(metrics: Metrics) -> None:
    metrics.set_job_states({("running", "sora-2"): 3, ("failed", "sora-2"): 1})
    metrics.set_job_states({("failed", "sora-2"): 2})
    value = metrics.registry.get_sample_value
    assert value("reelbot_jobs_in_state", {"state": "running", "model": "sora-2"}) == 0
    assert value("reelbot_jobs_in_state", {"state": "failed", "model": "sora-2"}) == 2


def test_queue_depth_can_follow_a_callback(metrics: Metrics) -> None:
    depth = [3]
    metrics.track_queue_depth(lambda: depth[0])
    assert metrics.registry.get_sample_value("reelbot_queue_depth") == 3
    depth[0] = 9
    assert metrics.registry.get_sample_value("reelbot_queue_depth") == 9


def test_database_statements_follow_the_databases_count(metrics: Metrics) -> None:
    sent = [5]
    metrics.track_database_statements(lambda: sent[0])
    assert metrics.registry.get_sample_value("reelbot_database_statements_total") == 5
    sent[0] = 12
    assert metrics.registry.get_sample_value("reelbot_database_statements_total") == 12


def test_negative_lag_is_clamped(metrics: Metrics) -> None:
    metrics.delivered("posted", lag_seconds=-2.0)
    assert metrics.registry.get_sample_value("reelbot_delivery_lag_seconds_sum") == 0.0


async def test_healthz_is_200_when_every_check_passes(client: tuple[aiohttp.ClientSession, str]) -> None:
    http, base = client
    async with http.get(f"{base}/healthz") as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["ok"] is True
    assert set(body["checks"]) == {"discord", "database", "gateway"}
    assert body["checks"]["database"] == {"ok": True, "detail": ""}


async def _healthz(metrics: Metrics, health: Health, **kwargs: Any) -> tuple[int, Any]:
    http, base, runner = await start(metrics, health, **kwargs)
    try:
        async with http.get(f"{base}/healthz") as resp:
            return resp.status, await resp.json()
    finally:
        await http.close()
        await runner.cleanup()


async def test_healthz_is_503_when_a_check_fails(metrics: Metrics) -> None:
    async def report() -> HealthReport:
        return HealthReport(
            {"discord": HealthCheck(True), "database": HealthCheck(False, "locked"), "gateway": HealthCheck(True)}
        )

    status, body = await _healthz(metrics, report)
    assert status == 503
    assert body["ok"] is False
    assert body["checks"]["database"] == {"ok": False, "detail": "locked"}
    assert body["checks"]["discord"]["ok"] is True


async def test_healthz_is_503_when_the_check_itself_breaks(metrics: Metrics) -> None:
    async def report() -> HealthReport:
        raise RuntimeError("boom")

    status, body = await _healthz(metrics, report)
    assert status == 503
    assert body == {"ok": False, "checks": {}, "error": "RuntimeError"}


async def test_healthz_is_503_when_the_check_hangs(metrics: Metrics) -> None:
    async def report() -> HealthReport:
        await asyncio.Event().wait()  # never set
        raise AssertionError("unreachable")

    status, body = await _healthz(metrics, report, health_timeout=0.01)
    assert status == 503
    assert body["error"] == "TimeoutError"


def test_an_empty_report_is_healthy() -> None:
    assert HealthReport().ok is True
    assert HealthReport().to_json() == {"ok": True, "checks": {}}
