"""One DynamoDB endpoint per Ray node, for a service started by ``raydynamo up``.

Role: ``start_node_endpoints`` places an ``EndpointActor`` on every alive Ray node (pinned
there, detached, named ``raydynamo-endpoint-<node id prefix>`` in the service's namespace). Each
actor runs the endpoint server in a thread of its own, with a router embedded in the actor's
process, on ``endpoint.port`` of that node: clients use the endpoint of any node. Sockets are
opened with ``SO_REUSEPORT``, so several Ray nodes on one machine share the port instead of
failing. ``node_endpoints`` lists the running ones and their URLs (``raydynamo status``);
``stop_node_endpoints`` stops them (``raydynamo down``).

An endpoint listening on every interface (``host: 0.0.0.0``) reports its node's IP address.

Imports ray: this is a shell.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from raydynamo.config import RaydynamoConfig, config_from_dict
from raydynamo.endpoint.server import EndpointServer, bind_socket, build_app, endpoint_url
from raydynamo.limits import ENDPOINT_CALL_TIMEOUT_S

log = logging.getLogger(__name__)

ENDPOINT_ACTOR_PREFIX = "raydynamo-endpoint-"
NODE_ID_CHARS = 12
START_TIMEOUT_S = 60.0
WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def endpoint_actor_name(node_id: str) -> str:
    return f"{ENDPOINT_ACTOR_PREFIX}{node_id[:NODE_ID_CHARS]}"


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=0, max_concurrency=4)
class EndpointActor:
    """Runs the endpoint server of one Ray node in a thread; answers where it listens."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config_from_dict(config)
        self.started = threading.Event()
        self.failure: str | None = None
        self.server: EndpointServer | None = None
        self.thread = threading.Thread(target=self._run, name="raydynamo-endpoint", daemon=True)
        self.thread.start()
        if not self.started.wait(START_TIMEOUT_S):
            self.failure = self.failure or f"not started within {START_TIMEOUT_S} s"

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except Exception as err:  # reported by url(); the actor stays up to say so
            log.exception("the endpoint server failed")
            self.failure = f"{type(err).__name__}: {err}"
        finally:
            self.started.set()

    async def _serve(self) -> None:
        endpoint = self.config.endpoint
        sock = bind_socket(endpoint.host, endpoint.port, reuse_port=True)
        self.server = EndpointServer(build_app(self.config), endpoint, sock)
        serving = asyncio.create_task(self.server.serve())
        while not self.server.started and not serving.done():
            await asyncio.sleep(0.02)
        self.started.set()
        await serving

    def url(self) -> dict[str, Any]:
        """``{"node_id", "url"}``, or ``{"node_id", "error"}`` when the server is not running."""
        node_id = ray.get_runtime_context().get_node_id()
        if self.failure is not None or self.server is None or not self.server.started:
            return {"node_id": node_id, "error": self.failure or "not running"}
        endpoint = self.config.endpoint
        if endpoint.host in WILDCARD_HOSTS:
            reachable = endpoint.model_copy(update={"host": ray.util.get_node_ip_address()})
            return {"node_id": node_id, "url": endpoint_url(reachable, self.server.port)}
        return {"node_id": node_id, "url": self.server.url}

    def shutdown(self) -> None:
        if self.server is not None:
            self.server.stop()
        self.thread.join(ENDPOINT_CALL_TIMEOUT_S)


def start_node_endpoints(config: RaydynamoConfig) -> list[dict[str, Any]]:
    """An endpoint on every alive Ray node (existing ones are kept); their ``url()`` answers."""
    actors = []
    for node in ray.nodes():
        if not node.get("Alive"):
            continue
        actors.append(
            EndpointActor.options(
                name=endpoint_actor_name(node["NodeID"]),
                namespace=config.cluster.namespace,
                get_if_exists=True,
                lifetime="detached",
                scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False),
            ).remote(config.model_dump())
        )
    return list(ray.get([actor.url.remote() for actor in actors], timeout=START_TIMEOUT_S * 2))


def _endpoint_actor_names(config: RaydynamoConfig) -> list[str]:
    if not ray.is_initialized():  # never let Ray auto-connect to whatever cluster runs here
        return []
    namespace = config.cluster.namespace
    return sorted(
        entry["name"]
        for entry in ray.util.list_named_actors(all_namespaces=True)
        if entry.get("namespace") == namespace
        and entry.get("name", "").startswith(ENDPOINT_ACTOR_PREFIX)
    )


def node_endpoints(config: RaydynamoConfig) -> list[dict[str, Any]]:
    """Where each running node endpoint listens (or why it does not)."""
    answers = []
    for name in _endpoint_actor_names(config):
        try:
            actor = ray.get_actor(name, namespace=config.cluster.namespace)
        except ValueError:  # killed a moment ago: the name list lags behind
            continue
        try:
            answers.append(ray.get(actor.url.remote(), timeout=ENDPOINT_CALL_TIMEOUT_S))
        except Exception as err:
            node_id = name.removeprefix(ENDPOINT_ACTOR_PREFIX)
            answers.append({"node_id": node_id, "error": repr(err)})
    return answers


def stop_node_endpoints(config: RaydynamoConfig) -> list[str]:
    """Stop every node endpoint; return the names of those that were running."""
    stopped = []
    for name in _endpoint_actor_names(config):
        try:
            actor = ray.get_actor(name, namespace=config.cluster.namespace)
        except ValueError:
            continue
        with contextlib.suppress(Exception):
            ray.get(actor.shutdown.remote(), timeout=ENDPOINT_CALL_TIMEOUT_S)
        ray.kill(actor, no_restart=True)
        stopped.append(name)
    return stopped
