"""A simulated storage node hosting one replica: the shell around the pure core, in the sim.

It handles each ``Ready`` as the real shell does (send the early messages, persist, send the
rest, apply), and can crash at any point of that sequence: after the early messages and before
persisting, between persisting and sending, halfway through sending, or before applying. A
crash loses memory and the unsynced suffix of the disk; a restart rebuilds the replica from the
disk alone. The node's clock runs at a rate within the drift bound and can change rate at any
time. Pure: no ray, no rocksdict, no clock reads.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from raydynamo.consensus.messages import InstallSnapshot, Message, may_precede_persist
from raydynamo.consensus.replica import Replica
from raydynamo.consensus.types import Ready, Settings
from raydynamo.sim.disk import AppliedSlot, DiskOp, KvState, SimDisk, SnapshotData
from raydynamo.sim.network import SimNetwork


class SimClock:
    """local = base_local + rate * (true - base_true), rate within 1 ± drift."""

    def __init__(self, rng: random.Random, drift_max: float) -> None:
        self.rng = rng
        self.drift_max = drift_max
        self.base_true = 0.0
        self.base_local = rng.uniform(0.0, 1000.0)
        self.rate = 1.0 + rng.uniform(-drift_max, drift_max)

    def local(self, true_now: float) -> float:
        return self.base_local + self.rate * (true_now - self.base_true)

    def change_rate(self, true_now: float) -> None:
        self.base_local = self.local(true_now)
        self.base_true = true_now
        self.rate = 1.0 + self.rng.uniform(-self.drift_max, self.drift_max)


@dataclass(slots=True)
class CrashPlan:
    """Where, if anywhere, the next Ready's handling is cut short."""

    rate: float = 0.0


class Observer:
    """What the world's checker wants to hear from a node (overridden by the checker)."""

    def on_apply(self, node_id: str, slot: int, value: tuple[bytes, ...], digest: int) -> None: ...
    def on_snapshot(self, node_id: str, kv: KvState) -> None: ...
    def on_recovered_leader(self, node: SimNode) -> None: ...
    def on_write_acked(self, write_id: str, slot: int) -> None: ...
    def event(self, text: str) -> None: ...


