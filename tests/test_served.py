"""The catalog follows the gateway: GET /v1/models at start and hourly, the last good list kept in the database."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from bot.catalog import Catalog
from bot.devtools.gateway import Simulator
from bot.engine import open_engine
from bot.errors import UserFacingError
from bot.services.served import REFRESH_SECONDS, RETRY_SECONDS, ModelState, ServedModels
from bot.settings import Settings
from tests.helpers import engine_env, free_port, run_bot

TODAY = ("veo3.1-fast", "kling-v2-1", "some-other-vendor-model")


def names(models: ServedModels) -> list[str]:
    return [spec.name for spec in models.offered()]


async def test_only_served_models_that_are_not_retired_are_offered(settings: Settings, sim: Simulator) -> None:
    sim.serve_models((*TODAY, "sora-2"))
    async with open_engine(settings, Catalog.load()) as engine:
        models = engine.models
        assert await models.refresh()
        assert names(models) == ["veo3.1-fast", "kling-v2-1"]
        assert models.default.name == "veo3.1-fast"
        sora = models.catalog.get("sora-2")
        assert sora is not None and models.state(sora) is ModelState.RETIRED  # listed, but shut down upstream

        with pytest.raises(UserFacingError, match=r"does not serve Veo 3\.1 Fast \(`veo-3.1-fast-generate-preview`\)"):
            models.resolve("veo-3.1-fast-generate-preview")
        with pytest.raises(UserFacingError) as retired:
            models.resolve("sora-2")
        # Its own replacement is not served here, so the member is pointed at the default instead.
        assert "Sora 2 was retired by its provider on 2026-09-24" in retired.value.user_message
        assert "Use Veo 3.1 Fast (unified) (`veo3.1-fast`) instead. Nothing was charged." in retired.value.user_message
        assert models.resolve(None).name == "veo3.1-fast"
    assert sim.stats.route_classes["create"] == 0


async def test_retried_jobs_of_a_retired_model_use_the_default_and_say_so(settings: Settings, sim: Simulator) -> None:
    async with open_engine(settings, Catalog.load()) as engine:
        await engine.models.refresh()
        spec, note = engine.models.stand_in("sora-2")
        assert spec.name == "veo-3.1-fast-generate-preview"
        assert str(note) == (
            "Sora 2 was retired by its provider, so this one uses Veo 3.1 Fast (`veo-3.1-fast-generate-preview`) "
            "instead."
        )
        assert engine.models.stand_in("kling-v2-1") == (engine.models.named("kling-v2-1"), None)


async def test_the_last_good_list_is_kept_when_the_gateway_cannot_be_read(
    settings: Settings, sim: Simulator, tmp_path: Path
) -> None:
    sim.serve_models(TODAY)
    async with open_engine(settings, Catalog.load()) as engine:
        assert await engine.models.refresh()
    down = dataclasses.replace(settings, gateway_base_url=f"http://127.0.0.1:{free_port()}")
    async with open_engine(down, Catalog.load()) as restarted:
        assert not await restarted.models.refresh()
        assert restarted.models.stale
        assert names(restarted.models) == ["veo3.1-fast", "kling-v2-1"]  # from the database, not all of the catalog


async def test_a_first_start_with_the_gateway_down_offers_every_live_model(settings: Settings) -> None:
    down = dataclasses.replace(settings, gateway_base_url=f"http://127.0.0.1:{free_port()}")
    async with open_engine(down, Catalog.load()) as engine:
        assert not await engine.models.refresh()
        assert engine.models.served is None
        assert "sora-2" not in names(engine.models)
        assert names(engine.models)[0] == "veo-3.1-fast-generate-preview"


async def test_the_list_is_read_again_every_hour(settings: Settings, sim: Simulator) -> None:
    waits: list[float] = []
    served_later = [("kling-v2-1",), ("wan2.5-i2v-preview",)]
    hour_passed = asyncio.Event()

    async def an_hour_passes(seconds: float) -> None:
        waits.append(seconds)
        if not served_later:
            hour_passed.set()
            await asyncio.Event().wait()  # the test ends here
        sim.serve_models(served_later.pop(0))

    async with open_engine(settings, Catalog.load()) as engine:
        models = ServedModels(engine.models.catalog, engine.client, engine.store, sleep=an_hour_passes)
        await models.refresh()
        assert "veo-3.1-fast-generate-preview" in names(models)
        refreshing = asyncio.create_task(models.run())
        await asyncio.wait_for(hour_passed.wait(), timeout=30)
        refreshing.cancel()
        assert names(models) == ["wan2.5-i2v-preview"]
    assert waits == [REFRESH_SECONDS, REFRESH_SECONDS, REFRESH_SECONDS]
    assert sim.stats.route_classes["models"] == 3


async def test_a_failed_read_is_retried_sooner(settings: Settings) -> None:
    waits: list[float] = []

    async def wait(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            raise asyncio.CancelledError

    down = dataclasses.replace(settings, gateway_base_url=f"http://127.0.0.1:{free_port()}")
    async with open_engine(down, Catalog.load()) as engine:
        models = ServedModels(engine.models.catalog, engine.client, engine.store, sleep=wait)
        await models.refresh()
        with pytest.raises(asyncio.CancelledError):
            await models.run()
    assert waits == [RETRY_SECONDS, RETRY_SECONDS]


async def test_check_shows_each_model_and_exits_by_what_is_served(sim: Simulator, tmp_path: Path) -> None:
    env = engine_env(sim, tmp_path)
    sim.serve_models(TODAY)
    served = await run_bot(tmp_path, env, "check")
    down = await run_bot(tmp_path, {**env, "GATEWAY_BASE_URL": f"http://127.0.0.1:{free_port()}"}, "check")
    sim.serve_models(("some-other-vendor-model",))
    none = await run_bot(tmp_path, env, "check")

    assert served.code == 0, served
    assert "model veo3.1-fast (unified format): served (the default)" in served.out
    assert "model kling-v2-1 (openai format): served" in served.out
    assert "model veo-3.1-fast-generate-preview (openai format): not served by this gateway key" in served.out
    assert "model sora-2 (openai format): retired on 2026-09-24, never offered" in served.out

    assert down.code == 3, down
    assert "cannot reach the gateway" in down.out
    assert "the model list below is stale: it was read at" in down.out
    assert "model kling-v2-1 (openai format): served" in down.out  # the kept list, shown as stale

    assert none.code == 2, none
    assert "the gateway serves none of the catalog's models" in none.out
