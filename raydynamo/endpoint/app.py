"""The ASGI application speaking DynamoDB's JSON 1.0 protocol in front of a request handler.

Role: one request at a time, in this order (each refusal is DynamoDB's error, never a stack
trace; nothing from the inside, such as exception text, reaches the client):

1. ``GET /`` (or ``HEAD``) answers a health check; any other method but ``POST`` is refused.
2. The body is read up to DynamoDB's 16 MB limit, whether it comes with a ``Content-Length`` or
   chunked: past the limit the rest is read and thrown away (up to another limit's worth, so the
   client is still listening when the 413 answer arrives) and never kept. All requests together
   hold at most ``buffered_bytes_max`` of bodies (``BufferBudget``; 503 past it).
3. ``X-Amz-Target: DynamoDB_20120810.<Operation>`` must name an operation the handler serves
   (``UnknownOperationException`` otherwise); the content type must be JSON.
4. With SigV4 configured, the signature is verified over the body as sent
   (``raydynamo.endpoint.sigv4``), before anything parses it.
5. A ``Content-Encoding: gzip`` (or ``deflate``) body is inflated, again within 16 MB.
6. The JSON is parsed and checked against botocore's model (``raydynamo.endpoint.shapes``):
   exact numbers, base64 decoded, unknown members dropped.
7. ``handler.call(operation, request, request_id=...)``, the id derived from the SDK's
   ``amz-sdk-invocation-id`` so that SDK retries are applied at most once (``operation_id``);
   its ``ClientError`` becomes an error answer, anything else an ``InternalServerError``
   (logged here with its traceback, not sent).

Every answer carries ``x-amzn-RequestId`` and ``x-amz-crc32`` (``raydynamo.endpoint.wire``).
The handler is any ``RequestHandler`` (the driver's contract); the server wiring embeds the
router. Concurrency is the server's: each request is a task on the one event loop, and the
handler coalesces concurrent requests itself.

Pure: must not import ray or rocksdict.
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from typing import Any

from raydynamo.api.errors import (
    ClientError,
    InternalServerError,
    SerializationException,
    ServiceUnavailable,
)
from raydynamo.driver.handler import RequestHandler
from raydynamo.endpoint import shapes
from raydynamo.endpoint.sigv4 import SignedRequest, SigV4Verifier
from raydynamo.endpoint.wire import (
    ACCEPTED_CONTENT_TYPES,
    INTERNAL_ERROR,
    REQUEST_BYTES_MAX,
    TARGET_PREFIX,
    UNKNOWN_OPERATION,
    RequestEntityTooLarge,
    UnknownOperationException,
    encode_body,
    error_body,
    new_request_id,
    response_headers,
)

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

HEALTH_TEXT = b"healthy: raydynamo "
BUFFERED_BYTES_MAX = 256 * 1024 * 1024
BUSY = "The endpoint holds too many request bytes at once; retry shortly"
OPERATION_ID_CHARS = 32


class ClientDisconnected(Exception):
    """The client went away before its request was read; nobody is left to answer."""


def _headers(scope: Scope) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").lower()
        headers.setdefault(name, []).append(raw_value.decode("latin-1"))
    return headers


def _first(headers: dict[str, list[str]], name: str) -> str | None:
    values = headers.get(name)
    return values[0] if values else None


def too_large(limit_bytes: int) -> RequestEntityTooLarge:
    return RequestEntityTooLarge(f"Request size exceeded {limit_bytes} bytes")


async def _drain(receive: Receive, bytes_max: int) -> None:
    """Read and drop the rest of a refused body, up to ``bytes_max``."""
    dropped = 0
    while dropped <= bytes_max:
        message = await receive()
        if message["type"] != "http.request":
            return
        dropped += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


class BufferBudget:
    """Bytes of request bodies that all requests together hold in memory, with a ceiling.

    Each request is bounded by the 16 MB limit; this bounds their sum, so many large requests
    at once are answered ``ServiceUnavailable`` (which clients retry) instead of exhausting
    memory. Single-threaded: only the event loop touches it.
    """

    def __init__(self, bytes_max: int) -> None:
        self.bytes_max = bytes_max
        self.held_bytes = 0

    def take(self, size: int) -> None:
        if self.held_bytes + size > self.bytes_max:
            raise ServiceUnavailable(BUSY)
        self.held_bytes += size

    def give_back(self, size: int) -> None:
        self.held_bytes -= size
        assert self.held_bytes >= 0, "gave back more request bytes than were taken"


async def read_body(
    receive: Receive, declared_bytes: int | None, limit_bytes: int, budget: BufferBudget
) -> bytes:
    """The request body, refused with ``RequestEntityTooLarge`` past ``limit_bytes``.

    The bytes read are taken from ``budget``; the caller gives ``len(body)`` back when done
    with the request (on a refusal here they are given back before raising).
    """
    if declared_bytes is not None and declared_bytes > limit_bytes:
        await _drain(receive, limit_bytes)
        raise too_large(limit_bytes)
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise ClientDisconnected()
            chunk = message.get("body", b"")
            if size + len(chunk) > limit_bytes:
                if message.get("more_body", False):
                    await _drain(receive, limit_bytes)
                raise too_large(limit_bytes)
            budget.take(len(chunk))
            size += len(chunk)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)
    except BaseException:
        budget.give_back(size)
        raise


def operation_id(
    headers: dict[str, list[str]], signer: str, operation: str, body: bytes
) -> str | None:
    """The id of the client operation a request is an attempt of, or None when it has none.

    AWS SDKs send ``amz-sdk-invocation-id``, one UUID per operation kept on every retry of it;
    with it, a retry after a timeout is applied at most once (the router deduplicates by this
    id). Hashed with the signer's key, the operation and the body, so that another client, or
    the same id reused for another request, can never be answered with someone else's result.
    """
    invocation = _first(headers, "amz-sdk-invocation-id")
    if not invocation:
        return None
    digest = hashlib.sha256()
    for part in (signer.encode(), invocation.encode(), operation.encode()):
        digest.update(len(part).to_bytes(4, "big") + part)
    digest.update(body)
    return digest.hexdigest()[:OPERATION_ID_CHARS]


def inflate(body: bytes, encoding: str, limit_bytes: int) -> bytes:
    """``body`` decoded from its ``Content-Encoding``, within ``limit_bytes``."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip":
        window_bits = 16 + zlib.MAX_WBITS
    elif encoding == "deflate":
        window_bits = zlib.MAX_WBITS
    else:
        raise SerializationException(f"Unsupported Content-Encoding: {encoding}")
    inflater = zlib.decompressobj(window_bits)
    try:
        inflated = inflater.decompress(body, limit_bytes + 1)
    except zlib.error:
        raise SerializationException(f"The request body is not valid {encoding} data") from None
    if len(inflated) > limit_bytes or inflater.unconsumed_tail:
        raise too_large(limit_bytes)
    if not inflater.eof:
        raise SerializationException(f"The request body is not valid {encoding} data")
    return inflated


