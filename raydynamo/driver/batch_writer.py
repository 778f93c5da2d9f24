"""``table.batch_writer()``: buffer puts and deletes, send them 25 at a time, resend leftovers.

Role: boto3's batch writer, our own code. Requests are serialized when added (a float fails at
``put_item``, not at some later flush) and buffered; whenever ``flush_items_max`` (25, DynamoDB's
BatchWriteItem limit) are waiting, one BatchWriteItem sends the oldest 25. ``UnprocessedItems``
go back to the end of the buffer and are resent by a later flush. Leaving the ``with`` block
flushes until the buffer is empty (also when the block raised, as boto3 does).

Differences from boto3, both bounds rather than behaviours a user relies on:

- a flush that follows one with unprocessed items first sleeps (capped exponential backoff with
  jitter, the client's ``sleep``), because unprocessed items mean the table is throttling;
- after ``attempts_max`` consecutive flushes in which nothing at all was processed, the writer
  raises ``ProvisionedThroughputExceededException`` instead of looping forever; the unsent
  requests stay buffered.

``overwrite_by_pkeys=["pk", "sk"]`` drops a buffered request whose key attributes equal a new
request's, so one batch never names one item twice (which DynamoDB refuses).

``WriteBuffer`` is the pure buffer; ``BatchWriterCore`` the one flushing implementation (async);
``BatchWriter`` (sync, flushing on the client's private loop) and ``AsyncBatchWriter`` are thin.
Must not import ray.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from raydynamo.api.errors import ProvisionedThroughputExceededException
from raydynamo.driver.invoke import error_for_user, pause
from raydynamo.driver.transform import serialize_item

if TYPE_CHECKING:
    from types import TracebackType

    from raydynamo.driver.aio import AsyncClient
    from raydynamo.driver.loop_thread import LoopThread

FLUSH_ITEMS_MAX = 25  # DynamoDB: at most 25 requests in one BatchWriteItem

WriteRequest = dict[str, Any]


class WriteBuffer:
    """Buffered write requests, oldest first (pure)."""

    def __init__(self, overwrite_by_pkeys: Sequence[str] | None, flush_items_max: int) -> None:
        assert 1 <= flush_items_max <= FLUSH_ITEMS_MAX, flush_items_max
        self._pkeys = tuple(overwrite_by_pkeys or ())
        self.flush_items_max = flush_items_max
        self._requests: list[WriteRequest] = []

    def __len__(self) -> int:
        return len(self._requests)

    def _pkey_values(self, request: WriteRequest) -> list[Any]:
        if "PutRequest" in request:
            attributes = request["PutRequest"]["Item"]
        else:
            attributes = request["DeleteRequest"]["Key"]
        return [attributes.get(name) for name in self._pkeys]

    def add(self, request: WriteRequest) -> None:
        if self._pkeys:
            values = self._pkey_values(request)
            self._requests = [r for r in self._requests if self._pkey_values(r) != values]
        self._requests.append(request)

    @property
    def full(self) -> bool:
        return len(self._requests) >= self.flush_items_max

    def take(self) -> list[WriteRequest]:
        batch = self._requests[: self.flush_items_max]
        self._requests = self._requests[self.flush_items_max :]
        return batch

    def requeue(self, requests: list[WriteRequest]) -> None:
        self._requests.extend(requests)


class BatchWriterCore:
    """The flushing logic both writers share."""

    def __init__(
        self,
        client: AsyncClient,
        table_name: str,
        overwrite_by_pkeys: Sequence[str] | None,
        flush_items_max: int = FLUSH_ITEMS_MAX,
    ) -> None:
        self._client = client
        self.table_name = table_name
        self.buffer = WriteBuffer(overwrite_by_pkeys, flush_items_max)
        self._unprocessed_rounds = 0  # consecutive flushes that left items unprocessed
        self._stalled_rounds = 0  # consecutive flushes that processed nothing

    def put(self, item: Any) -> None:
        self.buffer.add({"PutRequest": {"Item": serialize_item(item)}})

    def delete(self, key: Any) -> None:
        self.buffer.add({"DeleteRequest": {"Key": serialize_item(key)}})

    async def flush_once(self) -> None:
        """Send the oldest ``flush_items_max`` requests; requeue what comes back unprocessed."""
        invoker = self._client._invoker
        if self._unprocessed_rounds:
            await pause(invoker.sleep, invoker.backoff_s(self._unprocessed_rounds))
        batch = self.buffer.take()
        response = await self._client.batch_write_item(RequestItems={self.table_name: batch})
        unprocessed = (response.get("UnprocessedItems") or {}).get(self.table_name, [])
        self.buffer.requeue(list(unprocessed))
        self._unprocessed_rounds = self._unprocessed_rounds + 1 if unprocessed else 0
        self._stalled_rounds = self._stalled_rounds + 1 if len(unprocessed) >= len(batch) else 0
        if self._stalled_rounds >= invoker.attempts_max:
            stalled = ProvisionedThroughputExceededException(
                f"batch_writer: none of {len(batch)} requests was processed in "
                f"{self._stalled_rounds} consecutive BatchWriteItem calls; "
                f"{len(self.buffer)} requests remain buffered"
            )
            raise error_for_user(stalled, "BatchWriteItem", self._stalled_rounds - 1)

    async def flush_full(self) -> None:
        while self.buffer.full:
            await self.flush_once()

    async def flush_all(self) -> None:
        while len(self.buffer):
            await self.flush_once()


class AsyncBatchWriter:
    """``async with table.batch_writer() as batch: await batch.put_item(Item={...})``."""

    def __init__(self, core: BatchWriterCore) -> None:
        self._core = core

    async def put_item(self, Item: Any) -> None:
        self._core.put(Item)
        await self._core.flush_full()

    async def delete_item(self, Key: Any) -> None:
        self._core.delete(Key)
        await self._core.flush_full()

    async def flush(self) -> None:
        """Send everything buffered now."""
        await self._core.flush_all()

    async def __aenter__(self) -> AsyncBatchWriter:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._core.flush_all()


class BatchWriter:
    """``with table.batch_writer() as batch: batch.put_item(Item={...})``."""

    def __init__(self, core: BatchWriterCore, loop_thread: LoopThread) -> None:
        self._core = core
        self._loop_thread = loop_thread

    def put_item(self, Item: Any) -> None:
        self._core.put(Item)
        if self._core.buffer.full:
            self._loop_thread.run(self._core.flush_full())

    def delete_item(self, Key: Any) -> None:
        self._core.delete(Key)
        if self._core.buffer.full:
            self._loop_thread.run(self._core.flush_full())

    def flush(self) -> None:
        """Send everything buffered now."""
        self._loop_thread.run(self._core.flush_all())

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._loop_thread.run(self._core.flush_all())
