"""``raydynamo serve``: a local Ray, the service and the DynamoDB endpoint, in the foreground.

Role: what ``moto_server`` or DynamoDB Local are for a DynamoDB user: one command, then
``endpoint_url=http://127.0.0.1:8000``. It starts a Ray instance of its own, the service on it
(storage nodes keep their RocksDB under ``storage.data_dir``, so a second ``serve`` finds the
tables of the first), and the endpoint with the router embedded in this process; it prints the
URL and serves until Ctrl-C or SIGTERM, then stops the service's actors and shuts Ray down, so
that no process it started outlives it.

One server process: measured here, a second one sharing the port through ``SO_REUSEPORT``
(each a Ray driver with a router of its own) bought no throughput (``bench.endpoint_servers``).

Imports ray: this is a shell.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any, TextIO

from raydynamo.config import RaydynamoConfig, config_from_dict
from raydynamo.endpoint.server import EndpointServer, bind_socket, build_app
from raydynamo.ray_start import start_ray

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0  # a Ray whose raylet already died (a signal to the whole group) hangs


def _bounded(step: Callable[[], object], timeout_s: float) -> None:
    """Run ``step`` in a daemon thread for at most ``timeout_s`` (shutdown must not hang)."""
    worker = threading.Thread(target=step, name="raydynamo-stop", daemon=True)
    worker.start()
    worker.join(timeout_s)


def with_address(config: RaydynamoConfig, host: str | None, port: int | None) -> RaydynamoConfig:
    """``config`` with the endpoint's host and port replaced where given (validated)."""
    changes: dict[str, Any] = {}
    if host is not None:
        changes["host"] = host
    if port is not None:
        changes["port"] = port
    if not changes:
        return config
    data = config.model_dump()
    data["endpoint"].update(changes)
    return config_from_dict(data)  # ConfigError naming the field


def _install_stop_handlers(stop: Callable[[], None]) -> None:
    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)


def run_serve(config: RaydynamoConfig, out: TextIO = sys.stdout) -> int:
    """Serve until a signal; return the exit status."""
    import ray

    from raydynamo.actors.service import start_service, stop_service

    endpoint = config.endpoint
    handles: list[Any] = []
    try:
        start_ray(  # "local": a Ray of its own, never the cluster a `ray start` left running
            address="local",
            namespace=config.cluster.namespace,
            include_dashboard=False,
            log_to_driver=False,
        )
        handles = start_service(config, detached=False)
        sock = bind_socket(endpoint.host, endpoint.port, reuse_port=False)
        server = EndpointServer(build_app(config), endpoint, sock)
        _install_stop_handlers(server.stop)
        asyncio.run(_serve_announced(server, config, out))
        return 0
    finally:
        if ray.is_initialized():
            _bounded(lambda: stop_service(config), STOP_TIMEOUT_S)
            handles.clear()
            ray.shutdown()
        print("raydynamo stopped", file=out, flush=True)


async def _serve_announced(server: EndpointServer, config: RaydynamoConfig, out: TextIO) -> None:
    serving = asyncio.create_task(server.serve())
    deadline = asyncio.get_running_loop().time() + START_TIMEOUT_S
    while not server.started:
        if serving.done():
            await serving  # it failed to start: raise why
            return
        if asyncio.get_running_loop().time() > deadline:
            server.stop()
            await serving
            raise TimeoutError(f"the endpoint did not start within {START_TIMEOUT_S} s")
        await asyncio.sleep(0.02)
    print(
        f"raydynamo is serving DynamoDB at {server.url} (data in {config.storage.data_dir}; "
        "Ctrl-C stops it)",
        file=out,
        flush=True,
    )
    await serving
