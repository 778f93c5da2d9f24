"""The invariants the simulator checks after every step, and the history they need.

1. Agreement: no slot is ever applied with two different values anywhere.
2. Prefix: replicas that applied through the same slot hold the same chained digest, so applied
   sequences (snapshots included) are prefixes of one another.
3. Durability: every acknowledged write is in the log, or the applied data, of every leader that
   finished recovering after the acknowledgement.
4. Lease exclusivity: at no instant do two replicas believe they hold a valid lease.
5. Linearizable strong reads: a strong read returns the latest write to its key that was
   acknowledged before the read, or a later one; never an older one.
Pure: no ray, no rocksdict.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from raydynamo.consensus.membership import is_config_command as is_config
from raydynamo.sim.disk import KvState, parse_command
from raydynamo.sim.node import Observer

if TYPE_CHECKING:
    from raydynamo.sim.node import SimNode


@dataclass(slots=True)
class AckedWrite:
    write_id: str
    key: str
    value: int
    slot: int
    acked_at: float


@dataclass(slots=True)
class Checker(Observer):
    violations: list[str] = field(default_factory=list)
    chosen: dict[int, tuple[bytes, ...]] = field(default_factory=dict)
    digest_at: dict[int, int] = field(default_factory=dict)
    acked: dict[str, AckedWrite] = field(default_factory=dict)
    latest_acked_slot: dict[str, int] = field(default_factory=dict)
    commands: dict[str, tuple[str, int]] = field(default_factory=dict)
    trace_digest: int = 0
    trace: list[str] | None = None
    now: float = 0.0
    step: int = 0
    leader_recoveries: int = 0
    strong_reads: int = 0

    def fail(self, text: str) -> None:
        self.violations.append(f"step {self.step} t={self.now:.3f}: {text}")

    def event(self, text: str) -> None:
        line = f"{self.step} {text}"
        self.trace_digest = zlib.crc32(line.encode(), self.trace_digest)
        if self.trace is not None:
            self.trace.append(line)

    # --- 1 and 2 ---------------------------------------------------------------------------------

    def on_apply(self, node_id: str, slot: int, value: tuple[bytes, ...], digest: int) -> None:
        known = self.chosen.setdefault(slot, value)
        if known != value:
            self.fail(f"slot {slot} applied as {value!r} at {node_id} but {known!r} elsewhere")
        known_digest = self.digest_at.setdefault(slot, digest)
        if known_digest != digest:
            self.fail(f"{node_id} diverged at slot {slot}: digest {digest} != {known_digest}")
        self.event(f"apply {node_id} {slot} {len(value)}")

    def on_snapshot(self, node_id: str, kv: KvState) -> None:
        known = self.digest_at.setdefault(kv.applied_through, kv.digest)
        if known != kv.digest:
            self.fail(f"{node_id} installed a snapshot at {kv.applied_through} that diverges")
        self.event(f"snapshot {node_id} {kv.applied_through}")

    # --- 3 ---------------------------------------------------------------------------------------

    def note_command(self, write_id: str, key: str, value: int) -> None:
        self.commands[write_id] = (key, value)

    def on_write_acked(self, write_id: str, slot: int) -> None:
        key, value = self.commands[write_id]
        if write_id not in self.acked:
            self.acked[write_id] = AckedWrite(write_id, key, value, slot, self.now)
            if slot > self.latest_acked_slot.get(key, 0):
                self.latest_acked_slot[key] = slot
        elif self.acked[write_id].slot != slot:
            self.fail(f"write {write_id} acknowledged at slots {self.acked[write_id].slot}, {slot}")
        self.event(f"ack {write_id} {slot}")

    def on_recovered_leader(self, node: SimNode) -> None:
        replica = node.replica
        assert replica is not None
        self.leader_recoveries += 1
        self.event(f"leader {node.node_id} {replica.ballot}")
        for write in self.acked.values():
            if write.slot <= replica.log.compacted_through or write.slot <= node.kv.applied_through:
                if node.kv.applied_ids.get(write.write_id) != write.slot:
                    self.fail(f"leader {node.node_id} lost acknowledged write {write.write_id}")
                continue
            entry = replica.log.get(write.slot)
            commands = [
                parse_command(c)[0] for c in (entry.value if entry else ()) if not is_config(c)
            ]
            if write.write_id not in commands:
                self.fail(f"leader {node.node_id} lacks acknowledged write {write.write_id}")

    # --- 4 and 5 ---------------------------------------------------------------------------------

    def check_leases(self, nodes: list[SimNode], true_now: float) -> None:
        holders = [
            n.node_id
            for n in nodes
            if n.replica is not None and n.replica.holds_lease(n.clock.local(true_now))
        ]
        if len(holders) > 1:
            self.fail(f"two lease holders at once: {holders}")

    def check_strong_read(self, node_id: str, key: str, got: tuple[int, str, int] | None) -> None:
        self.strong_reads += 1
        latest = self.latest_acked_slot.get(key, 0)
        got_slot = got[2] if got is not None else 0
        if got_slot < latest:
            self.fail(f"stale strong read of {key} at {node_id}: slot {got_slot} < acked {latest}")
        self.event(f"read {node_id} {key} {got_slot}")

    # --- end of run ------------------------------------------------------------------------------

    def check_final(self, nodes: list[SimNode]) -> None:
        by_slot: dict[int, dict[str, tuple[int, str, int]]] = {}
        for node in nodes:
            known = by_slot.setdefault(node.kv.applied_through, node.kv.data)
            if known != node.kv.data:
                self.fail(f"{node.node_id} data differs at slot {node.kv.applied_through}")
