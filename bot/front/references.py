"""Reference images from Discord: checked by their bytes, fitted to the output size, stripped of metadata."""

from __future__ import annotations

import asyncio
import io
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

import discord
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from bot.catalog import ModelSpec
from bot.domain import ImageTransport, Orientation
from bot.errors import UserFacingError
from bot.front.memory_budget import MemoryBudget
from bot.images import sniff_image_type, to_data_uri
from bot.locales import Text, _

MAX_IMAGE_BYTES: Final = 20 * 1024 * 1024
MAX_IMAGE_PIXELS: Final = 40_000_000  # decompression-bomb guard: about 8000 x 5000
# Images a model fetches by URL are posted on the status message: keep them well under Discord's 10 MiB.
MAX_URL_IMAGE_SIDE: Final = 2048
JPEG_QUALITY: Final = 92
# Pillow's own guard at the bot's limit: past it Pillow warns (an error here), past twice it refuses outright.
# Both happen while the header is read, before a pixel is decoded.
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
warnings.simplefilter("error", Image.DecompressionBombWarning)
# Each picture is opened only as the format its bytes announce, never by Pillow's guess among all it knows.
_PILLOW_FORMATS: Final = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WEBP"}
_ONE_BYTE_MODES: Final = frozenset({"1", "L", "P"})
_RGB_BYTES: Final = 4  # Pillow keeps RGB (and every mode of 2 to 4 bands) in 4 bytes a pixel


def decode_cost(width: int, height: int, mode: str) -> int:
    """The memory a decode needs at its peak, from the header: the frame, its RGB copy and its upright copy."""
    frame = 1 if mode in _ONE_BYTE_MODES else _RGB_BYTES
    return width * height * (frame + 2 * _RGB_BYTES)


@dataclass(frozen=True, slots=True)
class ReferenceImage:
    """One prepared reference image: JPEG bytes without metadata, at the size the model wants."""

    filename: str
    data: bytes


async def read_attachments(attachments: Sequence[discord.Attachment]) -> list[bytes]:
    """Download each attachment now (Discord's signed URLs expire), refusing oversized files."""
    for number, attachment in enumerate(attachments, start=1):
        if attachment.size > MAX_IMAGE_BYTES:
            raise UserFacingError(
                _(
                    "Image {number} ({filename}) is {size} MB; the limit is {limit} MB. Use a smaller image.",
                    number=number,
                    filename=attachment.filename,
                    size=format(attachment.size / 1048576, ".1f"),
                    limit=MAX_IMAGE_BYTES // 1048576,
                )
            )
    try:
        return list(await asyncio.gather(*(a.read() for a in attachments)))
    except (discord.HTTPException, discord.NotFound) as exc:
        raise UserFacingError(_("A reference image could not be downloaded from Discord. Attach it again.")) from exc


async def prepare(
    images: Sequence[tuple[str, bytes]],
    model: ModelSpec,
    orientation: Orientation,
    budget: MemoryBudget,
    *,
    stem: str = "reference",
) -> list[ReferenceImage]:
    """Check and convert (filename, bytes) pairs into ``{stem}-N.jpg`` files off the event loop; each decode waits
    until its memory fits."""
    size = _parse_size(model.size_for(orientation)) if model.image_transport is ImageTransport.DATA_URI else None
    prepared = []
    for number, (filename, data) in enumerate(images, start=1):
        mime = sniff_image_type(data)
        if mime is None:
            raise UserFacingError(
                _(
                    "Image {number} ({filename}) is not a PNG, JPEG, WebP or GIF picture. Attach a picture in one "
                    "of those formats.",
                    number=number,
                    filename=filename,
                )
            )
        source = _Source(
            data, _PILLOW_FORMATS[mime], _("Image {number} ({filename})", number=number, filename=filename)
        )
        cost = await asyncio.to_thread(source.decode_cost)
        async with budget.hold(cost):
            converted = await asyncio.to_thread(source.convert, size)
        prepared.append(ReferenceImage(filename=f"{stem}-{number}.jpg", data=converted))
    return prepared


def as_request_images(prepared: Sequence[ReferenceImage], model: ModelSpec, urls: Sequence[str]) -> tuple[str, ...]:
    """The images as the model takes them: inline data URIs, or the URLs the prepared files were posted at."""
    if model.image_transport is ImageTransport.DATA_URI:
        return tuple(to_data_uri(image.data, "image/jpeg") for image in prepared)
    return tuple(urls)


@dataclass(frozen=True, slots=True)
class _Source:
    """One attached picture's bytes, opened only as its own format; every failure is told in the member's words."""

    data: bytes
    pillow_format: str
    name: Text  # "Image 1 (photo.png)", translated with the refusal it is named in

    def decode_cost(self) -> int:
        """Read the header only, refusing bombs; the memory its decode will need."""
        with self._opened() as opened:
            return decode_cost(opened.width, opened.height, opened.mode)

    def convert(self, size: tuple[int, int] | None) -> bytes:
        """Decode the first frame and make the JPEG the model gets: at ``size``, or capped for URL models."""
        with self._opened() as opened:
            opened.seek(0)  # the first frame of an animated GIF or WebP
            image = ImageOps.exif_transpose(opened).convert("RGB")
        if size is not None and image.size != size:
            # Sora wants the reference at exactly the output size: cover the frame, crop the overflow evenly.
            image = ImageOps.fit(image, size, method=Image.Resampling.LANCZOS)
        elif size is None:
            image.thumbnail((MAX_URL_IMAGE_SIDE, MAX_URL_IMAGE_SIDE), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        # A fresh RGB image saved without exif= or icc_profile= carries no EXIF, GPS or other metadata.
        image.save(out, format="JPEG", quality=JPEG_QUALITY)
        return out.getvalue()

    @contextmanager
    def _opened(self) -> Iterator[ImageFile.ImageFile]:
        try:
            with Image.open(io.BytesIO(self.data), formats=[self.pillow_format]) as opened:
                if opened.width * opened.height > MAX_IMAGE_PIXELS:
                    raise Image.DecompressionBombError(f"{opened.width}x{opened.height}")
                yield opened
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise UserFacingError(
                _(
                    "{name} has more than {limit} megapixels (about 8000 x 5000), more than the bot processes. Use "
                    "a smaller image.",
                    name=self.name,
                    limit=MAX_IMAGE_PIXELS // 1000000,
                )
            ) from exc
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise UserFacingError(
                _("{name} could not be read. Attach it again or use another.", name=self.name)
            ) from exc


def _parse_size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    return int(width), int(height)
