"""Reading a table into a Ray Dataset: ``TableDatasource`` and ``read_table``.

Role: ``read_table(table_name)`` is ``ray.data.read_datasource(TableDatasource(...))``. The table
is read as parallel-scan segments (``Segment``/``TotalSegments`` of DynamoDB's Scan): as many as
the table has partitions, or a multiple of that when more parallelism is asked for (at most
``data.read_segments_per_partition_max`` per partition); the partitions of a table cut the hash
space evenly, so every segment lies inside one partition and every partition has at least one
read task. Each read task runs a router of its own (``DataSession``), scans its segment page by
page (eventually consistent unless ``consistent_read``) and yields Arrow blocks of at most
``data.read_block_bytes_max``, all with the one schema ``arrow.infer_plan`` chose from a sample
of the table read on the driver (see ``raydynamo.data.arrow`` for the type mapping).

Bad input: a missing table is ``ResourceNotFoundException`` and an invalid name a
``ValidationException``, raised by ``read_table`` itself, with DynamoDB's words.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import ray.data
from ray.data.block import BlockMetadata
from ray.data.datasource import Datasource, ReadTask

from raydynamo.api.schema import Item
from raydynamo.api.sizes import item_size
from raydynamo.config import RaydynamoConfig
from raydynamo.data.arrow import ColumnPlan, infer_plan, items_to_table
from raydynamo.data.session import DataSession, client_error_in, open_session, plain_error


@dataclass(frozen=True)
class TableReadPlan:
    """What every read task needs, decided once on the driver."""

    config: RaydynamoConfig
    table_name: str
    partitions: int
    columns: ColumnPlan
    consistent_read: bool
    table_bytes: int | None


class TableDatasource(Datasource):
    """A Ray Data datasource over one raydynamo table::

    ray.data.read_datasource(TableDatasource.for_table("Music"))
    """

    def __init__(self, plan: TableReadPlan) -> None:
        super().__init__()
        self.plan = plan

    @classmethod
    def for_table(
        cls,
        table_name: str,
        *,
        config: RaydynamoConfig | None = None,
        address: str | None = None,
        consistent_read: bool = False,
    ) -> TableDatasource:
        """Describe, sample and plan the read of ``table_name`` (see ``plan_read``)."""
        from raydynamo.config import load_config

        plan = plan_read(
            table_name,
            config=config or load_config(),
            address=address,
            consistent_read=consistent_read,
        )
        return cls(plan)

    def get_name(self) -> str:
        return f"raydynamo({self.plan.table_name})"

    def estimate_inmemory_data_size(self) -> int | None:
        return self.plan.table_bytes

    def segments_for(self, parallelism: int) -> int:
        """Read tasks for a requested parallelism: a multiple of the partition count."""
        partitions = self.plan.partitions
        per_partition_max = self.plan.config.data.read_segments_per_partition_max
        per_partition = min(per_partition_max, max(1, -(-parallelism // partitions)))
        return partitions * per_partition

    def get_read_tasks(
        self,
        parallelism: int,
        per_task_row_limit: int | None = None,
        data_context: Any = None,
    ) -> list[ReadTask]:
        total = self.segments_for(parallelism)
        size = None if self.plan.table_bytes is None else self.plan.table_bytes // total
        schema = self.plan.columns.schema()
        tasks = []
        for segment in range(total):
            metadata = BlockMetadata(
                num_rows=None, size_bytes=size, input_files=None, exec_stats=None
            )
            tasks.append(
                ReadTask(
                    _segment_reader(self.plan, segment, total),
                    metadata,
                    schema=schema,
                    per_task_row_limit=per_task_row_limit,
                )
            )
        return tasks


def _segment_reader(
    plan: TableReadPlan, segment: int, total: int
) -> Callable[[], Iterator[pa.Table]]:
    def read() -> Iterator[pa.Table]:
        return read_segment(plan, segment, total)

    return read


def read_segment(plan: TableReadPlan, segment: int, total: int) -> Iterator[pa.Table]:
    """Scan one segment to its end; yield blocks in the plan's schema."""
    block_bytes_max = plan.config.data.read_block_bytes_max
    with DataSession(plan.config) as session:
        start_key: dict[str, Any] | None = None
        items: list[Item] = []
        pending_bytes = 0
        yielded = False
        while True:
            request: dict[str, Any] = {
                "TableName": plan.table_name,
                "Segment": segment,
                "TotalSegments": total,
                "ConsistentRead": plan.consistent_read,
            }
            if start_key is not None:
                request["ExclusiveStartKey"] = start_key
            try:
                page = session.run(session.client.scan(**request))
            except Exception as err:
                found = client_error_in(err)
                if found is None:
                    raise
                raise plain_error(found, "Scan") from None
            page_items = page.get("Items", ())
            items.extend(page_items)
            pending_bytes += sum(item_size(item) for item in page_items)
            start_key = page.get("LastEvaluatedKey")
            if items and (pending_bytes >= block_bytes_max or start_key is None):
                yield items_to_table(items, plan.columns)
                yielded = True
                items, pending_bytes = [], 0
            if start_key is None:
                break
        if not yielded:  # an empty segment still says what its columns are
            yield items_to_table([], plan.columns)


def plan_read(
    table_name: str,
    *,
    config: RaydynamoConfig,
    address: str | None = None,
    consistent_read: bool = False,
) -> TableReadPlan:
    """Describe the table, count its partitions, sample it and choose the columns."""
    with open_session(config, address) as session:
        try:
            return session.run(_plan(session, table_name, consistent_read))
        except Exception as err:
            found = client_error_in(err)
            if found is None:
                raise
            raise plain_error(found, "Scan") from None


async def _plan(session: DataSession, table_name: str, consistent_read: bool) -> TableReadPlan:
    described = (await session.client.describe_table(TableName=table_name))["Table"]
    await session.router.ensure([table_name])
    key = session.router.view.schema(table_name).key
    partitions = len(session.router.view.partitions(table_name))
    sample = await _sample(session, table_name, partitions, consistent_read)
    return TableReadPlan(
        config=session.config,
        table_name=table_name,
        partitions=partitions,
        columns=infer_plan(sample, key),
        consistent_read=consistent_read,
        table_bytes=int(described.get("TableSizeBytes", 0)) or None,
    )


async def _sample(
    session: DataSession, table_name: str, partitions: int, consistent_read: bool
) -> list[Item]:
    """The first items of every partition's segment, ``schema_sample_items`` in all."""
    wanted = session.config.data.schema_sample_items
    if wanted == 0:
        return []
    per_segment = max(1, wanted // partitions)
    sample: list[Item] = []
    for segment in range(partitions):
        page = await session.client.scan(
            TableName=table_name,
            Segment=segment,
            TotalSegments=partitions,
            Limit=per_segment,
            ConsistentRead=consistent_read,
        )
        sample.extend(page.get("Items", ()))
    return sample


def read_table(
    table_name: str,
    *,
    config: RaydynamoConfig | None = None,
    address: str | None = None,
    consistent_read: bool = False,
    override_num_blocks: int | None = None,
    concurrency: int | None = None,
    ray_remote_args: dict[str, Any] | None = None,
) -> ray.data.Dataset:
    """A ``ray.data.Dataset`` of every item of ``table_name``, read in parallel (at least one
    read task per partition; ``override_num_blocks`` asks for more)."""
    source = TableDatasource.for_table(
        table_name, config=config, address=address, consistent_read=consistent_read
    )
    return ray.data.read_datasource(
        source,
        override_num_blocks=override_num_blocks,
        concurrency=concurrency,
        ray_remote_args=ray_remote_args,
    )
