"""The safety invariants the model checker asserts in every state it reaches.

"Chosen" here is Paxos's own definition, computed from the ghost votes and not from what any
replica believes: a value is chosen for a slot in ballot ``b`` when a majority of the replicas
persisted a vote for it in ``b``. Then, in every state:
1. agreement: no slot is chosen with two different values;
2. safe proposals: once a value is chosen for a slot in ballot ``b``, every vote in a higher
   ballot for that slot is for that value (this fails as soon as a new leader re-proposes the
   wrong value, before a second value is chosen);
3. learners: every value a replica knows chosen (an entry marked chosen, a slot at or below its
   ``chosen_through``) or applied to its data is the value chosen for that slot;
4. prefix: the applied sequences of all replicas are prefixes of one another;
5. leader completeness: a leader in phase 2 with ballot ``b`` has, for every slot chosen in a
   lower ballot, that slot within ``recovered_through`` and the chosen value in its applied data
   or its log, and re-proposes (``inflight``) nothing else there.
Pure: must not import ray or rocksdict.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from raydynamo.consensus.types import Ballot, Value
from raydynamo.sim.model_state import NodeState

Vote = tuple[str, Ballot, int, Value]
Chosen = dict[int, list[tuple[Ballot, Value]]]


@lru_cache(maxsize=4096)
def chosen_values(votes: frozenset[Vote], majority: int) -> Chosen:
    """Slot -> every (ballot, value) a majority voted for. Callers must not mutate the result."""
    voters: dict[tuple[Ballot, int, Value], set[str]] = {}
    for acceptor, ballot, slot, value in votes:
        voters.setdefault((ballot, slot, value), set()).add(acceptor)
    chosen: Chosen = {}
    for (ballot, slot, value), who in sorted(voters.items(), key=lambda kv: kv[0][:2]):
        if len(who) >= majority:
            chosen.setdefault(slot, []).append((ballot, value))
    return chosen


def first_violation(
    members: tuple[str, ...], nodes: tuple[NodeState, ...], votes: frozenset[Vote]
) -> str | None:
    """The first invariant this state breaks, in words; None if it keeps them all."""
    chosen = chosen_values(votes, len(members) // 2 + 1)
    for problem in _agreement(chosen, votes):
        return problem
    for rid, node in zip(members, nodes, strict=True):
        for problem in _learner(rid, node, chosen):
            return problem
    for problem in _prefix(members, nodes):
        return problem
    for rid, node in zip(members, nodes, strict=True):
        for problem in _leader_complete(rid, node, chosen):
            return problem
    return None


def _show(value: Value) -> str:
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


def _prefix(members: tuple[str, ...], nodes: tuple[NodeState, ...]) -> Iterable[str]:
    for i in range(len(nodes)):
        for j in range(i + 1, len(nodes)):
            a, b = nodes[i].applied, nodes[j].applied
            n = min(len(a), len(b))
            if a[:n] != b[:n]:
                slot = next(k + 1 for k in range(n) if a[k] != b[k])
                yield f"prefix: {members[i]} and {members[j]} applied different slot {slot}"


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
