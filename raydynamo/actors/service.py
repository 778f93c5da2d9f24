"""Starting, finding and stopping the raydynamo service on a Ray cluster.

The service is a set of named actors in the configured namespace: storage nodes
(``raydynamo-storage-sn<i>``), metadata shards (``raydynamo-meta-<i>``), the controller
(``raydynamo-controller``) and routers (``raydynamo-router-<i>``). ``start_service`` starts the
missing ones (detached for service mode, so they outlive the job that started them) and returns
once the controller answers; ``stop_service`` kills them all.

Storage nodes are placed by *host* (``metadata.storage_hosts``: the Ray node's address, or an
operator-given Ray node label), never by Ray node id, which is new at every ``ray start``:

1. every host is asked (a zero-CPU task scheduled on it) which data directories it holds; their
   identity records say which storage node and which cluster each belongs to;
2. the cluster id is the one those directories carry (all must agree), or a new one for a new
   service; every storage node is given it and refuses a directory of another cluster;
3. each storage node found is started on the host holding its directory; Ray may restart it on
   any Ray node of that host (they share the machine), never elsewhere;
4. for an existing cluster, storage nodes whose directory was found nowhere are started on the
   host the controller recorded for them in the system partition (read from the storage nodes
   just started, before the controller starts, so that it never counts them as dead), with an
   empty directory: the controller has them join their groups back as new members. One whose
   recorded host is not in the cluster is left unstarted, and the controller heals around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from raydynamo.actors.admission import AdmissionActor, admission_actor_name
from raydynamo.actors.control_ports import ActorHandles
from raydynamo.actors.controller import CONTROLLER_NAME, ControllerActor
from raydynamo.actors.metadata_shard import MetadataShard, metadata_shard_name
from raydynamo.actors.router import RouterActor
from raydynamo.actors.storage_node import StorageNodeActor, storage_actor_name
from raydynamo.actors.system_store import SystemStore
from raydynamo.config import RaydynamoConfig
from raydynamo.limits import DISCOVERY_TIMEOUT_S, RECORDS_TIMEOUT_S, START_TIMEOUT_S
from raydynamo.metadata.storage_hosts import (
    HOST_BY_ADDRESS,
    HOST_LABEL_PREFIX,
    FoundDirectory,
    RayNodeView,
    StorageNodeRecord,
    StoragePlan,
    cluster_id_of,
    live_hosts,
    plan_storage_hosts,
)
from raydynamo.metadata.system_records import SYSTEM_PARTITION, decode_state
from raydynamo.storage.identity import new_cluster_id, scan_identities

log = logging.getLogger(__name__)

HOST_RESOURCE_SHARE = 0.001  # of the ``node:<address>`` resource Ray gives every Ray node


class ServiceStartError(RuntimeError):
    """The service cannot start (no host for storage nodes, a refused data directory, ...)."""


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


def on_host(config: RaydynamoConfig, host: str) -> dict[str, Any]:
    """Ray options that schedule an actor or task on any Ray node of ``host`` (and only there:
    Ray restarts the actor on the same host)."""
    if config.cluster.host_identity == HOST_BY_ADDRESS:
        return {"resources": {f"node:{host}": HOST_RESOURCE_SHARE}}
    key = config.cluster.host_identity[len(HOST_LABEL_PREFIX) :]
    return {"label_selector": {key: host}}


def ray_node_views() -> list[RayNodeView]:
    return [
        RayNodeView(
            str(n["NodeID"]),
            str(n.get("NodeManagerAddress", "")),
            dict(n.get("Labels") or {}),
            bool(n.get("Alive")),
        )
        for n in ray.nodes()
    ]


@ray.remote(num_cpus=0, max_retries=0)
def _scan_data_dir(data_dir: str) -> tuple[list[dict[str, object]], list[str]]:
    found, problems = scan_identities(data_dir)
    return [identity.to_wire() for identity in found], problems


def discover_directories(config: RaydynamoConfig, hosts: list[str]) -> list[FoundDirectory]:
    """The identity record of every data directory each host holds."""
    data_dir = config.storage.data_dir
    refs = {
        host: _scan_data_dir.options(**on_host(config, host)).remote(data_dir) for host in hosts
    }
    found: list[FoundDirectory] = []
    for host, ref in refs.items():
        records, problems = ray.get(ref, timeout=DISCOVERY_TIMEOUT_S)
        for problem in problems:
            log.warning("host %s: %s", host, problem)
        for record in records:
            found.append(
                FoundDirectory(
                    storage_node_id=str(record["storage_node_id"]),
                    cluster_id=str(record["cluster_id"]),
                    directory_id=str(record["directory_id"]),
                    created_on_host=str(record["created_on_host"]),
                    found_on_host=host,
                )
            )
    return found


def read_storage_records(
    config: RaydynamoConfig, started: dict[str, Any]
) -> dict[str, StorageNodeRecord]:
    """The storage node records in the system partition, read through the storage nodes just
    started (none when they host no system partition, or it does not answer in time)."""
    best_slot, members = -1, list[str]()
    for handle in started.values():
        for replica in ray.get(handle.status.remote(), timeout=START_TIMEOUT_S):
            slot = int(replica["config_slot"])
            if replica["partition_id"] == SYSTEM_PARTITION and slot > best_slot:
                best_slot, members = slot, list(replica["members"])
    if not members:
        return {}
    namespace = config.cluster.namespace

    async def load() -> dict[bytes, bytes]:
        store = SystemStore(ActorHandles(namespace), members, namespace, RECORDS_TIMEOUT_S)
        return await store.load()

    try:  # in a thread of its own: the caller may be running an event loop
        with ThreadPoolExecutor(1) as pool:
            pairs = pool.submit(asyncio.run, load()).result(timeout=RECORDS_TIMEOUT_S + 10)
    except Exception as err:
        log.warning("storage node records not read (%s): unknown nodes go where there is room", err)
        return {}
    return decode_state(pairs).nodes


def _start_storage_nodes(
    config: RaydynamoConfig, plan: StoragePlan, node_ids: list[str], cluster_id: str, detached: bool
) -> dict[str, Any]:
    handles: dict[str, Any] = {}
    for node_id in node_ids:
        host = plan.hosts[node_id]
        options = _options(config, storage_actor_name(node_id), detached)
        del options["scheduling_strategy"]
        options["num_cpus"] = config.node.num_cpus
        options.update(on_host(config, host))
        handles[node_id] = StorageNodeActor.options(**options).remote(
            node_id, config.model_dump(), cluster_id, host
        )
    for node_id, handle in handles.items():
        try:
            ray.get(handle.ping.remote(), timeout=START_TIMEOUT_S)
        except Exception as err:
            raise ServiceStartError(
                f"storage node {node_id} did not start: {_cause(err)}"
            ) from None
    return handles


def _cause(err: Exception) -> str:
    """The line of a Ray error that says why an actor's constructor failed."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith(("IdentityMismatch", "raydynamo.storage.identity.IdentityMismatch")):
            return line.split(":", 1)[1].strip()
    return type(err).__name__


