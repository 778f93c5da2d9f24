"""``Client``: the boto3 DynamoDB low-level client, for plain synchronous code and Ray tasks.

Role: ``client.put_item(TableName=..., Item=...)`` with boto3's method names, keyword arguments
(positional ones are refused: ``TypeError``), response dictionaries (typed attribute values,
``ResponseMetadata``) and exceptions (``client.exceptions.ConditionalCheckFailedException``,
``err.response["Error"]["Code"]``, botocore's ``str(err)``), so boto3 code ports by changing the
line that makes the client. Also ``get_waiter``, ``get_paginator``, ``can_paginate``,
``waiter_names``, ``Table(name)`` (the resource layer), ``close()`` and ``with``.

How it bridges to the async core: a ``Client`` wraps an ``AsyncClient`` and a ``LoopThread``, a
private event loop in a daemon thread started on first use. Every method checks its arguments
in the calling thread, then runs the ``AsyncClient`` coroutine on that loop and blocks until it
finishes. Calls from many threads run concurrently on the one loop. Calling from inside a
running event loop works (it blocks that loop for the call, as boto3 would; prefer
``AsyncClient`` there); calling from the private loop's own thread is refused (it would deadlock).

A ``Client`` pickles as its handler and settings, so it can be passed to Ray tasks and actors;
the copy starts its own loop on first use. An unclosed client's thread is stopped when the client
is garbage collected or at interpreter exit.

Must not import ray (the handler, built by the lead's transport, is the only part that does).
"""

from __future__ import annotations

import random
import weakref
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, TypeVar

from raydynamo.driver.aio import AsyncClient
from raydynamo.driver.exceptions import CLIENT_EXCEPTIONS, ClientExceptions
from raydynamo.driver.handler import RequestHandler
from raydynamo.driver.invoke import ATTEMPTS_MAX_DEFAULT, Sleep
from raydynamo.driver.loop_thread import LoopThread
from raydynamo.driver.operations import Operation, install_operations, prepare_request
from raydynamo.driver.paginators import PAGINATORS, Paginator, paginator_model
from raydynamo.driver.resource import Table as TableResource
from raydynamo.driver.waiters import WAITERS, Waiter, waiter_model

T = TypeVar("T")


class Client:
    """The DynamoDB low-level client over a ``RequestHandler`` (see the module docstring).

    ``attempts_max`` bounds the attempts per call for throttling errors (boto3: 10); ``sleep``
    (default ``asyncio.sleep``, run on the private loop; sync callables are accepted for tests)
    is used for backoff and waiters; ``owns_handler`` makes ``close()`` also close the handler.
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
        self._settings: dict[str, Any] = {
            "handler": handler,
            "attempts_max": attempts_max,
            "sleep": sleep,
            "owns_handler": owns_handler,
            "rng": rng,
        }
        self._aio = AsyncClient(handler, attempts_max=attempts_max, sleep=sleep, rng=rng)
        self._owns_handler = owns_handler
        self._closed = False
        self._loop_thread = LoopThread()
        self._finalizer = weakref.finalize(self, self._loop_thread.close)

    def __repr__(self) -> str:
        return f"Client(handler={self._aio.handler!r})"

    @property
    def handler(self) -> RequestHandler:
        return self._aio.handler

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._loop_thread.run(coro)

    def get_waiter(self, waiter_name: str) -> Waiter:
        return Waiter(waiter_model(waiter_name), self._aio._invoker, self._loop_thread)

    @property
    def waiter_names(self) -> list[str]:
        return sorted(WAITERS)

    def get_paginator(self, operation_name: str) -> Paginator:
        model = paginator_model(operation_name)
        return Paginator(model, getattr(self, model.method))

    def can_paginate(self, operation_name: str) -> bool:
        return operation_name in PAGINATORS

    def Table(self, name: str) -> TableResource:  # boto3's method name
        """The resource-style view of table ``name`` (no request is sent)."""
        return TableResource(self._aio.Table(name), self._loop_thread)

    def close(self) -> None:
        """Stop the private loop (cancelling calls still running); close an owned handler."""
        if self._closed:
            return
        self._closed = True
        self._finalizer.detach()
        aclose = getattr(self._aio.handler, "aclose", None)
        final = aclose if self._owns_handler and aclose is not None else None
        if self._loop_thread.started or final is None:
            self._loop_thread.close(final)
            return
        self._loop_thread.close()
        _run_detached(final)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        return dict(self._settings)

    def __setstate__(self, state: dict[str, Any]) -> None:
        handler = state.pop("handler")
        self.__init__(handler, **state)  # type: ignore[misc]


def _run_detached(final: Callable[[], Coroutine[Any, Any, Any]]) -> None:
    """Run an owned handler's ``aclose`` when the client's loop never started."""
    loop_thread = LoopThread("raydynamo-close")
    try:
        loop_thread.run(final())
    finally:
        loop_thread.close()


def _sync_method(operation: Operation) -> Callable[..., dict[str, Any]]:
    def method(self: Client, *args: Any, **kwargs: Any) -> dict[str, Any]:
        request = prepare_request(operation, args, kwargs)
        return self._loop_thread.run(self._aio._invoke(operation, request))

    return method


install_operations(Client, _sync_method)
