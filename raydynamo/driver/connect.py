"""``raydynamo.connect()``: a boto3-shaped client for a raydynamo service on Ray.

- ``connect()``: an embedded local Ray (started if this process has none) with the service
  started inside it (or joined, if this Ray already runs one). Nothing to configure.
- ``connect("auto")`` or ``connect("ray://...")``/``connect("10.0.0.1:6379")``: a running Ray
  cluster on which ``raydynamo up`` started the service; refused clearly if it is not running.

The client embeds a router (``actors.router.Router``) to save a hop. This module and
``actors/`` are the only parts of the driver that import ray.
"""

from __future__ import annotations

import atexit
import logging
import uuid
from pathlib import Path
from typing import Any

from raydynamo.config import RaydynamoConfig, load_config
from raydynamo.driver.aio import AsyncClient
from raydynamo.driver.client import Client
from raydynamo.ray_start import start_ray

log = logging.getLogger(__name__)

# Handles of a service this process started embedded: its actors live as long as these do.
_EMBEDDED_SERVICES: list[Any] = []


class ServiceNotRunning(ConnectionError):
    """The Ray cluster has no raydynamo service in the namespace."""


def _ensure_service(address: str | None, config: RaydynamoConfig) -> None:
    import ray

    from raydynamo.actors.service import service_running, start_service

    namespace = config.cluster.namespace
    if not ray.is_initialized():
        options: dict[str, Any] = {
            "namespace": namespace,
            "include_dashboard": False,
            "log_to_driver": False,
        }
        if address is not None:
            options["address"] = address
        start_ray(**options)
    if service_running(namespace):
        return
    if address is not None:
        raise ServiceNotRunning(
            f"no raydynamo service in namespace {namespace!r} on {address}: start it with "
            "`ray job submit -- raydynamo up --address auto`"
        )
    _EMBEDDED_SERVICES.append(start_service(config, detached=False))


def _config(config: RaydynamoConfig | str | Path | None) -> RaydynamoConfig:
    if isinstance(config, RaydynamoConfig):
        return config
    return load_config(config)


class RouterActorHandler:
    """A ``RequestHandler`` that sends every request to the service's router actors (round
    robin) instead of embedding a router: for processes that should not keep routing state."""

    def __init__(self, config: RaydynamoConfig) -> None:
        import ray

        from raydynamo.actors.service import router_actor_name

        if config.cluster.routers < 1:
            raise ValueError("the service runs no router actors (cluster.routers is 0)")
        self.routers = [
            ray.get_actor(router_actor_name(i), namespace=config.cluster.namespace)
            for i in range(config.cluster.routers)
        ]
        self.next = 0

    async def call(
        self, operation: str, request: dict[str, Any], request_id: str | None = None
    ) -> dict[str, Any]:
        """Round robin over the router actors; a router that dies mid-call is replaced by the
        next one with the same ``request_id`` (so the operation is applied at most once)."""
        import ray

        from raydynamo.api.errors import SERVICE_UNAVAILABLE_MESSAGE, ServiceUnavailable, from_wire

        request_id = request_id or uuid.uuid4().hex
        for _ in range(len(self.routers) + 1):
            router = self.routers[self.next % len(self.routers)]
            self.next += 1
            try:
                answer = await router.call.remote(operation, request, request_id)
            except ray.exceptions.RayError as err:
                # The router actor died, restarts or cannot be reached: try the next one with
                # the same request id. Ray's text (pids, addresses, tracebacks) is logged only.
                log.warning("%s: router actor call failed: %r", operation, err)
                continue
            if "error" in answer:
                raise from_wire(answer["error"], operation)
            return dict(answer["ok"])
        raise ServiceUnavailable(SERVICE_UNAVAILABLE_MESSAGE)


def _handler(config: RaydynamoConfig, embedded_router: bool) -> Any:
    from raydynamo.actors.router import Router

    return Router(config) if embedded_router else RouterActorHandler(config)


def connect(
    address: str | None = None,
    *,
    config: RaydynamoConfig | str | Path | None = None,
    embedded_router: bool = True,
) -> Client:
    """A synchronous client (the boto3 DynamoDB low-level client's methods). With
    ``embedded_router=False`` requests go through the service's router actors."""
    cfg = _config(config)
    _ensure_service(address, cfg)
    client = Client(_handler(cfg, embedded_router), owns_handler=True)
    atexit.register(client.close)
    return client


def connect_async(
    address: str | None = None,
    *,
    config: RaydynamoConfig | str | Path | None = None,
    embedded_router: bool = True,
) -> AsyncClient:
    """An asyncio client with the same methods as coroutines, for async code and actors."""
    cfg = _config(config)
    _ensure_service(address, cfg)
    return AsyncClient(_handler(cfg, embedded_router), owns_handler=True)
