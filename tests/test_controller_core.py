"""The controller's logic without a cluster: ``Controller`` and its ``Healer`` over in-process
fakes of storage nodes, metadata shards and the system partition (``tests/control_fakes.py``).

What they pin down: a heal stores its intent before acting and always finishes with the
replacement it stored, across controller crashes at any of its writes; a dead replacement is
rolled back; a node that lost its directory leaves its groups and joins back as a new member,
never hosted as a full member on its new directory; unexpected errors reach clients as a plain
``InternalServerError``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from raydynamo.actors import healing
from raydynamo.actors.controller import INTERNAL_ERROR_MESSAGE, ClusterMismatch, Controller
from raydynamo.config import RaydynamoConfig, config_from_dict
from raydynamo.metadata.member_ids import node_of
from raydynamo.metadata.system_records import (
    CLUSTER_KEY,
    INTENT_PREFIX,
    SYSTEM_PARTITION,
    cluster_record,
)
from tests.control_fakes import Crash, FakeAuthority, FakeNodes, FakeShards, fake_ports

NODES = [f"sn{i}" for i in range(5)]
DEAD_AFTER_S = 5.0
ROUNDS_MAX = 60


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make_config() -> RaydynamoConfig:
    return config_from_dict(
        {
            "cluster": {"storage_nodes": len(NODES), "partitions_per_table": 1},
            "controller": {
                "health_interval_s": 3600,
                "stats_interval_s": 3600,
                "node_dead_after_s": DEAD_AFTER_S,
                "heal_step_timeout_s": 1.0,
            },
        }
    )


class World:
    """Fakes that outlive controllers, and the controller of the moment."""

    def __init__(self) -> None:
        self.nodes = FakeNodes(NODES)
        self.authority = FakeAuthority()
        self.shards = FakeShards()
        self.clock = FakeClock()
        self.controller = self.new_controller()

    def new_controller(self) -> Controller:
        ports = fake_ports(self.nodes, self.authority, self.shards)
        return Controller(make_config(), "cluster-1", ports, clock=self.clock)

    def crash_and_restart(self) -> Controller:
        for task in list(self.controller.tasks):
            task.cancel()
        self.controller = self.new_controller()
        return self.controller

    async def create_table(self, name: str = "Tab") -> str:
        answer = await self.controller.answer(
            self.controller.create_table,
            {
                "TableName": name,
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "BillingMode": "PAY_PER_REQUEST",
            },
        )
        assert "ok" in answer, answer
        await self.wait_for(lambda: not self._creating(name))
        return self.controller.maps[name].partitions[0].partition_id

    def _creating(self, name: str) -> bool:
        description = self.controller.catalog.get(name)
        return description is None or description.table_status.value != "ACTIVE"

    def members(self, table: str = "Tab") -> tuple[str, ...]:
        return self.controller.maps[table].partitions[0].members

    async def wait_for(self, condition: Callable[[], bool]) -> None:
        for _ in range(2000):
            if condition():
                return
            await asyncio.sleep(0)
        raise AssertionError("condition not reached")

    async def heal_rounds(self, condition: Callable[[], bool]) -> None:
        """Health rounds (the clock past the dead-after time) until ``condition`` holds."""
        for _ in range(ROUNDS_MAX):
            self.clock.now += DEAD_AFTER_S + 1
            await self.controller.healer.check()
            for _ in range(50):
                await asyncio.sleep(0)
            if condition():
                return
        raise AssertionError("healing did not get there")

    def intents_stored(self) -> list[bytes]:
        return [k for k in self.authority.data if k.startswith(INTENT_PREFIX)]


def run(test: Callable[[World], Coroutine[Any, Any, None]]) -> None:
    async def main() -> None:
        world = World()
        await world.controller.ensure_started()
        await world.create_table("Pre")  # on the system partition's nodes: Tab goes elsewhere
        try:
            await test(world)
        finally:
            for task in list(world.controller.tasks):
                task.cancel()

    asyncio.run(main())


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(healing, "HEAL_POLL_PAUSE_S", 0.0)


def lost_member(world: World) -> str:
    """A member of table Tab's group that is not in the system partition (nor in Pre's)."""
    system = set(world.controller.system_members)
    return next(m for m in world.members() if m not in system)


def test_a_dead_member_is_replaced_and_the_map_republished() -> None:
    async def scenario(world: World) -> None:
        group = await world.create_table()
        before = world.members()
        version = world.controller.maps["Tab"].map_version
        lost = lost_member(world)
        world.nodes.kill(lost)
        await world.heal_rounds(lambda: lost not in world.members())
        after = world.members()
        assert len(after) == 3 and lost not in after
        assert set(world.nodes.groups[group].members) == set(after)
        assert world.controller.maps["Tab"].map_version == version + 1
        (replacement,) = set(after) - set(before)
        assert world.nodes.map_versions[(replacement, group)] == version + 1
        assert (replacement, group, True) in world.nodes.host_calls  # joined, not full member
        assert world.intents_stored() == [] and world.controller.healer.replacements >= 1

    run(scenario)


@pytest.mark.parametrize("crash_at_write", [1, 2, 3, 4])
def test_a_controller_crashing_mid_heal_resumes_with_the_same_replacement(
    crash_at_write: int,
) -> None:
    """The controller dies right after its k-th write of the heal intent (stored, then gone
    before acting on it); a new controller over the same system partition finishes the heal
    with the replacement the intent names, and never adds a second one."""

    async def scenario(world: World) -> None:
        group = await world.create_table()
        before = world.members()
        lost = lost_member(world)
        writes = []

        def crash(key: bytes, value: bytes | None) -> bool:
            if key == INTENT_PREFIX + group.encode():
                writes.append(value)
            return len(writes) == crash_at_write

        world.authority.crash_when = crash
        world.nodes.kill(lost)
        with contextlib.suppress(Crash):  # until the k-th write: then this controller is gone
            await world.heal_rounds(lambda: len(writes) >= crash_at_write)
        assert len(writes) == crash_at_write
        configs_at_crash = world.nodes.configs(group)
        world.authority.crash_when = lambda key, value: False
        stored = INTENT_PREFIX + group.encode() in world.intents_stored()
        controller = world.crash_and_restart()
        await controller.ensure_started()
        if stored:
            assert group in controller.healer.intents  # reloaded, to resume
        await world.heal_rounds(lambda: lost not in world.members())
        configs = world.nodes.configs(group)
        assert configs[: len(configs_at_crash)] == configs_at_crash
        added = {m for config in configs for m in config} - set(before)
        assert len(added) == 1, configs  # one replacement, ever
        assert set(world.members()) == set(before) - {lost} | added
        assert world.intents_stored() == []

    run(scenario)


def test_a_replacement_that_dies_is_rolled_back_and_the_heal_started_again() -> None:
    """The replacement dies once added (the group has four members, two of them down: no
    majority until one returns). It is declared dead, so the heal rolls back; when it comes
    back the roll-back still finishes first, then a new heal replaces the lost member."""

    async def scenario(world: World) -> None:
        group = await world.create_table()
        before = world.members()
        lost = lost_member(world)
        blocked = {"removal": True}

        def refuse(group_id: str, target: tuple[str, ...]) -> bool:
            return group_id == group and blocked["removal"] and len(target) == 3

        world.nodes.refuse_changes = refuse
        world.nodes.kill(lost)
        await world.heal_rounds(lambda: len(world.nodes.groups[group].members) == 4)
        (first,) = set(world.nodes.groups[group].members) - set(before)
        world.nodes.kill(first)
        blocked["removal"] = False

        def rolling_back() -> bool:
            intent = world.controller.healer.intents.get(group)
            return intent is not None and intent.step.value == "roll_back"

        await world.heal_rounds(rolling_back)
        world.nodes.nodes[node_of(first)].alive = True  # back, with its data
        await world.heal_rounds(lambda: lost not in world.members())
        configs = world.nodes.configs(group)
        four = next(i for i, c in enumerate(configs) if len(c) == 4)
        assert configs[four + 1] == tuple(sorted(before))  # rolled back to the group as it was
        assert len(world.members()) == 3 and lost not in world.members()

    run(scenario)


def test_a_node_that_lost_its_directory_rejoins_as_a_new_member() -> None:
    async def scenario(world: World) -> None:
        group = await world.create_table()
        member = lost_member(world)
        before = world.members()
        old_directory = world.controller.records[member].directory_id
        world.nodes.wipe(member)
        await world.heal_rounds(
            lambda: (
                world.controller.records[member].directory_id != old_directory
                and not world.intents_stored()
            )
        )
        sorted_before = tuple(sorted(before))
        without = tuple(m for m in sorted_before if m != member)
        out, back = world.nodes.configs(group)[-2:]
        assert out == without  # out first, then back in under a new member id
        (again,) = set(back) - set(without)
        assert node_of(again) == member and again != member
        assert world.members() == tuple(again if m == member else m for m in before)
        calls = [c for c in world.nodes.host_calls if node_of(c[0]) == member and c[1] == group]
        assert calls[-1] == (again, group, True)  # hosted again only as a joining member
        assert world.controller.healer.rejoins == 1

    run(scenario)


def test_a_restarted_controller_never_hosts_a_wiped_member_as_a_full_member() -> None:
    """A system partition member comes back empty while the controller restarts: start-up
    must not host the group on it (it would answer as an acceptor that forgot); the healer
    has it rejoin instead."""

    async def scenario(world: World) -> None:
        await world.create_table()
        member = world.controller.system_members[1]
        world.nodes.wipe(member)
        controller = world.crash_and_restart()
        await controller.ensure_started()
        await world.heal_rounds(
            lambda: (
                SYSTEM_PARTITION in world.nodes.nodes[member].hosted and not world.intents_stored()
            )
        )
        calls = [
            c
            for c in world.nodes.host_calls
            if node_of(c[0]) == member and c[1] == SYSTEM_PARTITION
        ]
        assert [c[2] for c in calls] == [False, True]  # full member once, then joining only
        assert calls[0][0] == member and node_of(calls[1][0]) == member != calls[1][0]
        configs = world.nodes.configs(SYSTEM_PARTITION)
        assert member not in configs[-2] and calls[1][0] in configs[-1]

    run(scenario)


def test_unexpected_errors_answer_a_plain_internal_server_error() -> None:
    async def scenario(world: World) -> None:
        async def broken(request: dict[str, Any]) -> dict[str, Any]:
            raise RuntimeError("ActorDiedError: pid=4242 ip=10.1.2.3 traceback ...")

        answer = await world.controller.answer(broken, {})
        assert answer == {
            "error": {"code": "InternalServerError", "message": INTERNAL_ERROR_MESSAGE, "extra": {}}
        }

    run(scenario)


def test_a_system_partition_of_another_cluster_is_refused() -> None:
    async def scenario(world: World) -> None:
        world.authority.data[CLUSTER_KEY] = cluster_record("someone-else")
        controller = world.crash_and_restart()
        with pytest.raises(ClusterMismatch):
            await controller.ensure_started()
        answer = await controller.answer(controller.list_tables, {})
        assert answer["error"]["code"] == "InternalServerError"

    run(scenario)
