"""CRC32C framing: round trips, and every single-bit flip or truncation is detected."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from raydynamo.storage.checksum import (
    FRAME_HEADER_BYTES,
    ChecksumMismatch,
    StorageCorruption,
    StorageError,
    masked_crc32c,
    seal,
    unseal,
)


@given(payload=st.binary(max_size=2048))
def test_round_trip(payload: bytes) -> None:
    frame = seal(payload)
    assert len(frame) == len(payload) + FRAME_HEADER_BYTES
    assert frame[FRAME_HEADER_BYTES:] == payload
    assert unseal(frame) == payload
    assert type(unseal(frame)) is bytes


def test_header_is_the_masked_crc32c_little_endian() -> None:
    # CRC32C("123456789") is 0xE3069283 (the standard check value); the header stores it masked.
    frame = seal(b"123456789")
    assert int.from_bytes(frame[:FRAME_HEADER_BYTES], "little") == masked_crc32c(b"123456789")
    assert masked_crc32c(b"123456789") != 0xE3069283


@given(payload=st.binary(max_size=256), data=st.data())
def test_any_single_flipped_bit_is_detected(payload: bytes, data: st.DataObject) -> None:
    frame = bytearray(seal(payload))
    bit = data.draw(st.integers(0, len(frame) * 8 - 1), label="bit")
    frame[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(ChecksumMismatch):
        unseal(bytes(frame))


def test_every_single_flipped_bit_of_one_frame_is_detected() -> None:
    frame = seal(bytes(range(256)) * 2)
    for bit in range(len(frame) * 8):
        corrupted = bytearray(frame)
        corrupted[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(ChecksumMismatch):
            unseal(bytes(corrupted))


@given(payload=st.binary(min_size=1, max_size=512), data=st.data())
def test_truncated_frames_are_detected(payload: bytes, data: st.DataObject) -> None:
    frame = seal(payload)
    kept = data.draw(st.integers(0, len(frame) - 1), label="kept bytes")
    with pytest.raises(ChecksumMismatch):
        unseal(frame[:kept])


@pytest.mark.parametrize("frame", [b"", b"\x00", b"\x01\x02\x03"])
def test_frames_shorter_than_the_header_are_rejected(frame: bytes) -> None:
    with pytest.raises(ChecksumMismatch, match="shorter"):
        unseal(frame)


@pytest.mark.parametrize("zeros", [4, 5, 64, 4096])
def test_zeroed_frames_are_rejected(zeros: int) -> None:
    # A zeroed disk page must not pass as a frame, not even as the frame of an empty payload.
    with pytest.raises(ChecksumMismatch):
        unseal(bytes(zeros))


def test_empty_payload_round_trips_and_its_frame_is_not_zeros() -> None:
    assert seal(b"") != bytes(FRAME_HEADER_BYTES)
    assert unseal(seal(b"")) == b""


def test_mismatch_is_a_storage_corruption() -> None:
    assert issubclass(ChecksumMismatch, StorageCorruption)
    assert issubclass(StorageCorruption, StorageError)
