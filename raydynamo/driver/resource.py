"""The resource-style layer: ``client.Table("users")`` taking and returning plain Python values.

Role: boto3's ``Table`` resource over our clients. ``Table.put_item(Item={"id": "a", "n":
Decimal("1.5"), "tags": {"x", "y"}})`` serializes the values, fills in ``TableName``, calls the
low-level client and turns attribute values in the response back into Python values (numbers as
``Decimal``, sets as ``set``, binaries as ``bytes``); condition objects from
``raydynamo.driver.conditions`` are accepted wherever an expression is (see ``transform``).
Floats and other unsupported values raise ``TypeError`` before anything is sent.

Methods: ``put_item``, ``get_item``, ``update_item``, ``delete_item``, ``query``, ``scan``
(keyword arguments as boto3's, without ``TableName``), ``batch_writer(overwrite_by_pkeys=...)``,
``load()``/``reload()`` (DescribeTable), ``delete()``, ``wait_until_exists()``,
``wait_until_not_exists()``; the description's fields as snake-case attributes (``key_schema``,
``table_status``, ``item_count``...), which ``Table`` loads on first access as boto3 does and
``AsyncTable`` serves after ``await table.load()``.

``AsyncTable`` holds the one implementation; ``Table`` runs each of its coroutines on the sync
client's private loop. Must not import ray.
"""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from raydynamo.driver.batch_writer import (
    FLUSH_ITEMS_MAX,
    AsyncBatchWriter,
    BatchWriter,
    BatchWriterCore,
)
from raydynamo.driver.transform import transform_request, transform_response

if TYPE_CHECKING:
    from raydynamo.driver.aio import AsyncClient
    from raydynamo.driver.loop_thread import LoopThread

T = TypeVar("T")

# Snake-case attributes of a table resource and the DescribeTable fields they show.
TABLE_ATTRIBUTES: dict[str, str] = {
    "attribute_definitions": "AttributeDefinitions",
    "key_schema": "KeySchema",
    "table_status": "TableStatus",
    "creation_date_time": "CreationDateTime",
    "provisioned_throughput": "ProvisionedThroughput",
    "table_size_bytes": "TableSizeBytes",
    "item_count": "ItemCount",
    "table_arn": "TableArn",
    "table_id": "TableId",
    "billing_mode_summary": "BillingModeSummary",
    "local_secondary_indexes": "LocalSecondaryIndexes",
    "global_secondary_indexes": "GlobalSecondaryIndexes",
    "stream_specification": "StreamSpecification",
    "latest_stream_label": "LatestStreamLabel",
    "latest_stream_arn": "LatestStreamArn",
    "sse_description": "SSEDescription",
    "table_class_summary": "TableClassSummary",
    "deletion_protection_enabled": "DeletionProtectionEnabled",
}


def _described(field: str) -> property:
    def getter(self: AsyncTable | Table) -> Any:
        return self._description_field(field)

    return property(getter, doc=f"The table's {field}, from DescribeTable.")


