"""Membership changes in the simulation, driven the way the controller drives them.

Now and then the reconfigurer replaces a member of the group: it starts a fresh replica that
joins with its configuration unknown, asks whoever leads to add it (one change), waits until that
change is chosen, asks to remove the old member (a second change), waits again, and finally
stops the removed replica for good (a while later, so that a removed replica still running is
part of what the run survives). Leaders change, crash and are partitioned meanwhile: a request
lost with its leader is simply asked again of the next one, as the controller does.
Pure: no ray, no rocksdict.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from raydynamo.sim.world import SimWorld

RETIRE_AFTER_S = 0.5


class Reconfigurer:
    def __init__(self, world: SimWorld, rate: float) -> None:
        self.world = world
        self.rate = rate
        self.target: tuple[str, ...] | None = None
        self.removing: str | None = None
        self.next_id = world.replicas
        self.retire_at: dict[str, float] = {}
        self.changes = 0

    def _leader(self):  # type: ignore[no-untyped-def]
        for node in self.world.nodes:
            replica = node.replica
            if replica is not None and replica.leadership and replica.leadership.leading:
                return node
        return None

    def step(self, now: float) -> None:
        self._retire_due(now)
        leader = self._leader()
        if leader is None:
            return
        replica = leader.replica
        current = replica.membership.members
        if self.target is None:
            if self.rate and self.world.rng.random() < self.rate:
                self._start(leader, current)
            return
        if current == self.target:
            self._advance(current, now)
            return
        local = leader.clock.local(now)
        if replica.propose_config(self.target, local):
            self.world.checker.event(f"propose config {','.join(self.target)} at {leader.node_id}")

    def _start(self, leader, current: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
        candidates = [m for m in current if m != leader.node_id]
        if not candidates:
            return
        old = self.world.rng.choice(candidates)
        new_id = f"r{self.next_id}"
        self.next_id += 1
        self.target = tuple(sorted((*current, new_id)))
        self.removing = old
        self.world.add_node(new_id, self.target, joining=True)
        self.world.checker.event(f"replace {old} by {new_id}")

    def _advance(self, current: tuple[str, ...], now: float) -> None:
        """The target is chosen: after the addition, remove the old member; after that, done."""
        self.changes += 1
        if self.removing is not None and self.removing in current:
            self.target = tuple(m for m in current if m != self.removing)
            return
        if self.removing is not None:
            self.retire_at[self.removing] = now + RETIRE_AFTER_S
        self.target = None
        self.removing = None

    def _retire_due(self, now: float) -> None:
        for node_id, when in list(self.retire_at.items()):
            if now >= when:
                del self.retire_at[node_id]
                node = self.world.by_id[node_id]
                node.retired = True
                node.crash()
                self.world.down_until.pop(node_id, None)
                self.world.checker.event(f"retire {node_id}")
