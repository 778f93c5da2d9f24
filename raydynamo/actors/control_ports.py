"""What the controller talks to, as ports: storage nodes, metadata shards, the system partition.

The controller's logic (``actors.controller.Controller``, ``actors.healing.Healer``) only ever
calls these protocols, so tests run it against in-process fakes; the Ray implementations here
are the only code that makes the actor calls. Every call is bounded by a timeout, and answers
"unreachable" (None, or an exception for commands) instead of hanging.

No blocking Ray call runs on the event loop: actor handles are looked up by name once, in a
worker thread (``asyncio.to_thread``), and cached. A handle stays valid while Ray restarts its
actor; it is forgotten (and looked up again) when the actor died for good, since a storage node
started again under the same name is a new actor.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import ray
from ray.exceptions import ActorDiedError

from raydynamo.actors.group_client import GroupClient
from raydynamo.actors.metadata_shard import metadata_shard_name
from raydynamo.actors.storage_node import storage_actor_name
from raydynamo.limits import COMMAND_TIMEOUT_S, LEADER_POLL_S, PRIME_INTERVAL_S, PROBE_TIMEOUT_S
from raydynamo.metadata.member_ids import node_of

log = logging.getLogger(__name__)

NodeStatus = list[dict[str, Any]]


class StorageNodes(Protocol):
    """The storage nodes, by storage node id."""

    async def identity(self, node_id: str) -> dict[str, Any] | None:
        """``StorageNodeActor.identity`` (where it runs, its directory); None if unreachable."""
        ...

    async def status(self, node_id: str) -> NodeStatus | None:
        """Every replica it hosts (role, members, config slot, ...); None if unreachable."""
        ...

    async def host_partition(
        self, node_id: str, directory_id: str, partition_id: str, members: list[str], joining: bool
    ) -> bool:
        """Host a replica if the node still runs on ``directory_id``; False when refused."""
        ...

    async def change_members(self, node_id: str, partition_id: str, members: list[str]) -> bool: ...

    async def transfer_leadership(self, node_id: str, partition_id: str, target: str) -> bool: ...

    async def campaign(self, node_id: str, partition_id: str) -> None: ...

    async def drop_partition(self, node_id: str, partition_id: str) -> None: ...

    async def set_map_version(self, node_id: str, partition_id: str, map_version: int) -> None: ...

    async def partition_stats(self, node_id: str, partition_id: str) -> dict[str, Any] | None: ...

    async def has_leader(self, partition_id: str, members: list[str], deadline_s: float) -> bool:
        """True once a member reports leading the group under a lease (within ``deadline_s``)."""
        ...


class MetadataShards(Protocol):
    async def push(self, index: int, entries: dict[str, Any]) -> None: ...


class Authority(Protocol):
    """The controller's durable state: the system partition (``actors.system_store``)."""

    def set_members(self, members: list[str]) -> None: ...

    async def load(self) -> dict[bytes, bytes]: ...

    async def put(self, key: bytes, value: bytes) -> None: ...

    async def delete(self, key: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class ControlPorts:
    nodes: StorageNodes
    shards: MetadataShards
    open_authority: Callable[[list[str]], Authority]


class ActorHandles:
    """Named actors' handles, looked up off the event loop and cached."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.handles: dict[str, Any] = {}

    def cached(self, name: str) -> Any | None:
        return self.handles.get(name)

    async def get(self, name: str) -> Any:
        handle = self.handles.get(name)
        if handle is None:
            handle = await asyncio.to_thread(ray.get_actor, name, namespace=self.namespace)
            self.handles[name] = handle
        return handle

    def forget(self, name: str) -> None:
        self.handles.pop(name, None)


class HandleNotResolved(Exception):
    """A group client asked for a handle not looked up yet (it treats it as a failed call)."""


class CachedGroupClient(GroupClient):
    """A ``GroupClient`` whose handles come from ``ActorHandles``: no blocking lookup on the
    event loop (the base class calls ``ray.get_actor`` inline). ``prime`` looks the members up
    and asks each whether it hosts the group: one that does not (a node back on an empty
    directory, waiting to rejoin) is passed over like a node that is down, since the base class
    takes a "no such partition" answer for a stale map and gives up. Call ``prime`` first."""

    def __init__(self, handles: ActorHandles, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cache = handles
        self.passed_over: set[str] = set()
        self.primed_at = float("-inf")

    async def prime(self, *, force: bool = False) -> None:
        """Look the members up and find those that do not host the group; at most once per
        ``PRIME_INTERVAL_S`` unless ``force``d (after a member answered it does not host it)."""
        loop = asyncio.get_running_loop()
        if not force and loop.time() < self.primed_at + PRIME_INTERVAL_S:
            return

        async def hosts_group(node_id: str) -> bool:
            try:
                handle = await self.cache.get(storage_actor_name(node_of(node_id)))
                status = await asyncio.wait_for(handle.status.remote(), PROBE_TIMEOUT_S)
            except Exception:  # down, restarting or not started: calls to it fail and move on
                return True
            return any(replica["partition_id"] == self.partition_id for replica in status)

        found = await asyncio.gather(*(hosts_group(m) for m in self.members))
        self.passed_over = {m for m, hosts in zip(self.members, found, strict=True) if not hosts}
        self.primed_at = loop.time()
        if self.leader in self.passed_over:
            self.leader = None

    async def _handle(self, node_id: str) -> Any:
        handle = self.cache.cached(storage_actor_name(node_of(node_id)))
        if handle is None or node_id in self.passed_over:
            raise HandleNotResolved(node_id)
        return handle


class RayStorageNodes:
    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.handles = ActorHandles(namespace)

    async def _call(self, node_id: str, method: str, *args: Any, timeout_s: float) -> Any:
        """Call the storage node ``node_id`` lives on (a node id, or a member id of a replica
        there: ``metadata.member_ids``)."""
        name = storage_actor_name(node_of(node_id))
        handle = await self.handles.get(name)
        try:
            return await asyncio.wait_for(getattr(handle, method).remote(*args), timeout_s)
        except ActorDiedError:
            self.handles.forget(name)
            raise

    async def _probe(self, node_id: str, method: str, *args: Any) -> Any | None:
        try:
            return await self._call(node_id, method, *args, timeout_s=PROBE_TIMEOUT_S)
        except Exception:  # down, restarting, not started, or too slow: unreachable
            return None

    async def identity(self, node_id: str) -> dict[str, Any] | None:
        found = await self._probe(node_id, "identity")
        return dict(found) if found is not None else None

    async def status(self, node_id: str) -> NodeStatus | None:
        found = await self._probe(node_id, "status")
        return list(found) if found is not None else None

    async def host_partition(
        self, node_id: str, directory_id: str, partition_id: str, members: list[str], joining: bool
    ) -> bool:
        return bool(
            await self._call(
                node_id,
                "host_partition_checked",
                directory_id,
                partition_id,
                list(members),
                joining,
                timeout_s=COMMAND_TIMEOUT_S,
            )
        )

    async def change_members(self, node_id: str, partition_id: str, members: list[str]) -> bool:
        return bool(
            await self._call(
                node_id, "change_members", partition_id, list(members), timeout_s=PROBE_TIMEOUT_S
            )
        )

    async def transfer_leadership(self, node_id: str, partition_id: str, target: str) -> bool:
        return bool(
            await self._call(
                node_id, "transfer_leadership", partition_id, target, timeout_s=PROBE_TIMEOUT_S
            )
        )

    async def campaign(self, node_id: str, partition_id: str) -> None:
        await self._call(node_id, "campaign", partition_id, timeout_s=COMMAND_TIMEOUT_S)

    async def drop_partition(self, node_id: str, partition_id: str) -> None:
        await self._call(node_id, "drop_partition", partition_id, timeout_s=COMMAND_TIMEOUT_S)

    async def set_map_version(self, node_id: str, partition_id: str, map_version: int) -> None:
        await self._call(
            node_id, "set_map_version", partition_id, map_version, timeout_s=PROBE_TIMEOUT_S
        )

    async def partition_stats(self, node_id: str, partition_id: str) -> dict[str, Any] | None:
        found = await self._probe(node_id, "partition_stats", partition_id)
        if isinstance(found, tuple):  # (items, bytes); a NoSuchPartition reply otherwise
            return {"items": found[0], "bytes": found[1]}
        return None

    async def has_leader(self, partition_id: str, members: list[str], deadline_s: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + deadline_s
        while True:
            for node_id in members:
                for replica in await self.status(node_id) or ():
                    if replica["partition_id"] == partition_id and replica["lease"]:
                        return True
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(LEADER_POLL_S)


class RayMetadataShards:
    def __init__(self, namespace: str) -> None:
        self.handles = ActorHandles(namespace)

    async def push(self, index: int, entries: dict[str, Any]) -> None:
        name = metadata_shard_name(index)
        try:
            shard = await self.handles.get(name)
            await asyncio.wait_for(shard.put.remote(entries), COMMAND_TIMEOUT_S)
        except Exception as err:  # a restarting shard reloads from the controller anyway
            self.handles.forget(name)
            log.warning("metadata shard %d missed a push: %s", index, type(err).__name__)


def ray_ports(namespace: str) -> ControlPorts:
    from raydynamo.actors.system_store import SystemStore

    nodes = RayStorageNodes(namespace)
    return ControlPorts(
        nodes=nodes,
        shards=RayMetadataShards(namespace),
        open_authority=lambda members: SystemStore(nodes.handles, members, namespace),
    )
