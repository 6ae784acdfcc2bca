"""Builds the engine (store, gateway client, services) from settings; the caller owns its lifetime."""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp

from bot.catalog import Catalog
from bot.gateway.client import GatewayClient
from bot.gateway.download import ResultRules
from bot.gateway.hosts import PublicResolver, ResultHosts
from bot.gateway.ratelimit import RateLimiter
from bot.media.server import MediaLinks
from bot.media.store import MediaStore, open_media_store
from bot.metrics import Metrics
from bot.services.creation import CreationService
from bot.services.jobs import JobService
from bot.services.lifecycle import PollPolicy
from bot.services.moderation import ModerationService
from bot.services.phase import PollTiming, SharedClock
from bot.services.poller import Deliver, OnChange, Poller, Settle
from bot.services.queue import QueueService
from bot.services.quotas import QuotaService
from bot.services.served import ServedModels
from bot.settings import Settings
from bot.storage import JobStore
from bot.storage.connect import open_database
from bot.storage.guilds import GuildStore


def lease_holder_name() -> str:
    """This process's name in the leases it takes: host, process id, and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass(slots=True)
class Engine:
    """Everything that submits, tracks and fetches jobs, wired together."""

    settings: Settings
    models: ServedModels
    session: aiohttp.ClientSession
    store: JobStore
    client: GatewayClient
    policy: PollPolicy
    jobs: JobService
    creation: CreationService
    guilds: GuildStore
    quotas: QuotaService
    moderation: ModerationService
    queue: QueueService
    metrics: Metrics
    result_rules: ResultRules
    media: MediaStore
    clock: Callable[[], float]
    lease_holder: str = field(default_factory=lease_holder_name)

    def poller(
        self,
        *,
        origin: str,
        deliver: Deliver,
        on_change: OnChange | None = None,
        settle: Settle | None = None,
        policy: PollPolicy | None = None,
    ) -> Poller:
        """A poller for this engine's jobs of one origin (under its own ``policy``, if given); the job service
        wakes it on every submit."""
        poller = Poller(
            store=self.store,
            client=self.client,
            session=self.session,
            policy=policy or self.policy,
            media=self.media,
            result_rules=self.result_rules,
            deliver=deliver,
            origin=origin,
            on_change=on_change,
            settle=settle,
            concurrency=self.settings.poll_concurrency,
            lease_seconds=self.settings.job_lease_seconds,
            lease_holder=self.lease_holder,
            metrics=self.metrics,
            clock=self.clock,
        )
        self.jobs.on_submitted = poller.wake
        return poller


def poll_policy(settings: Settings) -> PollPolicy:
    """The polling rules the settings describe."""
    return PollPolicy(
        timing=PollTiming(
            period=settings.gateway_refresh_seconds,
            min_interval=settings.poll_interval_min_seconds,
            max_interval=settings.poll_interval_max_seconds,
            shared=SharedClock(settings.gateway_refresh_seconds) if settings.gateway_refresh_seconds > 0 else None,
        ),
        notice_after_seconds=settings.job_notice_minutes * 60,
        timeout_after_seconds=settings.job_timeout_minutes * 60,
    )


@asynccontextmanager
async def open_engine(
    settings: Settings,
    catalog: Catalog,
    *,
    clock: Callable[[], float] = time.time,
    media_links: MediaLinks | None = None,
) -> AsyncIterator[Engine]:
    """Open the HTTP session, the database and the media store, yield the engine, and close them (and its threads)
    on the way out. ``media_links`` are the built-in media server's, for results kept in RESULTS_DIR."""
    hosts = ResultHosts.of(settings.gateway_base_url, settings.result_url_allow)
    # Every connection the session makes resolves through it: a result link cannot reach a private address.
    resolver = PublicResolver(hosts)
    try:
        async with (
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=resolver), raise_for_status=False) as session,
            open_media_store(settings, media_links) as media,
        ):
            db = await open_database(settings.database_location)
            store = JobStore(db, clock)
            guilds = GuildStore(db, clock)
            moderation = ModerationService(guilds)
            try:
                client = GatewayClient(
                    session,
                    settings.gateway_base_url,
                    settings.gateway_api_key,
                    rate_limiter=RateLimiter(settings.gateway_requests_per_second),
                )
                policy = poll_policy(settings)
                metrics = Metrics()
                metrics.track_database_statements(lambda: db.round_trips)
                models = ServedModels(catalog, client, store, clock=clock)
                jobs = JobService(
                    store=store, client=client, models=models, policy=policy, metrics=metrics, clock=clock
                )
                quotas = QuotaService(guilds, settings, clock)
                holder = lease_holder_name()
                queue = QueueService(
                    store=store,
                    quotas=quotas,
                    moderation=moderation,
                    models=models,
                    submit_timeout=client.timeouts.submit,
                    holder=holder,
                    clock=clock,
                )
                yield Engine(
                    settings=settings,
                    models=models,
                    session=session,
                    store=store,
                    client=client,
                    policy=policy,
                    jobs=jobs,
                    creation=CreationService(jobs=jobs, moderation=moderation, quotas=quotas, guilds=guilds),
                    guilds=guilds,
                    quotas=quotas,
                    moderation=moderation,
                    queue=queue,
                    metrics=metrics,
                    result_rules=ResultRules(hosts, settings.result_max_mb * 1024 * 1024),
                    media=media,
                    clock=clock,
                    lease_holder=holder,
                )
            finally:
                moderation.close()
                await db.close()
    finally:
        await resolver.close()
