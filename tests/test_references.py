"""Reference images: decompression bombs refused by name, and decodes held to a memory budget."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from bot.catalog import Catalog
from bot.domain import Orientation
from bot.errors import UserFacingError
from bot.front import references
from bot.front.memory_budget import MemoryBudget
from tests.helpers import eventually, png, png_header_only

MIB = 1024 * 1024


async def settle() -> None:
    """Let every task that can run, run (no I/O is involved, so a few turns of the loop are enough)."""
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.mark.parametrize(("width", "height"), [(20000, 10000), (9000, 5000)], ids=["over-twice", "just-over"])
async def test_an_image_over_the_pixel_limit_is_refused_by_name(width: int, height: int) -> None:
    sora = Catalog.load().get("sora-2")
    assert sora is not None
    with pytest.raises(UserFacingError) as refused:
        await references.prepare(
            [("bomb.png", png_header_only(width, height))], sora, Orientation.LANDSCAPE, MemoryBudget(64 * MIB)
        )
    assert "Image 1 (bomb.png)" in refused.value.user_message
    assert "40 megapixels" in refused.value.user_message and "Use a smaller image" in refused.value.user_message


async def test_a_picture_that_lies_about_its_format_is_not_decoded_as_another() -> None:
    # The bytes start like a PNG but are a GIF after the signature: opened as a PNG only, it is unreadable.
    gif = io.BytesIO()
    Image.new("RGB", (8, 8)).save(gif, format="GIF")
    disguised = b"\x89PNG\r\n\x1a\n" + gif.getvalue()
    sora = Catalog.load().get("sora-2")
    assert sora is not None
    with pytest.raises(UserFacingError, match=r"Image 1 \(odd.png\) could not be read"):
        await references.prepare([("odd.png", disguised)], sora, Orientation.LANDSCAPE, MemoryBudget(64 * MIB))


def test_the_decode_estimate_counts_every_full_size_copy() -> None:
    # Pillow keeps RGB in 4 bytes a pixel; the decode makes an RGB copy and may turn it upright (two more copies).
    assert references.decode_cost(1000, 1000, "RGB") == 12_000_000
    assert references.decode_cost(1000, 1000, "P") == 9_000_000


async def test_prepare_waits_for_memory_before_decoding() -> None:
    budget = MemoryBudget(64 * MIB)
    veo = Catalog.load().get("veo3.1-fast")
    assert veo is not None
    async with budget.hold(64 * MIB):  # everything is taken, by another decode
        task = asyncio.create_task(references.prepare([("a.png", png(400, 300))], veo, Orientation.LANDSCAPE, budget))
        await eventually(lambda: budget.waiting == 1)  # the header is read in a thread, then the decode waits
        assert not task.done()
    prepared = await asyncio.wait_for(task, 30)
    assert len(prepared) == 1 and budget.in_use == 0


async def test_holds_that_fit_together_run_together() -> None:
    budget = MemoryBudget(100)
    async with budget.hold(60), budget.hold(40):
        assert budget.in_use == 100 and budget.waiting == 0
    assert budget.in_use == 0


async def test_a_hold_that_does_not_fit_waits_for_a_release() -> None:
    budget = MemoryBudget(100)
    order: list[str] = []

    async def decode(name: str, size: int, release: asyncio.Event) -> None:
        async with budget.hold(size):
            order.append(name)
            await release.wait()

    first_done, second_done = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(decode("first", 70, first_done))
    await settle()
    second = asyncio.create_task(decode("second", 70, second_done))
    await settle()
    assert order == ["first"] and budget.waiting == 1
    first_done.set()
    await first
    await settle()
    assert order == ["first", "second"] and budget.in_use == 70
    second_done.set()
    await second
    assert budget.in_use == 0


async def test_waiters_are_served_in_order_so_a_big_one_is_not_starved() -> None:
    budget = MemoryBudget(100)
    order: list[str] = []

    async def decode(name: str, size: int) -> None:
        async with budget.hold(size):
            order.append(name)

    holder = budget.hold(50)
    await holder.__aenter__()
    big = asyncio.create_task(decode("big", 100))
    await settle()
    small = asyncio.create_task(decode("small", 10))  # would fit now, but the big one came first
    await settle()
    assert order == [] and budget.waiting == 2
    await holder.__aexit__(None, None, None)
    await asyncio.gather(big, small)
    assert order == ["big", "small"]


async def test_a_hold_larger_than_the_budget_runs_alone() -> None:
    budget = MemoryBudget(100)
    async with budget.hold(500):
        assert budget.in_use == 500
        waiting = asyncio.create_task(budget.hold(1).__aenter__())
        await settle()
        assert not waiting.done()
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
    assert budget.in_use == 0 and budget.waiting == 0


async def test_a_cancelled_waiter_gives_its_turn_away() -> None:
    budget = MemoryBudget(100)
    order: list[str] = []

    async def decode(name: str, size: int) -> None:
        async with budget.hold(size):
            order.append(name)

    holder = budget.hold(90)
    await holder.__aenter__()
    big = asyncio.create_task(decode("big", 100))
    await settle()
    small = asyncio.create_task(decode("small", 10))
    await settle()
    big.cancel()
    await asyncio.gather(big, return_exceptions=True)
    await asyncio.wait_for(small, 30)  # fits beside the holder once the big one left the line
    assert order == ["small"]
    await holder.__aexit__(None, None, None)
    assert budget.in_use == 0 and budget.waiting == 0
