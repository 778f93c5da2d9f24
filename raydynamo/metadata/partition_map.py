"""A table's partition map: contiguous key-hash ranges, each served by one replication group.

Key hashes are 64-bit (``storage.keycodec.key_hash``); the ranges of one map are sorted, do not
overlap and cover ``[0, 2**64)`` exactly. Every change to a map (a split, a replaced replica)
makes a new map with a higher ``map_version``; routers send the version they used with every
request so a replica can refuse a request routed by a stale map.
Pure: no ray, no rocksdict.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass, field
from typing import Any

HASH_SPACE = 1 << 64


@dataclass(frozen=True, slots=True)
class PartitionRange:
    """One partition: the hashes ``[hash_start, hash_end)`` and the storage nodes of its group."""

    partition_id: str
    hash_start: int
    hash_end: int
    members: tuple[str, ...]
    leader_hint: str | None = None

    def covers(self, key_hash: int) -> bool:
        return self.hash_start <= key_hash < self.hash_end

    def to_wire(self) -> dict[str, Any]:
        return {
            "partition_id": self.partition_id,
            "hash_start": self.hash_start,
            "hash_last": self.hash_end - 1,  # inclusive: msgpack cannot hold 2**64
            "members": list(self.members),
            "leader_hint": self.leader_hint,
        }

    @staticmethod
    def from_wire(value: dict[str, Any]) -> PartitionRange:
        return PartitionRange(
            value["partition_id"],
            int(value["hash_start"]),
            int(value["hash_last"]) + 1,
            tuple(value["members"]),
            value.get("leader_hint"),
        )


@dataclass(frozen=True, slots=True)
class PartitionMap:
    table_id: str
    map_version: int
    partitions: tuple[PartitionRange, ...]
    _starts: tuple[int, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        assert self.partitions, "a map has at least one partition"
        assert self.partitions[0].hash_start == 0
        assert self.partitions[-1].hash_end == HASH_SPACE
        for left, right in zip(self.partitions, self.partitions[1:], strict=False):
            assert left.hash_end == right.hash_start, "ranges must be contiguous"
        object.__setattr__(self, "_starts", tuple(p.hash_start for p in self.partitions))

    def lookup(self, key_hash: int) -> PartitionRange:
        """The partition whose range holds ``key_hash``."""
        index = bisect.bisect_right(self._starts, key_hash) - 1
        return self.partitions[index]

    def to_wire(self) -> dict[str, Any]:
        return {
            "table_id": self.table_id,
            "map_version": self.map_version,
            "partitions": [p.to_wire() for p in self.partitions],
        }

    @staticmethod
    def from_wire(value: dict[str, Any]) -> PartitionMap:
        return PartitionMap(
            value["table_id"],
            int(value["map_version"]),
            tuple(PartitionRange.from_wire(p) for p in value["partitions"]),
        )


def even_ranges(count: int) -> list[tuple[int, int]]:
    """``count`` contiguous hash ranges of (nearly) equal width covering the hash space."""
    assert count >= 1
    bounds = [HASH_SPACE * i // count for i in range(count + 1)]
    return list(itertools.pairwise(bounds))
