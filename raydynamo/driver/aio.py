"""``AsyncClient``: the boto3 DynamoDB client surface as coroutines, for asyncio and async actors.

Role: ``await client.put_item(TableName=..., Item=...)`` runs on the caller's event loop (no
thread hop), with the same methods, keyword arguments, responses and exceptions as the sync
``Client``. Both are generated from ``operations.OPERATIONS`` and share ``invoke.Invoker``; the
sync client is in fact this class driven from a private loop.

Besides the operations: ``exceptions`` (``client.exceptions.ResourceNotFoundException``...),
``get_waiter(name)`` -> ``AsyncWaiter`` (``await waiter.wait(...)``), ``get_paginator(name)`` ->
``AsyncPaginator`` (``async for page in paginator.paginate(...)``), ``can_paginate``,
``waiter_names``, ``Table(name)`` -> ``AsyncTable``, ``close()`` and ``async with``.

The client keeps no per-loop state, so one instance may serve several event loops if its handler
can. It pickles (for shipping into Ray tasks) when its handler and ``sleep`` do.

Must not import ray.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any

from raydynamo.driver.exceptions import CLIENT_EXCEPTIONS, ClientExceptions
from raydynamo.driver.handler import RequestHandler
from raydynamo.driver.invoke import ATTEMPTS_MAX_DEFAULT, Invoker, Sleep
from raydynamo.driver.operations import Operation, install_operations, prepare_request
from raydynamo.driver.paginators import PAGINATORS, AsyncPaginator, paginator_model
from raydynamo.driver.resource import AsyncTable
from raydynamo.driver.waiters import WAITERS, AsyncWaiter, waiter_model

CLOSED = "This raydynamo client has been closed."


class AsyncClient:
    """The DynamoDB low-level client as coroutines, over a ``RequestHandler``.

    ``attempts_max`` bounds the attempts per call for throttling errors (boto3: 10); ``sleep``
    (default ``asyncio.sleep``; sync callables are accepted for tests) is used for backoff and
    waiters; ``owns_handler`` makes ``close()`` also close the handler.
    """

    exceptions: ClientExceptions = CLIENT_EXCEPTIONS

    def __init__(
        self,
        handler: RequestHandler,
        *,
        attempts_max: int = ATTEMPTS_MAX_DEFAULT,
        sleep: Sleep | None = None,
        owns_handler: bool = False,
        rng: random.Random | None = None,
    ) -> None:
        if not callable(getattr(handler, "call", None)):
            raise TypeError(f"handler must have an async call() method, got {handler!r}")
        self._invoker = Invoker(handler, attempts_max=attempts_max, sleep=sleep, rng=rng)
        self._owns_handler = owns_handler
        self._closed = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(handler={self._invoker.handler!r})"

    @property
    def handler(self) -> RequestHandler:
        return self._invoker.handler

    async def _invoke(self, operation: Operation, request: dict[str, Any]) -> dict[str, Any]:
        if self._closed:
            raise RuntimeError(CLOSED)
        return await self._invoker.invoke(operation.name, request)

    def get_waiter(self, waiter_name: str) -> AsyncWaiter:
        return AsyncWaiter(waiter_model(waiter_name), self._invoker)

    @property
    def waiter_names(self) -> list[str]:
        return sorted(WAITERS)

    def get_paginator(self, operation_name: str) -> AsyncPaginator:
        model = paginator_model(operation_name)
        return AsyncPaginator(model, getattr(self, model.method))

    def can_paginate(self, operation_name: str) -> bool:
        return operation_name in PAGINATORS

    def Table(self, name: str) -> AsyncTable:  # boto3's method name
        """The resource-style view of table ``name`` (no request is sent)."""
        return AsyncTable(self, name)

    async def close(self) -> None:
        """Refuse further calls; close the handler when this client owns it."""
        if self._closed:
            return
        self._closed = True
        if self._owns_handler:
            aclose: Callable[[], Coroutine[Any, Any, Any]] | None
            aclose = getattr(self._invoker.handler, "aclose", None)
            if aclose is not None:
                await aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _async_method(operation: Operation) -> Callable[..., Coroutine[Any, Any, dict[str, Any]]]:
    async def method(self: AsyncClient, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return await self._invoke(operation, prepare_request(operation, args, kwargs))

    return method


install_operations(AsyncClient, _async_method)
