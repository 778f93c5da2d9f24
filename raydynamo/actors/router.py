"""The request router: a plain class the driver embeds, and an actor for other clients.

``Router.call(operation, request)`` is the driver's ``RequestHandler``: table operations go to
the controller; item operations run the DynamoDB logic of ``operations`` against the router's
cached view of tables and partition maps, sending partition commands and reads through one
coalescing ``GroupClient`` per partition (writes and strong reads to the leader, eventually
consistent reads to any replica; leader hints followed; retries keep request ids).

The cache (``metadata.route_cache``) is refreshed from the metadata shards at a constant rate in
``constant`` mode, whatever its hit rate, so routers restarting cold do not multiply the load on
the shards. A partition that turns out not to be where the map said invalidates the table's
entry and the operation is retried once the map is fresh (nothing was applied: the replica
refused it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import ray

from raydynamo.actors.controller import CONTROLLER_NAME
from raydynamo.actors.group_client import GroupClient, GroupUnavailable, NoSuchPartition
from raydynamo.actors.metadata_shard import metadata_shard_name, shard_of
from raydynamo.api.errors import (
    ClientError,
    InternalServerError,
    ResourceNotFoundException,
    ServiceUnavailable,
    ValidationException,
    client_facing,
    from_wire,
)
from raydynamo.api.schema import TableSchema
from raydynamo.config import RaydynamoConfig, config_from_dict
from raydynamo.metadata.partition_map import PartitionMap, PartitionRange
from raydynamo.metadata.route_cache import RouteCache
from raydynamo.metadata.tables import TableDescription, TableStatus
from raydynamo.operations import batch_get, batch_write, query, reads, scan, writes

log = logging.getLogger(__name__)

Operation = Callable[[dict[str, Any], Any, Any], Awaitable[dict[str, Any]]]

DATA_OPERATIONS: dict[str, Operation] = {
    "PutItem": writes.put_item,
    "UpdateItem": writes.update_item,
    "DeleteItem": writes.delete_item,
    "BatchWriteItem": batch_write.batch_write_item,
    "GetItem": reads.get_item,
    "BatchGetItem": batch_get.batch_get_item,
    "Query": query.query,
    "Scan": scan.scan,
}
CONTROL_OPERATIONS = {
    "CreateTable": "create_table",
    "DeleteTable": "delete_table",
    "DescribeTable": "describe_table",
    "ListTables": "list_tables",
}
STALE_MAP_RETRIES_MAX = 3
ENSURE_WAIT_MAX_S = 10.0


class StaleMap(Exception):
    def __init__(self, table_name: str) -> None:
        super().__init__(table_name)
        self.table_name = table_name


@dataclass(frozen=True, slots=True)
class RoutedTable:
    """A cache entry, parsed once: what the data path needs of a table."""

    schema: TableSchema
    status: TableStatus
    partition_map: PartitionMap


def _tables_of(request: dict[str, Any]) -> list[str]:
    name = request.get("TableName")
    if isinstance(name, str):
        return [name]
    items = request.get("RequestItems")
    if isinstance(items, dict):
        return [n for n in items if isinstance(n, str)]
    return []


class _CatalogView:
    """``operations.common.TableCatalogView`` over the router's cache."""

    def __init__(self, router: Router) -> None:
        self.router = router

    def _table(self, table_name: str) -> RoutedTable:
        entry = self.router.cache.entries.get(table_name)
        routed = entry.value if entry is not None else None
        if routed is None or routed.status is not TableStatus.ACTIVE:
            raise ResourceNotFoundException("Requested resource not found")
        return routed

    def schema(self, table_name: str) -> TableSchema:
        return self._table(table_name).schema

    def partition_for(self, table_name: str, key_hash: int) -> PartitionRange:
        return self._table(table_name).partition_map.lookup(key_hash)

    def partitions(self, table_name: str) -> list[PartitionRange]:
        return list(self._table(table_name).partition_map.partitions)


