"""Member replacements in the node simulation, driven the way the controller's healer drives them.

Now and then a partition's member is replaced by a node outside its group: the new node hosts a
replica that joins with its configuration unknown, whoever leads is asked to add it (one change
through the log), then to remove the old member (a second change), and a while later the removed
replica is dropped from its node (as the controller's orphan sweep does; the removed replica
still running meanwhile is part of what the run survives). Leaders change, crash and are cut off
meanwhile: a request lost with its leader is asked again of the next one.

Replicas added are new members (``metadata.member_ids``: ``n3#7``): any node outside the group
may be chosen, a former member included, and nothing its old incarnation promised or accepted
is ever counted for the new one (with plain node ids, a member that missed the removal and the
re-addition could count the new, empty replica in the configuration it knew, win an election
with it and fill long-chosen slots with no-ops).
Pure: no ray, no rocksdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from raydynamo.consensus.types import Role
from raydynamo.metadata.member_ids import new_member_id, node_of

if TYPE_CHECKING:
    from raydynamo.sim.node_world import NodeWorld

DROP_AFTER_S = 0.5


@dataclass(slots=True)
class Replacement:
    partition_id: str
    old: str
    new: str
    target: tuple[str, ...]  # the configuration asked for now
    hosted: bool = False


class NodeReconfigurer:
    def __init__(self, world: NodeWorld, rate: float) -> None:
        self.world = world
        self.rate = rate
        self.added = 0
        self.reused_nodes = 0  # replicas added on a node that hosted the partition before
        self.former: dict[str, set[str]] = {}  # partition -> every node that ever hosted it
        self.active: dict[str, Replacement] = {}
        self.drops: list[tuple[float, str, str]] = []  # (when, node, partition)
        self.changes = 0

    def step(self, now: float, *, start_new: bool) -> None:
        self._drops_due(now)
        world = self.world
        for partition_id in world.partition_ids:
            if partition_id in self.active:
                self._advance(self.active[partition_id], now)
            elif start_new and self.rate and world.rng.random() < self.rate:
                self._start(partition_id)

    def _leader(self, partition_id: str) -> tuple[str, tuple[str, ...]] | None:
        """(member id, chosen configuration) of whoever leads ``partition_id``."""
        for node in self.world.nodes.values():
            hosted = node.core.replicas.get(partition_id) if node.core is not None else None
            if hosted is not None and hosted.replica.role is Role.LEADER:
                lead = hosted.replica.leadership
                if lead is not None and lead.leading:
                    return hosted.replica.replica_id, hosted.replica.membership.members
        return None

    def _start(self, partition_id: str) -> None:
        world = self.world
        members = world.members[partition_id]
        dropping = {node_id for _, node_id, pid in self.drops if pid == partition_id}
        former = self.former.setdefault(partition_id, {node_of(m) for m in members})
        excluded = {node_of(m) for m in members} | dropping
        outside = [n for n in world.nodes if n not in excluded]
        if not outside:
            return
        old = world.rng.choice(members)
        node = world.rng.choice(outside)
        self.added += 1
        self.reused_nodes += node in former
        former.add(node)
        new = new_member_id(node, str(self.added))
        target = tuple(sorted((*members, new)))
        self.active[partition_id] = Replacement(partition_id, old, new, target)
        world.checker.event(f"replace {partition_id}: {old} by {new}")

    def _advance(self, plan: Replacement, now: float) -> None:
        world = self.world
        if not plan.hosted:
            node = world.nodes[node_of(plan.new)]
            if node.alive:
                node.control(
                    lambda core, t: core.host(plan.partition_id, plan.target, True, t), now
                )
                plan.hosted = node.alive
            return
        found = self._leader(plan.partition_id)
        if found is None:
            return
        leader, current = found
        if current == plan.target:
            self.changes += 1
            if plan.old in current:
                plan.target = tuple(m for m in current if m != plan.old)
                return
            world.members[plan.partition_id] = current
            self.drops.append((now + DROP_AFTER_S, node_of(plan.old), plan.partition_id))
            del self.active[plan.partition_id]
            world.checker.event(f"replaced {plan.partition_id}: {','.join(current)}")
            return
        if plan.old == leader and plan.old not in plan.target:
            # A leader never removes itself: hand leadership to another member first.
            others = [m for m in plan.target if m != leader]
            world.nodes[node_of(leader)].control(
                lambda core, t: core.transfer_leadership(plan.partition_id, others[0], t), now
            )
            return
        world.nodes[node_of(leader)].control(
            lambda core, t: core.change_members(plan.partition_id, plan.target, t), now
        )

    def _drops_due(self, now: float) -> None:
        due = [d for d in self.drops if d[0] <= now]
        for item in due:
            _, node_id, partition_id = item
            node = self.world.nodes[node_id]
            if not node.alive:
                continue  # dropped once it is back
            node.control(lambda core, t, pid=partition_id: core.drop(pid), now)
            if node.core is None or partition_id in node.core.replicas:
                continue  # the node died on the way (a disk failure): dropped once it is back
            self.drops.remove(item)
            self.world.checker.on_drop(node_id, partition_id)
            self.world.checker.event(f"drop {partition_id} at {node_id}")
