"""Placing storage nodes on stable hosts (``metadata.storage_hosts``), table-driven.

The finding these guard against: storage node ``snI`` was pinned to the i-th of the sorted Ray
node ids, which are random at every ``ray start``, so after a restart it could open (and RocksDB
create) an empty directory on another machine. Here a storage node goes where its directory is,
whatever the Ray node ids.
"""

from __future__ import annotations

import pytest

from raydynamo.metadata.storage_hosts import (
    FoundDirectory,
    RayNodeView,
    StorageNodeRecord,
    StoragePlacementError,
    check_host_identity,
    cluster_id_of,
    host_of,
    live_hosts,
    plan_storage_hosts,
)

NODES = ["sn0", "sn1", "sn2", "sn3"]


def found(
    node: str, on: str, *, created: str | None = None, directory: str = "d"
) -> FoundDirectory:
    return FoundDirectory(node, "c1", f"{directory}-{node}", created or on, on)


def record(host: str, node: str, directory: str = "d") -> StorageNodeRecord:
    return StorageNodeRecord(host, f"{directory}-{node}")


CASES = [
    # (name, found, recorded, live hosts, expected hosts, expected waiting)
    (
        "a new cluster: spread evenly, ties by host name",
        [],
        {},
        ["h1", "h0"],
        {"sn0": "h0", "sn1": "h1", "sn2": "h0", "sn3": "h1"},
        (),
    ),
    (
        "each node goes where its directory is, whatever order hosts come in",
        [found("sn0", "h2"), found("sn1", "h0"), found("sn2", "h1"), found("sn3", "h2")],
        {},
        ["h1", "h2", "h0"],
        {"sn0": "h2", "sn1": "h0", "sn2": "h1", "sn3": "h2"},
        (),
    ),
    (
        "a shared file system shows every directory everywhere: the host it was created on",
        [found(n, h, created="h1" if n == "sn1" else "h0") for n in NODES for h in ("h0", "h1")],
        {},
        ["h0", "h1"],
        {"sn0": "h0", "sn1": "h1", "sn2": "h0", "sn3": "h0"},
        (),
    ),
    (
        "two copies of one node's directory: the one the controller recorded",
        [found("sn0", "h0", directory="old"), found("sn0", "h1", directory="new")],
        {"sn0": record("h1", "sn0", directory="new")},
        ["h0", "h1"],
        {"sn0": "h1", "sn1": "h0", "sn2": "h0", "sn3": "h1"},
        (),
    ),
    (
        "directory lost, host still here: start there (it rejoins as a new member)",
        [found("sn0", "h0"), found("sn2", "h0"), found("sn3", "h1")],
        {"sn1": record("h1", "sn1")},
        ["h0", "h1"],
        {"sn0": "h0", "sn1": "h1", "sn2": "h0", "sn3": "h1"},
        (),
    ),
    (
        "its host is not in the cluster: wait for it, do not start it elsewhere",
        [found("sn0", "h0"), found("sn2", "h0"), found("sn3", "h2")],
        {"sn1": record("h1", "sn1"), "sn3": record("h1", "sn3")},
        ["h0", "h2"],
        {"sn0": "h0", "sn2": "h0", "sn3": "h2"},
        ("sn1",),
    ),
    (
        "a directory on a host that left counts as not found",
        [found("sn0", "h9")],
        {},
        ["h0"],
        {"sn0": "h0", "sn1": "h0", "sn2": "h0", "sn3": "h0"},
        (),
    ),
]


@pytest.mark.parametrize(
    ("directories", "recorded", "hosts", "expected", "waiting"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_plan_storage_hosts(
    directories: list[FoundDirectory],
    recorded: dict[str, StorageNodeRecord],
    hosts: list[str],
    expected: dict[str, str],
    waiting: tuple[str, ...],
) -> None:
    plan = plan_storage_hosts(NODES, directories, recorded, hosts)
    assert dict(plan.hosts) == expected
    assert plan.waiting == waiting


def test_no_host_at_all_is_an_error() -> None:
    with pytest.raises(StoragePlacementError):
        plan_storage_hosts(NODES, [], {}, [])


def test_directories_of_two_clusters_are_refused() -> None:
    one = found("sn0", "h0")
    other = FoundDirectory("sn1", "c2", "d", "h0", "h0")
    assert cluster_id_of([one]) == "c1"
    assert cluster_id_of([]) is None
    with pytest.raises(StoragePlacementError, match="several clusters"):
        cluster_id_of([one, other])


def test_hosts_by_address_or_by_label() -> None:
    nodes = [
        RayNodeView("b", "10.0.0.1", {"rack": "r2"}),
        RayNodeView("a", "10.0.0.1", {}),
        RayNodeView("c", "10.0.0.2", {"rack": "r1"}),
        RayNodeView("d", "10.0.0.3", {"rack": "r3"}, alive=False),
    ]
    assert live_hosts(nodes, "address") == {"10.0.0.1": ("a", "b"), "10.0.0.2": ("c",)}
    assert live_hosts(nodes, "label:rack") == {"r1": ("c",), "r2": ("b",)}
    assert host_of(nodes[1], "label:rack") is None


@pytest.mark.parametrize("bad", ["", "hostname", "label:", "address "])
def test_unknown_host_identities_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="host identity"):
        check_host_identity(bad)