def _keyword_only(method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if args:
        raise TypeError(f"{method}() only accepts keyword arguments.")
    if "TableName" in kwargs:
        raise TypeError(f"{method}() got an unexpected keyword argument 'TableName'")


class AsyncTable:
    """A table of an ``AsyncClient``, with Python values in and out."""

    def __init__(self, client: AsyncClient, name: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"Table name must be a str, not {type(name).__name__}")
        self._client = client
        self.name = name
        self._description: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.name == self.name  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self.name))

    @property
    def table_name(self) -> str:
        return self.name

    def _description_field(self, field: str) -> Any:
        if self._description is None:
            raise RuntimeError(f"{self!r} is not loaded: call 'await table.load()' first.")
        return self._description.get(field)

    async def load(self) -> None:
        """Fetch the table's description (DescribeTable)."""
        response = await self._client.describe_table(TableName=self.name)
        self._description = response["Table"]

    reload = load

    async def _call(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        _keyword_only(method, args, kwargs)
        request = transform_request(kwargs)
        response = await getattr(self._client, method)(TableName=self.name, **request)
        return transform_response(response)

    async def put_item(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return await self._call("put_item", args, kwargs)

    async def get_item(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return await self._call("get_item", args, kwargs)

    async def update_item(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return await self._call("update_item", args, kwargs)

    async def delete_item(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return await self._call("delete_item", args, kwargs)

    async def query(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return await self._call("query", args, kwargs)

    async def scan(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return await self._call("scan", args, kwargs)

    async def delete(self) -> dict[str, Any]:
        """Delete the table (DeleteTable)."""
        return await self._client.delete_table(TableName=self.name)

    async def wait_until_exists(self, **kwargs: Any) -> None:
        await self._client.get_waiter("table_exists").wait(TableName=self.name, **kwargs)

    async def wait_until_not_exists(self, **kwargs: Any) -> None:
        await self._client.get_waiter("table_not_exists").wait(TableName=self.name, **kwargs)

    def _writer_core(
        self, overwrite_by_pkeys: Sequence[str] | None, flush_items_max: int
    ) -> BatchWriterCore:
        return BatchWriterCore(self._client, self.name, overwrite_by_pkeys, flush_items_max)

    def batch_writer(
        self,
        overwrite_by_pkeys: Sequence[str] | None = None,
        *,
        flush_items_max: int = FLUSH_ITEMS_MAX,
    ) -> AsyncBatchWriter:
        """A buffering writer: ``async with table.batch_writer() as batch: ...``."""
        return AsyncBatchWriter(self._writer_core(overwrite_by_pkeys, flush_items_max))


for _attribute, _field in TABLE_ATTRIBUTES.items():
    setattr(AsyncTable, _attribute, _described(_field))


class Table:
    """A table of a ``Client``, with Python values in and out (boto3's ``Table``)."""

    def __init__(self, table: AsyncTable, loop_thread: LoopThread) -> None:
        self._table = table
        self._loop_thread = loop_thread

    def __repr__(self) -> str:
        return f"Table(name={self.name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Table) and other.name == self.name

    def __hash__(self) -> int:
        return hash((Table, self.name))

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._loop_thread.run(coro)

    @property
    def name(self) -> str:
        return self._table.name

    @property
    def table_name(self) -> str:
        return self._table.name

    def _description_field(self, field: str) -> Any:
        if self._table._description is None:
            self.load()
        return self._table._description_field(field)

    def load(self) -> None:
        """Fetch the table's description (DescribeTable)."""
        self._run(self._table.load())

    reload = load

    def put_item(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return self._run(self._table.put_item(*args, **kwargs))

    def get_item(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return self._run(self._table.get_item(*args, **kwargs))

    def update_item(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return self._run(self._table.update_item(*args, **kwargs))

    def delete_item(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return self._run(self._table.delete_item(*args, **kwargs))

    def query(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return self._run(self._table.query(*args, **kwargs))

    def scan(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return self._run(self._table.scan(*args, **kwargs))

    def delete(self) -> dict[str, Any]:
        """Delete the table (DeleteTable)."""
        return self._run(self._table.delete())

    def wait_until_exists(self, **kwargs: Any) -> None:
        self._run(self._table.wait_until_exists(**kwargs))

    def wait_until_not_exists(self, **kwargs: Any) -> None:
        self._run(self._table.wait_until_not_exists(**kwargs))

    def batch_writer(
        self,
        overwrite_by_pkeys: Sequence[str] | None = None,
        *,
        flush_items_max: int = FLUSH_ITEMS_MAX,
    ) -> BatchWriter:
        """A buffering writer: ``with table.batch_writer() as batch: batch.put_item(...)``."""
        core = self._table._writer_core(overwrite_by_pkeys, flush_items_max)
        return BatchWriter(core, self._loop_thread)


for _attribute, _field in TABLE_ATTRIBUTES.items():
    setattr(Table, _attribute, _described(_field))
