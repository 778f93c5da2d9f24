"""Where the replicas of a partition live: choosing group members and replacing lost ones.

Inputs are ``NodeInfo`` snapshots of the storage nodes: which Ray node (zone) each runs on,
whether it is alive, and how many replicas and preferred leaders it already hosts. Outputs are
decisions only; the controller carries them out.

Rules, in priority order, for a new group of ``replicas`` members (3, or 5):

1. members are distinct, live storage nodes (always; too few live nodes is ``PlacementError``);
2. members are in distinct zones whenever the cluster has that many zones with live nodes, and
   otherwise spread over as many zones as it has, as evenly as possible (5 replicas on 3 zones
   go 2-2-1); ``Placement.zones_distinct`` and ``Placement.note`` say when a group has fewer
   zones than replicas, for describe/status;
3. among the nodes those rules allow, the one hosting the fewest replicas (so counts stay
   within one of each other on a cluster whose zones are alike);
4. the first member is the preferred leader: the member leading the fewest groups, so leaders
   rotate over the nodes.

``replacement_for`` picks the node that takes over a lost replica: a live node outside the group,
preferring a zone the surviving members lack, then the least loaded.

Every choice is deterministic: remaining ties are broken by ``node_id``.

Pure: no ray, no rocksdict.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from raydynamo.metadata.member_ids import node_of

REPLICAS_DEFAULT = 3


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """One storage node as placement sees it."""

    node_id: str  # the storage node id
    zone: str  # the Ray node id it runs on
    alive: bool = True
    replica_count: int = 0
    leader_count: int = 0  # groups whose preferred leader it is


@dataclass(frozen=True, slots=True)
class Placement:
    """The members of one group; ``members[0]`` is the preferred leader."""

    members: tuple[str, ...]
    zones: tuple[str, ...]  # the zone of each member, in the same order
    zones_distinct: bool
    note: str = ""  # empty when every member is in its own zone


class PlacementError(ValueError):
    """The cluster cannot host the group (too few live storage nodes)."""


def _check_replicas(replicas: int) -> None:
    if replicas < 1 or replicas % 2 == 0:
        raise ValueError(f"a Paxos group has an odd number of members, not {replicas}")


def _zone_note(replicas: int, zones_used: int, zones_live: int) -> str:
    if zones_used >= replicas:
        return ""
    return (
        f"{replicas} replicas on {zones_used} zone{'s' if zones_used != 1 else ''}: the cluster "
        f"has {zones_live} zone{'s' if zones_live != 1 else ''} with live storage nodes"
    )


def _allocate_zones(live: Sequence[NodeInfo], replicas: int) -> Counter[str]:
    """How many members each zone gets: round by round over the zones (rule 2), each slot to
    the zone whose nodes carry the fewest replicas on average (rule 3)."""
    sizes: Counter[str] = Counter(n.zone for n in live)
    load: Counter[str] = Counter()
    for n in live:
        load[n.zone] += n.replica_count
    allocation: Counter[str] = Counter()
    for _ in range(replicas):
        zone = min(
            (z for z in sizes if allocation[z] < sizes[z]),
            key=lambda z: (allocation[z], Fraction(load[z] + allocation[z], sizes[z]), z),
        )
        allocation[zone] += 1
    return allocation


def place_group(nodes: Iterable[NodeInfo], replicas: int = REPLICAS_DEFAULT) -> Placement:
    """Choose the members of one new group (see the module docstring for the rules)."""
    _check_replicas(replicas)
    live = sorted((n for n in nodes if n.alive), key=lambda n: n.node_id)
    if len({n.node_id for n in live}) != len(live):
        raise ValueError("duplicate node_id among storage nodes")
    if len(live) < replicas:
        raise PlacementError(
            f"a group of {replicas} replicas needs {replicas} live storage nodes; "
            f"the cluster has {len(live)}"
        )
    allocation = _allocate_zones(live, replicas)
    chosen: list[NodeInfo] = []
    for zone, wanted in sorted(allocation.items()):
        in_zone = sorted(
            (n for n in live if n.zone == zone), key=lambda n: (n.replica_count, n.node_id)
        )
        chosen.extend(in_zone[:wanted])
    leader = min(chosen, key=lambda n: (n.leader_count, n.replica_count, n.node_id))
    others = sorted((n for n in chosen if n is not leader), key=lambda n: n.node_id)
    ordered = [leader, *others]
    zones_live = len({n.zone for n in live})
    return Placement(
        members=tuple(n.node_id for n in ordered),
        zones=tuple(n.zone for n in ordered),
        zones_distinct=len(allocation) == replicas,
        note=_zone_note(replicas, len(allocation), zones_live),
    )


def with_placement(nodes: Sequence[NodeInfo], placement: Placement) -> list[NodeInfo]:
    """``nodes`` with the counts a placement adds (one replica each, one leader for the first)."""
    members = set(placement.members)
    leader = placement.members[0]
    return [
        dataclasses.replace(
            n,
            replica_count=n.replica_count + (n.node_id in members),
            leader_count=n.leader_count + (n.node_id == leader),
        )
        for n in nodes
    ]


def place_partitions(
    nodes: Sequence[NodeInfo], count: int, replicas: int = REPLICAS_DEFAULT
) -> tuple[list[Placement], list[NodeInfo]]:
    """Groups for ``count`` new partitions, each placed knowing the ones before it.

    Returns the placements and the node snapshots with their counts updated.
    """
    assert count >= 0
    placements: list[Placement] = []
    current = list(nodes)
    for _ in range(count):
        placement = place_group(current, replicas)
        placements.append(placement)
        current = with_placement(current, placement)
    return placements, current


def replacement_for(
    group_members: Sequence[str], dead_node: str, nodes: Iterable[NodeInfo]
) -> str | None:
    """The node to host a new replica in place of ``dead_node``'s (a member id: ``member_ids``),
    or None when none fits.

    Never a member of the group, never ``dead_node``, never a dead node; prefers a zone the
    surviving members lack (then the zone they use least), then the fewest replicas, then the
    fewest led groups, then the smallest id.
    """
    node_list = list(nodes)
    by_id = {n.node_id: n for n in node_list}
    survivors = [node_of(m) for m in group_members if m != dead_node]
    zones_held = Counter(by_id[m].zone for m in survivors if m in by_id)
    excluded = {*(node_of(m) for m in group_members), node_of(dead_node)}
    candidates = [n for n in node_list if n.alive and n.node_id not in excluded]
    if not candidates:
        return None
    best = min(
        candidates,
        key=lambda n: (zones_held[n.zone], n.replica_count, n.leader_count, n.node_id),
    )
    return best.node_id


def assess_group(
    members: Sequence[str], nodes: Iterable[NodeInfo], replicas: int = REPLICAS_DEFAULT
) -> Placement:
    """How an existing group stands (after replacements): its zones and any note for status.

    A member missing from ``nodes`` or dead counts as a missing replica.
    """
    node_list = list(nodes)
    by_id = {n.node_id: n for n in node_list}
    hosts = [node_of(m) for m in members]
    zones = tuple(by_id[m].zone if m in by_id else "?" for m in hosts)
    healthy = [m for m in hosts if m in by_id and by_id[m].alive]
    zones_used = len({by_id[m].zone for m in healthy})
    zones_live = len({n.zone for n in node_list if n.alive})
    notes = []
    if len(healthy) < replicas:
        notes.append(f"{len(healthy)} of {replicas} replicas healthy")
    zone_note = _zone_note(replicas, zones_used, zones_live)
    if zone_note:
        notes.append(zone_note)
    return Placement(
        members=tuple(members),
        zones=zones,
        zones_distinct=zones_used == replicas and len(healthy) == replicas,
        note="; ".join(notes),
    )
