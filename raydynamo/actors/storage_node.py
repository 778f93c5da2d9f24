"""The storage node as a Ray actor: a thin shell around ``NodeHost``.

It opens the node's RocksDB under ``<data_dir>/<node_id>`` (retrying while a dying predecessor
still holds the lock), recovers every hosted replica, and exposes ``NodeHost``'s operations as
actor methods. It is a threaded actor: Ray runs each call in a thread of its pool, the host's
core thread does the work (see ``host.py`` for why threads). Peers reach each other by actor name
(``storage_actor_name``) in the configured namespace, so a node restarted by Ray is found again
without anyone re-wiring handles. Ray restarts the actor after a crash (``max_restarts=-1``).
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

import ray

from raydynamo.actors.host import NodeHost, ReadRefusal
from raydynamo.actors.metrics import Flusher, start_node_metrics
from raydynamo.config import RaydynamoConfig, config_from_dict
from raydynamo.limits import (
    CONTROL_THREADS_MAX,
    GIL_SWITCH_INTERVAL_S,
    PEER_CALL_TIMEOUT_S,
    PEER_THREADS_MAX,
    STORAGE_THREADS_MAX,
)
from raydynamo.metrics import FsyncTally
from raydynamo.node.replies import NoSuchPartition, WriteReply
from raydynamo.storage.data_dir import make_private_dir
from raydynamo.storage.identity import ensure_identity
from raydynamo.storage.rocks import RocksEngine


def _end_process(reason: str) -> None:
    """Crash-only: a storage node that cannot persist or apply ends its process at once (no
    clean-up that could write anything); Ray restarts it and it recovers from its own disk."""
    print(f"raydynamo storage node stops: {reason}", file=sys.stderr, flush=True)
    os._exit(70)


def storage_actor_name(node_id: str) -> str:
    return f"raydynamo-storage-{node_id}"


class RayTransport:
    """Calls ``deliver`` on peer storage nodes found by name; forgets a handle that failed."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.handles: dict[str, Any] = {}
        self.lock = threading.Lock()

    def call(self, peer: str, sender: str, frame: bytes) -> bytes:
        return self._call(peer, "deliver", sender, frame)

    def call_snapshot(self, peer: str, sender: str, frame: bytes) -> bytes:
        """A snapshot chunk to ``peer`` (from a snapshot thread, never the core thread)."""
        return self._call(peer, "snapshot_chunk", sender, frame)

    def _call(self, peer: str, method: str, sender: str, frame: bytes) -> bytes:
        with self.lock:
            handle = self.handles.get(peer)
        if handle is None:
            handle = ray.get_actor(storage_actor_name(peer), namespace=self.namespace)
            with self.lock:
                self.handles[peer] = handle
        try:
            ref = getattr(handle, method).remote(sender, frame)
            return ray.get(ref, timeout=PEER_CALL_TIMEOUT_S)
        except Exception:
            with self.lock:
                self.handles.pop(peer, None)
            raise


