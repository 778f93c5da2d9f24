"""The controller (the paper's auto admin): creates and deletes tables, places replicas, pushes
metadata to the shards, keeps table statistics.

All of its state is durable in the system partition (``system_store``), so a restarted controller
reloads it and resumes any table caught half-way through creation or deletion. Table requests
are validated and answered with DynamoDB's shapes (``metadata.tables``); placement decisions come
from ``metadata.placement``: three replicas of a partition on three storage nodes on three Ray
nodes (zones) whenever the cluster has them.

Answers cross the actor boundary as ``{"ok": response}`` or ``{"error": ClientError.to_wire()}``,
never as exceptions with Ray tracebacks.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import ray

from raydynamo.actors.group_client import GroupClient
from raydynamo.actors.healing import Healer
from raydynamo.actors.metadata_shard import metadata_shard_name, shard_of
from raydynamo.actors.storage_node import storage_actor_name
from raydynamo.actors.system_store import SYSTEM_PARTITION, SystemStore
from raydynamo.api.errors import ClientError, InternalServerError
from raydynamo.config import RaydynamoConfig, config_from_dict
from raydynamo.metadata.partition_map import PartitionMap, PartitionRange, even_ranges
from raydynamo.metadata.placement import NodeInfo, assess_group, place_partitions
from raydynamo.metadata.sizing import PartitionSizing, initial_partitions_for
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

log = logging.getLogger(__name__)

CONTROLLER_NAME = "raydynamo-controller"
PROBE_TIMEOUT_S = 2.0
HOST_DEADLINE_S = 30.0
Answer = dict[str, Any]


def _answer(fn: Any) -> Any:
    """Turn a coroutine's result or ClientError into an answer dict; never raise to Ray."""

    async def wrapper(self: Controller, *args: Any) -> Answer:
        try:
            await self._ensure_started()
            return {"ok": await fn(self, *args)}
        except ClientError as err:
            return {"error": err.to_wire()}
        except Exception as err:
            log.exception("controller operation failed")
            return {"error": InternalServerError(f"internal error: {err!r}").to_wire()}

    wrapper.__name__ = fn.__name__
    return wrapper


