"""Extra endpoint server processes sharing one port (``endpoint.processes`` above 1).

Role: the kernel spreads new connections over every socket bound to a port with
``SO_REUSEPORT``, so N processes each running the endpoint (``raydynamo.endpoint.server``) serve
one URL with N event loops and N interpreters. Each worker is a spawned process that joins the
running Ray as a driver (``ray.init(address=<GCS>)``) and embeds a router of its own. Workers
stop on SIGTERM or SIGINT (Ctrl-C reaches the whole process group) and ask Linux to send them
SIGTERM if their parent dies first, so none outlives ``raydynamo serve``.

Imports ray: this is a shell.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import multiprocessing
import signal
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from typing import Any

from raydynamo.config import RaydynamoConfig, config_from_dict

WORKER_START_TIMEOUT_S = 120.0
WORKER_STOP_TIMEOUT_S = 30.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _worker_main(config_data: dict[str, Any], gcs_address: str, port: int, ready: Event) -> None:
    _die_with_parent()
    import ray

    from raydynamo.endpoint.server import EndpointServer, bind_socket, build_app

    config = config_from_dict(config_data)
    ray.init(
        address=gcs_address,
        namespace=config.cluster.namespace,
        log_to_driver=False,
        configure_logging=False,
    )
    sock = bind_socket(config.endpoint.host, port, reuse_port=True)
    server = EndpointServer(build_app(config), config.endpoint, sock)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: server.stop())

    async def serve() -> None:
        serving = asyncio.create_task(server.serve())
        while not server.started and not serving.done():
            await asyncio.sleep(0.02)
        ready.set()
        await serving

    try:
        asyncio.run(serve())
    finally:
        ray.shutdown()


def start_workers(config: RaydynamoConfig, port: int, count: int) -> list[BaseProcess]:
    """``count`` worker processes serving ``port``; returns once each is listening."""
    import ray

    context = multiprocessing.get_context("spawn")
    gcs_address = ray.get_runtime_context().gcs_address
    started: list[tuple[BaseProcess, Event]] = []
    for index in range(count):
        ready = context.Event()
        process = context.Process(
            target=_worker_main,
            args=(config.model_dump(), gcs_address, port, ready),
            name=f"raydynamo-endpoint-{index + 1}",
        )
        process.start()
        started.append((process, ready))
    workers = [process for process, _ in started]
    for process, ready in started:
        if not ready.wait(WORKER_START_TIMEOUT_S):
            stop_workers(workers)
            raise RuntimeError(f"endpoint worker {process.name} did not start in time")
    return workers


def stop_workers(workers: list[BaseProcess]) -> None:
    """SIGTERM every worker, then SIGKILL those still running after the timeout."""
    for process in workers:
        if process.is_alive():
            process.terminate()
    for process in workers:
        process.join(WORKER_STOP_TIMEOUT_S)
        if process.is_alive():
            process.kill()
            process.join(WORKER_STOP_TIMEOUT_S)
