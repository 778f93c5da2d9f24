"""In-process storage nodes for tests: NodeHosts wired by a local transport, no Ray.

Waiting is on the hosts' flush events, never on sleeps: ``wait_until`` re-checks its condition
after every flush of any host, with an overall deadline that turns a hang into a failure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from raydynamo.actors.host import NodeHost
from raydynamo.config import RaydynamoConfig, config_from_dict
from raydynamo.storage.rocks import RocksEngine

FAST = {
    "consensus": {
        "heartbeat_interval_s": 0.02,
        "lease_duration_s": 0.2,
        "election_timeout_s": 0.3,
        "election_jitter_s": 0.1,
        "retransmit_interval_s": 0.05,
        "log_retained_slots": 20,
    },
    "node": {"tick_interval_s": 0.01},
}


class PeerDown(ConnectionError):
    pass


class LocalTransport:
    def __init__(self) -> None:
        self.hosts: dict[str, NodeHost] = {}

    async def call(self, peer: str, sender: str, frame: bytes) -> bytes:
        host = self.hosts.get(peer)
        if host is None or host.closed:
            raise PeerDown(peer)
        return await host.deliver(sender, frame)


class LocalCluster:
    def __init__(self, root: str, node_ids: tuple[str, ...], overrides: dict | None = None):
        self.root = root
        self.node_ids = node_ids
        self.config: RaydynamoConfig = config_from_dict({**FAST, **(overrides or {})})
        self.transport = LocalTransport()

    async def start(self, node_id: str) -> NodeHost:
        engine = RocksEngine(f"{self.root}/{node_id}", write_buffer_bytes_max=4 << 20)
        host = NodeHost(node_id, engine, self.config, self.transport)
        await host.start()
        self.transport.hosts[node_id] = host
        return host

    async def start_all(self) -> None:
        for node_id in self.node_ids:
            await self.start(node_id)

    async def crash(self, node_id: str) -> None:
        host = self.transport.hosts.pop(node_id)
        await host.close()

    async def close(self) -> None:
        for node_id in list(self.transport.hosts):
            await self.crash(node_id)

    def host(self, node_id: str) -> NodeHost:
        return self.transport.hosts[node_id]

    async def wait_until(self, condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError("condition not reached before the deadline")
            waits = [asyncio.ensure_future(h.flushed.wait()) for h in self.transport.hosts.values()]
            for host in self.transport.hosts.values():
                host.flushed.clear()
            _done, pending = await asyncio.wait(waits, timeout=0.5, return_when="FIRST_COMPLETED")
            for task in pending:
                task.cancel()

    def leader_of(self, partition_id: str) -> str | None:
        for node_id, host in self.transport.hosts.items():
            hosted = host.replicas.get(partition_id)
            if hosted and hosted.replica.can_serve_strong_read(host.clock()):
                return node_id
        return None