class SimNode:
    def __init__(
        self,
        node_id: str,
        members: tuple[str, ...],
        settings: Settings,
        rng: random.Random,
        network: SimNetwork,
        observer: Observer,
        crash_in_ready_rate: float,
        *,
        start_at: float = 0.0,
        joining: bool = False,
    ) -> None:
        self.node_id = node_id
        self.members = members
        self.joining = joining
        self.retired = False
        self.settings = settings
        self.rng = rng
        self.network = network
        self.observer = observer
        self.crash_in_ready_rate = crash_in_ready_rate
        self.clock = SimClock(rng, settings.clock_drift_max)
        self.disk = SimDisk()
        self.kv = KvState()
        self.incarnation = 0
        self.replica: Replica | None = None
        self.pending_writes: dict[str, Callable[[bool], None]] = {}
        self.awaiting_recovery = False
        self.true_now = start_at
        self.start(start_at)

    @property
    def alive(self) -> bool:
        return self.replica is not None

    def start(self, true_now: float) -> None:
        assert self.replica is None, "only a crashed node starts"
        durable, kv = self.disk.recover()
        self.kv = kv
        self.incarnation += 1
        self.awaiting_recovery = False
        seed = self.rng.randrange(1 << 30)
        now = self.clock.local(true_now)
        self.replica = Replica(
            self.node_id,
            self.members,
            self.settings,
            seed=seed,
            now=now,
            durable=durable,
            joining=self.joining,
        )
        self.observer.event(f"start {self.node_id} applied={kv.applied_through}")
        self._process(true_now)

    def crash(self) -> None:
        if self.replica is None:
            return
        self.observer.event(f"crash {self.node_id}")
        self.replica = None
        self.disk.crash(self.rng)
        failed, self.pending_writes = self.pending_writes, {}
        for callback in failed.values():
            callback(False)

    # --- inputs ---------------------------------------------------------------------------------

    def deliver(self, msg: Message, true_now: float) -> None:
        if self.replica is None:
            return
        self.replica.step(msg, self.clock.local(true_now))
        self._process(true_now)

    def tick(self, true_now: float) -> None:
        if self.replica is None:
            return
        self.replica.tick(self.clock.local(true_now))
        self._process(true_now)

    def submit_write(self, write_id: str, command: bytes, done: Callable[[bool], None]) -> None:
        """Propose a write; raises NotLeader/Overloaded like the real node."""
        assert self.replica is not None
        self.replica.propose([command], self.clock.local(self.true_now))
        self.pending_writes[write_id] = done
        self._process(self.true_now)

    def strong_read(self, key: str) -> tuple[int, str, int] | bool | None:
        """The value under lease, or False when this replica may not serve strong reads."""
        assert self.replica is not None
        if not self.replica.can_serve_strong_read(self.clock.local(self.true_now)):
            return False
        return self.kv.data.get(key)

    # --- the shell ------------------------------------------------------------------------------

    def _process(self, true_now: float) -> None:
        self.true_now = true_now
        while self.replica is not None:
            ready = self.replica.ready()
            if ready.is_empty():
                return
            if not self._handle(ready, true_now):
                return

    def _crash_now(self) -> bool:
        if self.crash_in_ready_rate and self.rng.random() < self.crash_in_ready_rate:
            self.crash()
            return True
        return False

    def _handle(self, ready: Ready, true_now: float) -> bool:
        """Persist, send, apply. Returns False if the node crashed on the way."""
        if self._crash_now():
            return False
        early = [(to, m) for to, m in ready.messages if may_precede_persist(m)]
        later = [(to, m) for to, m in ready.messages if not may_precede_persist(m)]
        for to, msg in early:
            self.network.send(self.node_id, to, msg, true_now)
        if early and self._crash_now():
            return False
        batch: list[DiskOp] = list(ready.records)
        if ready.snapshot_to_install is not None:
            snap = ready.snapshot_to_install.data
            assert isinstance(snap, KvState)
            batch.append(SnapshotData(snap))
        self.disk.write(batch, sync=ready.sync)
        if self._crash_now():
            return False
        for to, msg in later:
            self.network.send(self.node_id, to, msg, true_now)
            if self.rng.random() < 0.1 and self._crash_now():
                return False
        if ready.snapshot_to_install is not None:
            snap = ready.snapshot_to_install.data
            assert isinstance(snap, KvState)
            self.kv = snap.copy()
            self.observer.on_snapshot(self.node_id, self.kv)
        self._apply(ready)
        for peer in ready.snapshot_requests:
            last = self.kv.applied_through
            configs = self.replica.snapshot_configs(last)
            snap_msg = InstallSnapshot(self.node_id, last, self.kv.copy(), configs)
            self.network.send(self.node_id, peer, snap_msg, true_now)
        if ready.leadership_lost:
            self._fail_pending()
        if ready.became_leader:
            self.awaiting_recovery = True
        self._check_recovered()
        return True

    def _apply(self, ready: Ready) -> None:
        assert self.replica is not None
        if not ready.to_apply:
            return
        for slot, value in ready.to_apply:
            results = self.kv.apply(slot, value)
            self.disk.write([AppliedSlot(slot, value)], sync=False)
            self.observer.on_apply(self.node_id, slot, value, self.kv.digest)
            for write_id, _newly in results:
                done = self.pending_writes.pop(write_id, None)
                if done is not None:
                    self.observer.on_write_acked(write_id, self.kv.applied_ids[write_id])
                    done(True)
        self.replica.on_applied(ready.to_apply[-1][0])

    def _fail_pending(self) -> None:
        failed, self.pending_writes = self.pending_writes, {}
        for callback in failed.values():
            callback(False)

    def _check_recovered(self) -> None:
        replica = self.replica
        if not self.awaiting_recovery or replica is None or replica.leadership is None:
            return
        if not replica.leadership.leading:
            return
        if replica.log.applied_through >= replica.leadership.recovered_through:
            self.awaiting_recovery = False
            self.observer.on_recovered_leader(self)
