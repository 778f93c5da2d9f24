"""The one boundary between the driver's client surface and everything below it.

Role: ``RequestHandler`` is all the client layer (``client``, ``aio``, ``resource``) knows of the
system underneath. The lead's transport (routers, Ray actors, ``connect()``) implements it; the
tests implement it with a dict-backed fake. The client layer never imports ray: whatever moves the
request lives behind ``call``.

Contract of ``call``:

- ``operation`` is DynamoDB's operation name (``"PutItem"``, ``"Query"``, ``"CreateTable"``...);
  ``request`` and the returned response are DynamoDB's low-level JSON shapes, with typed attribute
  values (``{"S": ...}``, ``{"N": "..."}``, ``{"B": bytes}``; binaries as ``bytes``, not base64).
- Every failure is raised as a subclass of ``raydynamo.api.errors.ClientError``. The client adds
  the operation name and ``ResponseMetadata``; anything else that escapes is a broken contract and
  reaches the user as ``InternalServerError`` (chained to the original for debugging).
- The request belongs to the caller: an in-process handler must not keep references into it after
  returning, and must return a response the caller may mutate (no references to stored state).
  The client does not copy requests or responses (copying would cost more than the call).
- ``call`` may run on any event loop (the sync client runs it on its own private loop in a
  background thread; the async client on the caller's loop), and concurrently with itself.
- ``request_id`` is the client's id for the operation, the same on every attempt of it: a
  handler that retries or forwards must keep it, so that the service applies the operation at
  most once.
- The response may carry ``ResponseMetadata`` with a ``RequestId``; the client keeps that id and
  fills in the rest (``HTTPStatusCode``, ``HTTPHeaders``, ``RetryAttempts``).

Optional: a handler with an ``async def aclose()`` is closed by a client that owns it
(``Client(handler, owns_handler=True)``); see ``ClosableRequestHandler``.

This module must not import ray.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class RequestHandler(Protocol):
    """Executes one DynamoDB operation (see the module docstring for the contract)."""

    async def call(
        self, operation: str, request: dict[str, Any], request_id: str | None = None
    ) -> dict[str, Any]:
        """Run ``operation`` with ``request``; raise ``ClientError`` subclasses on failure.
        ``request_id`` names the operation across retries (a retry with the same id is applied
        at most once); None lets the handler make one up."""
        ...


@runtime_checkable
class ClosableRequestHandler(RequestHandler, Protocol):
    """A handler holding resources (connections, actor handles) released by ``aclose``."""

    async def aclose(self) -> None:
        """Release the handler's resources; later calls may fail."""
        ...
