"""Starting, finding and stopping the raydynamo service on a Ray cluster.

The service is a set of named actors in the configured namespace: storage nodes
(``raydynamo-storage-sn<i>``), metadata shards (``raydynamo-meta-<i>``), the controller
(``raydynamo-controller``) and routers (``raydynamo-router-<i>``). ``start_service`` starts the
missing ones (detached for service mode, so they outlive the job that started them) and returns
once the controller answers; ``stop_service`` kills them all. Storage nodes are pinned to Ray
nodes round-robin, so a restarted storage node comes back where its RocksDB directory is, and so
that each Ray node is a zone the controller can spread replicas over.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from raydynamo.actors.controller import CONTROLLER_NAME, Controller
from raydynamo.actors.metadata_shard import MetadataShard, metadata_shard_name
from raydynamo.actors.router import RouterActor
from raydynamo.actors.storage_node import StorageNodeActor, storage_actor_name
from raydynamo.config import RaydynamoConfig

log = logging.getLogger(__name__)


def router_actor_name(index: int) -> str:
    return f"raydynamo-router-{index}"


def service_running(namespace: str) -> bool:
    try:
        ray.get_actor(CONTROLLER_NAME, namespace=namespace)
    except ValueError:
        return False
    return True


def _options(config: RaydynamoConfig, name: str, detached: bool) -> dict[str, Any]:
    """Control-plane actors prefer the node that starts the service (the head, for a job), so
    that losing a worker node leaves them running; they may move if that node dies."""
    here = ray.get_runtime_context().get_node_id()
    options: dict[str, Any] = {
        "name": name,
        "namespace": config.cluster.namespace,
        "get_if_exists": True,
        "num_cpus": 0,
        "scheduling_strategy": NodeAffinitySchedulingStrategy(here, soft=True),
    }
    if detached:
        options["lifetime"] = "detached"
    return options


def start_service(config: RaydynamoConfig, *, detached: bool) -> list[Any]:
    """Start (or join) the service described by ``config``; return every actor handle.

    Without ``detached``, the actors live as long as the returned handles do: keep them.
    """
    handles: list[Any] = []
    alive = sorted(n["NodeID"] for n in ray.nodes() if n.get("Alive"))
    storage = []
    for i in range(config.cluster.storage_nodes):
        node_id = f"sn{i}"
        options = _options(config, storage_actor_name(node_id), detached)
        options["num_cpus"] = config.node.num_cpus
        options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(
            alive[i % len(alive)], soft=False
        )
        storage.append(StorageNodeActor.options(**options).remote(node_id, config.model_dump()))
    ray.get([node.ping.remote() for node in storage])
    handles.extend(storage)
    shards = config.cluster.metadata_shards
    for i in range(shards):
        handles.append(
            MetadataShard.options(**_options(config, metadata_shard_name(i), detached)).remote(
                i, shards, config.cluster.namespace, CONTROLLER_NAME
            )
        )
    controller = Controller.options(**_options(config, CONTROLLER_NAME, detached)).remote(
        config.model_dump()
    )
    ray.get(controller.ping.remote())
    handles.append(controller)
    for i in range(config.cluster.routers):
        handles.append(
            RouterActor.options(**_options(config, router_actor_name(i), detached)).remote(
                config.model_dump()
            )
        )
    return handles


def service_actor_names(config: RaydynamoConfig) -> list[str]:
    names = [storage_actor_name(f"sn{i}") for i in range(config.cluster.storage_nodes)]
    names += [metadata_shard_name(i) for i in range(config.cluster.metadata_shards)]
    names += [router_actor_name(i) for i in range(config.cluster.routers)]
    return [CONTROLLER_NAME, *names]


def stop_service(config: RaydynamoConfig) -> list[str]:
    """Kill every actor of the service; return the names that were running."""
    stopped = []
    for name in service_actor_names(config):
        try:
            handle = ray.get_actor(name, namespace=config.cluster.namespace)
        except ValueError:
            continue
        if name.startswith("raydynamo-storage-"):
            with contextlib.suppress(Exception):
                ray.get(handle.shutdown.remote(), timeout=10)
        ray.kill(handle, no_restart=True)
        stopped.append(name)
    return stopped
