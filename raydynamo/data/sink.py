"""Writing a Ray Dataset into a table: ``TableDatasink`` and ``write_table``.

Role: ``write_table(dataset, table_name)`` is ``dataset.write_datasink(TableDatasink(...))``.
Each write task turns its blocks into items (``arrow.table_to_items``), ``write_rows_per_flush``
rows at a time, and puts them through a ``BulkWriter`` on a router of its own: validated as
BatchWriteItem validates puts, one command per partition per 100 items, the commands for one
partition coalesced into shared calls, throttled commands retried with backoff under the same
request ids (so a retried write, or a write task Ray runs again, is applied once). Up to
``write_bytes_in_flight_max`` of commands are in flight per task while the next rows convert.

Capacity: on a provisioned table the tasks together stay under ``write_capacity_share`` of its
WriteCapacityUnits (each task paces itself at its share of ``write_tasks_max`` tasks); on an
on-demand table only the service's throttling paces them.

Bad input gets DynamoDB's errors, raised by ``write_table`` itself (never a Ray traceback): a
missing table ``ResourceNotFoundException``; a dataset without a key column ``ValidationException``
("Missing the key ... in the item") and a column of a type no attribute can hold one too, both
before anything is written; a row whose key is null or of the wrong type, or whose values
DynamoDB refuses, fails the write with the error BatchWriteItem gives (rows of earlier flushes
stay written: a write, like a batch, is not a transaction).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from typing import Any

import pyarrow as pa
import ray.data
from ray.data.block import Block, BlockAccessor
from ray.data.datasource import Datasink

from raydynamo.api.errors import ValidationException
from raydynamo.config import RaydynamoConfig
from raydynamo.data.arrow import check_writable, table_to_items
from raydynamo.data.session import DataSession, client_error_in, open_session, plain_error
from raydynamo.data.writer import BulkWriter, RouterTarget

MISSING_KEY = "One or more parameter values were invalid: Missing the key {name} in the item"


class TableDatasink(Datasink[dict[str, float]]):
    """A Ray Data datasink into one raydynamo table::

        dataset.write_datasink(TableDatasink.for_table("Music"), concurrency=4)

    (``write_table`` does that, and turns the errors Ray wraps back into DynamoDB's.)
    """

    def __init__(
        self,
        table_name: str,
        config: RaydynamoConfig,
        key_names: tuple[str, ...],
        units_per_task_s: float | None,
    ) -> None:
        self.table_name = table_name
        self.config = config
        self.key_names = key_names
        self.units_per_task_s = units_per_task_s
        self.write_id = uuid.uuid4().hex  # every request id of this write derives from it
        self.written: dict[str, float] = {"items": 0.0, "units": 0.0}

    @classmethod
    def for_table(
        cls,
        table_name: str,
        *,
        config: RaydynamoConfig | None = None,
        address: str | None = None,
    ) -> TableDatasink:
        """Describe ``table_name`` (it must exist) and build its datasink (``plan_write``)."""
        from raydynamo.config import load_config

        return plan_write(table_name, config=config or load_config(), address=address)

    def get_name(self) -> str:
        return f"raydynamo({self.table_name})"

    @property
    def min_rows_per_write(self) -> int | None:
        return self.config.data.write_rows_per_task_min

    def on_write_start(self, schema: pa.Schema | None = None) -> None:
        if schema is not None:
            check_schema(schema, self.key_names)

    def write(self, blocks: Iterable[Block], ctx: Any) -> dict[str, float]:
        task = getattr(ctx, "task_idx", 0)
        with DataSession(self.config) as session:
            target = RouterTarget(session.router)
            writer = BulkWriter(target, self.config.data, units_per_s=self.units_per_task_s)
            session.run(self._write_blocks(writer, blocks, f"{self.write_id}-{task}"))
        return {"items": writer.tally.items, "units": writer.tally.units}

    async def _write_blocks(self, writer: BulkWriter, blocks: Iterable[Block], name: str) -> None:
        """Convert and send flush after flush, with a bounded number of bytes in flight."""
        rows = self.config.data.write_rows_per_flush
        bytes_max = self.config.data.write_bytes_in_flight_max
        in_flight: set[asyncio.Task[None]] = set()
        flight_bytes: dict[asyncio.Task[None], int] = {}
        flush = 0
        for block in blocks:
            table = BlockAccessor.for_block(block).to_arrow()
            check_schema(table.schema, self.key_names)
            for start in range(0, table.num_rows, rows):
                part = table.slice(start, rows)
                while in_flight and sum(flight_bytes.values()) >= bytes_max:
                    done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                    _settle(done, in_flight, flight_bytes)
                items = table_to_items(part)
                task = asyncio.ensure_future(writer.put(self.table_name, items, f"{name}-{flush}"))
                flush += 1
                in_flight.add(task)
                flight_bytes[task] = part.nbytes
        while in_flight:
            done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            _settle(done, in_flight, flight_bytes)

    def on_write_complete(self, write_result: Any) -> None:
        totals = {"items": 0.0, "units": 0.0}
        for returned in write_result.write_returns:
            for key in totals:
                totals[key] += float(returned.get(key, 0.0))
        self.written = totals


def _settle(
    done: set[asyncio.Task[None]],
    in_flight: set[asyncio.Task[None]],
    flight_bytes: dict[asyncio.Task[None], int],
) -> None:
    for task in done:
        in_flight.discard(task)
        flight_bytes.pop(task, None)
    for task in done:
        failure = task.exception()
        if failure is not None:
            for other in in_flight:
                other.cancel()
            raise failure


def check_schema(schema: pa.Schema, key_names: tuple[str, ...]) -> None:
    """Refuse a dataset that cannot be written before any row is: key columns, column types."""
    for name in key_names:
        if name not in schema.names:
            raise ValidationException(MISSING_KEY.format(name=name))
    check_writable(schema)


def plan_write(
    table_name: str, *, config: RaydynamoConfig, address: str | None = None
) -> TableDatasink:
    """Describe the table (it must exist) and build the datasink for it."""
    with open_session(config, address) as session:
        try:
            described = session.run(session.client.describe_table(TableName=table_name))
            session.run(session.router.ensure([table_name]))
            key_names = session.router.view.schema(table_name).key.names
        except Exception as err:
            found = client_error_in(err)
            if found is None:
                raise
            raise plain_error(found, "DescribeTable") from None
    table = described["Table"]
    units_per_task_s = None
    if table.get("BillingModeSummary", {}).get("BillingMode") != "PAY_PER_REQUEST":
        capacity = table.get("ProvisionedThroughput", {}).get("WriteCapacityUnits") or 0
        if capacity:
            share = config.data.write_capacity_share * capacity
            units_per_task_s = share / config.data.write_tasks_max
    return TableDatasink(table_name, config, key_names, units_per_task_s)


def write_table(
    dataset: ray.data.Dataset,
    table_name: str,
    *,
    config: RaydynamoConfig | None = None,
    address: str | None = None,
    ray_remote_args: dict[str, Any] | None = None,
) -> dict[str, float]:
    """Write every row of ``dataset`` into ``table_name`` as an item (a put: an item with the
    same key is replaced); returns ``{"items": ..., "units": ...}`` (write units consumed)."""
    from raydynamo.config import load_config

    cfg = config or load_config()
    sink = plan_write(table_name, config=cfg, address=address)
    try:
        dataset.write_datasink(
            sink, ray_remote_args=ray_remote_args, concurrency=cfg.data.write_tasks_max
        )
    except Exception as err:
        found = client_error_in(err)
        if found is None:
            raise
        raise plain_error(found, "BatchWriteItem") from None
    return sink.written
