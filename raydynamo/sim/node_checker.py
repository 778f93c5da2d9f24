"""The invariants of the node simulation, checked after every step and at the end of a run.

Per partition (the history is the sequence of chosen slots as replicas apply them):
1. agreement: a slot is applied with one value everywhere;
2. order: each replica incarnation applies a partition's slots in increasing order (a snapshot
   may skip ahead, never back);
3. lease exclusivity: at most one replica of a partition holds a read lease at any instant;
4. exactly once: a request id takes effect at most once per partition: every increment's
   acknowledged value is its rank among the distinct request ids applied to its counter, in
   history order (a second application would shift every later rank);
5. acknowledged writes are readable, and strong reads are linearizable: a strong read returns at
   least the largest value acknowledged before it and at most the increments issued so far;
6. at the end, after a quiet phase: every member of a partition's final configuration applied
   the whole history, holds the same bytes, and each counter equals the number of distinct
   request ids applied to it, which lies between the acknowledged increments and those plus the
   ones whose outcome stayed unknown.
Pure: no ray, no rocksdict.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

from raydynamo.consensus.membership import is_config_command
from raydynamo.consensus.types import Value
from raydynamo.partition.commands import KIND_CLOCK
from raydynamo.partition.item_writes import command_header
from raydynamo.sim.node_workload import Increment, request_id_of


@dataclass(slots=True)
class NodeChecker:
    violations: list[str] = field(default_factory=list)
    trace: list[str] | None = None
    trace_digest: int = 0
    step: int = 0
    now: float = 0.0
    chosen: dict[tuple[str, int], Value] = field(default_factory=dict)
    last_applied: dict[tuple[str, str], int] = field(default_factory=dict)
    # Per partition: request id -> (slot, position) of its first application.
    first_applied: dict[str, dict[bytes, tuple[int, int]]] = field(default_factory=dict)
    increments: dict[bytes, Increment] = field(default_factory=dict)
    acked_max: dict[tuple[str, str], int] = field(default_factory=dict)
    issued: dict[tuple[str, str], int] = field(default_factory=dict)
    strong_reads: int = 0
    applied_slots: int = 0

    def fail(self, text: str) -> None:
        self.violations.append(f"step {self.step} t={self.now:.3f}: {text}")

    def event(self, text: str) -> None:
        line = f"{self.step} {text}"
        self.trace_digest = zlib.crc32(line.encode(), self.trace_digest)
        if self.trace is not None:
            self.trace.append(line)

    # --- 1, 2 and 4: the applied history -------------------------------------------------------

    def on_applied(self, node_id: str, partition_id: str, slot: int, value: Value) -> None:
        self.applied_slots += 1
        known = self.chosen.setdefault((partition_id, slot), value)
        if known != value:
            self.fail(f"{partition_id} slot {slot} applied as two values ({node_id})")
        last = self.last_applied.get((node_id, partition_id), 0)
        if slot <= last:
            self.fail(f"{node_id} applied {partition_id} slot {slot} after slot {last}")
        self.last_applied[(node_id, partition_id)] = slot
        firsts = self.first_applied.setdefault(partition_id, {})
        for position, command in enumerate(value):
            if is_config_command(command) or command_header(command)[0] == KIND_CLOCK:
                continue  # membership changes and the log's clock: no client request
            # The lowest slot, not the first one seen: an application can go unobserved (a node
            # that dies right after writing it), and another replica apply that slot later.
            request_id = request_id_of(command)
            where = (slot, position)
            firsts[request_id] = min(firsts.get(request_id, where), where)
        self.event(f"apply {node_id} {partition_id} {slot} {len(value)}")

    def on_restart(self, node_id: str) -> None:
        """A new incarnation replays from its own disk: its order check starts over."""
        for key in [k for k in self.last_applied if k[0] == node_id]:
            del self.last_applied[key]

    def on_drop(self, node_id: str, partition_id: str) -> None:
        self.last_applied.pop((node_id, partition_id), None)

    # --- 5: clients --------------------------------------------------------------------------

    def on_issued(self, increment: Increment) -> None:
        self.increments[increment.request_id] = increment
        key = (increment.partition_id, increment.counter)
        self.issued[key] = self.issued.get(key, 0) + 1

    def on_acked(self, increment: Increment, value: int) -> None:
        if increment.acked_value is not None and increment.acked_value != value:
            self.fail(
                f"request {increment.request_id.hex()} answered {increment.acked_value}, {value}"
            )
        increment.acked_value = value
        key = (increment.partition_id, increment.counter)
        self.acked_max[key] = max(self.acked_max.get(key, 0), value)
        self.event(f"ack {increment.partition_id}/{increment.counter} {value}")

    def on_strong_read(self, node_id: str, partition_id: str, counter: str, value: int) -> None:
        self.strong_reads += 1
        key = (partition_id, counter)
        if value < self.acked_max.get(key, 0):
            self.fail(
                f"stale strong read of {partition_id}/{counter} at {node_id}: {value} < "
                f"acknowledged {self.acked_max[key]}"
            )
        if value > self.issued.get(key, 0):
            self.fail(f"strong read of {partition_id}/{counter} saw {value} > issued")
        self.event(f"read {node_id} {partition_id}/{counter} {value}")

    # --- 3: leases ---------------------------------------------------------------------------

    def check_leases(self, holders: dict[str, list[str]]) -> None:
        for partition_id, nodes in holders.items():
            if len(nodes) > 1:
                self.fail(f"{partition_id}: two lease holders at once: {nodes}")

    # --- 4 and 6: the end of a run ----------------------------------------------------------

    def applied_counts(self, partition_id: str) -> dict[str, list[bytes]]:
        """Per counter, the request ids that took effect, in history order."""
        firsts = self.first_applied.get(partition_id, {})
        by_counter: dict[str, list[tuple[tuple[int, int], bytes]]] = {}
        for request_id, where in firsts.items():
            increment = self.increments.get(request_id)
            if increment is None:
                self.fail(f"{partition_id}: applied an unknown request {request_id.hex()}")
                continue
            by_counter.setdefault(increment.counter, []).append((where, request_id))
        return {c: [rid for _, rid in sorted(items)] for c, items in by_counter.items()}

    def check_exactly_once(self, partition_id: str) -> dict[str, int]:
        """Every acknowledged value is its request's rank in history; returns the counts."""
        counts: dict[str, int] = {}
        for counter, request_ids in self.applied_counts(partition_id).items():
            counts[counter] = len(request_ids)
            for rank, request_id in enumerate(request_ids, start=1):
                acked = self.increments[request_id].acked_value
                if acked is not None and acked != rank:
                    self.fail(
                        f"{partition_id}/{counter}: request {request_id.hex()} acknowledged "
                        f"{acked} but it took effect as increment {rank}"
                    )
        for increment in self.increments.values():
            if increment.partition_id != partition_id or increment.acked_value is None:
                continue
            if increment.request_id not in self.first_applied.get(partition_id, {}):
                self.fail(
                    f"{partition_id}: acknowledged {increment.request_id.hex()} never applied"
                )
        return counts

    def check_bounds(self, partition_id: str, counts: dict[str, int]) -> None:
        for (pid, counter), issued in self.issued.items():
            if pid != partition_id:
                continue
            acked = sum(
                1
                for i in self.increments.values()
                if i.partition_id == pid and i.counter == counter and i.acked_value is not None
            )
            got = counts.get(counter, 0)
            if not acked <= got <= issued:
                self.fail(f"{pid}/{counter}: {got} increments outside [{acked}, {issued}]")