@ray.remote(
    max_restarts=-1,
    max_task_retries=0,
    max_concurrency=STORAGE_THREADS_MAX,
    concurrency_groups={"peers": PEER_THREADS_MAX, "control": CONTROL_THREADS_MAX},
)
class StorageNodeActor:
    """Client calls (writes and reads) run in the default group; messages from peer nodes and
    the controller's calls have thread pools of their own, so that clients filling every thread
    can neither stall the replication other nodes wait on (which could deadlock two busy nodes)
    nor make a busy node look dead to the controller's probes."""

    def __init__(
        self, node_id: str, config: dict[str, Any], cluster_id: str | None = None, host: str = ""
    ) -> None:
        """``cluster_id`` is the service's (None for a standalone fleet no controller manages);
        ``host`` the stable host identity this node was placed on. A directory of another
        cluster or storage node is refused (``IdentityMismatch``) before RocksDB opens it: the
        actor dies with that error, and any new start refuses again."""
        # The core thread gives up the GIL during every fsync; with Python's default 5 ms switch
        # interval, getting it back from a busy Ray thread can take longer than the fsync itself.
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        self.node_id = node_id
        self.config: RaydynamoConfig = config_from_dict(config)
        self.placed_on_host = host
        path = os.path.join(self.config.storage.data_dir, node_id)
        path = make_private_dir(path)  # ~ expanded here, mode 0700 (storage/data_dir.py)
        self.opened = ensure_identity(
            path, cluster_id=cluster_id, storage_node_id=node_id, host=host
        )
        fsyncs = FsyncTally()
        metrics_on = self.config.metrics.enabled
        engine = RocksEngine(
            path,
            write_buffer_bytes_max=self.config.storage.write_buffer_bytes_max,
            block_cache_bytes=self.config.storage.block_cache_bytes,
            on_sync=fsyncs.observe if metrics_on else None,
        )
        self.host = NodeHost(
            node_id,
            engine,
            self.config,
            RayTransport(self.config.cluster.namespace),
            seed=os.getpid(),
            on_fatal=_end_process,
        )
        self.host.start()
        self.metrics: Flusher | None = None
        if metrics_on:
            self.metrics = start_node_metrics(node_id, self.host.load, fsyncs, self.config.metrics)

    @ray.method(concurrency_group="control")
    def ping(self) -> str:
        return self.node_id

    @ray.method(concurrency_group="control")
    def host_partition(self, partition_id: str, members: list[str], joining: bool = False) -> None:
        self.host.host_partition(partition_id, tuple(members), joining)

    @ray.method(concurrency_group="control")
    def change_members(self, partition_id: str, members: list[str]) -> bool:
        return self.host.change_members(partition_id, tuple(members))

    @ray.method(concurrency_group="control")
    def campaign(self, partition_id: str) -> None:
        self.host.campaign(partition_id)

    @ray.method(concurrency_group="control")
    def transfer_leadership(self, partition_id: str, target: str) -> bool:
        return self.host.transfer_leadership(partition_id, target)

    @ray.method(concurrency_group="peers")
    def deliver(self, sender: str, frame: bytes) -> bytes:
        return self.host.deliver(sender, frame)

    def write(
        self, partition_id: str, requests: list[tuple[bytes, bytes]], map_version: int = 0
    ) -> list[WriteReply]:
        return self.host.write(partition_id, requests, map_version)

    @ray.method(concurrency_group="control")
    def set_map_version(self, partition_id: str, map_version: int) -> None:
        self.host.set_map_version(partition_id, map_version)

    def read(
        self, partition_id: str, keys: list[bytes], consistent: bool
    ) -> list[bytes | None] | ReadRefusal:
        return self.host.read(partition_id, keys, consistent)

    def read_items(
        self,
        partition_id: str,
        read_requests: list[dict[str, Any]],
        consistent: bool,
        map_version: int = 0,
    ) -> list[dict[str, Any]] | ReadRefusal:
        return self.host.read_items(partition_id, read_requests, consistent, map_version)

    def read_range(
        self, partition_id: str, start: bytes, end: bytes | None, consistent: bool
    ) -> list[tuple[bytes, bytes]] | ReadRefusal:
        return self.host.read_range(partition_id, start, end, consistent)

    @ray.method(concurrency_group="control")
    def partition_stats(self, partition_id: str) -> tuple[int, int] | NoSuchPartition:
        return self.host.partition_stats(partition_id)

    @ray.method(concurrency_group="control")
    def drop_partition(self, partition_id: str) -> None:
        self.host.drop_partition(partition_id)

    @ray.method(concurrency_group="control")
    def node_info(self) -> dict[str, Any]:
        """Where this node runs (its Ray node is its zone) and what it hosts."""
        replicas = self.host.status()
        return {
            "node_id": self.node_id,
            "zone": ray.get_runtime_context().get_node_id(),
            "pid": os.getpid(),
            "replicas": len(replicas),
            "leaders": sum(1 for r in replicas if r["role"] == "leader"),
        }

    @ray.method(concurrency_group="control")
    def status(self) -> list[dict[str, Any]]:
        return self.host.status()

    @ray.method(concurrency_group="control")
    def stats(self) -> dict[str, int]:
        return {**self.host.stats, "calls_out": self.host.peers.calls_out}

    @ray.method(concurrency_group="control")
    def partition_state(self, partition_id: str) -> tuple[int, list[tuple[bytes, bytes]]]:
        return self.host.partition_state(partition_id)

    @ray.method(concurrency_group="control")
    def shutdown(self) -> None:
        if self.metrics is not None:
            self.metrics.stop()
        self.host.close()

    @ray.method(concurrency_group="control")
    def pid(self) -> int:
        return os.getpid()

    # --- identity and checked hosting (the controller's) -------------------------------------

    @ray.method(concurrency_group="control")
    def identity(self) -> dict[str, Any]:
        """What the controller needs to know of this node: ``node_info`` plus its directory's
        identity (a new ``directory_id`` means the directory was lost and created again) and
        its stable host, which is its zone."""
        found = self.opened.identity
        return {
            **self.node_info(),
            "zone": self.placed_on_host or ray.get_runtime_context().get_node_id(),
            "host": self.placed_on_host,
            "ray_node_id": ray.get_runtime_context().get_node_id(),
            "cluster_id": found.cluster_id,
            "directory_id": found.directory_id,
            "directory_created": self.opened.created,
        }

    @ray.method(concurrency_group="control")
    def host_partition_checked(
        self, directory_id: str, partition_id: str, members: list[str], joining: bool
    ) -> bool:
        """``host_partition``, only if this node still runs on the directory ``directory_id``
        (the one the controller knows): a node that lost its directory since must not host a
        group as a member that is not joining, or it would answer as an acceptor that forgot.
        False when refused."""
        if directory_id != self.opened.identity.directory_id:
            return False
        self.host.host_partition(partition_id, tuple(members), joining)
        return True

    @ray.method(concurrency_group="peers")
    def snapshot_chunk(self, sender: str, frame: bytes) -> bytes:
        """A chunk of a snapshot a peer streams to a replica here; the reply carries its
        acknowledgement (and whatever else this node has for that peer)."""
        return self.host.deliver(sender, frame)
