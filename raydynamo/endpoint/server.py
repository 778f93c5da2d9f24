"""Running the endpoint application: uvicorn on a bound socket, TLS, the embedded router.

Role: build the ASGI application for a configuration (``build_app``: the router embedded in
this process, SigV4 when configured) and serve it with uvicorn (``EndpointServer``), on a socket
bound here (``bind_socket``; with ``SO_REUSEPORT`` where several endpoints share a port).

Why uvicorn: measured on this machine against granian (see the README's dependency list and
``bench/endpoint_servers.py``), and it runs inside the caller's own event loop and process,
which the embedded router needs (it is a Ray driver or lives in an actor).

Bounds: uvicorn refuses connections past ``endpoint.concurrency_max`` (503, which botocore
retries), headers past its 16 KB default, and idle keep-alive connections after
``KEEP_ALIVE_S``; stopping waits ``GRACEFUL_SHUTDOWN_S`` at most for open connections; the
application bounds bodies (``raydynamo.endpoint.app``).

Imports ray only through the router it embeds (``build_app``).
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import uvicorn

from raydynamo.config import EndpointConfig, RaydynamoConfig
from raydynamo.endpoint.app import EndpointApp
from raydynamo.endpoint.sigv4 import SigV4Verifier

log = logging.getLogger(__name__)

KEEP_ALIVE_S = 30  # botocore keeps pooled connections; DynamoDB keeps idle ones open too
LISTEN_BACKLOG = 1024
GRACEFUL_SHUTDOWN_S = 5  # an idle TLS client would otherwise hold shutdown for asyncio's 30 s


def router_operations() -> frozenset[str]:
    """The operations the router serves (what ``Router.call`` dispatches on)."""
    from raydynamo.actors.router import CONTROL_OPERATIONS, DATA_OPERATIONS

    return frozenset(DATA_OPERATIONS) | frozenset(CONTROL_OPERATIONS)


def verifier_for(endpoint: EndpointConfig) -> SigV4Verifier | None:
    if endpoint.auth == "none":
        return None
    return SigV4Verifier({c.access_key_id: c.secret_access_key for c in endpoint.credentials})


def build_app(config: RaydynamoConfig, handler: Any | None = None) -> EndpointApp:
    """The application for ``config``; ``handler`` defaults to a router embedded here."""
    if handler is None:
        from raydynamo.actors.router import Router

        handler = Router(config)
    return EndpointApp(
        handler,
        operations=router_operations(),
        verifier=verifier_for(config.endpoint),
        request_bytes_max=config.endpoint.request_bytes_max,
        buffered_bytes_max=config.endpoint.buffered_bytes_max,
    )


def bind_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port`` 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on such sockets, and without it
    # every answer waits out Nagle and the peer's delayed ACK (about 40 ms, measured)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


def endpoint_url(endpoint: EndpointConfig, port: int) -> str:
    scheme = "https" if endpoint.tls_certificate_path else "http"
    host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
    return f"{scheme}://{host}:{port}"


class EndpointServer:
    """One uvicorn server for ``app`` on ``sock``; ``serve()`` runs until ``stop()``."""

    def __init__(self, app: EndpointApp, endpoint: EndpointConfig, sock: socket.socket) -> None:
        self.sock = sock
        self.port = int(sock.getsockname()[1])
        self.url = endpoint_url(endpoint, self.port)
        options: dict[str, Any] = {
            "lifespan": "on",
            "log_level": "warning",
            "access_log": False,
            "server_header": False,
            "timeout_keep_alive": KEEP_ALIVE_S,
            "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S,
            "limit_concurrency": endpoint.concurrency_max,
            "http": "httptools",
        }
        if endpoint.tls_certificate_path:
            options["ssl_certfile"] = endpoint.tls_certificate_path
            options["ssl_keyfile"] = endpoint.tls_key_path
        self.server = uvicorn.Server(uvicorn.Config(app, **options))

    @property
    def started(self) -> bool:
        return bool(self.server.started)

    async def serve(self) -> None:
        await self.server.serve(sockets=[self.sock])

    def stop(self) -> None:
        """Ask the server to finish (safe from any thread or a signal handler)."""
        self.server.should_exit = True
