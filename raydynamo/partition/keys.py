"""Where one partition's replica keeps things in its storage node's RocksDB.

One RocksDB per storage node holds every replica the node hosts, each under its own prefix, so
one synced write batch per round covers every partition of the node (group commit across
partitions), and a replica is dropped with a few range deletes::

    P <pid> m p                 promised ballot
    P <pid> m c                 chosen-through slot
    P <pid> m k                 compacted-through slot
    P <pid> m g                 the group's configurations (membership history)
    P <pid> l <slot:u64>        log entry of a slot
    P <pid> s a                 applied-through slot            \\
    P <pid> s t, s b            log time, bytes of kept results  |
    P <pid> d <item key>        the data                         | the partition's *state*: what a
    P <pid> r <request id>      first result of a request id     | snapshot carries
    P <pid> x <ms> <slot> <rid> when that result expires        /  (``partition.dedup``)
    N h <pid>                   the node's catalog: replicas it hosts

``<pid>`` is length-prefixed so that no partition's prefix is a prefix of another's.
Pure: no ray, no rocksdict.
"""

from __future__ import annotations

import struct

from raydynamo.storage.engine import prefix_end

_U64 = struct.Struct(">Q")
STATE_KINDS = (b"s", b"d", b"r", b"x")


def slot_bytes(slot: int) -> bytes:
    return _U64.pack(slot)


def slot_from(data: bytes) -> int:
    return int(_U64.unpack(data[:8])[0])


class PartitionKeys:
    """Key builders for one partition id."""

    __slots__ = (
        "applied",
        "chosen",
        "compacted",
        "configs",
        "data_prefix",
        "dedup_expiry_prefix",
        "dedup_prefix",
        "log_prefix",
        "partition_id",
        "prefix",
        "promised",
    )

    def __init__(self, partition_id: str) -> None:
        raw = partition_id.encode()
        assert 0 < len(raw) < 256, "partition ids are 1..255 bytes"
        self.partition_id = partition_id
        self.prefix = b"P" + bytes([len(raw)]) + raw
        self.promised = self.prefix + b"mp"
        self.chosen = self.prefix + b"mc"
        self.compacted = self.prefix + b"mk"
        self.configs = self.prefix + b"mg"
        self.log_prefix = self.prefix + b"l"
        self.applied = self.prefix + b"sa"
        self.data_prefix = self.prefix + b"d"
        self.dedup_prefix = self.prefix + b"r"
        self.dedup_expiry_prefix = self.prefix + b"x"

    def log(self, slot: int) -> bytes:
        return self.log_prefix + _U64.pack(slot)

    def data(self, key: bytes) -> bytes:
        return self.data_prefix + key

    def dedup(self, request_id: bytes) -> bytes:
        return self.dedup_prefix + request_id

    def state_ranges(self) -> list[tuple[bytes, bytes]]:
        """Half-open ranges holding the partition's state (what a snapshot replaces)."""
        out = []
        for kind in STATE_KINDS:
            start = self.prefix + kind
            end = prefix_end(start)
            assert end is not None
            out.append((start, end))
        return out

    def all_range(self) -> tuple[bytes, bytes]:
        end = prefix_end(self.prefix)
        assert end is not None
        return self.prefix, end


CATALOG_PREFIX = b"Nh"


def catalog_key(partition_id: str) -> bytes:
    return CATALOG_PREFIX + partition_id.encode()