def start_service(config: RaydynamoConfig, *, detached: bool) -> list[Any]:
    """Start (or join) the service described by ``config``; return every actor handle.

    Without ``detached``, the actors live as long as the returned handles do: keep them.
    """
    hosts = list(live_hosts(ray_node_views(), config.cluster.host_identity))
    if not hosts:
        raise ServiceStartError(
            f"no Ray node can host a storage node (host identity {config.cluster.host_identity})"
        )
    found = discover_directories(config, hosts)
    cluster_id = cluster_id_of(found) or new_cluster_id()
    node_ids = [f"sn{i}" for i in range(config.cluster.storage_nodes)]
    plan = plan_storage_hosts(node_ids, found, {}, hosts)
    copies: dict[str, set[str]] = {}
    for directory in found:
        copies.setdefault(directory.storage_node_id, set()).add(directory.directory_id)
    # Nodes found once start now; nodes not found (or found twice) wait for the records.
    first = [n for n in node_ids if len(copies.get(n, ())) == 1] if found else node_ids
    started = _start_storage_nodes(config, plan, first, cluster_id, detached)
    rest = [n for n in node_ids if n not in first]
    if rest:
        plan = plan_storage_hosts(node_ids, found, read_storage_records(config, started), hosts)
        for node_id in plan.waiting:
            log.warning("storage node %s waits for its host to join the cluster", node_id)
        startable = [n for n in rest if n in plan.hosts]
        started.update(_start_storage_nodes(config, plan, startable, cluster_id, detached))
    handles = list(started.values())
    shards = config.cluster.metadata_shards
    for i in range(shards):
        handles.append(
            MetadataShard.options(**_options(config, metadata_shard_name(i), detached)).remote(
                i, shards, config.cluster.namespace, CONTROLLER_NAME
            )
        )
    controller = ControllerActor.options(**_options(config, CONTROLLER_NAME, detached)).remote(
        config.model_dump(), cluster_id
    )
    ray.get(controller.ping.remote())
    handles.append(controller)
    for i in range(config.admission.shards):
        handles.append(
            AdmissionActor.options(**_options(config, admission_actor_name(i), detached)).remote(
                config.model_dump()
            )
        )
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
    names += [admission_actor_name(i) for i in range(config.admission.shards)]
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
