"""Reference images: recognised by their bytes, and encoded as data URIs."""

from __future__ import annotations

import base64
import struct

import pytest

from bot.images import sniff_image_type, to_data_uri

PNG = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + bytes(17)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01" + bytes(20)
GIF87 = b"GIF87a" + bytes(20)
GIF89 = b"GIF89a" + bytes(20)
WEBP = b"RIFF" + struct.pack("<I", 30) + b"WEBPVP8 " + bytes(22)


@pytest.mark.parametrize(
    ("data", "mime"),
    [(PNG, "image/png"), (JPEG, "image/jpeg"), (GIF87, "image/gif"), (GIF89, "image/gif"), (WEBP, "image/webp")],
    ids=["png", "jpeg", "gif87a", "gif89a", "webp"],
)
def test_pictures_are_recognised(data: bytes, mime: str) -> None:
    assert sniff_image_type(data) == mime


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, this is a text file\n",
        b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41",
        b"RIFF" + struct.pack("<I", 30) + b"WAVEfmt " + bytes(22),
        b"%PDF-1.7\n",
        b"\x89PNG",
        b"GIF88a" + bytes(10),
        b"RIFF\x00\x00\x00\x00WEB",
    ],
    ids=["empty", "text", "mp4", "wav", "pdf", "png-cut", "gif-bad-version", "webp-cut"],
)
def test_other_bytes_are_not_pictures(data: bytes) -> None:
    assert sniff_image_type(data) is None


def test_signature_must_be_at_the_start() -> None:
    assert sniff_image_type(b" " + PNG) is None


def test_to_data_uri() -> None:
    uri = to_data_uri(PNG, "image/png")
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    assert base64.b64decode(uri[len(prefix) :], validate=True) == PNG
    assert to_data_uri(b"\xff\xfe\xfd", "image/jpeg") == "data:image/jpeg;base64,//79"
