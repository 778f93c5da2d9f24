"""The control plane on real Ray: identity records refused, a heal resumed by a restarted
controller, a storage node that lost its data directory joining back as a new member.

Each test runs its own small service (its own namespace and data directory) on the session's
Ray instance, and waits on conditions with deadlines, never on sleeps.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import ray

import raydynamo
from raydynamo.actors.control_ports import ActorHandles
from raydynamo.actors.controller import CONTROLLER_NAME, ControllerActor
from raydynamo.actors.service import start_service, stop_service
from raydynamo.actors.storage_node import StorageNodeActor, storage_actor_name
from raydynamo.actors.system_store import SystemStore
from raydynamo.config import RaydynamoConfig
from raydynamo.metadata.healing import start_heal
from raydynamo.metadata.member_ids import node_of
from raydynamo.metadata.system_records import intent_key, pack
from raydynamo.storage.identity import read_identity
from tests.conftest import service_config

pytestmark = pytest.mark.ray

TABLE = "healing"
ITEMS = 20
DEADLINE_S = 120.0
T = TypeVar("T")


def wait_until(condition: Callable[[], T | None], what: str, deadline_s: float = DEADLINE_S) -> T:
    """Poll ``condition`` until it returns a true value, or fail after ``deadline_s``."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            value = condition()
        except Exception:  # an actor restarting, a group without a leader yet: look again
            value = None
        if value:
            return value
        time.sleep(0.2)  # a polling pause inside a deadline-bounded wait on the condition
    raise AssertionError(f"timed out waiting for {what}")


def storage(config: RaydynamoConfig, node_id: str) -> Any:
    return ray.get_actor(storage_actor_name(node_id), namespace=config.cluster.namespace)


def node_ids(config: RaydynamoConfig) -> list[str]:
    return [f"sn{i}" for i in range(config.cluster.storage_nodes)]


def chosen_config(config: RaydynamoConfig, group: str, nodes: list[str]) -> tuple[int, list[str]]:
    """The group's newest chosen configuration its replicas report (slot, sorted members)."""
    best: tuple[int, list[str]] = (-1, [])
    for node_id in nodes:
        try:
            status = ray.get(storage(config, node_id).status.remote(), timeout=5)
        except Exception:
            continue
        for replica in status:
            if replica["partition_id"] == group and replica["config_slot"] > best[0]:
                best = (int(replica["config_slot"]), sorted(replica["members"]))
    return best


@pytest.fixture
def small_service(ray_session: object, data_dir: str) -> Iterator[tuple[RaydynamoConfig, Any]]:
    """Five storage nodes and one single-partition table with items in it."""
    namespace = f"raydynamo-cp-{os.getpid()}-{time.monotonic_ns()}"
    config = service_config(
        data_dir,
        namespace,
        cluster={"storage_nodes": 5, "partitions_per_table": 1, "metadata_shards": 1},
        # Long enough that a restart on a busy machine never counts as a death: these tests
        # are about heals that resume and nodes that rejoin, not about replacing dead ones.
        controller={"health_interval_s": 0.5, "node_dead_after_s": 30.0},
    )
    handles = start_service(config, detached=False)
    client = raydynamo.connect(config=config)
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=TABLE, WaiterConfig={"Delay": 0.2})
    for i in range(ITEMS):
        client.put_item(TableName=TABLE, Item={"pk": {"S": f"k{i}"}, "n": {"N": str(i)}})
    try:
        yield config, client
    finally:
        client.close()
        stop_service(config)
        del handles


def all_items_read_back(client: Any) -> bool:
    for i in range(ITEMS):
        got = client.get_item(TableName=TABLE, Key={"pk": {"S": f"k{i}"}}, ConsistentRead=True)
        if got.get("Item", {}).get("n") != {"N": str(i)}:
            return False
    return True


def controller_of(config: RaydynamoConfig) -> Any:
    return ray.get_actor(CONTROLLER_NAME, namespace=config.cluster.namespace)


def table_group(config: RaydynamoConfig) -> tuple[str, list[str], int]:
    entry = ray.get(controller_of(config).table_entry.remote(TABLE))
    partition = entry["map"]["partitions"][0]
    return partition["partition_id"], list(partition["members"]), int(entry["map"]["map_version"])


def test_a_storage_node_refuses_another_clusters_or_nodes_directory(
    ray_session: object, data_dir: str
) -> None:
    namespace = f"raydynamo-identity-{os.getpid()}"
    config = service_config(data_dir, namespace).model_dump()

    def start(node_id: str, cluster_id: str) -> Any:
        name = f"{namespace}-{node_id}-{time.monotonic_ns()}"
        return StorageNodeActor.options(name=name, namespace=namespace).remote(
            node_id, config, cluster_id, "h0"
        )

    first = start("sn0", "cluster-a")
    assert ray.get(first.ping.remote()) == "sn0"
    ray.get(first.shutdown.remote())
    ray.kill(first, no_restart=True)
    path = Path(data_dir) / "sn0"
    files = sorted(os.listdir(path))

    for _ in range(2):  # and again: it keeps refusing
        refused = start("sn0", "cluster-b")
        with pytest.raises(ray.exceptions.ActorDiedError, match="belongs to cluster cluster-a"):
            ray.get(refused.ping.remote())
    assert sorted(os.listdir(path)) == files  # never opened
    identity = read_identity(path)
    assert identity is not None and identity.cluster_id == "cluster-a"

    os.rename(path, Path(data_dir) / "sn1")  # a directory moved under another node's name
    moved = start("sn1", "cluster-a")
    with pytest.raises(ray.exceptions.ActorDiedError, match="belongs to storage node sn0"):
        ray.get(moved.ping.remote())


