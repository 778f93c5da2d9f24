"""Writing many items into a table through a router: the engine of ``write_table``.

Role: ``BulkWriter.put(table_name, items, operation_id)`` validates the items (as BatchWriteItem
does), cuts them into one command per partition per 100 items (``operations.bulk_put``), and
sends every command at once through the router's group clients, which coalesce the commands for
one partition into shared calls. Commands that come back throttled (nothing was proposed) or
unconfirmed (perhaps applied) are sent again, unchanged, after a capped exponential backoff with
full jitter, so a retry is applied at most once; commands refused because the partition map
changed are planned again on the fresh map (nothing of them was applied). After
``write_attempts_max`` attempts the last error is raised.

``CapacityPacer`` keeps a writer within a provisioned table's share of write capacity: a token
bucket of write units refilled at ``units_per_s`` (one second of burst).

The writer talks to a ``WriteTarget``: ``RouterTarget`` over a ``Router`` in production, an
in-process fake in the tests. Invariants: every request id of one ``put`` derives from its
``operation_id``; a command once sent is only ever resent with the same id and bytes. Imports
ray (through the router).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from raydynamo.actors.router import MapChanged, Router, _Transport
from raydynamo.api.errors import ClientError, ThrottlingException
from raydynamo.config import DataConfig
from raydynamo.metadata.partition_map import PartitionRange
from raydynamo.operations.bulk_put import (
    BulkCommand,
    Outcome,
    plan_commands,
    relocate,
    send_commands,
    validate_puts,
)
from raydynamo.operations.common import TableCatalogView

Sleep = Callable[[float], Awaitable[None]]
THROTTLED_TOO_LONG = (
    "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically "
    "scaling your table or index so please try again shortly."
)


class BulkTransport(Protocol):
    def command_id(self, *parts: str | int) -> bytes: ...

    async def write_many(
        self, table_name: str, commands: list[tuple[PartitionRange, bytes, bytes]]
    ) -> list[Any]: ...


class WriteTarget(Protocol):
    """Where a ``BulkWriter`` writes: the table catalog and a transport per operation."""

    moved_error: type[BaseException]

    async def catalog(self, table_name: str, *, refresh: bool = False) -> TableCatalogView:
        """A view that knows ``table_name`` (fetched again with ``refresh``)."""
        ...

    def transport(self, operation_id: str) -> BulkTransport: ...


class RouterTarget:
    """A ``WriteTarget`` over a router (its cache, its group clients)."""

    moved_error = MapChanged

    def __init__(self, router: Router) -> None:
        self.router = router

    async def catalog(self, table_name: str, *, refresh: bool = False) -> TableCatalogView:
        if refresh:
            self.router.cache.invalidate(table_name)
        await self.router.ensure([table_name])
        return self.router.view

    def transport(self, operation_id: str) -> BulkTransport:
        return _Transport(self.router, operation_id)


class CapacityPacer:
    """A token bucket of write units (``units_per_s`` None: no pacing)."""

    def __init__(
        self,
        units_per_s: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        assert units_per_s is None or units_per_s > 0, units_per_s
        self.units_per_s = units_per_s
        self.clock = clock
        self.sleep = sleep
        self.tokens = units_per_s or 0.0
        self.updated = clock()

    async def acquire(self, units: float) -> None:
        """Take ``units``; wait while the bucket is in debt (a request larger than the bucket
        is let through and paid for afterwards)."""
        rate = self.units_per_s
        if rate is None:
            return
        now = self.clock()
        self.tokens = min(rate, self.tokens + (now - self.updated) * rate)
        self.updated = now
        self.tokens -= units
        if self.tokens < 0:
            await self.sleep(-self.tokens / rate)


@dataclass
class WriteTally:
    items: int = 0
    units: float = 0.0
    attempts: int = 0  # sends beyond the first, over all commands


class BulkWriter:
    def __init__(
        self,
        target: WriteTarget,
        settings: DataConfig,
        *,
        units_per_s: float | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.target = target
        self.settings = settings
        self.pacer = CapacityPacer(units_per_s, sleep=sleep)
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.tally = WriteTally()

    async def put(self, table_name: str, items: Sequence[Any], operation_id: str) -> None:
        """Write ``items`` (wire-form items) into ``table_name``; raises a ``ClientError``."""
        transport = self.target.transport(operation_id)
        catalog = await self.target.catalog(table_name)
        schema = catalog.schema(table_name)
        puts = validate_puts(items, schema, catalog)
        ops = self.settings.write_ops_per_command
        commands = plan_commands(puts, schema, transport, ops_per_command=ops)
        next_chunk = len(commands)
        failures = 0

        async def write_many(sent: list[tuple[PartitionRange, bytes, bytes]]) -> list[Any]:
            return await transport.write_many(table_name, sent)

        while commands:
            await self.pacer.acquire(sum(c.planned_units for c in commands))
            outcomes = await send_commands(commands, write_many, self.target.moved_error)
            again, moved, last_error = self._sort(outcomes)
            if moved:
                catalog = await self.target.catalog(table_name, refresh=True)
                schema = catalog.schema(table_name)  # a table deleted meanwhile: not found
                relocated = relocate([p for c in moved for p in c.puts], schema, catalog)
                replanned = plan_commands(
                    relocated, schema, transport, ops_per_command=ops, first_chunk=next_chunk
                )
                next_chunk += len(replanned)
                again += replanned
            if not again:
                break
            failures += 1
            self.tally.attempts += len(again)
            if failures >= self.settings.write_attempts_max:
                raise last_error or ThrottlingException(THROTTLED_TOO_LONG)
            await self.sleep(self._backoff_s(failures))
            commands = again
        self.tally.items += len(puts)

    def _sort(
        self, outcomes: list[Outcome]
    ) -> tuple[list[BulkCommand], list[BulkCommand], ClientError | None]:
        """(commands to send again as they are, commands to plan again, the last error)."""
        again: list[BulkCommand] = []
        moved: list[BulkCommand] = []
        last_error: ClientError | None = None
        for outcome in outcomes:
            if outcome.moved:
                moved.append(outcome.command)
            elif outcome.throttled:
                again.append(outcome.command)
            elif outcome.unknown is not None:
                again.append(outcome.command)
                last_error = outcome.unknown
            else:
                self.tally.units += outcome.units
        return again, moved, last_error

    def _backoff_s(self, failures: int) -> float:
        cap = min(
            self.settings.write_backoff_max_s,
            self.settings.write_backoff_base_s * 2 ** (failures - 1),
        )
        return self.rng.uniform(0, cap)
