"""The controller (the paper's auto admin): creates and deletes tables, places replicas, heals,
pushes metadata to the shards, keeps table statistics.

``Controller`` is a plain class: all its calls go through ``control_ports.ControlPorts``
(storage nodes, metadata shards, the system partition), so its logic runs in tests against
in-process fakes. ``ControllerActor`` is the thin Ray actor around it, like ``Router`` and
``RouterActor``.

All of its state is durable in the system partition (``metadata.system_records``): tables and
their partition maps, where each storage node runs and the id of its data directory, the
cluster id, and heals in progress. A restarted controller reloads it, resumes any table caught
half-way through creation or deletion and every heal, and checks that the system partition
belongs to the cluster it was started for. Placement decisions come from
``metadata.placement``: the replicas of a partition on distinct storage nodes on distinct hosts
(zones) whenever the cluster has them.

A storage node is only ever asked to host a group as a member that is not joining on the data
directory the controller knows for it (``host_partition_checked``): one that lost its directory
since hosts nothing until the healer makes it join back as a new member.

Answers cross the actor boundary as ``{"ok": response}`` or ``{"error": ClientError.to_wire()}``;
an unexpected failure is logged and answered with DynamoDB's ``InternalServerError`` and a plain
message, never with an exception's text. Only ``ControllerActor`` and the ports use Ray.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import ray

from raydynamo.actors.control_ports import Authority, ControlPorts, ray_ports
from raydynamo.actors.healing import Healer
from raydynamo.actors.metadata_shard import shard_of
from raydynamo.api.errors import ClientError, InternalServerError
from raydynamo.config import RaydynamoConfig, config_from_dict
from raydynamo.limits import CONTROLLER_RETRY_PAUSE_S, HOST_DEADLINE_S, LEADER_WAIT_S
from raydynamo.metadata.member_ids import node_of
from raydynamo.metadata.partition_map import PartitionMap, PartitionRange, even_ranges
from raydynamo.metadata.partition_report import describe_partitions_response, partition_status
from raydynamo.metadata.placement import NodeInfo, place_partitions
from raydynamo.metadata.sizing import PartitionSizing, initial_partitions_for
from raydynamo.metadata.storage_hosts import StorageNodeRecord
from raydynamo.metadata.system_records import (
    CLUSTER_KEY,
    SYSTEM_PARTITION,
    cluster_record,
    decode_state,
    node_key,
    pack,
    table_key,
)
from raydynamo.metadata.tables import (
    TableCatalog,
    TableDescription,
    TableStatus,
    create_table_response,
    delete_table_response,
    describe_table_response,
    validate_create_table,
    validate_delete_table,
    validate_describe_table,
    validate_list_tables,
)
from raydynamo.metadata.update_table import (
    apply_update,
    update_table_response,
    validate_update_table,
)

log = logging.getLogger(__name__)

CONTROLLER_NAME = "raydynamo-controller"
INTERNAL_ERROR_MESSAGE = "The server encountered an internal error trying to fulfill the request."
Answer = dict[str, Any]


class ClusterMismatch(Exception):
    """The system partition belongs to another cluster than the one this controller serves."""


class GroupNotHosted(Exception):
    """Fewer than a majority of a group's members could host it."""


