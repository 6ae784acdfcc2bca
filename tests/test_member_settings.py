"""A member's defaults fill what /video create leaves out, and a stale one gives way instead of refusing."""

from __future__ import annotations

from bot.catalog import Catalog
from bot.devtools.gateway import Simulator
from bot.domain import Orientation
from bot.engine import open_engine
from bot.front.member_settings import Chosen, fill_in
from bot.settings import Settings
from bot.storage.guilds import MemberDefaults

GUILD, MEMBER = 1, 2


async def test_defaults_apply_where_the_model_allows_them(settings: Settings, sim: Simulator) -> None:
    sim.serve_models(("veo-3.1-fast-generate-preview", "veo-3.1-generate-preview", "kling-v2-1"))
    async with open_engine(settings, Catalog.load()) as engine:
        await engine.models.refresh()
        models = engine.models
        await engine.guilds.set_member_defaults(
            GUILD, MEMBER, MemberDefaults(model="kling-v2-1", orientation="portrait", duration=10, hd=True)
        )
        mine = await engine.guilds.member_defaults(GUILD, MEMBER)
        assert mine == MemberDefaults(model="kling-v2-1", orientation="portrait", duration=10, hd=True)

        left_out = fill_in(mine, models, model=None, orientation=None, duration=None, hd=None)
        # Kling has no HD: the default gives way rather than refusing the video.
        assert left_out == Chosen(model="kling-v2-1", orientation=Orientation.PORTRAIT, duration=10, hd=False)

        typed = fill_in(mine, models, model="veo-3.1-generate-preview", orientation="landscape", duration=None, hd=None)
        # Veo has no 10-second videos (its own length is used) but has HD in landscape.
        assert typed == Chosen(
            model="veo-3.1-generate-preview", orientation=Orientation.LANDSCAPE, duration=None, hd=True
        )
        assert fill_in(mine, models, model=None, orientation=None, duration=5, hd=False).duration == 5

        sim.serve_models(("veo-3.1-fast-generate-preview",))
        await engine.models.refresh()
        # The default model is no longer offered: the server's first model makes the video.
        assert fill_in(mine, models, model=None, orientation=None, duration=None, hd=None).model is None

        await engine.guilds.forget_user(GUILD, MEMBER)
        assert await engine.guilds.member_defaults(GUILD, MEMBER) == MemberDefaults()


async def test_a_private_default_applies_unless_the_command_says_otherwise(settings: Settings, sim: Simulator) -> None:
    sim.serve_models(("veo-3.1-fast-generate-preview",))
    async with open_engine(settings, Catalog.load()) as engine:
        await engine.models.refresh()
        await engine.guilds.set_member_defaults(GUILD, MEMBER, MemberDefaults(private=True))
        mine = await engine.guilds.member_defaults(GUILD, MEMBER)
        assert mine == MemberDefaults(private=True)

        left_out = fill_in(mine, engine.models, model=None, orientation=None, duration=None, hd=None)
        assert (left_out.private, left_out.private_by_default) == (True, True)
        public = fill_in(mine, engine.models, model=None, orientation=None, duration=None, hd=None, private=False)
        assert (public.private, public.private_by_default) == (False, False)
        asked = fill_in(
            MemberDefaults(), engine.models, model=None, orientation=None, duration=None, hd=None, private=True
        )
        assert (asked.private, asked.private_by_default) == (True, False)

        await engine.guilds.forget_user(GUILD, MEMBER)
        assert await engine.guilds.member_defaults(GUILD, MEMBER) == MemberDefaults()
