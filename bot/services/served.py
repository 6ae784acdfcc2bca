"""Which catalog models the gateway serves: read from GET /v1/models at start and hourly, kept in the database."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from bot.catalog import Catalog, ModelSpec
from bot.errors import GatewayError, UserFacingError
from bot.gateway.client import GatewayClient
from bot.locales import Text, _
from bot.storage import JobStore

log = logging.getLogger(__name__)

REFRESH_SECONDS: Final = 3600.0
# After a failed read, try again sooner than the hourly refresh: the gateway may only have been restarting.
RETRY_SECONDS: Final = 300.0


class ModelState(StrEnum):
    """Whether a catalog model can be used through this gateway."""

    SERVED = "served"
    NOT_SERVED = "not served"
    RETIRED = "retired"


@dataclass(frozen=True, slots=True)
class ServedList:
    """The model ids the gateway listed, and when they were read."""

    models: frozenset[str]
    fetched_at: float


class ServedModels:
    """The catalog as this gateway serves it: what to offer, the default, and plain refusals for the rest.

    Until a list has ever been read (a first start with the gateway down), every model that is not retired is
    offered: the gateway's own answer at submit then says what it lacks.
    """

    def __init__(
        self,
        catalog: Catalog,
        client: GatewayClient,
        store: JobStore,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.catalog = catalog
        self._client = client
        self._store = store
        self._clock = clock
        self._sleep = sleep
        self.served: ServedList | None = None
        self.last_error: GatewayError | None = None  # why the last read failed; `served` is then the kept list

    @property
    def stale(self) -> bool:
        """Whether the last read of the gateway's list failed."""
        return self.last_error is not None

    async def refresh(self) -> bool:
        """Read the gateway's list; on failure keep (or load) the last good one. True when the read worked."""
        try:
            models = frozenset(await self._client.list_models())
        except GatewayError as exc:
            if self.served is None:
                self.served = await self._load()
            self.last_error = exc
            kept = f"keeping the list read at {when(self.served.fetched_at)}" if self.served else "no list kept"
            log.warning("Could not read the gateway's model list (%s); %s", exc, kept)
            return False
        self.served = ServedList(models, self._clock())
        self.last_error = None
        await self._store.save_served_models(sorted(models), self.served.fetched_at)
        offered = [spec.name for spec in self.offered()]
        log.info("The gateway serves %d models; offering %s", len(models), ", ".join(offered) or "none of the catalog")
        return True

    async def run(self) -> None:
        """Refresh hourly (sooner after a failed read) until cancelled; the first refresh is the caller's."""
        while True:
            await self._sleep(REFRESH_SECONDS if not self.stale else RETRY_SECONDS)
            await self.refresh()

    async def _load(self) -> ServedList | None:
        kept = await self._store.served_models()
        if kept is None:
            return None
        models, fetched_at = kept
        return ServedList(frozenset(models), fetched_at)

    def state(self, spec: ModelSpec) -> ModelState:
        """Whether ``spec`` is served, not served, or retired."""
        if spec.retired is not None:
            return ModelState.RETIRED
        if self.served is None or spec.name in self.served.models:
            return ModelState.SERVED
        return ModelState.NOT_SERVED

    def offered(self) -> list[ModelSpec]:
        """The models members may pick, in catalog order."""
        return [spec for spec in self.catalog if self.state(spec) is ModelState.SERVED]

    @property
    def default(self) -> ModelSpec:
        """The first served model that is not retired; a refusal when there is none."""
        offered = self.offered()
        if not offered:
            raise UserFacingError(
                _(
                    "This bot's video service offers none of its models right now, so no video can be made. "
                    "Nothing was charged. Tell the bot's operator (they can run `python -m bot check`)."
                )
            )
        return offered[0]

    def replacement(self, spec: ModelSpec) -> ModelSpec:
        """The model to use instead of a retired or unserved one: its `use_instead` when offered, else the default."""
        chosen = self.catalog.get(spec.use_instead) if spec.use_instead else None
        if chosen is not None and self.state(chosen) is ModelState.SERVED:
            return chosen
        return self.default

    def stand_in(self, name: str) -> tuple[ModelSpec, Text | None]:
        """The model to start a job of ``name`` again with (Re-roll, Remix, Retry), and a note when it changed."""
        spec = self.catalog.get(name)
        if spec is not None and self.state(spec) is ModelState.SERVED:
            return spec, None
        instead = self.replacement(spec) if spec is not None else self.default
        label = spec.label if spec is not None else name
        fields = {"model": label, "instead": f"{instead.label} (`{instead.name}`)"}
        if spec is not None and spec.retired:
            return instead, _("{model} was retired by its provider, so this one uses {instead} instead.", **fields)
        return instead, _("{model} is not served any more, so this one uses {instead} instead.", **fields)

    def named(self, name: str) -> ModelSpec:
        """Any catalog model by name, served or not; a refusal listing the offered ones when there is none."""
        spec = self.catalog.get(name.strip())
        if spec is None:
            choices = ", ".join(m.name for m in self.offered())
            raise UserFacingError(
                _("There is no model called {name}. Choose one of: {choices}.", name=repr(name), choices=choices)
            )
        return spec

    def resolve(self, name: str | None) -> ModelSpec:
        """The model a member named (or the default), or a refusal that says why and what to pick instead."""
        if not name or not name.strip():
            return self.default
        spec = self.named(name)
        state = self.state(spec)
        if state is ModelState.RETIRED:
            instead = self.replacement(spec)
            raise UserFacingError(
                _(
                    "{model} was retired by its provider on {date} and can no longer make videos. Use {instead} "
                    "instead. Nothing was charged.",
                    model=spec.label,
                    date=spec.retired,
                    instead=f"{instead.label} (`{instead.name}`)",
                )
            )
        if state is ModelState.NOT_SERVED:
            choices = ", ".join(m.name for m in self.offered())
            raise UserFacingError(
                _(
                    "This bot's video service does not serve {model}. Nothing was charged. Choose one of: {choices}.",
                    model=f"{spec.label} (`{spec.name}`)",
                    choices=choices,
                )
            )
        return spec


def when(at: float) -> str:
    """A time as the operator reads it in logs and `check`."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(at))
