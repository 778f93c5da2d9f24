"""CRC32C framing of durable records and messages, and the storage exception tree.

Role: every log record and every message carries a checksum that is verified on receipt and on
read (DESIGN.md §4, "Checksums everywhere"). ``seal`` wraps a payload into a frame, ``unseal``
checks a frame and returns its payload or raises ``ChecksumMismatch``.

Frame layout::

    +-------------------------------+----------------------+
    | masked CRC32C(payload), u32 LE | payload (any length) |
    +-------------------------------+----------------------+

The length of the payload is not stored: frames always travel inside a container that already
carries it (a RocksDB value, a Ray message, a msgpack bin field). The checksum is *masked* (rotated
and offset, as LevelDB does for its log) for two reasons: a frame made of zero bytes, as a zeroed
disk page gives, would otherwise pass as a valid frame holding the empty payload (plain CRC32C of
``b""`` is 0); and a payload that itself contains sealed frames does not produce checksums that
are easy to confuse with its own.

Exception tree (kept here because this is the pure leaf module that the consensus codec, both
engines and the shells all import)::

    StorageError
     ├── StorageCorruption           data read back is not what was written
     │    └── ChecksumMismatch       a frame failed its CRC32C check, or is too short to hold one
     └── StorageClosed               the engine or snapshot was closed before this call
    (rocks.py adds StorageLocked(StorageError): the database LOCK stayed held past the deadline.)

Invariants: ``unseal(seal(p)) == p`` for every ``p``; any single flipped bit in a frame, and any
frame shorter than the header, raises ``ChecksumMismatch``.

This module is pure: it must not import ray or rocksdict (the consensus codec depends on it).
"""

from __future__ import annotations

import struct

import crc32c

FRAME_HEADER_BYTES = 4
"""Bytes that ``seal`` adds in front of the payload."""

_HEADER = struct.Struct("<I")
_MASK_DELTA = 0xA282EAD8
_U32_MASK = 0xFFFFFFFF


class StorageError(Exception):
    """Base of every error the storage layer raises on purpose."""


class StorageCorruption(StorageError):
    """Data read back is not the data that was written. Count it and repair from peers."""


class ChecksumMismatch(StorageCorruption):
    """A frame failed its CRC32C check, or is too short to hold a checksum."""


class StorageClosed(StorageError):
    """The engine or snapshot was closed before this call."""


def _mask(crc: int) -> int:
    """Rotate right by 15 bits and add a constant, so that zeros do not checksum to zeros."""
    rotated = ((crc >> 15) | (crc << 17)) & _U32_MASK
    return (rotated + _MASK_DELTA) & _U32_MASK


def masked_crc32c(payload: bytes | memoryview) -> int:
    """The masked CRC32C of ``payload``: the value ``seal`` stores in a frame header."""
    return _mask(crc32c.crc32c(payload))


def seal(payload: bytes) -> bytes:
    """Frame ``payload``: its masked CRC32C as 4 little-endian bytes, then the payload."""
    return _HEADER.pack(masked_crc32c(payload)) + payload


def unseal(frame: bytes) -> bytes:
    """The payload of ``frame``, after checking its checksum.

    Raises ``ChecksumMismatch`` if the frame is shorter than the header or its checksum does not
    match its payload.
    """
    if len(frame) < FRAME_HEADER_BYTES:
        raise ChecksumMismatch(
            f"frame of {len(frame)} bytes is shorter than its {FRAME_HEADER_BYTES}-byte checksum"
        )
    (stored,) = _HEADER.unpack_from(frame)
    view = memoryview(frame)[FRAME_HEADER_BYTES:]
    computed = masked_crc32c(view)
    if computed != stored:
        raise ChecksumMismatch(
            f"checksum mismatch on a {len(frame)}-byte frame: "
            f"stored {stored:#010x}, computed {computed:#010x}"
        )
    return bytes(view)