def test_a_controller_restarted_mid_heal_finishes_it_with_the_stored_replacement(
    small_service: tuple[RaydynamoConfig, Any],
) -> None:
    """The group is left as a controller killed in the middle of a heal leaves it: the heal
    intent stored, the replacement added (four members, one of them dead). A new controller
    must finish that heal, with that replacement: three members, the dead node gone, the
    partition map republished. (A controller that picked its replacement afresh would pick
    another node here, and the group could never leave its four-member configuration.)"""
    config, client = small_service
    namespace = config.cluster.namespace
    status = ray.get(controller_of(config).status.remote())
    group, before, version = table_group(config)
    spares = sorted(set(node_ids(config)) - set(before))
    lost, replacement = before[-1], spares[-1]  # placement would choose spares[0]
    ray.kill(controller_of(config), no_restart=True)
    ray.kill(storage(config, lost), no_restart=True)  # dead for good

    store = SystemStore(ActorHandles(namespace), status["system_members"], namespace)
    intent = start_heal(group, TABLE, before, lost, replacement)
    asyncio.run(store.put(intent_key(group), pack(intent.to_wire())))
    grown = sorted([*before, replacement])
    ray.get(storage(config, replacement).host_partition.remote(group, grown, True))

    def added() -> bool:
        if chosen_config(config, group, before)[1] == grown:
            return True
        for member in before:
            if member != lost:
                ray.get(storage(config, member).change_members.remote(group, grown), timeout=5)
        return False

    wait_until(added, "the replacement added")

    restarted = ControllerActor.options(  # kept: the actor lives as long as its handle
        name=CONTROLLER_NAME, namespace=namespace, get_if_exists=True, num_cpus=0
    ).remote(config.model_dump(), status["cluster_id"])
    assert ray.get(restarted.ping.remote())
    healed = [replacement if m == lost else m for m in before]
    wait_until(lambda: table_group(config)[1] == healed, "the healed map published")
    _, _, new_version = table_group(config)
    assert new_version > version
    alive = [n for n in node_ids(config) if n != lost]
    assert chosen_config(config, group, alive)[1] == sorted(healed)
    wait_until(lambda: not ray.get(controller_of(config).status.remote())["heals"], "no heal left")
    assert all_items_read_back(client)


def test_a_storage_node_that_lost_its_directory_joins_back_as_a_new_member(
    small_service: tuple[RaydynamoConfig, Any],
) -> None:
    """A member's data directory is gone when its process restarts: it starts empty, hosts
    nothing, and the controller removes it from its groups and adds it back as a joining
    member, which catches up; it never answers as the acceptor that forgot."""
    config, client = small_service
    group, before, version = table_group(config)
    member = before[-1]
    slot_before, _ = chosen_config(config, group, before)
    handle = storage(config, member)
    pid = ray.get(handle.pid.remote())
    os.kill(pid, signal.SIGSTOP)  # nothing writes while the directory goes
    try:
        shutil.rmtree(Path(config.storage.data_dir) / member)
    finally:
        os.kill(pid, signal.SIGKILL)  # a crash: Ray restarts it, on an empty directory

    def rejoined() -> bool:
        slot, members = chosen_config(config, group, [member])
        again = [m for m in members if node_of(m) == member]
        # Removed, then added back under a new member id (never counted as the one it was).
        return bool(again) and again != [member] and slot >= slot_before + 2

    wait_until(rejoined, "the member rejoined")
    identity = ray.get(handle.identity.remote())
    assert identity["directory_created"]
    others = [m for m in before if m != member]

    def caught_up() -> bool:
        mine = ray.get(handle.partition_state.remote(group))
        theirs = [ray.get(storage(config, m).partition_state.remote(group)) for m in others]
        return any(mine[1] == state[1] for state in theirs) and bool(mine[1])

    wait_until(caught_up, "the rejoined member caught up")

    def settled() -> dict[str, Any] | None:
        status = ray.get(controller_of(config).status.remote())
        node = next(n for n in status["nodes"] if n["node_id"] == member)
        return status if not status["heals"] and not node["directory_lost"] else None

    wait_until(settled, "no heal left, and the node recorded on its new directory")
    _, members, version_now = table_group(config)
    assert [node_of(m) for m in members] == before and member not in members
    assert version_now > version
    assert all_items_read_back(client)


def test_a_restarted_service_starts_a_node_whose_directory_is_gone_where_it_was(
    small_service: tuple[RaydynamoConfig, Any],
) -> None:
    """The whole service stops; one storage node's directory is lost meanwhile. The service
    started again finds the other directories (and their cluster id), starts the missing node on
    the host the controller recorded for it, and that node rejoins its groups as a new member."""
    config, client = small_service
    group, before, _ = table_group(config)
    member = before[0]
    records = ray.get(controller_of(config).storage_records.remote())
    cluster_id = ray.get(controller_of(config).status.remote())["cluster_id"]
    stop_service(config)
    shutil.rmtree(Path(config.storage.data_dir) / member)
    handles = start_service(config, detached=False)
    try:
        identity = ray.get(storage(config, member).identity.remote())
        assert identity["directory_created"] and identity["cluster_id"] == cluster_id
        assert identity["host"] == records[member]["host"]

        def rejoined() -> bool:
            members = chosen_config(config, group, [member])[1]
            return any(node_of(m) == member and m != member for m in members)

        wait_until(rejoined, "the rejoin")
        wait_until(lambda: not ray.get(controller_of(config).status.remote())["heals"], "no heal")
        assert [node_of(m) for m in table_group(config)[1]] == before
        assert all_items_read_back(client)
    finally:
        del handles
