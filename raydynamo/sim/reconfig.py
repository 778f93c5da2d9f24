"""Membership changes in the simulation, decided by the controller's own healing planner.

Now and then the reconfigurer replaces a member of the group the way the controller heals one:
it writes a heal intent (``metadata.healing.start_heal``: the member to replace and a fresh
replica to take its place), and at every step asks ``plan_heal`` what to do next, given the
group's chosen configuration as the live replicas report it (the newest slot wins), exactly as
the controller's healer does with storage nodes. The actions are carried out here: a fresh
replica is started joining, with its configuration unknown; whoever leads is asked for one
membership change; publishing only records the new members. Once the heal finishes, the
replaced replica is stopped for good (a while later, so that a removed replica still running is
part of what the run survives). Leaders change, crash and are partitioned meanwhile: a request
lost with its leader is simply asked again of the next one, as the controller does.
Pure: no ray, no rocksdict.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from raydynamo.metadata.healing import (
    Abandon,
    AddMember,
    Finish,
    HealIntent,
    Publish,
    RemoveMember,
    ReportedConfig,
    newest_config,
    plan_heal,
    start_heal,
)

if TYPE_CHECKING:
    from raydynamo.sim.node import SimNode
    from raydynamo.sim.world import SimWorld

RETIRE_AFTER_S = 0.5
GROUP_ID = "sim"


class Reconfigurer:
    def __init__(self, world: SimWorld, rate: float) -> None:
        self.world = world
        self.rate = rate
        self.intent: HealIntent | None = None
        self.published: tuple[str, ...] = tuple(world.members)
        self.next_id = world.replicas
        self.retire_at: dict[str, float] = {}
        self.changes = 0
        self.seen_slot = -1

    def _leader(self) -> SimNode | None:
        for node in self.world.nodes:
            replica = node.replica
            if replica is not None and replica.leadership and replica.leadership.leading:
                return node
        return None

    def _reported(self) -> ReportedConfig | None:
        reports = []
        for node in self.world.nodes:
            if node.replica is not None:
                current = node.replica.membership.current
                reports.append(ReportedConfig(current.slot, frozenset(current.members)))
        return newest_config(reports)

    def step(self, now: float) -> None:
        self._retire_due(now)
        if self.intent is None:
            leader = self._leader()
            if leader is not None and self.rate and self.world.rng.random() < self.rate:
                self._start(leader)
            return
        reported = self._reported()
        if reported is not None and reported.slot > self.seen_slot:
            self.changes += int(self.seen_slot >= 0)
            self.seen_slot = reported.slot
        usable = {n.node_id for n in self.world.nodes if not n.retired}
        if self.intent.replacement not in self.world.by_id:
            usable.add(self.intent.replacement)  # started by the AddMember below
        decision = plan_heal(self.intent, reported, usable, self.published)
        self.intent = decision.intent
        action = decision.action
        if isinstance(action, AddMember):
            if action.member not in self.world.by_id:
                self.world.add_node(action.member, action.config, joining=True)
            self._propose(action.config, now)
        elif isinstance(action, RemoveMember):
            self._propose(action.config, now)
        elif isinstance(action, Publish):
            self.published = action.members
        elif isinstance(action, Finish):
            self.retire_at[self.intent.lost] = now + RETIRE_AFTER_S
            self.intent = None
        elif isinstance(action, Abandon):
            self.world.checker.event(f"heal abandoned: {action.reason}")
            self.intent = None

    def _propose(self, config: tuple[str, ...], now: float) -> None:
        leader = self._leader()
        if leader is None or leader.replica is None:
            return
        if leader.replica.propose_config(config, leader.clock.local(now)):
            self.world.checker.event(f"propose config {','.join(config)} at {leader.node_id}")

    def _start(self, leader: SimNode) -> None:
        assert leader.replica is not None
        current = leader.replica.membership.members
        candidates = [m for m in current if m != leader.node_id]
        if not candidates:
            return
        old = self.world.rng.choice(candidates)
        new_id = f"r{self.next_id}"
        self.next_id += 1
        self.published = tuple(current)
        self.seen_slot = leader.replica.membership.current.slot
        self.intent = start_heal(GROUP_ID, None, current, old, new_id)
        self.world.checker.event(f"replace {old} by {new_id}")

    def _retire_due(self, now: float) -> None:
        for node_id, when in list(self.retire_at.items()):
            if now >= when:
                del self.retire_at[node_id]
                node = self.world.by_id[node_id]
                node.retired = True
                node.crash()
                self.world.down_until.pop(node_id, None)
                self.world.checker.event(f"retire {node_id}")
