"""A router's writes to one storage node, from all its partition clients, in shared calls.

Every ``GroupClient`` of a router coalesces the writes to its own partition; a storage node
leads many partitions, so without this a bulk write spread over several partitions with the same
leader would still cost one actor call per partition. ``NodeWriteChannels`` keeps one queue per
storage node: while ``calls_in_flight_max`` calls to that node are out, the partition batches
for it wait and then leave together in one ``write_partitions`` call, which the node proposes in
one turn of its core thread (``NodeHost.write_partitions``).

What does not change: each partition batch keeps its own replies, request ids, leader tracking
and retries (all in ``GroupClient``); a call that fails or hangs past ``call_timeout_s`` fails
every batch it carried, and each group client moves on exactly as for a call of its own. A call
carries at most ``COALESCED_BYTES_MAX`` bytes of commands (more than one batch only when they fit
together), so every message stays bounded. No blocking Ray call runs on the event loop (handles
are looked up in a thread and cached until a call through them fails).

Must not import rocksdict; needs no ``ray`` import (handles come from ``lookup``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from raydynamo.limits import COALESCED_BYTES_MAX
from raydynamo.node.replies import WriteReply

Request = tuple[bytes, bytes]
# (partition id, (request id, command) pairs, map version): one partition client's call.
PartitionBatch = tuple[str, list[Request], int]


class _Channel:
    """The queue of partition batches for one storage node."""

    def __init__(self, owner: NodeWriteChannels, node_id: str) -> None:
        self.owner = owner
        self.node_id = node_id
        self.queue: list[tuple[PartitionBatch, int, asyncio.Future[list[WriteReply]]]] = []
        self.in_flight = 0
        self.tasks: set[asyncio.Task[None]] = set()

    def submit(self, batch: PartitionBatch, size: int) -> asyncio.Future[list[WriteReply]]:
        future: asyncio.Future[list[WriteReply]] = asyncio.get_running_loop().create_future()
        self.queue.append((batch, size, future))
        self._kick()
        return future

    def _kick(self) -> None:
        while self.queue and self.in_flight < self.owner.calls_in_flight_max:
            count = taken = 0
            for _, size, _ in self.queue:
                if count and taken + size > COALESCED_BYTES_MAX:
                    break
                count += 1
                taken += size
            entries, self.queue = self.queue[:count], self.queue[count:]
            self.in_flight += 1
            task = asyncio.get_running_loop().create_task(self._run(entries))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _run(
        self, entries: list[tuple[PartitionBatch, int, asyncio.Future[list[WriteReply]]]]
    ) -> None:
        try:
            replies = await self.owner.call(self.node_id, [batch for batch, _, _ in entries])
            for (_, _, future), reply in zip(entries, replies, strict=True):
                if not future.done():
                    future.set_result(list(reply))
        except BaseException as err:  # every batch of the call learns of the failure
            for _, _, future in entries:
                if not future.done():
                    future.set_exception(err)
        finally:
            self.in_flight -= 1
            self._kick()


class NodeWriteChannels:
    """One ``_Channel`` per storage node, shared by every partition client of a router."""

    def __init__(
        self,
        lookup: Callable[[str], Any],
        *,
        calls_in_flight_max: int = 2,
        call_timeout_s: float = 5.0,
    ) -> None:
        """``lookup(node_id)`` finds a storage node's actor handle (blocking; run in a thread)."""
        self.lookup = lookup
        self.calls_in_flight_max = calls_in_flight_max
        self.call_timeout_s = call_timeout_s
        self.handles: dict[str, Any] = {}
        self.channels: dict[str, _Channel] = {}
        self.calls = 0

    async def write(
        self, node_id: str, partition_id: str, requests: list[Request], map_version: int
    ) -> list[WriteReply]:
        """The node's replies to ``requests`` for ``partition_id``, one per request (raises
        when the call carrying them failed or timed out)."""
        channel = self.channels.get(node_id)
        if channel is None:
            channel = self.channels[node_id] = _Channel(self, node_id)
        size = sum(len(rid) + len(command) for rid, command in requests)
        return await channel.submit((partition_id, requests, map_version), size)

    async def call(self, node_id: str, batches: Sequence[PartitionBatch]) -> list[Any]:
        handle = self.handles.get(node_id)
        if handle is None:
            handle = await asyncio.to_thread(self.lookup, node_id)
            self.handles[node_id] = handle
        self.calls += 1
        try:
            ref = handle.write_partitions.remote(list(batches))
            replies = await asyncio.wait_for(ref, self.call_timeout_s)
        except BaseException:
            self.handles.pop(node_id, None)
            raise
        return list(replies)
