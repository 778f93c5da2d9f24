"""Where one partition's replica keeps things in its storage node's RocksDB.

One RocksDB per storage node holds every replica the node hosts, each under its own prefix, so
one synced write batch per round covers every partition of the node (group commit across
partitions), and a replica is dropped with a few range deletes::

    P <pid> m p                 promised ballot
    P <pid> m c                 chosen-through slot
    P <pid> m k                 compacted-through slot
    P <pid> m g                 the group's configurations (membership history)
    P <pid> m v                 the current *state generation* (absent: generation 0)
    P <pid> l <slot:u64>        log entry of a slot
    <S> s a                     applied-through slot            \\
    <S> s t, s b                log time, bytes of kept results  |
    <S> d <item key>            the data                         | the partition's *state*: what a
    <S> r <request id>          first result of a request id     | snapshot carries
    <S> x <ms> <slot> <rid>     when that result expires        /  (``partition.dedup``)
    N h <pid>                   the node's catalog: replicas it hosts

where the state prefix ``<S>`` of generation ``g`` is ``P <pid>`` for ``g = 0`` (the layout
before generations existed, so older data directories read as they are) and
``P <pid> G <g:u64>`` otherwise. A snapshot is streamed into generation ``g + 1`` while ``g``
stays live, and installed by switching ``m v`` and range-deleting generation ``g`` in one small
batch (``partition.snapshot``): a generation other than the current one is staging or garbage,
never live state.

``<pid>`` is length-prefixed so that no partition's prefix is a prefix of another's.
Pure: no ray, no rocksdict.
"""

from __future__ import annotations

import struct

from raydynamo.storage.engine import prefix_end

_U64 = struct.Struct(">Q")
STATE_KINDS = (b"s", b"d", b"r", b"x")
GENERATION_MARK = b"G"


def slot_bytes(slot: int) -> bytes:
    return _U64.pack(slot)


def slot_from(data: bytes) -> int:
    return int(_U64.unpack(data[:8])[0])


def _range_of(prefix: bytes) -> tuple[bytes, bytes]:
    end = prefix_end(prefix)
    assert end is not None
    return prefix, end


class PartitionKeys:
    """Key builders for one partition id, its state under ``generation``."""

    __slots__ = (
        "applied",
        "chosen",
        "compacted",
        "configs",
        "data_prefix",
        "dedup_expiry_prefix",
        "dedup_prefix",
        "generation",
        "generation_key",
        "kept_bytes",
        "log_prefix",
        "log_time",
        "partition_id",
        "prefix",
        "promised",
        "state_prefix",
    )

    def __init__(self, partition_id: str, generation: int = 0) -> None:
        raw = partition_id.encode()
        assert 0 < len(raw) < 256, "partition ids are 1..255 bytes"
        assert generation >= 0, "generations count up from 0"
        self.partition_id = partition_id
        self.generation = generation
        self.prefix = b"P" + bytes([len(raw)]) + raw
        self.promised = self.prefix + b"mp"
        self.chosen = self.prefix + b"mc"
        self.compacted = self.prefix + b"mk"
        self.configs = self.prefix + b"mg"
        self.generation_key = self.prefix + b"mv"
        self.log_prefix = self.prefix + b"l"
        state = self.prefix
        if generation:
            state = self.prefix + GENERATION_MARK + _U64.pack(generation)
        self.state_prefix = state
        self.applied = state + b"sa"
        self.log_time = state + b"st"
        self.kept_bytes = state + b"sb"
        self.data_prefix = state + b"d"
        self.dedup_prefix = state + b"r"
        self.dedup_expiry_prefix = state + b"x"

    def at(self, generation: int) -> PartitionKeys:
        """The same partition's keys with its state under ``generation``."""
        return PartitionKeys(self.partition_id, generation)

    def log(self, slot: int) -> bytes:
        return self.log_prefix + _U64.pack(slot)

    def data(self, key: bytes) -> bytes:
        return self.data_prefix + key

    def dedup(self, request_id: bytes) -> bytes:
        return self.dedup_prefix + request_id

    def state_ranges(self) -> list[tuple[bytes, bytes]]:
        """Half-open ranges holding this generation's state, in key order (what a snapshot
        carries and an install replaces)."""
        return [_range_of(self.state_prefix + kind) for kind in STATE_KINDS]

    def other_generation_ranges(self) -> list[tuple[bytes, bytes]]:
        """Ranges that hold any generation's state but this one's (staging or garbage)."""
        marked = self.prefix + GENERATION_MARK
        _, marked_end = _range_of(marked)
        if not self.generation:
            return [(marked, marked_end)]
        legacy = [_range_of(self.prefix + kind) for kind in STATE_KINDS]
        below = (marked, self.state_prefix)
        above = (self.prefix + GENERATION_MARK + _U64.pack(self.generation + 1), marked_end)
        return [*legacy, below, above]

    def all_range(self) -> tuple[bytes, bytes]:
        return _range_of(self.prefix)


CATALOG_PREFIX = b"Nh"


def catalog_key(partition_id: str) -> bytes:
    return CATALOG_PREFIX + partition_id.encode()
