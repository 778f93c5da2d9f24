"""A simulated storage node: the real ``node.NodeCore`` on a ``SimEngine``, driven by the world.

Exactly what a storage node process does, without its threads: inputs go to the core, then the
core flushes (persist, send, apply) and the frames it posted leave for their peers, one frame per
peer per round. A ``NodeFailure`` (a disk failpoint) ends the incarnation as the real process
ends: memory is lost, the disk keeps what a crash keeps, and the messages posted before the
failure may or may not have left (a sender thread may have taken them). A restart opens a new
core on the same disk. The node's clock runs at a rate within the drift bound. Snapshots the
node serves are streamed by a ``SnapshotPump`` stepped at every tick (a chunk per transfer at a
time, the next one only once the previous one was acknowledged), as the real node's snapshot
threads do between its rounds; a crash abandons them.
Pure: no ray, no rocksdict, no clock reads.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from raydynamo.consensus.codec import encode_batch
from raydynamo.consensus.messages import Message
from raydynamo.consensus.types import Settings, Value
from raydynamo.node.core import NodeCore, NodeFailure, NodeLimits, WriteWaiter
from raydynamo.node.replies import Unavailable, WriteReply
from raydynamo.node.transfers import SnapshotPump, TransferCounts
from raydynamo.sim.frame_network import FrameNetwork
from raydynamo.sim.node import SimClock
from raydynamo.sim.sim_engine import DiskFaults, SimEngine

ApplyHook = Callable[[str, str, int, Value], None]  # node, partition, slot, value


class _Outbox:
    """Messages the core posted this round, per peer, in order."""

    def __init__(self) -> None:
        self.pending: list[tuple[str, str, Message]] = []

    def post(self, peer: str, partition_id: str, message: Message) -> None:
        self.pending.append((peer, partition_id, message))

    def take(self) -> list[tuple[str, str, Message]]:
        out, self.pending = self.pending, []
        return out


class SimStorageNode:
    def __init__(
        self,
        node_id: str,
        settings: Settings,
        limits: NodeLimits,
        rng: random.Random,
        network: FrameNetwork,
        disk_faults: DiskFaults,
        on_applied: ApplyHook,
        on_event: Callable[[str], None],
        *,
        snapshot_transfers_max: int = 2,
    ) -> None:
        self.node_id = node_id
        self.settings = settings
        self.limits = limits
        self.rng = rng
        self.network = network
        self.on_applied = on_applied
        self.on_event = on_event
        self.clock = SimClock(rng, settings.clock_drift_max)
        self.engine = SimEngine(rng, disk_faults)
        self.outbox = _Outbox()
        self.core: NodeCore | None = None
        self.snapshot_transfers_max = snapshot_transfers_max
        self.pump: SnapshotPump | None = None
        self.transfers = TransferCounts()  # over every incarnation
        self.installed = 0  # snapshots installed by earlier incarnations
        self.incarnation = 0
        self.crashes = 0
        self.failures = 0
        self.true_now = 0.0
        # Clients waiting on this incarnation: told their call failed if the node dies.
        self.waiting: list[Callable[[list[WriteReply]], None]] = []

    @property
    def alive(self) -> bool:
        return self.core is not None

    def local(self, true_now: float) -> float:
        return self.clock.local(true_now)

    # --- life cycle ------------------------------------------------------------------------------

    def start(self, true_now: float) -> None:
        assert self.core is None, "only a stopped node starts"
        self.incarnation += 1
        self.true_now = true_now
        node_id = self.node_id

        def applied(partition_id: str, slot: int, value: Value) -> None:
            self.on_applied(node_id, partition_id, slot, value)

        self.pump = SnapshotPump(
            self.snapshot_transfers_max,
            self.settings.retransmit_interval_s,
            self.limits.snapshot_stall_s,
            counts=self.transfers,
        )
        core = NodeCore(
            node_id,
            self.engine,
            self.settings,
            self.outbox,
            limits=self.limits,
            seed=self.rng.randrange(1 << 30),
            on_applied=applied,
            snapshots=self.pump,
        )
        self.outbox.take()
        self.core = core
        self.on_event(f"start {node_id}#{self.incarnation}")
        armed, self.engine.armed = self.engine.armed, False  # recovery reads only
        core.recover(self.local(true_now))
        self.engine.armed = armed
        self.flush(true_now)

    def crash(self, *, partial_send: bool = False) -> None:
        """The process dies: memory gone, the disk keeps what survives, callers see failures."""
        if self.core is None:
            return
        self.crashes += 1
        self.on_event(f"crash {self.node_id}#{self.incarnation}")
        posted = self.outbox.take()
        if partial_send:  # some of what was posted may already have left
            self._send([m for m in posted if self.rng.random() < 0.5])
        self.installed += self.core.snapshot_stats.installed
        self.core = None
        if self.pump is not None:
            self.pump.close()  # the snapshot threads die with the process
            self.pump = None
        self.engine.crash()
        waiting, self.waiting = self.waiting, []
        for on_done in waiting:
            on_done([Unavailable("the storage node died")])

    # --- inputs ----------------------------------------------------------------------------------

    def deliver(self, sender: str, frame: bytes, true_now: float) -> None:
        if self.core is None:
            return
        self.core.receive(sender, frame, self.local(true_now))
        self.flush(true_now)

    def tick(self, true_now: float) -> None:
        if self.core is None:
            return
        local = self.local(true_now)
        self.core.tick(local)
        if self.pump is not None:
            self.pump.pump(local, self.outbox)
        self.flush(true_now)

    @property
    def in_transfer(self) -> bool:
        """Whether a snapshot is on its way from or to this node."""
        if self.core is None:
            return False
        if self.pump is not None and self.pump.transfers:
            return True
        return any(h.incoming is not None for h in self.core.replicas.values())

    @property
    def snapshots_installed(self) -> int:
        current = self.core.snapshot_stats.installed if self.core is not None else 0
        return self.installed + current

    def propose(
        self,
        partition_id: str,
        requests: Sequence[tuple[bytes, bytes]],
        true_now: float,
        on_done: Callable[[list[WriteReply]], None],
    ) -> None:
        """A client's call: ``on_done`` gets the replies (or a failure if the node dies)."""
        core = self.core
        if core is None:
            on_done([Unavailable("the storage node is down")] * len(requests))
            return
        incarnation = self.incarnation

        def answered(replies: list[WriteReply]) -> None:
            if incarnation == self.incarnation and answered in self.waiting:
                self.waiting.remove(answered)
            on_done(replies)

        self.waiting.append(answered)
        core.propose(partition_id, requests, 0, self.local(true_now), WriteWaiter(1, answered))
        self.flush(true_now)

    def control(self, action: Callable[[NodeCore, float], object], true_now: float) -> object:
        """A controller's call (host, change members, campaign, drop), then a round."""
        if self.core is None:
            return None
        try:
            result = action(self.core, self.local(true_now))
        except NodeFailure:
            self._fail(true_now)
            return None
        self.flush(true_now)
        return result

    # --- the round -------------------------------------------------------------------------------

    def flush(self, true_now: float) -> None:
        self.true_now = true_now
        core = self.core
        if core is None:
            return
        try:
            core.flush(self.local(true_now))
        except NodeFailure:
            self._fail(true_now)
            return
        self._send(self.outbox.take())

    def _fail(self, true_now: float) -> None:
        self.failures += 1
        self.on_event(f"disk failure {self.node_id}")
        self.crash(partial_send=True)

    def _send(self, posted: list[tuple[str, str, Message]]) -> None:
        by_peer: dict[str, list[tuple[str, Message]]] = {}
        for peer, partition_id, message in posted:
            by_peer.setdefault(peer, []).append((partition_id, message))
        for peer, messages in by_peer.items():
            self.network.send(self.node_id, peer, encode_batch(messages), self.true_now)