class _Transport:
    """``operations.common.PartitionTransport`` over coalescing group clients."""

    def __init__(self, router: Router) -> None:
        self.router = router

    async def write(
        self, table_name: str, partition: PartitionRange, request_id: bytes, command: bytes
    ) -> dict[str, Any]:
        group = self.router.group(partition, self.router.map_version(table_name))
        try:
            return await group.write_one(request_id, command)
        except NoSuchPartition:
            raise StaleMap(table_name) from None
        except GroupUnavailable as err:
            raise ServiceUnavailable(
                "No replica of the partition could order the write in time; it may or may not "
                f"have been applied, retrying with the same request is safe ({err})"
            ) from None

    async def read(
        self, table_name: str, partition: PartitionRange, read_request: dict, consistent: bool
    ) -> dict[str, Any]:
        group = self.router.group(partition, self.router.map_version(table_name))
        try:
            return await group.read_item(read_request, consistent)
        except NoSuchPartition:
            raise StaleMap(table_name) from None
        except GroupUnavailable as err:
            raise ServiceUnavailable(
                f"No replica of the partition answered in time ({err})"
            ) from None


class Router:
    def __init__(self, config: RaydynamoConfig, *, clock: Callable[[], float] = time.monotonic):
        self.config = config
        self.namespace = config.cluster.namespace
        self.clock = clock
        settings = config.router
        self.cache = RouteCache(
            settings.cache_mode, settings.refresh_interval_s, settings.cache_ttl_s
        )
        self.groups: dict[str, GroupClient] = {}
        self.view = _CatalogView(self)
        self.transport = _Transport(self)
        self.metadata_requests = 0
        self.refreshes = 0
        self.refreshed: asyncio.Event | None = None
        self.wake: asyncio.Event | None = None
        self.refresher: asyncio.Task[None] | None = None
        self.controller: Any = None

    # --- the RequestHandler --------------------------------------------------------------------

    async def call(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        if operation in CONTROL_OPERATIONS:
            return await self._control(operation, request)
        run = DATA_OPERATIONS.get(operation)
        if run is None:
            raise ValidationException(f"Unsupported operation: {operation}")
        for _ in range(STALE_MAP_RETRIES_MAX):
            await self.ensure(_tables_of(request))
            try:
                return await run(request, self.view, self.transport)
            except StaleMap as stale:
                self.cache.invalidate(stale.table_name)
        raise InternalServerError("The partition map kept changing; retry the request")

    async def _control(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        if self.controller is None:
            self.controller = ray.get_actor(CONTROLLER_NAME, namespace=self.namespace)
        method = getattr(self.controller, CONTROL_OPERATIONS[operation])
        answer = await method.remote(request)
        if "error" in answer:
            raise from_wire(answer["error"], operation)
        if operation in ("CreateTable", "DeleteTable"):
            for name in _tables_of(request):
                self.cache.invalidate(name)
        return dict(answer["ok"])

    async def aclose(self) -> None:
        if self.refresher is not None:
            self.refresher.cancel()

    # --- partitions ------------------------------------------------------------------------------

    def group(self, partition: PartitionRange, map_version: int = 0) -> GroupClient:
        group = self.groups.get(partition.partition_id)
        if group is None or group.members != list(partition.members):
            group = GroupClient(
                partition.partition_id,
                list(partition.members),
                self.namespace,
                deadline_s=self.config.router.request_timeout_s,
                calls_in_flight_max=self.config.router.partition_calls_in_flight_max,
                map_version=map_version,
            )
            self.groups[partition.partition_id] = group
        group.map_version = max(group.map_version, map_version)
        return group

    def map_version(self, table_name: str) -> int:
        entry = self.cache.entries.get(table_name)
        routed = entry.value if entry is not None else None
        return routed.partition_map.map_version if routed is not None else 0

    # --- the cache -------------------------------------------------------------------------------

    def _start_refresher(self) -> None:
        if self.refresher is None or self.refresher.done():
            self.refreshed = asyncio.Event()
            self.wake = asyncio.Event()
            self.refresher = asyncio.get_running_loop().create_task(self._refresh_loop())

    async def ensure(self, names: list[str]) -> None:
        """Return once every table in ``names`` is in the cache (present or known absent).

        A table cached as absent or not ACTIVE is confirmed by one more regular refresh that
        started after this request did: a table created a moment ago is then found, at the cost
        of one refresh period on that path only and no extra load on the shards.
        """
        self._start_refresher()
        assert self.refreshed is not None and self.wake is not None
        started = self.clock()
        deadline = started + ENSURE_WAIT_MAX_S
        while True:
            missing = []
            for name in names:
                entry = self.cache.lookup(name, self.clock())
                stale = entry is not None and entry.fetched_at < started
                if entry is None or (stale and _not_servable(entry.value)):
                    missing.append(name)
            if not missing:
                return
            if self.clock() > deadline:
                raise ServiceUnavailable("The table metadata could not be fetched in time")
            if self.cache.mode == "on_miss":
                self.wake.set()
            self.refreshed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.refreshed.wait(), ENSURE_WAIT_MAX_S)

    async def _refresh_loop(self) -> None:
        assert self.refreshed is not None and self.wake is not None
        while True:
            now = self.clock()
            names = self.cache.fetch_now(now)
            if names:
                try:
                    await self._fetch(names)
                except Exception as err:  # shards restarting: the next period tries again
                    log.warning("metadata refresh failed: %r", err)
                    for name in names:
                        if name not in self.cache.entries:
                            self.cache.wanted.add(name)
                self.refreshed.set()
            pause = self.cache.seconds_to_next_refresh(self.clock())
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), max(pause, 0.001))

    async def _fetch(self, names: list[str]) -> None:
        shards = self.config.cluster.metadata_shards
        requests: list[tuple[int, list[str]]] = []
        if self.cache.mode == "constant":
            # One request per shard for everything, whatever was hit or missed.
            by_shard: dict[int, list[str]] = {}
            for name in names:
                by_shard.setdefault(shard_of(name, shards), []).append(name)
            requests = list(by_shard.items())
        else:
            # The plain cache: one request per table that missed.
            requests = [(shard_of(name, shards), [name]) for name in names]

        async def one(index: int, subset: list[str]) -> dict[str, Any]:
            self.metadata_requests += 1
            shard = ray.get_actor(metadata_shard_name(index), namespace=self.namespace)
            return dict(await shard.get.remote(subset))

        self.refreshes += 1
        now = self.clock()
        for answers in await asyncio.gather(*(one(i, s) for i, s in requests)):
            for name, entry in answers.items():
                self.cache.store(name, _routed(entry), now)


