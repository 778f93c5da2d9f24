"""The read side of the node core: who may serve a read, and reading under the live keys.

Mixed into ``NodeCore``. These methods may run in any thread (the Ray shell's caller threads):
they only look at the lease the core published after its last flush (``ReadLease``) and at the
engine, never at state the core thread changes in place. Reads run under the replica's live
state generation and are run again if a snapshot install switched it meanwhile.
Must not import ray or rocksdict.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from raydynamo.consensus.types import Role
from raydynamo.node.replies import NoSuchPartition, NotLeader, StaleMap
from raydynamo.operations.capacity import read_result_units
from raydynamo.partition.item_reads import execute_read
from raydynamo.partition.keys import PartitionKeys
from raydynamo.storage.engine import prefix_end

if TYPE_CHECKING:
    from raydynamo.node.core import NodeCore

T = TypeVar("T")


class ReadsMixin:
    def read_refusal(
        self: NodeCore, partition_id: str, consistent: bool, map_version: int, now: float
    ) -> NotLeader | StaleMap | NoSuchPartition | None:
        """None if this replica may serve the read now; else why not. A strong read needs the
        leader's lease with a new leader's recovery applied."""
        hosted = self.replicas.get(partition_id)
        if hosted is None:
            return NoSuchPartition()
        stale = self.stale(partition_id, map_version)
        if stale is not None:
            return stale
        if consistent and not now < hosted.lease.strong_until:
            return NotLeader(hosted.lease.leader)
        return None

    def may_soon_serve_strong(self: NodeCore, partition_id: str) -> bool:
        """Whether waiting could help a strong read here (an election or recovery under way)."""
        hosted = self.replicas.get(partition_id)
        if hosted is None:
            return False
        lease = hosted.lease
        return lease.role is not Role.FOLLOWER or lease.leader in (None, hosted.replica.replica_id)

    def _reading(self: NodeCore, partition_id: str, read: Callable[[PartitionKeys], T]) -> T:
        """``read`` under the live generation's keys. An install switches the keys before it
        deletes the old generation, so a read that ran under keys since switched is run again
        (it may have seen the old generation vanish)."""
        hosted = self.replicas[partition_id]
        while True:
            keys = hosted.keys
            result = read(keys)
            if hosted.keys is keys:
                return result

    def execute_reads(
        self: NodeCore,
        partition_id: str,
        read_requests: Sequence[dict[str, Any]],
        *,
        consistent: bool = True,
        now: float | None = None,
    ) -> list[dict[str, Any]]:
        """The answers to ``read_requests``; counted in the replica's consumption when ``now``
        is given (the shell's clock)."""
        answers = self._reading(
            partition_id,
            lambda keys: [execute_read(self.engine, keys, request) for request in read_requests],
        )
        if now is not None:
            consumption = self.replicas[partition_id].consumption
            for answer in answers:
                if "error" not in answer:
                    consumption.add("read", read_result_units(answer, consistent=consistent), now)
        return answers

    def read_values(self: NodeCore, partition_id: str, keys: Sequence[bytes]) -> list[bytes | None]:
        return self._reading(
            partition_id, lambda pk: self.engine.multi_get([pk.data(k) for k in keys])
        )

    def read_range(
        self: NodeCore, partition_id: str, start: bytes, end: bytes | None
    ) -> list[tuple[bytes, bytes]]:
        """Raw (key, value) pairs of partition-local keys in ``[start, end)`` (system data)."""

        def read(keys: PartitionKeys) -> list[tuple[bytes, bytes]]:
            lo = keys.data(start)
            hi = keys.data(end) if end is not None else prefix_end(keys.data_prefix)
            cut = len(keys.data_prefix)
            return [(k[cut:], v) for k, v in self.engine.scan(lo, hi)]

        return self._reading(partition_id, read)

    def partition_stats(self: NodeCore, partition_id: str) -> tuple[int, int]:
        """(items, bytes) in this replica's copy of the data (ItemCount/TableSizeBytes)."""

        def read(keys: PartitionKeys) -> tuple[int, int]:
            prefix = keys.data_prefix
            count = size = 0
            for key, value in self.engine.scan(prefix, prefix_end(prefix)):
                count += 1
                size += len(key) - len(prefix) + len(value)
            return count, size

        return self._reading(partition_id, read)