class EndpointApp:
    """The ASGI 3 application (see the module docstring)."""

    def __init__(
        self,
        handler: RequestHandler,
        *,
        operations: Collection[str],
        verifier: SigV4Verifier | None = None,
        request_bytes_max: int = REQUEST_BYTES_MAX,
        buffered_bytes_max: int = BUFFERED_BYTES_MAX,
    ) -> None:
        self.handler = handler
        self.operations = frozenset(operations)
        self.verifier = verifier
        self.request_bytes_max = request_bytes_max
        self.budget = BufferBudget(buffered_bytes_max)
        self.decoders = shapes.ShapeDecoders()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request_id = new_request_id()
        method = scope.get("method", "")
        if method in ("GET", "HEAD"):
            await self._send(send, 200, HEALTH_TEXT, request_id, "text/plain", method == "HEAD")
            return
        try:
            if method != "POST":
                raise UnknownOperationException(UNKNOWN_OPERATION)
            response = await self._answer(scope, receive)
            status, body = 200, encode_body(response)
        except ClientDisconnected:
            return
        except ClientError as err:
            status, body = _error_answer(err)
        except Exception:
            log.exception("request %s failed inside the endpoint", request_id)
            status, body = _error_answer(InternalServerError(INTERNAL_ERROR))
        await self._send(send, status, body, request_id)

    async def _answer(self, scope: Scope, receive: Receive) -> dict[str, Any]:
        headers = _headers(scope)
        declared = _first(headers, "content-length")
        declared_bytes = int(declared) if declared and declared.isdigit() else None
        raw = await read_body(receive, declared_bytes, self.request_bytes_max, self.budget)
        held = len(raw)
        try:
            operation = self._operation(headers, raw)
            signer = ""
            if self.verifier is not None:
                signer = self.verifier.verify(_signed_request(scope, headers, raw))
            request_id = operation_id(headers, signer, operation, raw)
            encoding = _first(headers, "content-encoding") or ""
            body = inflate(raw, encoding, self.request_bytes_max)
            if body is not raw:
                self.budget.take(len(body))
                held += len(body)
            model = shapes.operation_model(operation)
            assert model is not None  # _operation only lets DynamoDB's operations through
            request = self.decoders.decode_input(model, shapes.parse_json(body))
            del raw, body
            response = await self.handler.call(operation, request, request_id=request_id)
        finally:
            self.budget.give_back(held)
        if not isinstance(response, dict):
            raise TypeError(f"handler returned {type(response).__name__}")
        response.pop("ResponseMetadata", None)
        return response

    def _operation(self, headers: dict[str, list[str]], body: bytes) -> str:
        content_type = (_first(headers, "content-type") or "").split(";")[0].strip().lower()
        if body and content_type not in ACCEPTED_CONTENT_TYPES:
            raise UnknownOperationException(UNKNOWN_OPERATION)
        prefix, _, operation = (_first(headers, "x-amz-target") or "").partition(".")
        if prefix != TARGET_PREFIX or operation not in self.operations:
            raise UnknownOperationException(UNKNOWN_OPERATION)
        if shapes.operation_model(operation) is None:
            raise UnknownOperationException(UNKNOWN_OPERATION)
        return operation

    async def _send(
        self,
        send: Send,
        status: int,
        body: bytes,
        request_id: str,
        content_type: str | None = None,
        head_only: bool = False,
    ) -> None:
        headers = response_headers(body, request_id)
        if content_type is not None:
            headers[0] = (b"content-type", content_type.encode())
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head_only else body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                aclose = getattr(self.handler, "aclose", None)
                if aclose is not None:
                    try:
                        await aclose()
                    except Exception:
                        log.exception("closing the request handler failed")
                await send({"type": "lifespan.shutdown.complete"})
                return


def _error_answer(err: ClientError) -> tuple[int, bytes]:
    try:
        return type(err).http_status, encode_body(error_body(err))
    except TypeError:  # an error member that cannot travel: drop the members
        log.exception("error members of %s cannot be encoded", err.code)
        plain = {"__type": error_body(err)["__type"], "message": err.message}
        return type(err).http_status, encode_body(plain)


def _signed_request(scope: Scope, headers: dict[str, list[str]], body: bytes) -> SignedRequest:
    raw_path = scope.get("raw_path") or scope.get("path", "/").encode()
    return SignedRequest(
        method=scope.get("method", "POST"),
        scheme=scope.get("scheme", "http"),
        path=raw_path.decode("latin-1") if isinstance(raw_path, bytes) else str(raw_path),
        query_string=scope.get("query_string", b"").decode("latin-1"),
        headers=headers,
        body=body,
    )
