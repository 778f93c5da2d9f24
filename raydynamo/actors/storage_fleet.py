"""Starting and stopping a fleet of storage node actors, and placing partition groups on them.

Nodes are named actors (``storage_actor_name``) in the configured namespace, spread over the Ray
cluster's nodes. Until the controller owns placement, ``place_group`` puts a partition's replicas
on the first ``replicas`` storage nodes after a rotating offset, so leaders spread out.
"""

from __future__ import annotations

import contextlib
from typing import Any

import ray

from raydynamo.actors.storage_node import StorageNodeActor, storage_actor_name
from raydynamo.config import RaydynamoConfig


class StorageFleet:
    def __init__(self, config: RaydynamoConfig, *, detached: bool = False) -> None:
        self.config = config
        self.detached = detached
        self.node_ids = [f"sn{i}" for i in range(config.cluster.storage_nodes)]
        self.handles: dict[str, Any] = {}

    def start(self) -> None:
        options: dict[str, Any] = {
            "namespace": self.config.cluster.namespace,
            "num_cpus": self.config.node.num_cpus,
            "scheduling_strategy": "SPREAD",
        }
        if self.detached:
            options["lifetime"] = "detached"
        for node_id in self.node_ids:
            handle = StorageNodeActor.options(
                name=storage_actor_name(node_id), get_if_exists=True, **options
            ).remote(node_id, self.config.model_dump())
            self.handles[node_id] = handle
        ray.get([h.ping.remote() for h in self.handles.values()])

    def place_group(self, partition_id: str, offset: int) -> list[str]:
        """Host ``partition_id`` on ``replicas`` nodes and make the first one campaign."""
        n = self.config.cluster.replicas
        members = [self.node_ids[(offset + i) % len(self.node_ids)] for i in range(n)]
        ray.get([self.handles[m].host_partition.remote(partition_id, members) for m in members])
        ray.get(self.handles[members[0]].campaign.remote(partition_id))
        return members

    def stop(self) -> None:
        for handle in self.handles.values():
            with contextlib.suppress(Exception):
                ray.get(handle.shutdown.remote(), timeout=10)
            ray.kill(handle, no_restart=True)
        self.handles.clear()
