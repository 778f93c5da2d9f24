"""In-process fakes of what the controller talks to (``actors.control_ports``): storage nodes
whose groups change membership the way the consensus core does (one member at a time, decided
by a majority of the current configuration, the leader staying a member), metadata shards, and a
system partition that outlives the controllers built on it.

A fake group's chosen configuration is the truth; a replica reports it once it hosts the group
(a joining replica reports slot -1 until the group's configuration includes it). Every hosting
call is logged with whether it was joining, so tests can tell a member that rejoined from an
acceptor that forgot.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from raydynamo.actors.control_ports import ControlPorts
from raydynamo.consensus.membership import single_change
from raydynamo.metadata.member_ids import member_on, node_of


@dataclass
class FakeGroup:
    members: tuple[str, ...]
    slot: int = 0
    history: list[tuple[str, ...]] = field(default_factory=list)
    leader_preference: str | None = None


@dataclass
class FakeNode:
    node_id: str
    host: str
    alive: bool = True
    directory_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    hosted: dict[str, str] = field(default_factory=dict)  # group -> the member id hosted


class FakeNodes:
    def __init__(self, node_ids: list[str]) -> None:
        self.nodes = {n: FakeNode(n, f"host-{n}") for n in node_ids}
        self.groups: dict[str, FakeGroup] = {}
        self.host_calls: list[tuple[str, str, bool]] = []  # (node, group, joining)
        self.map_versions: dict[tuple[str, str], int] = {}
        self.refuse_changes: Callable[[str, tuple[str, ...]], bool] = lambda group, target: False

    # --- test controls ---------------------------------------------------------------------------

    def kill(self, node_id: str) -> None:
        self.nodes[node_of(node_id)].alive = False

    def wipe(self, node_id: str) -> None:
        """The node comes back on a new, empty data directory."""
        node = self.nodes[node_of(node_id)]
        node.directory_id = uuid.uuid4().hex
        node.hosted.clear()

    def configs(self, group_id: str) -> list[tuple[str, ...]]:
        group = self.groups[group_id]
        return [*group.history, group.members]

    def _leader(self, group_id: str) -> str | None:
        """The member id that leads ``group_id`` (a majority of its members can vote)."""
        group = self.groups.get(group_id)
        if group is None:
            return None
        voters = [m for m in group.members if self._votes(m, group_id)]
        if len(voters) < len(group.members) // 2 + 1:
            return None
        if group.leader_preference in voters:
            return group.leader_preference
        return voters[0]

    def _votes(self, member_id: str, group_id: str) -> bool:
        node = self.nodes.get(node_of(member_id))
        return node is not None and node.alive and node.hosted.get(group_id) == member_id

    # --- StorageNodes ----------------------------------------------------------------------------

    async def identity(self, node_id: str) -> dict[str, Any] | None:
        node = self.nodes[node_of(node_id)]
        if not node.alive:
            return None
        return {
            "node_id": node_id,
            "zone": node.host,
            "host": node.host,
            "directory_id": node.directory_id,
            "replicas": len(node.hosted),
            "leaders": 0,
        }

    async def status(self, node_id: str) -> list[dict[str, Any]] | None:
        node = self.nodes[node_of(node_id)]
        if not node.alive:
            return None
        out = []
        for group_id, member_id in sorted(node.hosted.items()):
            group = self.groups[group_id]
            member = member_id in group.members
            out.append(
                {
                    "partition_id": group_id,
                    "member_id": member_id,
                    "role": "leader" if self._leader(group_id) == member_id else "follower",
                    "members": list(group.members),
                    "config_slot": group.slot if member else -1,
                }
            )
        return out

    async def host_partition(
        self, node_id: str, directory_id: str, partition_id: str, members: list[str], joining: bool
    ) -> bool:
        node = self.nodes[node_of(node_id)]
        if not node.alive:
            raise ConnectionError(node_id)
        if directory_id != node.directory_id:
            return False
        member_id = member_on(node.node_id, members)
        assert member_id is not None, f"{node.node_id} is not in {members}"
        if node.hosted.get(partition_id, member_id) != member_id:  # as the real node refuses
            raise ValueError(f"{node.node_id} hosts {partition_id} as another member")
        if partition_id not in node.hosted:
            self.host_calls.append((member_id, partition_id, joining))
            node.hosted[partition_id] = member_id
        if partition_id not in self.groups:
            assert not joining, "a new group starts with full members"
            self.groups[partition_id] = FakeGroup(tuple(sorted(members)))
        return True

    async def change_members(self, node_id: str, partition_id: str, members: list[str]) -> bool:
        group = self.groups[partition_id]
        target = tuple(sorted(members))
        leader = self._leader(partition_id)
        if (
            leader is None
            or node_of(leader) != node_of(node_id)
            or leader not in target
            or not single_change(group.members, target)
            or self.refuse_changes(partition_id, target)
        ):
            return False
        group.history.append(group.members)
        group.members = target
        group.slot += 1
        return True

    async def transfer_leadership(self, node_id: str, partition_id: str, target: str) -> bool:
        leader = self._leader(partition_id)
        if leader is None or node_of(leader) != node_of(node_id):
            return False
        self.groups[partition_id].leader_preference = target
        return True

    async def campaign(self, node_id: str, partition_id: str) -> None:
        if not self.nodes[node_of(node_id)].alive:
            raise ConnectionError(node_id)

    async def drop_partition(self, node_id: str, partition_id: str) -> None:
        self.nodes[node_of(node_id)].hosted.pop(partition_id, None)

    async def set_map_version(self, node_id: str, partition_id: str, map_version: int) -> None:
        self.map_versions[(node_id, partition_id)] = map_version

    async def partition_stats(self, node_id: str, partition_id: str) -> dict[str, Any] | None:
        return {"status": "ok", "items": 0, "bytes": 0}

    async def has_leader(self, partition_id: str, members: list[str], deadline_s: float) -> bool:
        return self._leader(partition_id) is not None


class FakeShards:
    def __init__(self) -> None:
        self.pushed: list[tuple[int, dict[str, Any]]] = []

    async def push(self, index: int, entries: dict[str, Any]) -> None:
        self.pushed.append((index, entries))


class Crash(Exception):
    """Raised by the fake system partition to end a controller at a chosen write."""


class FakeAuthority:
    """The system partition: survives every controller built on it."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.members: list[str] = []
        self.crash_when: Callable[[bytes, bytes | None], bool] = lambda key, value: False

    def set_members(self, members: list[str]) -> None:
        self.members = list(members)

    async def load(self) -> dict[bytes, bytes]:
        return dict(self.data)

    async def put(self, key: bytes, value: bytes) -> None:
        self.data[key] = value
        if self.crash_when(key, value):
            raise Crash(key)

    async def delete(self, key: bytes) -> None:
        self.data.pop(key, None)
        if self.crash_when(key, None):
            raise Crash(key)


def fake_ports(nodes: FakeNodes, authority: FakeAuthority, shards: FakeShards) -> ControlPorts:
    def open_authority(members: list[str]) -> FakeAuthority:
        authority.set_members(members)
        return authority

    return ControlPorts(nodes=nodes, shards=shards, open_authority=open_authority)
