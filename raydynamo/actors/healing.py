"""The controller's healer: three healthy replicas for every partition, whatever dies.

Every ``health_interval_s`` it probes the storage nodes. A node that did not answer for
``node_dead_after_s`` is dead: for every group it was a member of, the healer
  1. starts a replica on a replacement node (``placement.replacement_for``: a live node outside
     the group, preferring a zone the group lacks), joining with its configuration unknown,
  2. asks the group's leader to add it and waits until that change is chosen,
  3. asks the leader to remove the dead member and waits again (one change at a time, through
     the log: never two disjoint majorities, see ``consensus.membership``),
  4. publishes the new members in a new version of the table's partition map.
The new replica catches up from a snapshot plus the log. A dead node that comes back finds its
replicas dropped (the orphan sweep). The system partition is healed the same way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from raydynamo.actors.system_store import SYSTEM_PARTITION
from raydynamo.metadata.partition_map import PartitionMap
from raydynamo.metadata.placement import replacement_for

if TYPE_CHECKING:
    from raydynamo.actors.controller import Controller

log = logging.getLogger(__name__)

CHANGE_DEADLINE_S = 60.0
POLL_PAUSE_S = 0.2


class Healer:
    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self.last_seen: dict[str, float] = {}
        self.started_at = time.monotonic()
        self.healing: set[str] = set()
        self.replacements = 0

    def dead_nodes(self) -> set[str]:
        now = time.monotonic()
        after = self.controller.config.controller.node_dead_after_s
        for node_id, info in self.controller.nodes.items():
            if info.get("alive"):
                self.last_seen[node_id] = now
        return {
            node_id
            for node_id in self.controller.nodes
            if now - self.last_seen.get(node_id, self.started_at) > after
        }

    async def check(self) -> None:
        """One round: probe, heal what lost a member, drop what nobody should host."""
        await self.controller._refresh_nodes()
        dead = self.dead_nodes()
        for group_id, members, table in self._groups():
            lost = [m for m in members if m in dead]
            if lost and group_id not in self.healing:
                self.healing.add(group_id)
                self.controller._spawn(self._heal(group_id, members, lost[0], table))
        await self._sweep_orphans(dead)

    def _groups(self) -> list[tuple[str, tuple[str, ...], str | None]]:
        groups = [(SYSTEM_PARTITION, tuple(self.controller.system_members), None)]
        for table, partition_map in self.controller.maps.items():
            for p in partition_map.partitions:
                groups.append((p.partition_id, p.members, table))
        return groups

    async def _heal(
        self, group_id: str, members: tuple[str, ...], dead: str, table: str | None
    ) -> None:
        try:
            replacement = replacement_for(list(members), dead, self.controller._node_infos())
            if replacement is None:
                log.warning("%s lost %s and no node can take its place", group_id, dead)
                return
            log.warning("%s: replacing %s by %s", group_id, dead, replacement)
            grown = tuple(sorted({*members, replacement}))
            storage = self.controller._storage
            await storage(replacement).host_partition.remote(group_id, list(grown), True)
            survivors = [m for m in members if m != dead]
            await self._change(group_id, survivors, grown)
            final = tuple(m for m in grown if m != dead)
            await self._change(group_id, [*survivors, replacement], final)
            ordered = tuple(replacement if m == dead else m for m in members)
            await self._publish(group_id, ordered, table)
            self.replacements += 1
        except Exception as err:  # the next health round tries again
            log.warning("healing %s failed: %r", group_id, err)
        finally:
            self.healing.discard(group_id)

    async def _change(self, group_id: str, ask: list[str], target: tuple[str, ...]) -> None:
        """Get ``target`` chosen as the group's configuration, asking whoever leads."""
        deadline = time.monotonic() + CHANGE_DEADLINE_S
        storage = self.controller._storage
        while time.monotonic() < deadline:
            for node_id in ask:
                try:
                    status = await storage(node_id).status.remote()
                except Exception:
                    continue
                mine = next((r for r in status if r["partition_id"] == group_id), None)
                if mine is None:
                    continue
                if tuple(sorted(mine["members"])) == target:
                    return
                if mine["role"] == "leader":
                    await storage(node_id).change_members.remote(group_id, list(target))
            await asyncio.sleep(POLL_PAUSE_S)
        raise TimeoutError(f"{group_id}: configuration {target} not chosen in time")

    async def _publish(self, group_id: str, members: tuple[str, ...], table: str | None) -> None:
        controller = self.controller
        if table is None:
            controller.system_members = list(members)
            controller.store.group.members = list(members)
            return
        assert controller.table_lock is not None
        async with controller.table_lock:
            current = controller.maps.get(table)
            if current is None:
                return
            partitions = tuple(
                p
                if p.partition_id != group_id
                else type(p)(p.partition_id, p.hash_start, p.hash_end, members, None)
                for p in current.partitions
            )
            controller.maps[table] = PartitionMap(
                current.table_id, current.map_version + 1, partitions
            )
            await controller._save(table)
        # Replicas now refuse routers that still use the old members.
        for member in members:
            try:
                await controller._storage(member).set_map_version.remote(
                    group_id, current.map_version + 1
                )
            except Exception as err:
                log.warning("%s did not get map version: %r", member, err)

    async def _sweep_orphans(self, dead: set[str]) -> None:
        """Drop replicas a live node keeps for groups that no longer exist, or whose current
        configuration (as a current member reports it) no longer includes that node. A member of
        the current configuration is never dropped: an acceptor that forgets what it accepted
        could let two values be chosen."""
        groups = {group_id: members for group_id, members, _ in self._groups()}
        storage = self.controller._storage
        for node_id, info in self.controller.nodes.items():
            if not info.get("alive") or node_id in dead:
                continue
            try:
                hosted: list[dict[str, Any]] = await storage(node_id).status.remote()
            except Exception:
                continue
            for replica in hosted:
                group_id = replica["partition_id"]
                members = groups.get(group_id)
                if group_id in self.healing or (members is not None and node_id in members):
                    continue
                if members is not None and node_id in await self._current_config(group_id, members):
                    continue
                log.warning("dropping orphan replica of %s on %s", group_id, node_id)
                await storage(node_id).drop_partition.remote(group_id)

    async def _current_config(self, group_id: str, members: tuple[str, ...]) -> set[str]:
        """The newest configuration of ``group_id`` its members report (every node, when none
        answers: then nothing is dropped)."""
        best_slot, best = -2, set(self.controller.nodes)
        for node_id in members:
            try:
                status = await self.controller._storage(node_id).status.remote()
            except Exception:
                continue
            for replica in status:
                if replica["partition_id"] == group_id and replica["config_slot"] > best_slot:
                    best_slot, best = replica["config_slot"], set(replica["members"])
        return best