@ray.remote(max_restarts=-1, max_task_retries=-1, max_concurrency=100)
class Controller:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config: RaydynamoConfig = config_from_dict(config)
        self.namespace = self.config.cluster.namespace
        self.node_ids = [f"sn{i}" for i in range(self.config.cluster.storage_nodes)]
        self.catalog = TableCatalog()
        self.maps: dict[str, PartitionMap] = {}
        self.versions: dict[str, int] = {}
        self.nodes: dict[str, dict[str, Any]] = {}
        self.started = False
        self.starting: asyncio.Lock | None = None
        self.table_lock: asyncio.Lock | None = None
        self.store: SystemStore | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.sizing = PartitionSizing(partitions_default=self.config.cluster.partitions_per_table)
        self.system_members: list[str] = []
        self.healer = Healer(self)

    # --- start-up --------------------------------------------------------------------------------

    async def _ensure_started(self) -> None:
        if self.started:
            return
        if self.starting is None:
            self.starting = asyncio.Lock()
            self.table_lock = asyncio.Lock()
        async with self.starting:
            if self.started:
                return
            await self._refresh_nodes()
            self.system_members = await self._find_system_group()
            await self._host_group(SYSTEM_PARTITION, self.system_members)
            self.store = SystemStore(self.system_members, self.namespace)
            for name, entry in (await self.store.load_all()).items():
                description = TableDescription.from_record(entry["description"])
                self.catalog.restore(description)
                self.maps[name] = PartitionMap.from_wire(entry["map"])
                self.versions[name] = int(entry["version"])
            await self._push(self.catalog.names())
            for description in self.catalog.descriptions():
                if description.table_status is TableStatus.CREATING:
                    self._spawn(self._activate(description.table_name))
                elif description.table_status is TableStatus.DELETING:
                    self._spawn(self._finish_delete(description.table_name))
            self._spawn(self._stats_loop())
            self._spawn(self._health_loop())
            self.started = True

    async def _find_system_group(self) -> list[str]:
        """The system partition's members: the newest configuration any node reports, or the
        first storage nodes for a new cluster."""
        best_slot, best = -2, self.node_ids[: self.config.cluster.replicas]
        for node_id, info in self.nodes.items():
            if not info.get("alive"):
                continue
            try:
                status = await self._storage(node_id).status.remote()
            except Exception:
                continue
            for replica in status:
                if (
                    replica["partition_id"] == SYSTEM_PARTITION
                    and replica["config_slot"] > best_slot
                ):
                    best_slot, best = replica["config_slot"], list(replica["members"])
        return best

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.controller.health_interval_s)
            try:
                await self.healer.check()
            except Exception as err:
                log.warning("health check failed: %r", err)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _storage(self, node_id: str) -> Any:
        return ray.get_actor(storage_actor_name(node_id), namespace=self.namespace)

    async def _refresh_nodes(self) -> None:
        async def info(node_id: str) -> tuple[str, dict[str, Any] | None]:
            try:
                return node_id, await asyncio.wait_for(
                    self._storage(node_id).node_info.remote(), timeout=PROBE_TIMEOUT_S
                )
            except Exception:
                return node_id, None

        for node_id, found in await asyncio.gather(*(info(n) for n in self.node_ids)):
            if found is not None:
                self.nodes[node_id] = {**found, "alive": True}
            else:
                self.nodes.setdefault(node_id, {"node_id": node_id, "zone": "?"})["alive"] = False

    async def _host_group(self, partition_id: str, members: list[str]) -> None:
        """Host a group on its live members and make one campaign; wait for a leader. Members
        on dead nodes are skipped (the healer replaces them): a controller restarted after a
        node was lost must still come up."""
        deadline = asyncio.get_running_loop().time() + HOST_DEADLINE_S
        live = [m for m in members if self.nodes.get(m, {}).get("alive", True)]
        while True:
            try:
                nodes = [self._storage(m) for m in live]
                await asyncio.gather(
                    *(n.host_partition.remote(partition_id, members) for n in nodes)
                )
                break
            except Exception:  # a node restarting or not yet registered: try again
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.5)
        group = GroupClient(partition_id, members, self.namespace, deadline_s=2.0)
        try:
            await group.read([b""], consistent=True)
            return  # already led
        except Exception:
            pass
        await self._storage(live[0]).campaign.remote(partition_id)
        group = GroupClient(partition_id, members, self.namespace, deadline_s=60.0)
        await group.read([b""], consistent=True)

    # --- tables ----------------------------------------------------------------------------------

    def _entry(self, name: str) -> dict[str, Any] | None:
        description = self.catalog.get(name)
        if description is None:
            return None
        return {
            "description": description.to_record(),
            "map": self.maps[name].to_wire(),
            "version": self.versions.get(name, 0),
        }

    async def _save(self, name: str) -> None:
        """Bump the entry's version, make it durable, then push it to its metadata shard."""
        assert self.store is not None
        self.versions[name] = self.versions.get(name, 0) + 1
        entry = self._entry(name)
        assert entry is not None
        await self.store.save(name, entry)
        await self._push([name])

    async def _push(self, names: list[str]) -> None:
        shards = self.config.cluster.metadata_shards
        updates: dict[int, dict[str, Any]] = {}
        for name in names:
            updates.setdefault(shard_of(name, shards), {})[name] = self._entry(name)
        for index, entries in updates.items():
            try:
                shard = ray.get_actor(metadata_shard_name(index), namespace=self.namespace)
                await shard.put.remote(entries)
            except Exception as err:  # a restarting shard reloads from us anyway
                log.warning("metadata shard %d missed a push: %r", index, err)

    async def shard_snapshot(self, index: int, shards: int) -> dict[str, Any]:
        await self._ensure_started()
        return {
            name: self._entry(name)
            for name in self.catalog.names()
            if shard_of(name, shards) == index
        }

    def _node_infos(self) -> list[NodeInfo]:
        replicas: dict[str, int] = {}
        leaders: dict[str, int] = {}
        for partition_map in self.maps.values():
            for partition in partition_map.partitions:
                for member in partition.members:
                    replicas[member] = replicas.get(member, 0) + 1
                leaders[partition.members[0]] = leaders.get(partition.members[0], 0) + 1
        return [
            NodeInfo(
                node_id,
                str(info.get("zone", "?")),
                bool(info.get("alive")),
                replicas.get(node_id, 0),
                leaders.get(node_id, 0),
            )
            for node_id, info in sorted(self.nodes.items())
        ]

    @_answer
    async def create_table(self, request: dict[str, Any]) -> dict[str, Any]:
        spec = validate_create_table(request)
        assert self.table_lock is not None
        async with self.table_lock:
            table_id = str(uuid.uuid4())
            description = self.catalog.create(spec, table_id=table_id, now=datetime.now(UTC))
            count = initial_partitions_for(spec, sizing=self.sizing).partition_count
            await self._refresh_nodes()
            placements, _ = place_partitions(
                self._node_infos(), count, self.config.cluster.replicas
            )
            partitions = tuple(
                PartitionRange(f"{table_id}.{i}", start, end, tuple(placement.members))
                for i, ((start, end), placement) in enumerate(
                    zip(even_ranges(count), placements, strict=True)
                )
            )
            self.maps[spec.table_name] = PartitionMap(table_id, 1, partitions)
            await self._save(spec.table_name)
        self._spawn(self._activate(spec.table_name))
        return create_table_response(description)

    async def _activate(self, name: str) -> None:
        """Host every partition of a CREATING table, wait for leaders, then mark it ACTIVE."""
        partition_map = self.maps[name]
        while True:
            try:
                await asyncio.gather(
                    *(
                        self._host_group(p.partition_id, list(p.members))
                        for p in partition_map.partitions
                    )
                )
                break
            except Exception as err:
                log.warning("table %s: partitions not up yet (%r); retrying", name, err)
                await asyncio.sleep(1.0)
        assert self.table_lock is not None
        async with self.table_lock:
            if self.catalog.get(name) is not None:
                self.catalog.mark_active(name)
                await self._save(name)

    @_answer
    async def delete_table(self, request: dict[str, Any]) -> dict[str, Any]:
        name = validate_delete_table(request)
        assert self.table_lock is not None
        async with self.table_lock:
            description = self.catalog.begin_delete(name)
            await self._save(name)
        self._spawn(self._finish_delete(name))
        return delete_table_response(description)

    async def _finish_delete(self, name: str) -> None:
        partition_map = self.maps[name]
        for partition in partition_map.partitions:
            for member in partition.members:
                try:
                    await self._storage(member).drop_partition.remote(partition.partition_id)
                except Exception as err:  # a dead node's copy goes when the node is replaced
                    log.warning("could not drop %s on %s: %r", partition.partition_id, member, err)
        assert self.table_lock is not None and self.store is not None
        async with self.table_lock:
            self.catalog.remove(name)
            self.maps.pop(name, None)
            await self.store.delete(name)
            await self._push([name])

    # Describe and list wait for table changes in progress: a table reported ACTIVE has been
    # pushed to the metadata shards, so a router that asks right after finds it ACTIVE too.

    @_answer
    async def describe_table(self, request: dict[str, Any]) -> dict[str, Any]:
        name = validate_describe_table(request)
        assert self.table_lock is not None
        async with self.table_lock:
            return describe_table_response(self.catalog.describe(name))

    @_answer
    async def list_tables(self, request: dict[str, Any]) -> dict[str, Any]:
        parsed = validate_list_tables(request)
        assert self.table_lock is not None
        async with self.table_lock:
            return self.catalog.list_tables(parsed)

    # --- statistics and status -------------------------------------------------------------------

    async def _stats_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.controller.stats_interval_s)
            try:
                await self.refresh_stats()
            except Exception as err:
                log.warning("table statistics not refreshed: %r", err)

    async def refresh_stats(self) -> None:
        """Recompute ItemCount and TableSizeBytes of every active table from its replicas."""
        await self._ensure_started()
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
            try:
                stats = await self._storage(member).partition_stats.remote(partition.partition_id)
            except Exception:
                continue
            if isinstance(stats, tuple):  # (items, bytes); else the node does not host it
                return {"items": stats[0], "bytes": stats[1]}
        return {}

    async def status(self) -> dict[str, Any]:
        """Tables, partitions, leaders, storage nodes, zones and health (``raydynamo status``)."""
        await self._ensure_started()
        await self._refresh_nodes()
        roles: dict[str, dict[str, str]] = {}
        for node_id, info in self.nodes.items():
            if not info.get("alive"):
                continue
            try:
                for replica in await self._storage(node_id).status.remote():
                    roles.setdefault(replica["partition_id"], {})[node_id] = replica["role"]
            except Exception:
                info["alive"] = False
        infos = self._node_infos()
        tables = []
        for description in self.catalog.descriptions():
            partitions = []
            for partition in self.maps[description.table_name].partitions:
                placement = assess_group(list(partition.members), infos)
                seen = roles.get(partition.partition_id, {})
                leaders = [m for m, role in seen.items() if role == "leader"]
                partitions.append(
                    {
                        "partition_id": partition.partition_id,
                        "members": list(partition.members),
                        "leader": leaders[0] if leaders else None,
                        "zones_distinct": placement.zones_distinct,
                        "note": placement.note,
                        "healthy": len(seen) == len(partition.members) and bool(leaders),
                    }
                )
            tables.append(
                {
                    "table": description.table_name,
                    "status": description.table_status.value,
                    "items": description.item_count,
                    "partitions": partitions,
                }
            )
        return {
            "tables": tables,
            "nodes": list(self.nodes.values()),
            "system_members": list(self.system_members),
            "replacements": self.healer.replacements,
        }

    async def ping(self) -> bool:
        await self._ensure_started()
        return True

    async def table_entry(self, name: str) -> dict[str, Any] | None:
        await self._ensure_started()
        return self._entry(name)