class Controller:
    def __init__(
        self,
        config: RaydynamoConfig,
        cluster_id: str,
        ports: ControlPorts,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.cluster_id = cluster_id
        self.ports = ports
        self.clock = clock
        self.node_ids = [f"sn{i}" for i in range(config.cluster.storage_nodes)]
        self.catalog = TableCatalog()
        self.maps: dict[str, PartitionMap] = {}
        self.versions: dict[str, int] = {}
        self.nodes: dict[str, dict[str, Any]] = {}
        self.records: dict[str, StorageNodeRecord] = {}
        self.started = False
        self.starting: asyncio.Lock | None = None
        self.table_lock: asyncio.Lock | None = None
        self.store: Authority | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.sizing = PartitionSizing(partitions_default=config.cluster.partitions_per_table)
        self.system_members: list[str] = []
        self.healer = Healer(self)

    # --- start-up --------------------------------------------------------------------------------

    async def ensure_started(self) -> None:
        if self.started:
            return
        if self.starting is None:
            self.starting = asyncio.Lock()
            self.table_lock = asyncio.Lock()
        async with self.starting:
            if self.started:
                return
            await self.refresh_nodes()
            self.system_members = await self._system_group()
            self.store = self.ports.open_authority(list(self.system_members))
            state = decode_state(await self.store.load())
            if state.cluster_id is None:
                await self.store.put(CLUSTER_KEY, cluster_record(self.cluster_id))
            elif state.cluster_id != self.cluster_id:
                raise ClusterMismatch(
                    f"the system partition belongs to cluster {state.cluster_id}, "
                    f"not {self.cluster_id}"
                )
            self.records = dict(state.nodes)
            for name, entry in state.tables.items():
                self.catalog.restore(TableDescription.from_record(entry["description"]))
                self.maps[name] = PartitionMap.from_wire(entry["map"])
                self.versions[name] = int(entry["version"])
            await self.record_nodes()
            await self.push(self.catalog.names())
            for description in self.catalog.descriptions():
                if description.table_status is TableStatus.CREATING:
                    self.spawn(self._activate(description.table_name))
                elif description.table_status is TableStatus.DELETING:
                    self.spawn(self._finish_delete(description.table_name))
            self.healer.load(state.intents)
            self.spawn(self._every(self.config.controller.stats_interval_s, self.refresh_stats))
            self.spawn(self._every(self.config.controller.health_interval_s, self.healer.check))
            self.started = True

    async def _system_group(self) -> list[str]:
        """The system partition's members: the newest configuration its replicas report. A new
        cluster (every storage node answers, and none hosts anything) gets one on the first
        storage nodes; otherwise, with no system partition found, start-up fails (and is tried
        again) rather than begin an empty catalog beside existing data, or host the group on a
        node that lost its directory."""
        best_slot, best = -1, list[str]()
        new_cluster = True
        for node_id in self.node_ids:
            alive = self.nodes.get(node_id, {}).get("alive")
            status = await self.ports.nodes.status(node_id) if alive else None
            new_cluster = new_cluster and status == []
            for replica in status or ():
                slot = int(replica["config_slot"])
                if replica["partition_id"] == SYSTEM_PARTITION and slot > best_slot:
                    best_slot, best = slot, list(replica["members"])
        if best:
            await self._ensure_leader(SYSTEM_PARTITION, best)
            return best
        if not new_cluster:
            raise GroupNotHosted("no storage node reports the system partition (yet)")
        members = self.node_ids[: self.config.cluster.replicas]
        await self.host_group(SYSTEM_PARTITION, members)
        return members

    async def _every(self, interval_s: float, job: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await job()
            # Broad on purpose: a periodic job (probes, stats) that fails this time is logged
            # and run again next period; the controller persists nothing outside its store.
            except Exception:  # logged; the job runs again next period
                log.exception("controller background job failed")

    def spawn(self, coroutine: Any) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    # --- storage nodes ---------------------------------------------------------------------------

    async def refresh_nodes(self) -> None:
        """Probe every storage node: where it runs, its directory, whether it answers."""
        found = await asyncio.gather(*(self.ports.nodes.identity(n) for n in self.node_ids))
        for node_id, info in zip(self.node_ids, found, strict=True):
            if info is not None:
                self.nodes[node_id] = {**info, "alive": True}
            else:
                default = {"node_id": node_id, "zone": "?", "host": "?"}
                self.nodes.setdefault(node_id, default)["alive"] = False

    async def record_nodes(self) -> None:
        """Record storage nodes seen for the first time, and nodes that moved host. A node whose
        directory is new keeps its old record until the healer has it join its groups back."""
        assert self.store is not None
        for node_id, info in sorted(self.nodes.items()):
            if not info.get("alive"):
                continue
            current = StorageNodeRecord(str(info["host"]), str(info["directory_id"]))
            known = self.records.get(node_id)
            if known is None or (
                known.directory_id == current.directory_id and known.host != current.host
            ):
                await self.save_record(node_id, current)

    async def save_record(self, node_id: str, record: StorageNodeRecord) -> None:
        assert self.store is not None
        await self.store.put(node_key(node_id), pack(record.to_wire()))
        self.records[node_id] = record

    def directory_of(self, node_id: str) -> str:
        """The directory id a node must still run on to host a group as a full member."""
        known = self.records.get(node_id)
        if known is not None:
            return known.directory_id
        return str(self.nodes.get(node_id, {}).get("directory_id", ""))

    def directory_lost(self, node_id: str) -> bool:
        """The node answers from a directory other than the one recorded for it."""
        info = self.nodes.get(node_id, {})
        known = self.records.get(node_id)
        return (
            bool(info.get("alive"))
            and known is not None
            and (info.get("directory_id") != known.directory_id)
        )

    async def host_group(self, partition_id: str, members: list[str]) -> None:
        """Host a new group on its live members (checked against their directories) and see it
        led. Members that are down, or refuse (their directory changed), are left to the
        healer; a majority must host it."""
        deadline = self.clock() + HOST_DEADLINE_S
        live = [m for m in members if self.nodes.get(node_of(m), {}).get("alive", True)]
        hosted: list[str] = []
        settled: set[str] = set()
        while True:
            for member in [m for m in live if m not in settled]:
                try:
                    ok = await self.ports.nodes.host_partition(
                        member,
                        self.directory_of(node_of(member)),
                        partition_id,
                        list(members),
                        False,
                    )
                # Broad on purpose: a node restarting or not registered yet raises any of Ray's
                # errors; the member is tried again on the next pass.
                except Exception as err:  # retried on the next pass
                    log.info("%s not hosted on %s: %s", partition_id, member, type(err).__name__)
                    continue
                settled.add(member)
                if ok:
                    hosted.append(member)
                else:
                    log.warning("%s refused %s: its data directory changed", member, partition_id)
            if len(settled) == len(live) or self.clock() > deadline:
                break
            await asyncio.sleep(CONTROLLER_RETRY_PAUSE_S)
        if len(hosted) < len(members) // 2 + 1:
            raise GroupNotHosted(f"{partition_id}: hosted on {sorted(hosted)} only")
        await self._ensure_leader(partition_id, members, hosted)

    async def _ensure_leader(
        self, partition_id: str, members: list[str], campaigners: list[str] | None = None
    ) -> None:
        nodes = self.ports.nodes
        if await nodes.has_leader(partition_id, members, deadline_s=2.0):
            return
        for member in campaigners or members:
            try:
                await nodes.campaign(member, partition_id)
                break
            # Broad on purpose: any member that cannot be asked to campaign is passed over; the
            # leader wait below decides.
            except Exception:  # passed over; the leader wait decides
                continue
        if not await nodes.has_leader(partition_id, members, deadline_s=LEADER_WAIT_S):
            raise GroupNotHosted(f"{partition_id}: no leader")

    # --- tables ----------------------------------------------------------------------------------

    def entry(self, name: str) -> dict[str, Any] | None:
        description = self.catalog.get(name)
        if description is None:
            return None
        return {
            "description": description.to_record(),
            "map": self.maps[name].to_wire(),
            "version": self.versions.get(name, 0),
        }

    async def save(self, name: str) -> None:
        """Bump the entry's version, make it durable, then push it to its metadata shard."""
        assert self.store is not None
        self.versions[name] = self.versions.get(name, 0) + 1
        entry = self.entry(name)
        assert entry is not None
        await self.store.put(table_key(name), pack(entry))
        await self.push([name])

    async def push(self, names: list[str]) -> None:
        shards = self.config.cluster.metadata_shards
        updates: dict[int, dict[str, Any]] = {}
        for name in names:
            updates.setdefault(shard_of(name, shards), {})[name] = self.entry(name)
        for index, entries in updates.items():
            await self.ports.shards.push(index, entries)

    async def shard_snapshot(self, index: int, shards: int) -> dict[str, Any]:
        await self.ensure_started()
        return {
            name: self.entry(name)
            for name in self.catalog.names()
            if shard_of(name, shards) == index
        }

    def node_infos(self) -> list[NodeInfo]:
        replicas: dict[str, int] = {}
        leaders: dict[str, int] = {}
        for partition_map in self.maps.values():
            for partition in partition_map.partitions:
                for member in partition.members:
                    replicas[node_of(member)] = replicas.get(node_of(member), 0) + 1
                first = node_of(partition.members[0])
                leaders[first] = leaders.get(first, 0) + 1
        return [
            NodeInfo(
                node_id,
                str(info.get("zone", "?")),
                bool(info.get("alive")) and not self.directory_lost(node_id),
                replicas.get(node_id, 0),
                leaders.get(node_id, 0),
            )
            for node_id, info in sorted(self.nodes.items())
        ]

    async def answer(self, operation: Callable[..., Awaitable[Any]], *args: Any) -> Answer:
        """Run a client-facing operation; its result or DynamoDB error as an answer dict."""
        try:
            await self.ensure_started()
            return {"ok": await operation(*args)}
        except ClientError as err:
            return {"error": err.to_wire()}
        # Broad on purpose: the client gets InternalServerError, never a stack trace; the
        # controller's state changes only through its store, so nothing half-done persists.
        except Exception:  # InternalServerError, never a trace
            log.exception("controller operation %s failed", getattr(operation, "__name__", "?"))
            return {"error": InternalServerError(INTERNAL_ERROR_MESSAGE).to_wire()}

    async def create_table(self, request: dict[str, Any]) -> dict[str, Any]:
        spec = validate_create_table(request)
        assert self.table_lock is not None
        async with self.table_lock:
            table_id = str(uuid.uuid4())
            description = self.catalog.create(spec, table_id=table_id, now=datetime.now(UTC))
            count = initial_partitions_for(spec, sizing=self.sizing).partition_count
            await self.refresh_nodes()
            placements, _ = place_partitions(self.node_infos(), count, self.config.cluster.replicas)
            partitions = tuple(
                PartitionRange(f"{table_id}.{i}", start, end, tuple(placement.members))
                for i, ((start, end), placement) in enumerate(
                    zip(even_ranges(count), placements, strict=True)
                )
            )
            self.maps[spec.table_name] = PartitionMap(table_id, 1, partitions)
            await self.save(spec.table_name)
        self.spawn(self._activate(spec.table_name))
        return create_table_response(description)

    async def _activate(self, name: str) -> None:
        """Host every partition of a CREATING table, wait for leaders, then mark it ACTIVE."""
        partition_map = self.maps[name]
        while True:
            try:
                await asyncio.gather(
                    *(
                        self.host_group(p.partition_id, list(p.members))
                        for p in partition_map.partitions
                    )
                )
                break
            except Exception as err:
                log.warning("table %s: partitions not up yet (%s); retrying", name, err)
                await asyncio.sleep(1.0)
        assert self.table_lock is not None
        async with self.table_lock:
            if self.catalog.get(name) is not None:
                self.catalog.mark_active(name)
                await self.save(name)

    async def delete_table(self, request: dict[str, Any]) -> dict[str, Any]:
        name = validate_delete_table(request)
        assert self.table_lock is not None
        async with self.table_lock:
            description = self.catalog.begin_delete(name)
            await self.save(name)
        self.spawn(self._finish_delete(name))
        return delete_table_response(description)

    async def _finish_delete(self, name: str) -> None:
        partition_map = self.maps[name]
        for partition in partition_map.partitions:
            for member in partition.members:
                try:
                    await self.ports.nodes.drop_partition(member, partition.partition_id)
                except Exception as err:  # a dead node's copy goes when the node is replaced
                    log.warning("could not drop %s on %s: %r", partition.partition_id, member, err)
        assert self.table_lock is not None and self.store is not None
        async with self.table_lock:
            self.catalog.remove(name)
            self.maps.pop(name, None)
            await self.store.delete(table_key(name))
            await self.push([name])

    async def update_table(self, request: dict[str, Any]) -> dict[str, Any]:
        spec = validate_update_table(request)
        assert self.table_lock is not None
        async with self.table_lock:
            current = self.catalog.active(spec.table_name)
            updated = apply_update(current, spec, now=datetime.now(UTC))
            if updated != current:
                self.catalog.replace(updated)
                await self.save(spec.table_name)
        return update_table_response(updated)

    # Describe and list wait for table changes in progress: a table reported ACTIVE has been
    # pushed to the metadata shards, so a router that asks right after finds it ACTIVE too.

    async def describe_table(self, request: dict[str, Any]) -> dict[str, Any]:
        name = validate_describe_table(request)
        assert self.table_lock is not None
        async with self.table_lock:
            return describe_table_response(self.catalog.describe(name))

    async def describe_partitions(self, request: dict[str, Any]) -> dict[str, Any]:
        """A table's partitions as their replicas report them (``metadata.partition_report``)."""
        name = validate_describe_table(request)
        assert self.table_lock is not None
        async with self.table_lock:
            self.catalog.describe(name)  # ResourceNotFoundException for an unknown table
            partitions = list(self.maps[name].partitions)
        wanted = {p.partition_id for p in partitions}
        entries: dict[str, dict[str, dict[str, Any]]] = {}
        for node_id in sorted({node_of(m) for p in partitions for m in p.members}):
            for entry in await self.ports.nodes.status(node_id) or ():
                if entry["partition_id"] in wanted:
                    entries.setdefault(entry["partition_id"], {})[node_id] = entry
        stats = {p.partition_id: await self._partition_stats(p) for p in partitions}
        return describe_partitions_response(name, partitions, entries, stats)

    async def list_tables(self, request: dict[str, Any]) -> dict[str, Any]:
        parsed = validate_list_tables(request)
        assert self.table_lock is not None
        async with self.table_lock:
            return self.catalog.list_tables(parsed)

    # --- statistics and status -------------------------------------------------------------------

    async def refresh_stats(self) -> None:
        """Recompute ItemCount and TableSizeBytes of every active table from its replicas."""
        await self.ensure_started()
        for description in self.catalog.descriptions():
            if description.table_status is not TableStatus.ACTIVE:
                continue
            items = size = 0
            for partition in self.maps[description.table_name].partitions:
                stats = await self._partition_stats(partition)
                items += stats.get("items", 0)
                size += stats.get("bytes", 0)
            self.catalog.set_stats(description.table_name, item_count=items, table_size_bytes=size)

    async def _partition_stats(self, partition: PartitionRange) -> dict[str, Any]:
        for member in partition.members:
            stats = await self.ports.nodes.partition_stats(member, partition.partition_id)
            if stats is not None:
                return stats
        return {}

    async def status(self) -> dict[str, Any]:
        """Tables, partitions, leaders, storage nodes, hosts and health, heals in progress."""
        await self.ensure_started()
        await self.refresh_nodes()
        reported: dict[str, dict[str, dict[str, Any]]] = {}
        for node_id, info in self.nodes.items():
            hosted = await self.ports.nodes.status(node_id) if info.get("alive") else None
            if hosted is None:
                info["alive"] = False
            for replica in hosted or ():
                reported.setdefault(replica["partition_id"], {})[node_id] = replica
        infos = self.node_infos()
        tables = []
        for description in self.catalog.descriptions():
            partitions = []
            for partition in self.maps[description.table_name].partitions:
                partitions.append(
                    partition_status(partition, reported.get(partition.partition_id, {}), infos)
                )
            tables.append(
                {
                    "table": description.table_name,
                    "status": description.table_status.value,
                    "items": description.item_count,
                    "partitions": partitions,
                }
            )
        nodes = [
            {**info, "directory_lost": self.directory_lost(node_id)}
            for node_id, info in sorted(self.nodes.items())
        ]
        return {
            "cluster_id": self.cluster_id,
            "tables": tables,
            "nodes": nodes,
            "system_members": list(self.system_members),
            "replacements": self.healer.replacements,
            "heals": [intent.to_wire() for intent in self.healer.intents.values()],
        }


@ray.remote(max_restarts=-1, max_task_retries=-1, max_concurrency=100)
class ControllerActor:
    """The thin Ray actor: every method hands over to ``Controller``."""

    def __init__(self, config: dict[str, Any], cluster_id: str) -> None:
        parsed = config_from_dict(config)
        self.core = Controller(parsed, cluster_id, ray_ports(parsed.cluster.namespace))

    async def create_table(self, request: dict[str, Any]) -> Answer:
        return await self.core.answer(self.core.create_table, request)

    async def delete_table(self, request: dict[str, Any]) -> Answer:
        return await self.core.answer(self.core.delete_table, request)

    async def update_table(self, request: dict[str, Any]) -> Answer:
        return await self.core.answer(self.core.update_table, request)

    async def describe_table(self, request: dict[str, Any]) -> Answer:
        return await self.core.answer(self.core.describe_table, request)

    async def list_tables(self, request: dict[str, Any]) -> Answer:
        return await self.core.answer(self.core.list_tables, request)

    async def describe_partitions(self, request: dict[str, Any]) -> Answer:
        return await self.core.answer(self.core.describe_partitions, request)

    async def shard_snapshot(self, index: int, shards: int) -> dict[str, Any]:
        return await self.core.shard_snapshot(index, shards)

    async def status(self) -> dict[str, Any]:
        return await self.core.status()

    async def refresh_stats(self) -> None:
        await self.core.refresh_stats()

    async def storage_records(self) -> dict[str, dict[str, str]]:
        """Where each storage node runs and its directory's id, as recorded."""
        await self.core.ensure_started()
        return {n: record.to_wire() for n, record in sorted(self.core.records.items())}

    async def table_entry(self, name: str) -> dict[str, Any] | None:
        await self.core.ensure_started()
        return self.core.entry(name)

    async def ping(self) -> bool:
        await self.core.ensure_started()
        return True
