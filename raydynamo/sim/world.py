"""One seeded simulation run: a group of replicas, a faulty network, clients, and the checker.

Time advances in fixed steps. In each step: due messages are delivered, every live replica ticks,
clients issue writes and strong reads, faults happen (crashes, restarts, partitions, heals, clock
rate changes), and the checker runs. A run ends with a quiet phase (everything healed and
restarted) after which every replica must have converged on the same data. Everything random
comes from one ``random.Random(seed)``: the same seed gives the same trace.
Pure: no ray, no rocksdict, no clock reads.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from raydynamo.consensus.replica import NotLeader, Overloaded
from raydynamo.consensus.types import Settings
from raydynamo.sim.checker import Checker
from raydynamo.sim.disk import write_command
from raydynamo.sim.network import NetworkFaults, SimNetwork
from raydynamo.sim.node import SimNode
from raydynamo.sim.reconfig import Reconfigurer

STEP_S = 0.005


def draw_settings(rng: random.Random) -> Settings:
    """Timings scaled down for simulation, varied per seed. Elections may follow a lease by as
    little as 1%: safety must come from the lease rules, not from generous timeouts."""
    lease_s = rng.choice([0.05, 0.1, 0.2])
    return Settings(
        heartbeat_interval_s=lease_s / rng.choice([3, 5, 10]),
        lease_duration_s=lease_s,
        election_timeout_s=lease_s * rng.choice([1.01, 1.2, 2.0]),
        election_jitter_s=lease_s * rng.choice([0.1, 0.5, 1.0]),
        retransmit_interval_s=rng.choice([0.01, 0.03, 0.06]),
        clock_drift_max=0.01,
        slots_in_flight_max=rng.choice([1, 3, 8]),
        batch_commands_max=rng.choice([1, 4, 16]),
        catchup_entries_max=rng.choice([2, 8]),
        log_retained_slots=rng.choice([2, 6, 50]),
        handoff_timeout_s=0.2,
        batch_bytes_max=4 << 20,
        pending_commands_max=20_000,
        leases_enabled=True,
    )


@dataclass(frozen=True, slots=True)
class FaultProfile:
    """How hostile one run is; drawn from the seed so runs differ in kind, not just in luck."""

    network: NetworkFaults
    crash_rate: float
    crash_in_ready_rate: float
    downtime_max_s: float
    partition_rate: float
    heal_rate: float
    handoff_rate: float
    clock_change_rate: float
    forced_campaign_rate: float
    targeted_rate: float
    reconfig_rate: float

    @staticmethod
    def draw(rng: random.Random) -> FaultProfile:
        return FaultProfile(
            network=NetworkFaults(
                drop_rate=rng.choice([0.0, 0.02, 0.1, 0.25]),
                duplicate_rate=rng.choice([0.0, 0.05, 0.2]),
                delay_min_s=0.0005,
                delay_max_s=rng.choice([0.003, 0.015, 0.06]),
            ),
            crash_rate=rng.choice([0.0, 0.001, 0.004]),
            crash_in_ready_rate=rng.choice([0.0, 0.001, 0.005]),
            downtime_max_s=rng.choice([0.05, 0.5, 1.5]),
            partition_rate=rng.choice([0.0, 0.002, 0.01]),
            heal_rate=rng.choice([0.005, 0.02]),
            handoff_rate=rng.choice([0.0, 0.002, 0.01]),
            clock_change_rate=0.002,
            forced_campaign_rate=rng.choice([0.0, 0.002, 0.02]),
            targeted_rate=rng.choice([0.0, 0.003, 0.01]),
            reconfig_rate=rng.choice([0.0, 0.005, 0.02]),
        )


@dataclass(slots=True)
class SimClient:
    client_id: int
    target: str
    busy_until: float = 0.0
    write_seq: int = 0
    outstanding: str | None = None
    command: bytes = b""
    issued_at: float = 0.0


@dataclass(slots=True)
class RunResult:
    seed: int
    replicas: int
    steps: int
    violations: list[str]
    acked_writes: int
    strong_reads: int
    leader_recoveries: int
    trace_digest: int
    trace: list[str] | None = field(default=None)


class SimWorld:
    def __init__(
        self, seed: int, replicas: int = 3, *, steps: int = 1200, keep_trace: bool = False
    ) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.steps = steps
        self.faults = FaultProfile.draw(self.rng)
        self.settings = draw_settings(self.rng)
        self.checker = Checker(trace=[] if keep_trace else None)
        self.network = SimNetwork(self.rng, self.faults.network)
        self.replicas = replicas
        initial = tuple(f"r{i}" for i in range(replicas))
        self.nodes: list[SimNode] = []
        self.by_id: dict[str, SimNode] = {}
        self.now = 0.0
        for node_id in initial:
            self.add_node(node_id, initial, joining=False)
        self.down_until: dict[str, float] = {}
        self.clients = [SimClient(i, self.rng.choice(initial)) for i in range(3)]
        self.readers = [SimClient(100 + i, self.rng.choice(initial)) for i in range(2)]
        self.reconfigurer = Reconfigurer(self, self.faults.reconfig_rate)
        self.keys = [f"k{i}" for i in range(4)]

    @property
    def members(self) -> tuple[str, ...]:
        """Every node of the run that is not retired (removed and stopped)."""
        return tuple(n.node_id for n in self.nodes if not n.retired)

    def add_node(self, node_id: str, members: tuple[str, ...], *, joining: bool) -> SimNode:
        node = SimNode(
            node_id,
            members,
            self.settings,
            self.rng,
            self.network,
            self.checker,
            self.faults.crash_in_ready_rate,
            start_at=self.now,
            joining=joining,
        )
        self.nodes.append(node)
        self.by_id[node_id] = node
        return node

    # --- the run ---------------------------------------------------------------------------------

    def run(self) -> RunResult:
        quiet_from = int(self.steps * 0.75)
        step = 0
        for step in range(1, self.steps + 1):
            self.checker.step = step
            if step == quiet_from:
                self._quiesce()
            try:
                self._step(faults=step < quiet_from)
            except AssertionError as err:
                self.checker.fail(f"assertion in the core: {err!r}")
            if self.checker.violations:
                break
        if not self.checker.violations:
            self._check_converged()
            self.checker.check_final(self.nodes)
        return RunResult(
            seed=self.seed,
            replicas=self.replicas,
            steps=step,
            violations=list(self.checker.violations),
            acked_writes=len(self.checker.acked),
            strong_reads=self.checker.strong_reads,
            leader_recoveries=self.checker.leader_recoveries,
            trace_digest=self.checker.trace_digest,
            trace=self.checker.trace,
        )

    def _step(self, *, faults: bool) -> None:
        self.now += STEP_S
        self.checker.now = self.now
        for item in self.network.due(self.now):
            self.by_id[item.dst].deliver(item.msg, self.now)
        for node in self.nodes:
            node.tick(self.now)
        if faults:
            self.reconfigurer.step(self.now)
        for client in self.clients:
            self._client_step(client)
        for reader in self.readers:
            if self.now >= reader.busy_until:
                self._strong_read(reader)
        if faults:
            self._inject_faults()
        self._restart_due()
        self.checker.check_leases(self.nodes, self.now)

    def _quiesce(self) -> None:
        self.checker.event("quiesce")
        self.network.heal()
        self.network.faults = NetworkFaults()
        for node in self.nodes:
            node.crash_in_ready_rate = 0.0
            if not node.alive and not node.retired:
                self.down_until[node.node_id] = self.now

    def _check_converged(self) -> None:
        """Every member of the final configuration applied everything chosen."""
        final = max(
            (n.replica.membership.current for n in self.nodes if n.replica is not None),
            key=lambda c: c.slot,
        )
        applied = {m: self.by_id[m].kv.applied_through for m in final.members}
        chosen = max(self.checker.chosen, default=0)
        if min(applied.values()) < chosen:
            self.checker.fail(f"no convergence after the quiet phase: applied {applied}")

    # --- clients ---------------------------------------------------------------------------------

    def _client_step(self, client: SimClient) -> None:
        if self.now < client.busy_until or self.checker.step > int(self.steps * 0.9):
            return
        if client.outstanding is not None:
            if self.now - client.issued_at > 0.5:
                self._send_write(client)  # retry the same write id: exactly-once is checked
            return
        if self.rng.random() < 0.3:
            self._strong_read(client)
            return
        client.write_seq += 1
        write_id = f"c{client.client_id}.{client.write_seq}"
        key = self.rng.choice(self.keys)
        value = self.rng.randrange(1_000_000)
        self.checker.note_command(write_id, key, value)
        client.outstanding = write_id
        client.command = write_command(write_id, key, value)
        self._send_write(client)

    def _send_write(self, client: SimClient) -> None:
        node = self.by_id[client.target]
        write_id = client.outstanding
        assert write_id is not None
        client.issued_at = self.now
        if not node.alive:
            self._retarget(client, None)
            return

        def done(ok: bool, client: SimClient = client, write_id: str = write_id) -> None:
            if client.outstanding != write_id:
                return
            if ok:
                client.outstanding = None
            else:
                client.busy_until = self.now + 0.02
                client.issued_at = self.now - 1.0  # resend at the next chance

        try:
            node.submit_write(write_id, client.command, done)
        except NotLeader as err:
            self._retarget(client, err.leader_hint)
        except Overloaded:
            client.busy_until = self.now + 0.05

    def _strong_read(self, client: SimClient) -> None:
        node = self.by_id[client.target]
        if not node.alive:
            self._retarget(client, None)
            return
        key = self.rng.choice(self.keys)
        got = node.strong_read(key)
        if got is False:
            hint = node.replica.leader_hint() if node.replica is not None else None
            self._retarget(client, hint)
            return
        assert got is not True
        self.checker.check_strong_read(node.node_id, key, got)

    def _retarget(self, client: SimClient, hint: str | None) -> None:
        client.target = hint if hint in self.by_id else self.rng.choice(self.members)
        client.busy_until = self.now + 0.01
        client.issued_at = self.now - 1.0

    # --- faults ----------------------------------------------------------------------------------

    def _inject_faults(self) -> None:
        f = self.faults
        rng = self.rng
        for node in self.nodes:
            if node.alive and f.crash_rate and rng.random() < f.crash_rate:
                node.crash()
                self.down_until[node.node_id] = self.now + rng.uniform(0.0, f.downtime_max_s)
            if rng.random() < f.clock_change_rate:
                node.clock.change_rate(self.now)
        if f.partition_rate and rng.random() < f.partition_rate:
            a = rng.choice(self.members)
            if rng.random() < 0.5:
                self.network.isolate(a, self.members)
                self.checker.event(f"isolate {a}")
            else:
                b = rng.choice([m for m in self.members if m != a])
                self.network.partition(a, b)
                self.checker.event(f"cut {a} {b}")
        if self.network.cut and rng.random() < f.heal_rate:
            self.network.heal()
            self.checker.event("heal")
        if f.handoff_rate and rng.random() < f.handoff_rate:
            self._handoff()
        if f.forced_campaign_rate and rng.random() < f.forced_campaign_rate:
            self._force_campaign(self.by_id[rng.choice(self.members)])
        if f.targeted_rate and rng.random() < f.targeted_rate:
            self._targeted_fault()

    def _force_campaign(self, node: SimNode) -> None:
        """A spurious election (a buggy timer, an operator): must never break safety."""
        if node.replica is not None:
            node.replica.campaign(node.clock.local(self.now))
            node.tick(self.now)
            self.checker.event(f"forced campaign {node.node_id}")

    def _targeted_fault(self) -> None:
        """Faults aimed at the leader, where lease and recovery bugs hide."""
        leaders = [n for n in self.nodes if n.replica is not None and n.replica.leadership]
        if not leaders:
            return
        leader = leaders[0].node_id
        followers = [m for m in self.members if m != leader]
        kind = self.rng.randrange(3)
        if kind == 0:
            self.network.isolate(leader, self.members)
            self.checker.event(f"isolate leader {leader}")
        elif kind == 1:
            # Cut the leader from one follower; once cut, bounce the other follower and make it
            # campaign at once: only its memory of the lease it granted protects the leader.
            cut = [f for f in followers if self.network.is_cut(leader, f)]
            if not cut:
                self.network.partition(leader, self.rng.choice(followers))
                return
            node = self.by_id[self.rng.choice([f for f in followers if f not in cut] or cut)]
            node.crash()
            self.down_until.pop(node.node_id, None)
            node.start(self.now)
            self._force_campaign(node)
        else:
            node = self.by_id[self.rng.choice(followers)]
            node.crash()
            self.down_until[node.node_id] = self.now + self.rng.uniform(0.0, 0.05)

    def _handoff(self) -> None:
        for node in self.nodes:
            replica = node.replica
            if replica is not None and replica.leadership is not None:
                target = self.rng.choice(replica.peers)
                if replica.transfer_leadership(target, node.clock.local(self.now)):
                    self.checker.event(f"handoff {node.node_id} -> {target}")
                return

    def _restart_due(self) -> None:
        for node_id, until in list(self.down_until.items()):
            if self.now >= until:
                del self.down_until[node_id]
                if not self.by_id[node_id].retired:
                    self.by_id[node_id].start(self.now)
