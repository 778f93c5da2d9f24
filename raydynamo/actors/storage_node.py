"""The storage node as a Ray actor: a thin shell around ``NodeHost``.

It opens the node's RocksDB under ``<data_dir>/<node_id>`` (retrying while a dying predecessor
still holds the lock), recovers every hosted replica, and exposes ``NodeHost``'s operations as
actor methods. Peers reach each other by actor name (``storage_actor_name``) in the configured
namespace, so a node restarted by Ray is found again without anyone re-wiring handles.

Ray restarts the actor after a crash (``max_restarts=-1``); every method first makes sure the
host is started, so the first message or request after a restart recovers it.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import ray

from raydynamo.actors.host import NodeHost, Result
from raydynamo.config import RaydynamoConfig, config_from_dict
from raydynamo.storage.rocks import RocksEngine


def storage_actor_name(node_id: str) -> str:
    return f"raydynamo-storage-{node_id}"


class RayTransport:
    """Calls ``deliver`` on peer storage nodes found by name; forgets a handle that failed."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.handles: dict[str, Any] = {}

    async def call(self, peer: str, sender: str, frame: bytes) -> bytes:
        handle = self.handles.get(peer)
        if handle is None:
            handle = ray.get_actor(storage_actor_name(peer), namespace=self.namespace)
            self.handles[peer] = handle
        try:
            return await handle.deliver.remote(sender, frame)
        except Exception:
            self.handles.pop(peer, None)
            raise


@ray.remote(max_restarts=-1, max_task_retries=0, max_concurrency=10_000)
class StorageNodeActor:
    def __init__(self, node_id: str, config: dict[str, Any]) -> None:
        self.node_id = node_id
        self.config: RaydynamoConfig = config_from_dict(config)
        self.host: NodeHost | None = None
        self.starting: asyncio.Lock | None = None

    async def _host(self) -> NodeHost:
        if self.host is not None:
            return self.host
        if self.starting is None:
            self.starting = asyncio.Lock()
        async with self.starting:
            if self.host is None:
                path = os.path.join(self.config.storage.data_dir, self.node_id)
                os.makedirs(path, exist_ok=True)
                engine = await asyncio.to_thread(
                    RocksEngine,
                    path,
                    write_buffer_bytes_max=self.config.storage.write_buffer_bytes_max,
                    block_cache_bytes=self.config.storage.block_cache_bytes,
                )
                host = NodeHost(
                    self.node_id,
                    engine,
                    self.config,
                    RayTransport(self.config.cluster.namespace),
                    seed=os.getpid(),
                )
                await host.start()
                self.host = host
        return self.host

    async def ping(self) -> str:
        await self._host()
        return self.node_id

    async def host_partition(self, partition_id: str, members: list[str]) -> None:
        (await self._host()).host_partition(partition_id, tuple(members))

    async def campaign(self, partition_id: str) -> None:
        (await self._host()).campaign(partition_id)

    async def transfer_leadership(self, partition_id: str, target: str) -> bool:
        return (await self._host()).transfer_leadership(partition_id, target)

    async def deliver(self, sender: str, frame: bytes) -> bytes:
        return await (await self._host()).deliver(sender, frame)

    async def write(self, partition_id: str, requests: list[tuple[bytes, bytes]]) -> list[Result]:
        return await (await self._host()).write(partition_id, requests)

    async def read(self, partition_id: str, keys: list[bytes], consistent: bool) -> Result:
        return await (await self._host()).read(partition_id, keys, consistent)

    async def status(self) -> list[dict[str, Any]]:
        return (await self._host()).status()

    async def stats(self) -> dict[str, int]:
        return dict((await self._host()).stats)

    async def partition_state(self, partition_id: str) -> tuple[int, list[tuple[bytes, bytes]]]:
        return (await self._host()).partition_state(partition_id)

    async def shutdown(self) -> None:
        if self.host is not None:
            await self.host.close()
            self.host = None

    def pid(self) -> int:
        return os.getpid()
