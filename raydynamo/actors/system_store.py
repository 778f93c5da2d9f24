"""The authority for metadata: the controller's records in the system partition, replicated by
Paxos (the keys and record formats are ``metadata.system_records``).

The system partition is an ordinary replication group on storage nodes. Losing any single
process loses no metadata: the controller reloads everything from here when it restarts. Writes
carry a fresh request id each and are retried with it by the group client, so a retried write
is applied once. Handles come from the controller's cache (``control_ports.ActorHandles``):
nothing here blocks the event loop on a Ray lookup.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from raydynamo.actors.control_ports import ActorHandles, CachedGroupClient
from raydynamo.actors.group_client import NoSuchPartition
from raydynamo.limits import SYSTEM_WRITE_DEADLINE_S
from raydynamo.metadata.system_records import SYSTEM_PARTITION
from raydynamo.partition.commands import Delete, Put, Write, encode_write

__all__ = ["SYSTEM_PARTITION", "SystemStore"]

T = TypeVar("T")


class SystemStore:
    def __init__(
        self,
        handles: ActorHandles,
        members: list[str],
        namespace: str,
        deadline_s: float = SYSTEM_WRITE_DEADLINE_S,
    ) -> None:
        self.group = CachedGroupClient(
            handles, SYSTEM_PARTITION, members, namespace, deadline_s=deadline_s
        )

    def set_members(self, members: list[str]) -> None:
        """The group changed (a heal of the system partition): talk to its new members."""
        self.group.members = list(members)
        self.group.primed_at = float("-inf")
        if self.group.leader not in self.group.members:
            self.group.leader = None

    async def load(self) -> dict[bytes, bytes]:
        """Every record, read at the leader (strongly consistent)."""
        pairs = await self._retrying(lambda: self.group.read_range(b"", None))
        return dict(pairs)

    async def put(self, key: bytes, value: bytes) -> None:
        await self._write(Put(key, value))

    async def delete(self, key: bytes) -> None:
        await self._write(Delete(key))

    async def _write(self, op: Put | Delete) -> None:
        request_id = uuid.uuid4().bytes
        command = encode_write(Write(request_id, (op,)))
        await self._retrying(lambda: self.group.write([(request_id, command)]))

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        """``call`` once more (same request id) if a member answered that it does not host
        the system partition: it is waiting to rejoin, and is passed over from then on."""
        await self.group.prime()
        try:
            return await call()
        except NoSuchPartition:
            await self.group.prime(force=True)
            return await call()
