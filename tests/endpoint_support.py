"""Helpers of the endpoint tests: a server in a thread, raw HTTP requests, boto3 clients.

``serving(config, handler)`` runs the endpoint (``raydynamo.endpoint.server``) on a free
loopback port in a thread of this process with its own event loop, and yields its URL; with no
``handler`` it embeds a router, which needs this process's Ray (the session fixtures). Tests
talk to it over real sockets, so chunked bodies, gzip and headers are what a client sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from raydynamo.config import RaydynamoConfig

START_TIMEOUT_S = 30.0
ACCESS_KEY_ID = "AKIDEXAMPLE"  # AWS's documented example key, not a secret
SECRET_ACCESS_KEY = "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY"
FAST_WAITERS_DIR = Path(__file__).resolve().parent / "endpoint_data"


def with_endpoint(config: RaydynamoConfig, **endpoint: Any) -> RaydynamoConfig:
    """``config`` with endpoint fields replaced (validated), on a free loopback port."""
    from raydynamo.config import EndpointConfig

    fields = {**config.endpoint.model_dump(), "host": "127.0.0.1", "port": 0, **endpoint}
    return config.model_copy(update={"endpoint": EndpointConfig.model_validate(fields)})


@contextlib.contextmanager
def serving(config: RaydynamoConfig, handler: Any | None = None) -> Iterator[str]:
    """The endpoint for ``config`` running in a thread; yields its URL."""
    from raydynamo.endpoint.server import EndpointServer, bind_socket, build_app

    endpoint = config.endpoint
    sock = bind_socket(endpoint.host, endpoint.port, reuse_port=False)
    holder: dict[str, Any] = {}

    def run() -> None:
        async def main() -> None:
            server = EndpointServer(build_app(config, handler), endpoint, sock)
            holder["server"] = server
            await server.serve()

        try:
            asyncio.run(main())
        except BaseException as err:  # reported to the waiting test below
            holder["error"] = err

    thread = threading.Thread(target=run, name="endpoint-under-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not (holder.get("server") and holder["server"].started):
        if "error" in holder or not thread.is_alive():
            raise RuntimeError(f"the endpoint did not start: {holder.get('error')!r}")
        if time.monotonic() > deadline:
            raise TimeoutError("the endpoint did not start in time")
        time.sleep(0.01)  # polling the server's started flag; the deadline bounds the wait
    try:
        yield holder["server"].url
    finally:
        holder["server"].stop()
        thread.join(START_TIMEOUT_S)


def boto3_client(url: str, **options: Any) -> Any:
    """A boto3 DynamoDB client for ``url`` (one attempt, the example key unless given)."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"max_attempts": 1}, **options.pop("config", {}))
    return boto3.session.Session().client(
        "dynamodb",
        endpoint_url=url,
        region_name=options.pop("region_name", "us-east-1"),
        aws_access_key_id=options.pop("aws_access_key_id", ACCESS_KEY_ID),
        aws_secret_access_key=options.pop("aws_secret_access_key", SECRET_ACCESS_KEY),
        config=config,
        **options,
    )


def fast_waiter_session() -> Any:
    """A boto3 session whose DynamoDB waiters poll every 0.2 s instead of 20 s.

    botocore's own data-path mechanism: ``tests/endpoint_data/dynamodb/2012-08-10/
    waiters-2.json`` is botocore's waiter model with a shorter delay, found before the
    installed one. Everything else is boto3 unchanged.
    """
    import boto3
    import botocore.session

    core = botocore.session.get_session()
    core.get_component("data_loader").search_paths.insert(0, str(FAST_WAITERS_DIR))
    return boto3.session.Session(botocore_session=core)


class RawResponse:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def code(self) -> str:
        return str(self.json()["__type"]).rsplit("#", 1)[-1]

    @property
    def message(self) -> str:
        return str(self.json().get("message", ""))


def raw_request(
    url: str,
    body: bytes | Iterator[bytes],
    *,
    operation: str | None = "PutItem",
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> RawResponse:
    """One HTTP request as written (an iterator body goes chunked); the answer read whole."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    sent = {"Content-Type": "application/x-amz-json-1.0"}
    if operation is not None:
        sent["X-Amz-Target"] = f"DynamoDB_20120810.{operation}"
    sent.update(headers or {})
    try:
        chunked = not isinstance(body, bytes)
        connection.request(method, "/", body=body, headers=sent, encode_chunked=chunked)
        answer = connection.getresponse()
        return RawResponse(
            answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
        )
    finally:
        connection.close()
