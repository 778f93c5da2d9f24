"""The safety invariants the model checker asserts in every state it reaches.

"Chosen" here is Paxos's own definition, computed from the ghost votes and not from what any
replica believes: a value is chosen for a slot in ballot ``b`` when a majority of the
configuration that governs the slot persisted a vote for it in ``b``. The configuration that
governs a slot is the one chosen in the latest earlier slot holding a change (the initial members
if none), as ``Membership.for_slot`` has it; so the truth is computed slot by slot, in order.
Then, in every state:
1. agreement: no slot is chosen with two different values;
2. safe proposals: once a value is chosen for a slot in ballot ``b``, every vote in a higher
   ballot for that slot is for that value (this fails as soon as a new leader re-proposes the
   wrong value, before a second value is chosen);
3. learners: every value a replica knows chosen (an entry marked chosen, a slot at or below its
   ``chosen_through``) or applied to its data is the value chosen for that slot;
4. prefix: the applied sequences of all replicas are prefixes of one another;
5. leader completeness: a leader in phase 2 with ballot ``b`` has, for every slot chosen in a
   lower ballot, that slot within ``recovered_through`` and the chosen value in its applied data
   or its log, and re-proposes (``inflight``) nothing else there;
6. quorums: no two disjoint sets of replicas can each be a majority of a configuration that some
   replica might use to decide the same slot. Those are, for a slot: the configuration that
   governs it, and the configuration any leader counts its votes in, while a majority of that
   one has promised no higher ballot than the leader's (so that it could still decide); and for
   the slot after a chosen change, the configurations before and after the change. The latter
   pair is what a change must keep: a leader with a lower ballot may learn the change from a
   catch-up (which carries no ballot) and decide the next slot with the new configuration, and
   only the intersection with the majority that decided the change, which promised a higher
   ballot, stops it; replicas that have not learned the change also still hold the old one.
   A candidate's promise quorum is checked by 5, through what it recovered.
Pure: must not import ray or rocksdict.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from itertools import pairwise

from raydynamo.consensus.membership import config_in, has_majority, majority
from raydynamo.consensus.types import Ballot, Value
from raydynamo.sim.model_state import NodeState

Vote = tuple[str, Ballot, int, Value]
Chosen = dict[int, list[tuple[Ballot, Value]]]
Change = tuple[int, tuple[str, ...]]  # a configuration and the slot it was chosen in


@lru_cache(maxsize=4096)
def chosen_values(votes: frozenset[Vote], initial: tuple[str, ...]) -> Chosen:
    """Slot -> every (ballot, value) a majority of the slot's governing configuration voted for,
    lowest ballot first. Callers must not mutate the result."""
    voters: dict[int, dict[tuple[Ballot, Value], set[str]]] = {}
    for acceptor, ballot, slot, value in votes:
        voters.setdefault(slot, {}).setdefault((ballot, value), set()).add(acceptor)
    chosen: Chosen = {}
    members = initial
    for slot in sorted(voters):
        for (ballot, value), who in sorted(voters[slot].items(), key=_ballot_of):
            if has_majority(who, members):
                chosen.setdefault(slot, []).append((ballot, value))
        if slot in chosen:
            changed = config_in(chosen[slot][0][1])
            members = members if changed is None else changed
    return chosen


def _ballot_of(item: tuple[tuple[Ballot, Value], set[str]]) -> Ballot:
    return item[0][0]


def changes_chosen(chosen: Chosen, initial: tuple[str, ...]) -> list[Change]:
    """The configurations in force, oldest first: the initial one (slot 0), then each change."""
    out: list[Change] = [(0, initial)]
    for slot in sorted(chosen):
        members = config_in(chosen[slot][0][1])
        if members is not None:
            out.append((slot, members))
    return out


def first_violation(
    ids: tuple[str, ...],
    initial: tuple[str, ...],
    nodes: tuple[NodeState, ...],
    votes: frozenset[Vote],
) -> str | None:
    """The first invariant this state breaks, in words; None if it keeps them all. ``ids`` names
    every replica of the model (``nodes`` in the same order), ``initial`` the first members."""
    chosen = chosen_values(votes, initial)
    for problem in _agreement(chosen, votes):
        return problem
    for rid, node in zip(ids, nodes, strict=True):
        for problem in _learner(rid, node, chosen):
            return problem
    for problem in _prefix(ids, nodes):
        return problem
    for rid, node in zip(ids, nodes, strict=True):
        for problem in _leader_complete(rid, node, chosen):
            return problem
    for problem in _quorums(ids, nodes, changes_chosen(chosen, initial)):
        return problem
    return None


def _show(value: Value) -> str:
    members = config_in(value)
    if members is not None:
        return "config{" + ",".join(members) + "}"
    return "+".join(c.decode(errors="replace") for c in value) if value else "noop"


def _agreement(chosen: Chosen, votes: frozenset[Vote]) -> Iterable[str]:
    for slot, pairs in chosen.items():
        values = {v for _, v in pairs}
        if len(values) > 1:
            shown = ", ".join(f"{_show(v)} in {b}" for b, v in pairs)
            yield f"agreement: slot {slot} chosen with different values: {shown}"
    for acceptor, ballot, slot, value in sorted(votes, key=lambda v: (v[2], v[1], v[0])):
        for chosen_ballot, chosen_value in chosen.get(slot, ()):
            if ballot > chosen_ballot and value != chosen_value:
                yield (
                    f"safe proposals: {acceptor} voted {_show(value)} in {ballot} for slot "
                    f"{slot}, but {_show(chosen_value)} was chosen there in {chosen_ballot}"
                )


def _learner(rid: str, node: NodeState, chosen: Chosen) -> Iterable[str]:
    for slot in node.view.missing:
        yield f"log: {rid} has no entry for slot {slot} at or below its chosen_through"
    known = [("knows", s, v) for s, v in sorted(node.view.chosen.items())]
    known += [("applied", i + 1, v) for i, v in enumerate(node.applied)]
    for how, slot, value in known:
        truth = chosen.get(slot)
        if not truth:
            yield f"learners: {rid} {how} slot {slot} = {_show(value)}, but nothing was chosen"
        elif truth[0][1] != value:
            yield (
                f"learners: {rid} {how} slot {slot} = {_show(value)}, "
                f"but {_show(truth[0][1])} was chosen in {truth[0][0]}"
            )


def _prefix(ids: tuple[str, ...], nodes: tuple[NodeState, ...]) -> Iterable[str]:
    for i in range(len(nodes)):
        for j in range(i + 1, len(nodes)):
            a, b = nodes[i].applied, nodes[j].applied
            n = min(len(a), len(b))
            if a[:n] != b[:n]:
                slot = next(k + 1 for k in range(n) if a[k] != b[k])
                yield f"prefix: {ids[i]} and {ids[j]} applied different slot {slot}"


def _leader_complete(rid: str, node: NodeState, chosen: Chosen) -> Iterable[str]:
    view = node.view
    if view.ballot is None:
        return
    for slot, pairs in sorted(chosen.items()):
        for ballot, value in pairs:
            if not ballot < view.ballot:
                continue
            where = f"leader {rid} ({view.ballot}), slot {slot} chosen {_show(value)} in {ballot}"
            if slot > view.recovered_through:
                yield f"completeness: {where}, beyond recovered_through {view.recovered_through}"
                continue
            held = node.applied[slot - 1] if slot <= len(node.applied) else view.values.get(slot)
            if held != value:
                shown = "nothing" if held is None else _show(held)
                yield f"completeness: {where}, but it holds {shown}"
            proposed = view.inflight.get(slot, value)
            if proposed != value:
                yield f"completeness: {where}, but it re-proposes {_show(proposed)}"


# --- 6: quorums ----------------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def disjoint_majorities(
    a: tuple[str, ...], b: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """A majority of ``a`` and a majority of ``b`` with no replica in common, if there are."""
    only_a = [r for r in a if r not in b]
    only_b = [r for r in b if r not in a]
    common = [r for r in a if r in b]
    from_common_a = max(0, majority(a) - len(only_a))
    from_common_b = max(0, majority(b) - len(only_b))
    if from_common_a + from_common_b > len(common):
        return None
    qa = only_a[: majority(a) - from_common_a] + common[:from_common_a]
    qb = only_b[: majority(b) - from_common_b] + common[from_common_a:][:from_common_b]
    return tuple(sorted(qa)), tuple(sorted(qb))


def governing(changes: list[Change], slot: int) -> tuple[str, ...]:
    """The configuration that governs ``slot``: the latest chosen in an earlier slot."""
    return max(change for change in changes if change[0] < slot)[1]


def _fmt(members: tuple[str, ...]) -> str:
    return "{" + ",".join(members) + "}"


def _clash(slot: int, a: tuple[str, ...], b: tuple[str, ...], how: str) -> str | None:
    pair = disjoint_majorities(a, b)
    if pair is None:
        return None
    return (
        f"quorums: slot {slot} may be decided by {_fmt(pair[0])}, a majority of {_fmt(a)}, "
        f"and by {_fmt(pair[1])}, a majority of {_fmt(b)} ({how})"
    )


def _quorums(
    ids: tuple[str, ...], nodes: tuple[NodeState, ...], changes: list[Change]
) -> Iterable[str]:
    for (_, before), (slot, after) in pairwise(changes):
        problem = _clash(slot + 1, before, after, f"the change chosen in slot {slot}")
        if problem is not None:
            yield problem
    for rid, node in zip(ids, nodes, strict=True):
        view = node.view
        if view.ballot is None:
            continue
        ballot = view.ballot
        live = {r for r, n in zip(ids, nodes, strict=True) if n.view.promised <= ballot}
        for slot, members in sorted(view.deciders.items()):
            if not has_majority(live, members):
                continue  # a higher ballot was promised by too many: it can never decide
            how = f"leader {rid} counts its votes in {ballot}, the slot is governed by the other"
            problem = _clash(slot, members, governing(changes, slot), how)
            if problem is not None:
                yield problem