def _not_servable(routed: RoutedTable | None) -> bool:
    return routed is None or routed.status is not TableStatus.ACTIVE


def _routed(entry: dict[str, Any] | None) -> RoutedTable | None:
    if entry is None:
        return None
    description = TableDescription.from_record(entry["description"])
    return RoutedTable(
        description.schema(), description.table_status, PartitionMap.from_wire(entry["map"])
    )


@ray.remote(max_restarts=-1, max_task_retries=0, max_concurrency=10_000)
class RouterActor:
    """A router for clients that are not Ray drivers; answers are dicts, never exceptions."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.router = Router(config_from_dict(config))

    async def call(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        try:
            return {"ok": await self.router.call(operation, request)}
        except ClientError as err:
            # A server-side error's detail (it may quote a Ray exception, a pid, an address)
            # stays in this actor's log; the client sees its code's plain message.
            public = client_facing(err)
            if public is not err:
                log.warning("%s failed on the server side: %s", operation, err.message)
            return {"error": public.to_wire()}
        except Exception as err:
            log.warning("%s failed on the server side: %r", operation, err, exc_info=err)
            return {"error": client_facing(err).to_wire()}

    async def stats(self) -> dict[str, int]:
        return {
            "metadata_requests": self.router.metadata_requests,
            "refreshes": self.router.refreshes,
            "hits": self.router.cache.hits,
            "misses": self.router.cache.misses,
        }
