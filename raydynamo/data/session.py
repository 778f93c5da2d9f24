"""A router of its own on a private event loop: how the driver side and each Ray Data task talk
to the service.

``DataSession(config)`` embeds a ``Router`` (as ``raydynamo.connect()`` does) and an
``AsyncClient`` over it (throttling retries, request ids, DynamoDB's errors), running on a
``LoopThread``; ``run(coro)`` runs a coroutine there from plain synchronous code (a read task's
generator, a datasink's ``write``). ``open_session`` on the driver first makes sure Ray and the
service are up, as ``connect()`` does; tasks run inside that Ray and only need the session.

``client_error_in(err)`` digs a ``ClientError`` out of whatever Ray and Ray Data wrapped it in,
and ``plain_error`` rebuilds it from its code and message only, so users never see a Ray
traceback, a pid or an address.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

from raydynamo.actors.router import Router
from raydynamo.api.errors import ClientError, client_facing, from_wire
from raydynamo.config import RaydynamoConfig
from raydynamo.driver.aio import AsyncClient
from raydynamo.driver.loop_thread import LoopThread

T = TypeVar("T")


class DataSession:
    def __init__(self, config: RaydynamoConfig) -> None:
        self.config = config
        self.router = Router(config)
        self.client = AsyncClient(self.router)
        self.loop = LoopThread("raydynamo-data")

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run(coro)

    def close(self) -> None:
        self.loop.close(self.router.aclose)

    def __enter__(self) -> DataSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_session(config: RaydynamoConfig, address: str | None) -> DataSession:
    """A session on the driver: Ray initialized and the service running (started embedded when
    there is none and no ``address`` was given), as ``raydynamo.connect`` does."""
    from raydynamo.driver.connect import _ensure_service

    _ensure_service(address, config)
    return DataSession(config)


def client_error_in(err: BaseException) -> ClientError | None:
    """The first ``ClientError`` in ``err``'s chain of causes (Ray's task errors included)."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [err]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        cause = getattr(current, "cause", None)  # a RayTaskError's original exception
        if isinstance(cause, ClientError):
            return cause
        if isinstance(current, ClientError) and cause is None:
            return current
        stack.extend([current.__cause__, current.__context__])
        if isinstance(cause, BaseException):
            stack.append(cause)
    return None


def plain_error(err: ClientError, operation: str) -> ClientError:
    """The same error rebuilt from its wire form (its code, message and members only), as a
    client may see it (``client_facing``: a server-side error gets its code's plain words)."""
    return from_wire(client_facing(err).to_wire(), operation)
