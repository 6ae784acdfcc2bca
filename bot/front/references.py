"""Reference images from Discord: checked by their bytes, fitted to the output size, stripped of metadata."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import discord
from PIL import Image, ImageOps, UnidentifiedImageError

from bot.catalog import ModelSpec
from bot.domain import ImageTransport, Orientation
from bot.errors import UserFacingError
from bot.images import sniff_image_type, to_data_uri

MAX_IMAGE_BYTES: Final = 20 * 1024 * 1024
MAX_IMAGE_PIXELS: Final = 40_000_000  # decompression-bomb guard: about 8000 x 5000
# Images a model fetches by URL are posted on the status message: keep them well under Discord's 10 MiB.
MAX_URL_IMAGE_SIDE: Final = 2048
JPEG_QUALITY: Final = 92


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
                f"Image {number} ({attachment.filename}) is {attachment.size / 1048576:.1f} MB; "
                f"the limit is {MAX_IMAGE_BYTES // 1048576} MB. Use a smaller image."
            )
    try:
        return list(await asyncio.gather(*(a.read() for a in attachments)))
    except (discord.HTTPException, discord.NotFound) as exc:
        raise UserFacingError("A reference image could not be downloaded from Discord. Attach it again.") from exc


async def prepare(
    images: Sequence[tuple[str, bytes]], model: ModelSpec, orientation: Orientation, *, stem: str = "reference"
) -> list[ReferenceImage]:
    """Check and convert (filename, bytes) pairs into ``{stem}-N.jpg`` files; runs Pillow off the event loop."""
    size = _parse_size(model.size_for(orientation)) if model.image_transport is ImageTransport.DATA_URI else None
    prepared = []
    for number, (filename, data) in enumerate(images, start=1):
        if sniff_image_type(data) is None:
            raise UserFacingError(
                f"Image {number} ({filename}) is not a PNG, JPEG, WebP or GIF picture. Attach a picture in one of "
                "those formats."
            )
        converted = await asyncio.to_thread(_convert, data, size, number, filename)
        prepared.append(ReferenceImage(filename=f"{stem}-{number}.jpg", data=converted))
    return prepared


def as_request_images(prepared: Sequence[ReferenceImage], model: ModelSpec, urls: Sequence[str]) -> tuple[str, ...]:
    """The images as the model takes them: inline data URIs, or the URLs the prepared files were posted at."""
    if model.image_transport is ImageTransport.DATA_URI:
        return tuple(to_data_uri(image.data, "image/jpeg") for image in prepared)
    return tuple(urls)


def _convert(data: bytes, size: tuple[int, int] | None, number: int, filename: str) -> bytes:
    try:
        with Image.open(io.BytesIO(data)) as opened:
            if opened.width * opened.height > MAX_IMAGE_PIXELS:
                raise UserFacingError(f"Image {number} ({filename}) has too many pixels. Use a smaller image.")
            opened.seek(0)  # the first frame of an animated GIF or WebP
            image = ImageOps.exif_transpose(opened).convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UserFacingError(
            f"Image {number} ({filename}) could not be read. Attach it again or use another."
        ) from exc
    if size is not None and image.size != size:
        # Sora wants the reference at exactly the output size: cover the frame, crop the overflow evenly.
        image = ImageOps.fit(image, size, method=Image.Resampling.LANCZOS)
    elif size is None:
        image.thumbnail((MAX_URL_IMAGE_SIDE, MAX_URL_IMAGE_SIDE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    # A fresh RGB image saved without exif= or icc_profile= carries no EXIF, GPS or other metadata.
    image.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def _parse_size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    return int(width), int(height)
