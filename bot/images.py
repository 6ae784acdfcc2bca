"""Reference images: recognise the picture formats the providers accept, by their bytes."""

from __future__ import annotations

import base64

_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
)


def sniff_image_type(data: bytes) -> str | None:
    """The MIME type of a PNG, JPEG, WebP or GIF picture, judged by its bytes, or None for anything else."""
    for signature, offset, mime in _SIGNATURES:
        if data[offset : offset + len(signature)] == signature:
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def to_data_uri(data: bytes, mime: str) -> str:
    """Encode a picture as a data URI, the form models that take inline images expect."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
