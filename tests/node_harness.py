"""In-process storage nodes for tests: NodeHosts wired by a local transport, no Ray.

Waiting is on the hosts' flush conditions, never on sleeps: ``wait_until`` re-checks its condition
after every flush of a host, with an overall deadline that turns a hang into a failure.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from raydynamo.actors.host import NodeHost
from raydynamo.config import RaydynamoConfig, config_from_dict
from raydynamo.consensus.codec import encode_batch
from raydynamo.consensus.messages import Message
from raydynamo.node.core import NodeCore, NodeLimits
from raydynamo.node.transfers import SnapshotPump
from raydynamo.storage.memory import MemoryEngine
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

    def call(self, peer: str, sender: str, frame: bytes) -> bytes:
        host = self.hosts.get(peer)
        if host is None or host.closed:
            raise PeerDown(peer)
        return host.deliver(sender, frame)

    def call_snapshot(self, peer: str, sender: str, frame: bytes) -> bytes:
        return self.call(peer, sender, frame)


class LocalCluster:
    def __init__(self, root: str, node_ids: tuple[str, ...], overrides: dict | None = None):
        self.root = root
        self.node_ids = node_ids
        self.config: RaydynamoConfig = config_from_dict({**FAST, **(overrides or {})})
        self.transport = LocalTransport()
        self.fatal: list[str] = []  # why hosts stopped (in-process, a host cannot end the process)

    def start(self, node_id: str) -> NodeHost:
        engine = RocksEngine(f"{self.root}/{node_id}", write_buffer_bytes_max=4 << 20)
        host = NodeHost(node_id, engine, self.config, self.transport, on_fatal=self.fatal.append)
        host.start()
        self.transport.hosts[node_id] = host
        return host

    def start_all(self) -> None:
        for node_id in self.node_ids:
            self.start(node_id)

    def crash(self, node_id: str) -> None:
        host = self.transport.hosts.pop(node_id)
        host.close()

    def close(self) -> None:
        for node_id in list(self.transport.hosts):
            self.crash(node_id)

    def host(self, node_id: str) -> NodeHost:
        return self.transport.hosts[node_id]

    def wait_until(self, condition: Callable[[], bool], timeout_s: float = 90.0) -> None:
        """Block until ``condition()`` holds, re-checking after flushes of the first host."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError("condition not reached before the deadline")
            host = next(iter(self.transport.hosts.values()))
            with host.flushed:
                host.flushed.wait(timeout=0.1)

    def leader_of(self, partition_id: str) -> str | None:
        for node_id, host in self.transport.hosts.items():
            hosted = host.core.replicas.get(partition_id)
            if hosted and host.clock() < hosted.lease.strong_until:
                return node_id
        return None


class CoreGroup:
    """Node cores of one partition driven by hand, without threads or time passing: messages
    move only when ``pump`` is called, so a test decides exactly what happens when. Snapshots
    are sent by a ``SnapshotPump`` per node, stepped by ``pump`` too; frames from or to a node
    in ``isolated`` are lost."""

    def __init__(
        self,
        node_ids: tuple[str, ...],
        limits: NodeLimits | None = None,
        engines: dict[str, MemoryEngine] | None = None,
    ) -> None:
        self.config = config_from_dict(FAST)
        self.now = 1000.0
        self.node_ids = node_ids
        self.limits = limits or NodeLimits()
        self.wire: list[tuple[str, str, bytes]] = []  # (sender, peer, frame)
        self.cores: dict[str, NodeCore] = {}
        self.pumps: dict[str, SnapshotPump] = {}
        self.isolated: set[str] = set()
        for node_id in node_ids:
            engine = (engines or {}).get(node_id) or MemoryEngine()
            core = self.start(node_id, engine)
            core.host("p0", node_ids, False, self.now)

    def start(self, node_id: str, engine: MemoryEngine) -> NodeCore:
        """A core for ``node_id`` on ``engine``, recovered from it (a start or a restart)."""
        settings = self.config.consensus.to_settings()
        pump = SnapshotPump(2, settings.retransmit_interval_s, self.limits.snapshot_stall_s)
        core = NodeCore(
            node_id,
            engine,
            settings,
            _WireOutbox(node_id, self.wire),
            limits=self.limits,
            snapshots=pump,
        )
        core.recover(self.now)
        self.cores[node_id] = core
        self.pumps[node_id] = pump
        return core

    def pump(self, rounds_max: int = 50) -> None:
        """Deliver messages, flush and send snapshot chunks until nothing moves."""
        for core in self.cores.values():
            core.flush(self.now)
        for _ in range(rounds_max):
            for node_id, pump in self.pumps.items():
                pump.pump(self.now, self.cores[node_id].outbox)  # type: ignore[arg-type]
            if not self.wire:
                return
            batch, self.wire[:] = list(self.wire), []
            for sender, peer, frame in batch:
                if sender not in self.isolated and peer not in self.isolated:
                    self.cores[peer].receive(sender, frame, self.now)
            for core in self.cores.values():
                core.flush(self.now)
        raise AssertionError("messages kept flowing")

    def elect(self, node_id: str) -> None:
        self.cores[node_id].campaign("p0", self.now)
        self.pump()
        assert self.cores[node_id].replicas["p0"].replica.role.value == "leader"


class _WireOutbox:
    def __init__(self, node_id: str, wire: list[tuple[str, str, bytes]]) -> None:
        self.node_id = node_id
        self.wire = wire

    def post(self, peer: str, partition_id: str, message: Message) -> None:
        self.wire.append((self.node_id, peer, encode_batch([(partition_id, message)])))
