"""One seeded run of the node simulation: storage nodes hosting replicas of several partitions.

The nodes run the real ``node.NodeCore`` with the real partition state machine over
``SimEngine`` disks with failpoints, and talk through a ``FrameNetwork`` that delays, drops,
duplicates, corrupts, truncates and forges frames. Clients increment counters with UpdateItem ADD
(``node_workload``), each request keeping its id across every retry; readers read counters
strongly. Faults: disk failpoints, crashes at any time (and so at every point of a round),
restarts, partitions, clock-rate changes, spurious elections, member replacements, and crashes of
nodes that are sending or receiving a snapshot. Logs are compacted after a few slots and
snapshots cut into chunks of 1-4 KB, so replicas that fall behind get snapshots of
several chunks, which the network damages like any frame. After 75% of the steps the world
turns quiet (faults off, everything healed and restarted) and at the end (given up to half as
many steps again while it has not) every partition must have converged (``node_checker``).
Everything random comes from one ``random.Random(seed)``: a seed always gives the same run.
Pure: no ray, no rocksdict.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

from raydynamo.consensus.types import Role
from raydynamo.metadata.member_ids import node_of
from raydynamo.node.core import NodeLimits
from raydynamo.node.replies import Applied, NotLeader, Overloaded, WriteReply
from raydynamo.sim.frame_network import FrameFaults, FrameNetwork
from raydynamo.sim.node_checker import NodeChecker
from raydynamo.sim.node_reconfig import NodeReconfigurer
from raydynamo.sim.node_workload import (
    Increment,
    increment_command,
    new_value_of,
    read_request,
    value_read,
)
from raydynamo.sim.sim_engine import DiskFaults
from raydynamo.sim.sim_node import SimStorageNode
from raydynamo.sim.world import STEP_S, draw_settings

COUNTERS_PER_PARTITION = 3
CLIENTS = 4
READERS = 2
RETRY_AFTER_S = 0.3
ATTEMPTS_MAX = 40


@dataclass(frozen=True, slots=True)
class NodeFaultProfile:
    frames: FrameFaults
    disk: DiskFaults
    crash_rate: float
    downtime_max_s: float
    partition_rate: float
    heal_rate: float
    clock_change_rate: float
    forced_campaign_rate: float
    reconfig_rate: float
    transfer_crash_rate: float  # per step, for a node with a snapshot on its way from or to it

    @staticmethod
    def draw(rng: random.Random) -> NodeFaultProfile:
        return NodeFaultProfile(
            frames=FrameFaults(
                drop_rate=rng.choice([0.0, 0.02, 0.1]),
                duplicate_rate=rng.choice([0.0, 0.05, 0.2]),
                corrupt_rate=rng.choice([0.0, 0.01, 0.05]),
                truncate_rate=rng.choice([0.0, 0.01, 0.03]),
                foreign_rate=rng.choice([0.0, 0.01, 0.03]),
                delay_max_s=rng.choice([0.003, 0.015, 0.05]),
            ),
            disk=DiskFaults(
                write_error_rate=rng.choice([0.0, 0.0005, 0.002]),
                disk_full_rate=rng.choice([0.0, 0.0005]),
                fsync_error_rate=rng.choice([0.0, 0.0005, 0.002]),
                die_after_write_rate=rng.choice([0.0, 0.001, 0.003]),
            ),
            crash_rate=rng.choice([0.0, 0.0005, 0.002]),
            downtime_max_s=rng.choice([0.05, 0.5, 1.5]),
            partition_rate=rng.choice([0.0, 0.002, 0.01]),
            heal_rate=rng.choice([0.005, 0.02]),
            clock_change_rate=0.002,
            forced_campaign_rate=rng.choice([0.0, 0.002, 0.01]),
            reconfig_rate=rng.choice([0.0, 0.002, 0.01]),
            transfer_crash_rate=rng.choice([0.0, 0.005, 0.02]),
        )


@dataclass(slots=True)
class Client:
    busy_until: float = 0.0
    outstanding: Increment | None = None
    target: str = ""
    sent_at: float = 0.0


@dataclass(slots=True)
class NodeRunResult:
    seed: int
    steps: int
    violations: list[str]
    acked: int
    indeterminate: int
    strong_reads: int
    applied_slots: int
    disk_faults: int
    corrupt_frames: int
    foreign_frames: int
    crashes: int
    reconfigurations: int
    former_nodes_readded: int
    snapshot_transfers_started: int
    snapshot_transfers_completed: int
    snapshot_transfers_multichunk: int  # completed with two chunks or more
    snapshot_chunks_sent: int
    snapshots_installed: int
    crashes_mid_transfer: int
    trace_digest: int
    trace: list[str] | None = field(default=None)


class NodeWorld:
    def __init__(
        self,
        seed: int,
        *,
        nodes: int = 5,
        partitions: int = 4,
        steps: int = 1200,
        keep_trace: bool = False,
    ) -> None:
        assert nodes >= 3, "a group needs three nodes"
        self.seed = seed
        self.rng = random.Random(seed)
        self.steps = steps
        self.faults = NodeFaultProfile.draw(self.rng)
        # Short logs and small chunks: behind replicas get snapshots of several chunks.
        retained = self.rng.choice([2, 3, 6])
        self.settings = replace(draw_settings(self.rng), log_retained_slots=retained)
        self.checker = NodeChecker(trace=[] if keep_trace else None)
        self.network = FrameNetwork(self.rng, self.faults.frames)
        limits = NodeLimits(
            sync_writes=True,
            snapshot_chunk_bytes=self.rng.choice([1024, 2048, 4096]),
            snapshot_stall_s=self.rng.choice([0.3, 0.6, 1.2]),
        )
        transfers_max = self.rng.choice([1, 2])
        self.crashes_mid_transfer = 0
        self.nodes: dict[str, SimStorageNode] = {}
        for i in range(nodes):
            node_id = f"n{i}"
            self.nodes[node_id] = SimStorageNode(
                node_id,
                self.settings,
                limits,
                self.rng,
                self.network,
                self.faults.disk,
                self.checker.on_applied,
                self.checker.event,
                snapshot_transfers_max=transfers_max,
            )
        self.node_ids = tuple(self.nodes)
        self.partition_ids = tuple(f"p{i}" for i in range(partitions))
        self.members: dict[str, tuple[str, ...]] = {}
        self.now = 0.0
        self.down_until: dict[str, float] = {}
        self.clients = [Client() for _ in range(CLIENTS)]
        self.readers = [Client() for _ in range(READERS)]
        self.reconfigurer = NodeReconfigurer(self, self.faults.reconfig_rate)
        self.request_seq = 0
        self._start()

    def _start(self) -> None:
        for node in self.nodes.values():
            node.start(self.now)
        for i, partition_id in enumerate(self.partition_ids):
            members = tuple(sorted(self.node_ids[(i + j) % len(self.node_ids)] for j in range(3)))
            self.members[partition_id] = members
            for member in members:
                self.nodes[member].control(
                    lambda core, t, pid=partition_id, m=members: core.host(pid, m, False, t),
                    self.now,
                )
            first = self.nodes[members[i % 3]]
            first.control(lambda core, t, pid=partition_id: core.campaign(pid, t), self.now)
        for node in self.nodes.values():
            node.engine.armed = True

    # --- the run ---------------------------------------------------------------------------------

    def run(self) -> NodeRunResult:
        quiet_from = int(self.steps * 0.75)
        step = 0
        for step in range(1, self.steps + 1):
            self.checker.step = step
            if step == quiet_from:
                self._quiesce()
            try:
                self._step(faults=step < quiet_from, clients=step < int(self.steps * 0.9))
            except Exception as err:  # no input may end a node core: that is a finding too
                self.checker.fail(f"the node core raised {err!r}")
            if self.checker.violations:
                break
        # Liveness is bounded, not instant: the quiet world gets up to half as many steps again
        # to converge (several snapshots queued behind a node's one transfer slot can outlast
        # the last quarter; found with seed 1993), and must have converged by then.
        settle_until = self.steps + self.steps // 2
        while not self.checker.violations and step < settle_until and not self._converged():
            step += 1
            self.checker.step = step
            try:
                self._step(faults=False, clients=False)
            except Exception as err:  # as above: no input may end a node core
                self.checker.fail(f"the node core raised {err!r}")
        if not self.checker.violations:
            self._check_end()
        return self._result(step)

    def _converged(self) -> bool:
        """Every member of every partition's final configuration applied all that was chosen."""
        for partition_id in self.partition_ids:
            top = max((s for p, s in self.checker.chosen if p == partition_id), default=0)
            for member in self._final_members(partition_id):
                core = self.nodes[node_of(member)].core
                if core is None or partition_id not in core.replicas:
                    return False
                if core.replicas[partition_id].replica.log.applied_through < top:
                    return False
        return True

    def _step(self, *, faults: bool, clients: bool) -> None:
        self.now += STEP_S
        self.checker.now = self.now
        for item in self.network.due(self.now):
            self.nodes[item.dst].deliver(item.src, item.frame, self.now)
        for node in self.nodes.values():
            node.tick(self.now)
        self.reconfigurer.step(self.now, start_new=faults)
        if clients:
            for client in self.clients:
                self._client_step(client)
        for reader in self.readers:
            self._read_step(reader)
        if faults:
            self._inject_faults()
        self._restart_due()
        self._check_leases()

    def _quiesce(self) -> None:
        self.checker.event("quiesce")
        self.network.heal()
        self.network.faults = FrameFaults()
        for node in self.nodes.values():
            node.engine.armed = False
            if not node.alive:
                self.down_until[node.node_id] = self.now

    # --- clients ---------------------------------------------------------------------------------

    def _client_step(self, client: Client) -> None:
        if self.now < client.busy_until:
            return
        increment = client.outstanding
        if increment is None:
            increment = self._new_increment()
            client.outstanding = increment
            client.target = node_of(self.rng.choice(self.members[increment.partition_id]))
        elif self.now - client.sent_at < RETRY_AFTER_S:
            return
        if increment.attempts >= ATTEMPTS_MAX:
            increment.abandoned = True  # its outcome stays unknown
            client.outstanding = None
            return
        self._send(client, increment)

    def _new_increment(self) -> Increment:
        self.request_seq += 1
        partition_id = self.rng.choice(self.partition_ids)
        counter = f"c{self.rng.randrange(COUNTERS_PER_PARTITION)}"
        request_id = f"{self.seed}/{self.request_seq}".encode()
        command = increment_command(partition_id, counter, request_id)
        increment = Increment(partition_id, counter, request_id, command, self.now)
        self.checker.on_issued(increment)
        return increment

    def _send(self, client: Client, increment: Increment) -> None:
        increment.attempts += 1
        client.sent_at = self.now
        node = self.nodes[client.target]

        def done(replies: list[WriteReply]) -> None:
            (reply,) = replies
            if isinstance(reply, Applied):
                self.checker.on_acked(increment, new_value_of(reply.result))
                if client.outstanding is increment:
                    client.outstanding = None
                return
            if client.outstanding is not increment:
                return
            hint = reply.leader_hint if isinstance(reply, NotLeader) else None
            if hint is not None:
                client.target = node_of(hint)
            else:
                client.target = node_of(self.rng.choice(self.members[increment.partition_id]))
            pause = 0.05 if isinstance(reply, Overloaded) else 0.01
            client.busy_until = self.now + pause
            client.sent_at = self.now - RETRY_AFTER_S  # resend at the next chance

        node.propose(
            increment.partition_id, [(increment.request_id, increment.command)], self.now, done
        )

    def _read_step(self, reader: Client) -> None:
        if self.now < reader.busy_until:
            return
        partition_id = self.rng.choice(self.partition_ids)
        counter = f"c{self.rng.randrange(COUNTERS_PER_PARTITION)}"
        node = self.nodes.get(reader.target) or self.nodes[self.node_ids[0]]
        core = node.core
        reader.busy_until = self.now + 0.01
        if core is None or partition_id not in core.replicas:
            reader.target = node_of(self.rng.choice(self.members[partition_id]))
            return
        refusal = core.read_refusal(partition_id, True, 0, node.local(self.now))
        if refusal is not None:
            hint = refusal.leader_hint if isinstance(refusal, NotLeader) else None
            reader.target = node_of(hint) if hint is not None else self.rng.choice(self.node_ids)
            return
        (answer,) = core.execute_reads(partition_id, [read_request(counter)])
        self.checker.on_strong_read(node.node_id, partition_id, counter, value_read(answer))

    # --- faults ----------------------------------------------------------------------------------

    def _inject_faults(self) -> None:
        f = self.faults
        rng = self.rng
        for node in self.nodes.values():
            if node.alive and f.crash_rate and rng.random() < f.crash_rate:
                node.crash(partial_send=True)
            elif node.in_transfer and rng.random() < f.transfer_crash_rate:
                self.crashes_mid_transfer += 1
                node.crash(partial_send=True)
            if rng.random() < f.clock_change_rate:
                node.clock.change_rate(self.now)
        for node in self.nodes.values():
            if not node.alive and node.node_id not in self.down_until:
                self.down_until[node.node_id] = self.now + rng.uniform(0.0, f.downtime_max_s)
        if f.partition_rate and rng.random() < f.partition_rate:
            a = rng.choice(self.node_ids)
            if rng.random() < 0.5:
                self.network.isolate(a, self.node_ids)
                self.checker.event(f"isolate {a}")
            else:
                b = rng.choice([n for n in self.node_ids if n != a])
                self.network.partition(a, b)
                self.checker.event(f"cut {a} {b}")
        if self.network.cut and rng.random() < f.heal_rate:
            self.network.heal()
            self.checker.event("heal")
        if f.forced_campaign_rate and rng.random() < f.forced_campaign_rate:
            node = self.nodes[rng.choice(self.node_ids)]
            partition_id = rng.choice(self.partition_ids)
            node.control(lambda core, t: core.campaign(partition_id, t), self.now)
            self.checker.event(f"forced campaign {partition_id} at {node.node_id}")

    def _restart_due(self) -> None:
        for node_id, until in list(self.down_until.items()):
            node = self.nodes[node_id]
            if node.alive:
                del self.down_until[node_id]
            elif self.now >= until:
                del self.down_until[node_id]
                self.checker.on_restart(node_id)
                node.start(self.now)

    def _check_leases(self) -> None:
        holders: dict[str, list[str]] = {}
        for node in self.nodes.values():
            if node.core is None:
                continue
            local = node.local(self.now)
            for partition_id, hosted in node.core.replicas.items():
                if hosted.replica.holds_lease(local):
                    holders.setdefault(partition_id, []).append(node.node_id)
        self.checker.check_leases(holders)

    # --- the end ---------------------------------------------------------------------------------

    def _check_end(self) -> None:
        for partition_id in self.partition_ids:
            members = self._final_members(partition_id)
            top = max((s for p, s in self.checker.chosen if p == partition_id), default=0)
            states = {}
            for member in members:
                core = self.nodes[node_of(member)].core
                if core is None or partition_id not in core.replicas:
                    self.checker.fail(f"{partition_id}: member {member} does not host it")
                    continue
                applied, pairs = core.partition_state(partition_id)
                if applied < top:
                    self.checker.fail(f"{partition_id}: {member} applied {applied} < {top}")
                states[member] = pairs
            if len({repr(s) for s in states.values()}) > 1:
                self.checker.fail(f"{partition_id}: replicas hold different bytes")
            counts = self.checker.check_exactly_once(partition_id)
            self.checker.check_bounds(partition_id, counts)
            if states:
                self._check_counters(partition_id, next(iter(states)), counts)

    def _final_members(self, partition_id: str) -> tuple[str, ...]:
        best = (-2, self.members[partition_id])
        for node in self.nodes.values():
            hosted = node.core.replicas.get(partition_id) if node.core is not None else None
            if hosted is not None:
                current = hosted.replica.membership.current
                best = max(best, (current.slot, current.members))
        return best[1]

    def _check_counters(self, partition_id: str, member: str, counts: dict[str, int]) -> None:
        core = self.nodes[node_of(member)].core
        assert core is not None
        for i in range(COUNTERS_PER_PARTITION):
            counter = f"c{i}"
            (answer,) = core.execute_reads(partition_id, [read_request(counter)])
            stored = value_read(answer)
            if stored != counts.get(counter, 0):
                self.checker.fail(
                    f"{partition_id}/{counter} holds {stored} after "
                    f"{counts.get(counter, 0)} distinct increments took effect"
                )

    def _result(self, step: int) -> NodeRunResult:
        increments = self.checker.increments.values()
        counts = self.network.counts
        nodes = self.nodes.values()
        return NodeRunResult(
            seed=self.seed,
            steps=step,
            violations=list(self.checker.violations),
            acked=sum(1 for i in increments if i.acked_value is not None),
            indeterminate=sum(1 for i in increments if i.acked_value is None),
            strong_reads=self.checker.strong_reads,
            applied_slots=self.checker.applied_slots,
            disk_faults=sum(n.engine.injected for n in self.nodes.values()),
            corrupt_frames=counts.corrupted + counts.truncated,
            foreign_frames=counts.foreign,
            crashes=sum(n.crashes for n in self.nodes.values()),
            reconfigurations=self.reconfigurer.changes,
            former_nodes_readded=self.reconfigurer.reused_nodes,
            snapshot_transfers_started=sum(n.transfers.started for n in nodes),
            snapshot_transfers_completed=sum(n.transfers.completed for n in nodes),
            snapshot_transfers_multichunk=sum(n.transfers.completed_multichunk for n in nodes),
            snapshot_chunks_sent=sum(n.transfers.chunks_sent for n in nodes),
            snapshots_installed=sum(n.snapshots_installed for n in nodes),
            crashes_mid_transfer=self.crashes_mid_transfer,
            trace_digest=self.checker.trace_digest,
            trace=self.checker.trace,
        )


def leaders(world: NodeWorld) -> dict[str, list[str]]:
    """Who leads each partition now (for tests and traces)."""
    out: dict[str, list[str]] = {}
    for node in world.nodes.values():
        if node.core is None:
            continue
        for partition_id, hosted in node.core.replicas.items():
            if hosted.replica.role is Role.LEADER:
                out.setdefault(partition_id, []).append(node.node_id)
    return out
