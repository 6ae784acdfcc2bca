"""check_mp4: a file is a whole MP4 only if its boxes start with ftyp, include a moov and end exactly at EOF."""

from __future__ import annotations

import struct
import tracemalloc
from pathlib import Path

import pytest

from bot.errors import GatewayBadResultError
from bot.gateway.download import MAX_MP4_BOXES, check_mp4


def box(kind: bytes, payload: bytes = b"") -> bytes:
    """An ISO-BMFF box with a 32-bit size."""
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def large_box(kind: bytes, payload: bytes = b"") -> bytes:
    """A box whose size is in the 64-bit largesize field (size field 1)."""
    return struct.pack(">I4sQ", 1, kind, 16 + len(payload)) + payload


def open_ended_box(kind: bytes, payload: bytes = b"") -> bytes:
    """A box with size 0: it runs to the end of the file."""
    return struct.pack(">I4s", 0, kind) + payload


FTYP = box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2avc1mp41")
MOOV = box(b"moov", box(b"mvhd", bytes(100)) + box(b"trak", bytes(40)))
MDAT = box(b"mdat", bytes(range(256)) * 4)


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "video.mp4"
    path.write_bytes(data)
    return path


def rejects(path: Path, words: str) -> None:
    with pytest.raises(GatewayBadResultError) as caught:
        check_mp4(path)
    assert words in caught.value.detail


@pytest.mark.parametrize(
    "data",
    [
        FTYP + MOOV + MDAT,
        FTYP + MDAT + MOOV,
        FTYP + box(b"free") + MOOV + MDAT,
        FTYP + MOOV + large_box(b"mdat", bytes(1000)),
        FTYP + MOOV + open_ended_box(b"mdat", bytes(1000)),
        FTYP + MOOV + open_ended_box(b"mdat"),
    ],
    ids=["moov-first", "moov-last", "free-box", "largesize", "size-zero-to-eof", "size-zero-empty"],
)
def test_whole_mp4_passes(tmp_path: Path, data: bytes) -> None:
    check_mp4(write(tmp_path, data))


@pytest.mark.parametrize("cut", [1, 7, 100, len(MDAT) - 8, len(MDAT) - 1])
def test_cut_short_fails(tmp_path: Path, cut: int) -> None:
    with pytest.raises(GatewayBadResultError):
        check_mp4(write(tmp_path, (FTYP + MOOV + MDAT)[:-cut]))


def test_cut_inside_a_box_names_the_box(tmp_path: Path) -> None:
    rejects(write(tmp_path, (FTYP + MOOV + MDAT)[:-100]), "cut short")


def test_cut_inside_a_header_fails(tmp_path: Path) -> None:
    rejects(write(tmp_path, FTYP + MOOV + MDAT[:5]), "truncated MP4 box header")


def test_cut_inside_a_largesize_header_fails(tmp_path: Path) -> None:
    rejects(write(tmp_path, FTYP + MOOV + large_box(b"mdat", bytes(50))[:12]), "truncated MP4 box header")


def test_largesize_past_the_end_fails(tmp_path: Path) -> None:
    rejects(write(tmp_path, FTYP + MOOV + large_box(b"mdat", bytes(1000))[:-1]), "cut short")


def test_trailing_bytes_after_the_last_box_fail(tmp_path: Path) -> None:
    with pytest.raises(GatewayBadResultError):
        check_mp4(write(tmp_path, FTYP + MOOV + MDAT + b"\x00\x00\x00\x20mdat"))


def test_box_smaller_than_its_header_fails(tmp_path: Path) -> None:
    with pytest.raises(GatewayBadResultError):
        check_mp4(write(tmp_path, FTYP + struct.pack(">I4s", 4, b"moov") + MDAT))


def test_no_ftyp_fails(tmp_path: Path) -> None:
    rejects(write(tmp_path, MOOV + MDAT), "no ftyp")


def test_ftyp_not_first_fails(tmp_path: Path) -> None:
    rejects(write(tmp_path, MOOV + FTYP + MDAT), "no ftyp")


def test_no_moov_fails(tmp_path: Path) -> None:
    rejects(write(tmp_path, FTYP + MDAT), "moov")


def test_empty_file_fails(tmp_path: Path) -> None:
    rejects(write(tmp_path, b""), "no ftyp")


@pytest.mark.parametrize(
    "data",
    [b'{"error": {"message": "not found"}}', b"<!doctype html><html><body>gateway</body></html>"],
    ids=["json", "html"],
)
def test_text_bodies_fail(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(GatewayBadResultError):
        check_mp4(write(tmp_path, data))


def tiny_boxes(count: int) -> bytes:
    """A whole MP4 followed by ``count`` empty 8-byte boxes, the smallest a box can be."""
    return FTYP + MOOV + box(b"free") * count + MDAT


def test_a_file_of_too_many_boxes_is_refused(tmp_path: Path) -> None:
    rejects(write(tmp_path, tiny_boxes(MAX_MP4_BOXES)), f"more than {MAX_MP4_BOXES} top-level MP4 boxes")


def test_the_check_keeps_nothing_per_box(tmp_path: Path) -> None:
    path = write(tmp_path, tiny_boxes(MAX_MP4_BOXES - 10))
    tracemalloc.start()
    try:
        check_mp4(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024, f"{peak} bytes for {MAX_MP4_BOXES} boxes"
