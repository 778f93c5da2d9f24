"""The request router: a plain class the driver embeds, and an actor for other clients.

``Router.call(operation, request)`` is the driver's ``RequestHandler``: table operations go to
the controller; item operations run the DynamoDB logic of ``operations`` against the router's
cached view of tables and partition maps, sending partition commands and reads through one
coalescing ``GroupClient`` per partition (writes and strong reads to the leader, eventually
consistent reads to any replica; leader hints followed; retries keep request ids). Write calls
of different partitions to the same storage node travel together (``node_writes``).

The cache (``metadata.route_cache``) is refreshed from the metadata shards at a constant rate in
``constant`` mode, whatever its hit rate, so routers restarting cold do not multiply the load on
the shards. A partition that turns out not to be where the map said invalidates the table's
entry and the operation is retried once the map is fresh (nothing was applied: the replica
refused it).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import ray

from raydynamo.actors.admission import admission_actor_name, admission_shard_of
from raydynamo.actors.admission_client import RouterAdmission
from raydynamo.actors.controller import CONTROLLER_NAME
from raydynamo.actors.group_client import GroupClient, GroupUnavailable, PartitionMoved, Throttled
from raydynamo.actors.metadata_shard import metadata_shard_name, shard_of
from raydynamo.actors.metrics import request_tally
from raydynamo.actors.node_writes import NodeWriteChannels
from raydynamo.actors.storage_node import storage_actor_name
from raydynamo.admission.rates import LedgerSpec, TableCapacity
from raydynamo.api.errors import (
    ClientError,
    ResourceNotFoundException,
    ServiceUnavailable,
    ThrottlingException,
    ValidationException,
    client_facing,
    from_wire,
)
from raydynamo.api.schema import TableSchema
from raydynamo.config import RaydynamoConfig, config_from_dict
from raydynamo.limits import (
    CONTROL_TIMEOUT_S,
    ENSURE_WAIT_MAX_S,
    METADATA_TIMEOUT_S,
    STALE_MAP_RETRIES_MAX,
)
from raydynamo.metadata.partition_map import PartitionMap, PartitionRange
from raydynamo.metadata.route_cache import RouteCache
from raydynamo.metadata.tables import TableDescription, TableStatus
from raydynamo.metrics import measured
from raydynamo.operations import batch_get, batch_write, query, reads, scan, writes
from raydynamo.operations.capacity import read_result_units, write_result_units

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
    "UpdateTable": "update_table",
    "DescribeTable": "describe_table",
    "ListTables": "list_tables",
    "DescribePartitions": "describe_partitions",  # a raydynamo extension
}
CONTROL_UNAVAILABLE = "The table service did not answer in time; retry the request."


class MapChanged(Exception):
    """A replica refused the router's partition map: refresh it and run the operation again
    (nothing was applied by the refused request; the request id stays the same)."""

    def __init__(self, table_name: str) -> None:
        super().__init__(table_name)
        self.table_name = table_name


THROTTLED = "Rate of requests exceeds the allowed throughput."
WRITE_INDETERMINATE = (
    "The partition could not confirm the write in time; it may or may not have been applied. "
    "Retrying the same request is safe: it is applied at most once."
)
READ_UNAVAILABLE = "No replica of the partition answered in time; retry the request."


def command_request_id(op_request_id: str, *parts: str | int) -> bytes:
    """The request id of one partition command of a client operation: derived, so that every
    retry of the operation (stale map, timeout, another router) sends the same id."""
    digest = hashlib.blake2b(op_request_id.encode(), digest_size=16)
    digest.update(b"".join(b"\x00" + str(part).encode() for part in parts))  # one update: same
    return digest.digest()


@dataclass(frozen=True, slots=True)
class RoutedTable:
    """A cache entry, parsed once: what the data path needs of a table."""

    schema: TableSchema
    status: TableStatus
    partition_map: PartitionMap
    capacity: TableCapacity


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
    """``operations.common.PartitionTransport`` over coalescing group clients, for one client
    operation (``op_request_id`` names it across every retry)."""

    def __init__(self, router: Router, op_request_id: str) -> None:
        self.router = router
        self.op_request_id = op_request_id

    def command_id(self, *parts: str | int) -> bytes:
        return command_request_id(self.op_request_id, *parts)

    async def write(
        self, table_name: str, partition: PartitionRange, request_id: bytes, command: bytes
    ) -> dict[str, Any]:
        group = self.router.group(partition, self.router.map_version(table_name))
        admitted = await self.router.admit(table_name, "write", partition)
        try:
            result = await group.write_one(request_id, command)
        except PartitionMoved:
            raise MapChanged(table_name) from None
        except Throttled:
            raise ThrottlingException(THROTTLED) from None
        except GroupUnavailable as err:
            log.warning("write to %s not confirmed: %s", partition.partition_id, err)
            raise ServiceUnavailable(WRITE_INDETERMINATE) from None
        self.router.admission.charge(admitted, write_result_units(result))
        return result

    async def write_many(
        self, table_name: str, commands: list[tuple[PartitionRange, bytes, bytes]]
    ) -> list[dict[str, Any] | BaseException]:
        """``write`` for many ``(partition, request id, command)`` at once: each partition's
        commands are queued together, so they share as few calls as the bounds allow. Per
        command its result or the exception ``write`` raises (``MapChanged``, a throttle or
        ``ServiceUnavailable``)."""
        by_partition: dict[str, list[int]] = {}
        for index, (partition, _, _) in enumerate(commands):
            by_partition.setdefault(partition.partition_id, []).append(index)
        version = self.router.map_version(table_name)
        outcomes: list[dict[str, Any] | BaseException | None] = [None] * len(commands)

        async def one_partition(indexes: list[int]) -> None:
            partition = commands[indexes[0]][0]
            group = self.router.group(partition, version)
            admitted: list[tuple[int, LedgerSpec | None]] = []
            for i in indexes:  # a throttled command is not sent (nothing of it is applied)
                try:
                    admitted.append((i, await self.router.admit(table_name, "write", partition)))
                except ClientError as throttled:
                    outcomes[i] = throttled
            requests = [(commands[i][1], commands[i][2]) for i, _ in admitted]
            results = await group.write_many(requests) if requests else []
            for (i, spec), result in zip(admitted, results, strict=True):
                outcomes[i] = self._translated(table_name, commands[i][0], result)
                if isinstance(result, dict):
                    self.router.admission.charge(spec, write_result_units(result))

        await asyncio.gather(*(one_partition(indexes) for indexes in by_partition.values()))
        return [o for o in outcomes if o is not None]

    @staticmethod
    def _translated(
        table_name: str, partition: PartitionRange, result: dict[str, Any] | Exception
    ) -> dict[str, Any] | BaseException:
        if isinstance(result, PartitionMoved):
            return MapChanged(table_name)
        if isinstance(result, Throttled):
            return ThrottlingException(THROTTLED)
        if isinstance(result, GroupUnavailable):
            log.warning("write to %s not confirmed: %s", partition.partition_id, result)
            return ServiceUnavailable(WRITE_INDETERMINATE)
        return result

    async def read(
        self, table_name: str, partition: PartitionRange, read_request: dict, consistent: bool
    ) -> dict[str, Any]:
        group = self.router.group(partition, self.router.map_version(table_name))
        admitted = await self.router.admit(table_name, "read", partition)
        try:
            result = await group.read_item(read_request, consistent)
        except PartitionMoved:
            raise MapChanged(table_name) from None
        except Throttled:
            raise ThrottlingException(THROTTLED) from None
        except GroupUnavailable as err:
            log.warning("read of %s not served: %s", partition.partition_id, err)
            raise ServiceUnavailable(READ_UNAVAILABLE) from None
        self.router.admission.charge(admitted, read_result_units(result, consistent=consistent))
        return result


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
        # Writes to one storage node from all partitions share calls (actors/node_writes.py).
        self.node_writes = NodeWriteChannels(
            self._storage_node,
            calls_in_flight_max=settings.partition_calls_in_flight_max,
            call_timeout_s=settings.call_timeout_s,
        )
        self.view = _CatalogView(self)
        self.metadata_requests = 0
        self.refreshes = 0
        self.refreshed: asyncio.Event | None = None
        self.wake: asyncio.Event | None = None
        self.refresher: asyncio.Task[None] | None = None
        self.actors: dict[str, Any] = {}
        self.metrics = request_tally(config.metrics)
        self.admission = RouterAdmission(config.admission, self._ask_grant, clock=clock)

    # --- the RequestHandler --------------------------------------------------------------------

    async def call(
        self, operation: str, request: dict[str, Any], request_id: str | None = None
    ) -> dict[str, Any]:
        """Run one client operation. ``request_id`` names it across every retry (the driver's
        too): each partition command it sends has an id derived from it, so a retried
        operation is applied at most once. Counted in this process's metrics."""
        if self.metrics is None:
            return await self._serve(operation, request, request_id)
        return await measured(
            self.metrics, operation, request, lambda r: self._serve(operation, r, request_id)
        )

    async def _serve(
        self, operation: str, request: dict[str, Any], request_id: str | None
    ) -> dict[str, Any]:
        if operation in CONTROL_OPERATIONS:
            return await self._control(operation, request)
        run = DATA_OPERATIONS.get(operation)
        if run is None:
            raise ValidationException(f"Unsupported operation: {operation}")
        transport = _Transport(self, request_id or uuid.uuid4().hex)
        for _ in range(STALE_MAP_RETRIES_MAX):
            await self.ensure(_tables_of(request))
            try:
                return await run(request, self.view, transport)
            except MapChanged as stale:
                self.cache.invalidate(stale.table_name)
        raise ServiceUnavailable("The partition map kept changing; retry the request")

    async def _control(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        try:
            controller = await self._actor(CONTROLLER_NAME)
            method = getattr(controller, CONTROL_OPERATIONS[operation])
            answer = await asyncio.wait_for(method.remote(request), CONTROL_TIMEOUT_S)
        except Exception as err:  # restarting, gone, or too slow: the client may retry
            self.actors.pop(CONTROLLER_NAME, None)
            log.warning("controller call %s failed: %r", operation, err)
            raise ServiceUnavailable(CONTROL_UNAVAILABLE) from None
        if "error" in answer:
            raise from_wire(answer["error"], operation)
        if operation in ("CreateTable", "DeleteTable", "UpdateTable"):
            for name in _tables_of(request):
                self.cache.invalidate(name)
        return dict(answer["ok"])

    async def _actor(self, name: str) -> Any:
        """A named actor's handle, looked up off the event loop (``ray.get_actor`` blocks) and
        kept until a call through it fails."""
        handle = self.actors.get(name)
        if handle is None:
            handle = await asyncio.to_thread(ray.get_actor, name, namespace=self.namespace)
            self.actors[name] = handle
        return handle

    def _storage_node(self, node_id: str) -> Any:
        """A storage node's actor handle, by its name (blocking: called in a thread)."""
        return ray.get_actor(storage_actor_name(node_id), namespace=self.namespace)

    # --- admission --------------------------------------------------------------------------

    async def admit(
        self, table_name: str, kind: Literal["read", "write"], partition: PartitionRange
    ) -> LedgerSpec | None:
        """Admit one request to ``partition`` or raise the table's throttling error."""
        entry = self.cache.entries.get(table_name)
        routed = entry.value if entry is not None else None
        if routed is None:
            return None
        return await self.admission.admit(table_name, routed.capacity, kind, partition.partition_id)

    async def _ask_grant(
        self, spec: LedgerSpec, router_id: str, units: float
    ) -> tuple[float, float]:
        name = admission_actor_name(admission_shard_of(spec.key, self.config.admission.shards))
        try:
            actor = await self._actor(name)
            return tuple(  # type: ignore[return-value]
                await actor.grant.remote(
                    spec.key, router_id, units, spec.rate_per_s, spec.follows_peak
                )
            )
        except Exception:  # restarting or gone: look it up again next time
            self.actors.pop(name, None)
            raise

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
                call_timeout_s=self.config.router.call_timeout_s,
                queued_bytes_max=self.config.router.partition_queue_bytes_max,
                node_writes=self.node_writes,
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
            name = metadata_shard_name(index)
            try:
                shard = await self._actor(name)
                return dict(await asyncio.wait_for(shard.get.remote(subset), METADATA_TIMEOUT_S))
            except BaseException:
                self.actors.pop(name, None)
                raise

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
    partition_map = PartitionMap.from_wire(entry["map"])
    capacity = TableCapacity(
        description.billing_mode,
        float(description.read_capacity_units),
        float(description.write_capacity_units),
        len(partition_map.partitions),
    )
    return RoutedTable(description.schema(), description.table_status, partition_map, capacity)


@ray.remote(max_restarts=-1, max_task_retries=0, max_concurrency=10_000)
class RouterActor:
    """A router for clients that are not Ray drivers; answers are dicts, never exceptions."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.router = Router(config_from_dict(config))

    async def call(
        self, operation: str, request: dict[str, Any], request_id: str | None = None
    ) -> dict[str, Any]:
        try:
            return {"ok": await self.router.call(operation, request, request_id)}
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
