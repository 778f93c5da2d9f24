"""The controller's healer: three healthy replicas for every group, whatever dies or forgets.

Every ``health_interval_s`` it probes the storage nodes and starts a heal (``metadata.healing``)
for every group that lost a member:

- a member that did not answer for ``node_dead_after_s`` is dead: it is *replaced* by a live
  node outside the group (``placement.replacement_for``: a zone the group lacks first);
- a member that answers from a new data directory (its identity record's ``directory_id`` is
  not the one recorded) and does not host the group lost its data: it *rejoins* as a new,
  empty member (removed, then added back joining). Its record is updated once no group still
  needs it to rejoin.

A heal intent is stored in the system partition before anything is done, and again whenever the
planner moves it to another step; each step then runs through the storage nodes: the replacement
is hosted joining, the group's leader is asked for one membership change at a time, and the
healer waits (``heal_step_timeout_s`` at most) for the group to report a newer chosen
configuration before it asks the planner again. A heal whose task failed, or whose controller
restarted, resumes from its stored intent and the group's chosen configuration (the newest slot
its members report), with the same replacement. Finished, the new members are published in a
new version of the partition map (replicas are told the version, so they refuse routers using
the old one).

The orphan sweep drops replicas a live node keeps for groups that no longer exist or no longer
include it (a dead node that came back after it was replaced); never a member of the group's
current configuration, never a group with a heal in progress. Must not import ray.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from raydynamo.limits import HEAL_POLL_PAUSE_S
from raydynamo.metadata.healing import (
    Abandon,
    AddMember,
    Finish,
    HealIntent,
    Publish,
    RemoveMember,
    ReportedConfig,
    Wait,
    newest_config,
    plan_heal,
    start_heal,
)
from raydynamo.metadata.member_ids import member_on, new_member_id, node_of
from raydynamo.metadata.partition_map import PartitionMap, PartitionRange
from raydynamo.metadata.placement import replacement_for
from raydynamo.metadata.storage_hosts import StorageNodeRecord
from raydynamo.metadata.system_records import SYSTEM_PARTITION, intent_key, pack

if TYPE_CHECKING:
    from raydynamo.actors.controller import Controller

log = logging.getLogger(__name__)

Group = tuple[str, tuple[str, ...], str | None]  # group id, members as published, table


class Healer:
    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self.last_seen: dict[str, float] = {}
        self.started_at = controller.clock()
        self.intents: dict[str, HealIntent] = {}
        self.running: dict[str, asyncio.Task[None]] = {}
        self.replacements = 0
        self.rejoins = 0

    # --- detection -------------------------------------------------------------------------------

    def dead_nodes(self) -> set[str]:
        now = self.controller.clock()
        after = self.controller.config.controller.node_dead_after_s
        for node_id, info in self.controller.nodes.items():
            if info.get("alive"):
                self.last_seen[node_id] = now
        return {
            node_id
            for node_id in self.controller.nodes
            if now - self.last_seen.get(node_id, self.started_at) > after
        }

    def usable(self) -> set[str]:
        """Storage nodes a heal may count on: not dead, and on the directory recorded for them
        (a node that lost its directory is usable only as the member rejoining)."""
        dead = self.dead_nodes()
        controller = self.controller
        return {n for n in controller.nodes if n not in dead and not controller.directory_lost(n)}

    def groups(self) -> list[Group]:
        groups: list[Group] = [(SYSTEM_PARTITION, tuple(self.controller.system_members), None)]
        for table, partition_map in self.controller.maps.items():
            for p in partition_map.partitions:
                groups.append((p.partition_id, p.members, table))
        return groups

    def load(self, intents: dict[str, HealIntent]) -> None:
        """Heals a previous controller stored: they resume at the first health round."""
        self.intents.update(intents)

    async def check(self) -> None:
        """One round: probe, start heals for groups that lost a member, resume stored heals,
        drop what nobody should host."""
        controller = self.controller
        await controller.refresh_nodes()
        await controller.record_nodes()
        dead = self.dead_nodes()
        await self._rejoin_lost_directories()
        for group_id, members, table in self.groups():
            lost = [m for m in members if node_of(m) in dead]
            if lost and group_id not in self.intents:
                await self._start_replacement(group_id, members, lost[0], table)
        for group_id, intent in list(self.intents.items()):
            if group_id not in self.running:
                self.running[group_id] = controller.spawn(self._run(intent))
        await self._sweep_orphans(dead)

    async def _start_replacement(
        self, group_id: str, members: tuple[str, ...], lost: str, table: str | None
    ) -> None:
        node = replacement_for(list(members), lost, self.controller.node_infos())
        if node is None:
            log.warning("%s lost %s and no node can take its place", group_id, lost)
            return
        replacement = new_member_id(node)  # a new member, even on a node that hosted it once
        log.warning("%s: replacing %s by %s", group_id, lost, replacement)
        await self._store(start_heal(group_id, table, members, lost, replacement))

    async def _rejoin_lost_directories(self) -> None:
        controller = self.controller
        for node_id in sorted(controller.nodes):
            if not controller.directory_lost(node_id):
                continue
            hosted = await controller.ports.nodes.status(node_id)
            if hosted is None:
                continue
            present = {replica["partition_id"] for replica in hosted}
            pending = False
            for group_id, members, table in self.groups():
                member = member_on(node_id, members)
                if member is None or group_id in present:
                    continue
                pending = True
                if group_id not in self.intents:
                    log.warning("%s lost its data directory: it rejoins %s", node_id, group_id)
                    rejoin = start_heal(group_id, table, members, member, new_member_id(node_id))
                    await self._store(rejoin)
            if not pending:
                info = controller.nodes[node_id]
                record = StorageNodeRecord(str(info["host"]), str(info["directory_id"]))
                await controller.save_record(node_id, record)

    # --- running a heal --------------------------------------------------------------------------

    async def _store(self, intent: HealIntent) -> None:
        store = self.controller.store
        assert store is not None
        await store.put(intent_key(intent.group_id), pack(intent.to_wire()))
        self.intents[intent.group_id] = intent

    async def _forget(self, intent: HealIntent) -> None:
        store = self.controller.store
        assert store is not None
        await store.delete(intent_key(intent.group_id))
        self.intents.pop(intent.group_id, None)

    async def _run(self, intent: HealIntent) -> None:
        """Drive one heal to its end; on an error the intent stays and the next round resumes."""
        try:
            while True:
                if intent.table is not None and not self._published(intent):
                    await self._forget(intent)  # the table was deleted meanwhile
                    return
                statuses = await self._statuses(intent)
                reported = newest_config(
                    [_config_in(s, intent.group_id) for s in statuses.values()]
                )
                usable = self.usable()
                if intent.rejoin and node_of(intent.lost) not in self.dead_nodes():
                    usable.add(node_of(intent.lost))  # it rejoins with its new, empty directory
                decision = plan_heal(intent, reported, usable, self._published(intent))
                if decision.intent != intent:
                    await self._store(decision.intent)
                    intent = decision.intent
                if not await self._act(intent, decision.action, reported, statuses):
                    return
        except asyncio.CancelledError:
            raise
        except Exception as err:
            log.warning("healing %s stopped (%s); it resumes next round", intent.group_id, err)
        finally:
            self.running.pop(intent.group_id, None)

    async def _act(
        self,
        intent: HealIntent,
        action: Any,
        reported: ReportedConfig | None,
        statuses: dict[str, list[dict[str, Any]]],
    ) -> bool:
        """Carry out one planner action; False when the heal is over."""
        if isinstance(action, Wait):
            await asyncio.sleep(HEAL_POLL_PAUSE_S)
        elif isinstance(action, Finish | Abandon):
            if isinstance(action, Abandon):
                log.warning("heal of %s abandoned: %s", intent.group_id, action.reason)
            elif intent.rejoin:
                self.rejoins += 1
            else:
                self.replacements += 1
            await self._forget(intent)
            return False
        elif isinstance(action, Publish):
            await self._publish(intent, action.members)
        elif isinstance(action, AddMember):
            await self._host_joining(intent, action, reported, statuses)
            await self._change(intent, action.config, reported, statuses, leaving=None)
        elif isinstance(action, RemoveMember):
            await self._change(intent, action.config, reported, statuses, leaving=action.member)
        return True

    async def _statuses(self, intent: HealIntent) -> dict[str, list[dict[str, Any]]]:
        nodes = self.controller.ports.nodes
        found = await asyncio.gather(*(nodes.status(m) for m in intent.involved))
        return {m: s for m, s in zip(intent.involved, found, strict=True) if s is not None}

    def _published(self, intent: HealIntent) -> tuple[str, ...]:
        if intent.table is None:
            return tuple(self.controller.system_members)
        partition_map = self.controller.maps.get(intent.table)
        for partition in partition_map.partitions if partition_map else ():
            if partition.partition_id == intent.group_id:
                return partition.members
        return ()

    async def _host_joining(
        self,
        intent: HealIntent,
        action: AddMember,
        reported: ReportedConfig | None,
        statuses: dict[str, list[dict[str, Any]]],
    ) -> None:
        controller = self.controller
        member = action.member
        node = node_of(member)
        # The node may still keep an older incarnation of the group (a replacement rolled back,
        # a member removed and not swept yet): out of the chosen configuration, it goes first.
        chosen = reported.members if reported is not None else frozenset()
        for replica in statuses.get(member) or await controller.ports.nodes.status(node) or ():
            older = replica.get("member_id", node)
            if replica["partition_id"] == intent.group_id and older != member:
                if older in chosen:
                    raise RuntimeError(f"{older} is still a member of {intent.group_id}")
                await controller.ports.nodes.drop_partition(node, intent.group_id)
        directory_id = str(controller.nodes.get(node, {}).get("directory_id", ""))
        if not intent.rejoin:
            directory_id = controller.directory_of(node)
        hosted = await controller.ports.nodes.host_partition(
            member, directory_id, intent.group_id, list(action.config), True
        )
        if not hosted:
            raise RuntimeError(f"{member} refused to host {intent.group_id}")
        version = self._map_version(intent)
        if version:
            await controller.ports.nodes.set_map_version(member, intent.group_id, version)

    def _map_version(self, intent: HealIntent) -> int:
        partition_map = self.controller.maps.get(intent.table or "")
        return partition_map.map_version if partition_map is not None else 0

    async def _change(
        self,
        intent: HealIntent,
        target: tuple[str, ...],
        reported: ReportedConfig | None,
        statuses: dict[str, list[dict[str, Any]]],
        *,
        leaving: str | None,
    ) -> None:
        """Ask whoever leads for ``target``; return once a newer configuration is chosen, or
        after ``heal_step_timeout_s`` (the caller asks the planner again either way)."""
        controller = self.controller
        nodes = controller.ports.nodes
        since = reported.slot if reported is not None else -1
        deadline = controller.clock() + controller.config.controller.heal_step_timeout_s
        if intent.group_id == SYSTEM_PARTITION and controller.store is not None:
            controller.store.set_members(sorted({*target, *intent.involved}))
        while controller.clock() < deadline:
            newest = newest_config([_config_in(s, intent.group_id) for s in statuses.values()])
            if newest is not None and newest.slot > since:
                return
            for node_id, status in statuses.items():
                mine = next((r for r in status if r["partition_id"] == intent.group_id), None)
                if mine is None or mine["role"] != "leader":
                    continue
                try:
                    if (
                        mine.get("member_id", node_id) == leaving
                    ):  # a leader does not remove itself: hand over first
                        others = [m for m in target if m != node_id]
                        await nodes.transfer_leadership(node_id, intent.group_id, others[0])
                    else:
                        await nodes.change_members(node_id, intent.group_id, list(target))
                except Exception as err:
                    log.info("%s: change not asked of %s: %s", intent.group_id, node_id, err)
            await asyncio.sleep(HEAL_POLL_PAUSE_S)
            statuses = await self._statuses(intent)

    async def _publish(self, intent: HealIntent, members: tuple[str, ...]) -> None:
        controller = self.controller
        if intent.table is None:
            controller.system_members = list(members)
            if controller.store is not None:
                controller.store.set_members(list(members))
            return
        assert controller.table_lock is not None
        async with controller.table_lock:
            current = controller.maps.get(intent.table)
            if current is None:
                return
            partitions = tuple(
                p
                if p.partition_id != intent.group_id
                else PartitionRange(p.partition_id, p.hash_start, p.hash_end, members, None)
                for p in current.partitions
            )
            version = current.map_version + 1
            controller.maps[intent.table] = PartitionMap(current.table_id, version, partitions)
            await controller.save(intent.table)
        # Replicas now refuse routers that still use the old members.
        for member in members:
            try:
                await controller.ports.nodes.set_map_version(member, intent.group_id, version)
            except Exception as err:
                log.warning("%s did not get map version: %s", member, type(err).__name__)

    # --- orphans ---------------------------------------------------------------------------------

    async def _sweep_orphans(self, dead: set[str]) -> None:
        """Drop replicas a live node keeps for groups that no longer exist, or whose current
        configuration (as a current member reports it) no longer includes that node. A member of
        the current configuration is never dropped: an acceptor that forgets what it accepted
        could let two values be chosen."""
        groups = {group_id: members for group_id, members, _ in self.groups()}
        nodes = self.controller.ports.nodes
        for node_id, info in sorted(self.controller.nodes.items()):
            if not info.get("alive") or node_id in dead:
                continue
            hosted = await nodes.status(node_id)
            for replica in hosted or ():
                group_id = replica["partition_id"]
                member = replica.get("member_id", node_id)
                members = groups.get(group_id)
                if group_id in self.intents or (members is not None and member in members):
                    continue
                if members is not None:
                    current = await self._current_config(group_id, members)
                    if current is None or member in current:
                        continue  # a current member (or nobody can say): never dropped
                log.warning("dropping orphan replica of %s on %s", group_id, node_id)
                await nodes.drop_partition(node_id, group_id)

    async def _current_config(self, group_id: str, members: tuple[str, ...]) -> set[str] | None:
        """The newest configuration of ``group_id`` its members report (None when none
        answers: then nothing is dropped)."""
        nodes = self.controller.ports.nodes
        reports = [_config_in(await nodes.status(m), group_id) for m in members]
        newest = newest_config(reports)
        return set(newest.members) if newest is not None else None


def _config_in(status: list[dict[str, Any]] | None, group_id: str) -> ReportedConfig | None:
    for replica in status or ():
        if replica["partition_id"] == group_id:
            return ReportedConfig(int(replica["config_slot"]), frozenset(replica["members"]))
    return None
