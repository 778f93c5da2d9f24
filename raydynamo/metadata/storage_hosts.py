"""Where storage nodes run: stable host identities, and the host each storage node starts on.

Ray node ids are new at every ``ray start``, so they cannot say where a storage node's data
directory is. A *host* is a stable name for a machine (or, when an operator runs several Ray
nodes on one machine and wants each treated as a machine of its own, for one of them):

- ``host_identity: address``: the Ray node's IP address; every Ray node of a machine is the
  same host, and a storage node may run on any of them (they share the file system);
- ``host_identity: label:<key>``: the value of the operator-given Ray node label ``<key>``
  (``ray start --labels <key>=<host>``); Ray nodes without the label host no storage node.

``plan_storage_hosts`` decides the host of each storage node, in priority order:

1. the host where its data directory was found (the directory is the truth). A directory seen
   from several hosts (a shared file system) goes to the copy the controller recorded, then to
   the host it was created on, then to the first host by name;
2. otherwise the host the controller recorded for it, if that host is in the cluster: the node
   starts there with an empty directory, and the controller makes it join its groups back as a
   new member (never as an acceptor that forgot);
3. a recorded host that is not in the cluster: the node waits (it is not started; the
   controller heals its replicas onto other nodes once it is declared dead);
4. a storage node never placed before: the host with the fewest storage nodes, ties by name.

``cluster_id_of`` finds the service's cluster id in the directories found: all must agree.
Every choice is deterministic. Pure: no ray, no rocksdict.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

HOST_BY_ADDRESS = "address"
HOST_LABEL_PREFIX = "label:"


class StoragePlacementError(ValueError):
    """The storage nodes cannot be placed (no host, directories of several clusters)."""


def check_host_identity(host_identity: str) -> str:
    """``host_identity`` when it is ``address`` or ``label:<key>``; ValueError otherwise."""
    if host_identity == HOST_BY_ADDRESS:
        return host_identity
    if host_identity.startswith(HOST_LABEL_PREFIX) and host_identity[len(HOST_LABEL_PREFIX) :]:
        return host_identity
    raise ValueError(f"host identity must be 'address' or 'label:<key>', not {host_identity!r}")


@dataclass(frozen=True, slots=True)
class RayNodeView:
    """One Ray node as ``ray.nodes()`` describes it."""

    ray_node_id: str
    address: str
    labels: Mapping[str, str] = field(default_factory=dict)
    alive: bool = True


def host_of(node: RayNodeView, host_identity: str) -> str | None:
    """The host ``node`` belongs to, None when it hosts no storage node (label missing)."""
    check_host_identity(host_identity)
    if host_identity == HOST_BY_ADDRESS:
        return node.address or None
    value = node.labels.get(host_identity[len(HOST_LABEL_PREFIX) :])
    return value or None


def live_hosts(nodes: Iterable[RayNodeView], host_identity: str) -> dict[str, tuple[str, ...]]:
    """Each host with a live Ray node, and the ids of its live Ray nodes (sorted)."""
    hosts: dict[str, list[str]] = {}
    for node in nodes:
        host = host_of(node, host_identity)
        if node.alive and host is not None:
            hosts.setdefault(host, []).append(node.ray_node_id)
    return {host: tuple(sorted(ids)) for host, ids in sorted(hosts.items())}


@dataclass(frozen=True, slots=True)
class StorageNodeRecord:
    """What the controller keeps of a storage node: where it runs and its directory's id."""

    host: str
    directory_id: str

    def to_wire(self) -> dict[str, str]:
        return {"host": self.host, "directory_id": self.directory_id}

    @staticmethod
    def from_wire(data: Mapping[str, object]) -> StorageNodeRecord:
        return StorageNodeRecord(str(data["host"]), str(data["directory_id"]))


@dataclass(frozen=True, slots=True)
class FoundDirectory:
    """A data directory's identity record, as read on ``found_on_host``."""

    storage_node_id: str
    cluster_id: str
    directory_id: str
    created_on_host: str
    found_on_host: str


def cluster_id_of(found: Iterable[FoundDirectory]) -> str | None:
    """The one cluster id the directories found carry; None when none was found."""
    ids = sorted({d.cluster_id for d in found})
    if len(ids) > 1:
        raise StoragePlacementError(
            "the data directories hold storage nodes of several clusters "
            f"({', '.join(ids)}): give each service a data directory of its own"
        )
    return ids[0] if ids else None


@dataclass(frozen=True, slots=True)
class StoragePlan:
    hosts: Mapping[str, str]  # storage node id -> the host it starts on
    waiting: tuple[str, ...]  # storage nodes whose recorded host is not in the cluster


def _found_host(copies: Sequence[FoundDirectory], record: StorageNodeRecord | None) -> str:
    candidates = list(copies)
    if record is not None:
        recorded = [c for c in candidates if c.directory_id == record.directory_id]
        candidates = recorded or candidates
    return min(
        candidates, key=lambda c: (c.found_on_host != c.created_on_host, c.found_on_host)
    ).found_on_host


def plan_storage_hosts(
    storage_node_ids: Sequence[str],
    found: Iterable[FoundDirectory],
    recorded: Mapping[str, StorageNodeRecord],
    hosts: Iterable[str],
) -> StoragePlan:
    """The host of every storage node (see the module docstring for the rules)."""
    live = sorted(set(hosts))
    by_node: dict[str, list[FoundDirectory]] = {}
    for directory in found:
        if directory.found_on_host in live:
            by_node.setdefault(directory.storage_node_id, []).append(directory)
    placed: dict[str, str] = {}
    waiting: list[str] = []
    unplaced: list[str] = []
    for node_id in storage_node_ids:
        record = recorded.get(node_id)
        if node_id in by_node:
            placed[node_id] = _found_host(by_node[node_id], record)
        elif record is not None and record.host in live:
            placed[node_id] = record.host
        elif record is not None:
            waiting.append(node_id)
        else:
            unplaced.append(node_id)
    if unplaced and not live:
        raise StoragePlacementError("no Ray node can host a storage node (no host found)")
    load = Counter(placed.values())
    for node_id in unplaced:
        host = min(live, key=lambda h: (load[h], h))
        placed[node_id] = host
        load[host] += 1
    ordered = {node_id: placed[node_id] for node_id in storage_node_ids if node_id in placed}
    return StoragePlan(ordered, tuple(waiting))
