"""The model checker with membership changes: the real core passes, broken rules are caught.

A joining replica r3 exists from the start; leaders are asked to add it and then to remove a
member, and the core refuses what is not one change away. The mutants break, one at a time, the
rules ``consensus/membership.py`` states (a candidate covers every configuration found in the
promises; a leader stalls behind a change; changes are single) and the checker must find each
with a shortest trace. Runs are bounded by states so that the whole file stays a few seconds.
"""

from __future__ import annotations

import pytest

from raydynamo.consensus import replica as replica_module
from raydynamo.consensus.leadership import Leadership
from raydynamo.consensus.log import PaxosLog
from raydynamo.consensus.membership import config_command
from raydynamo.consensus.messages import Promise
from raydynamo.consensus.types import Ballot, Role
from raydynamo.sim.model_check import (
    ADD_R3,
    ADD_THEN_REMOVE,
    REMOVED_CAMPAIGNS,
    TWO_CHANGES_BEHIND,
    CheckResult,
    check,
)
from raydynamo.sim.model_invariants import chosen_values, disjoint_majorities, first_violation
from raydynamo.sim.model_state import load
from raydynamo.sim.model_world import Action, Model, ModelConfig, ModelFailure, ModelState

# One leader, r0, adds r3 then removes r2, with one proposal: the shallowest model of a change.
ONE_LEADER = ModelConfig(
    joiners=1,
    targets=(ADD_R3, ("r0", "r1", "r3")),
    changes_max=2,
    campaign_order=("r0",),
    proposals_max=1,
    crashes_max=0,
    ticks=False,
)


def assert_found(result: CheckResult, depth_max: int) -> None:
    assert result.violation is not None, "the checker missed a broken core"
    assert len(result.trace) <= depth_max, result.trace
    assert len(result.trace) == result.depth


def assert_clean(result: CheckResult) -> None:
    assert result.violation is None, "\n".join([result.violation or "", *result.trace])


# --- the real core -------------------------------------------------------------------------------


def test_additions_and_removals_with_crashes_find_nothing() -> None:
    result = check(ADD_THEN_REMOVE, states_max=8_000)
    assert_clean(result)
    assert result.depth_complete >= 7  # the addition is chosen and learned within 6 actions


def test_removed_replica_two_changes_behind_finds_nothing() -> None:
    # The mutant that ignores configurations in promises fails here at depth 14.
    result = check(TWO_CHANGES_BEHIND, states_max=6_000)
    assert_clean(result)
    assert result.depth_complete >= 14


def test_removed_replica_campaigning_finds_nothing() -> None:
    result = check(REMOVED_CAMPAIGNS, states_max=5_000)
    assert_clean(result)
    assert result.depth_complete >= 9  # removal chosen (6), r0's campaign reaches r2 (8)


def test_joining_replica_never_campaigns_until_it_learns_a_configuration() -> None:
    model = Model(ONE_LEADER)
    state = model.initial_state()
    joiner = state.nodes[3]
    assert not joiner.view.may_lead
    crashed = model.apply(state, Action("crash", "r3", 0, 0))
    assert crashed is not None and not crashed.nodes[3].view.may_lead  # restarts joining


# --- what the invariants mean --------------------------------------------------------------------


def test_single_changes_keep_majorities_intersecting() -> None:
    three = ("r0", "r1", "r2")
    assert disjoint_majorities(three, ADD_R3) is None
    assert disjoint_majorities(ADD_R3, ("r0", "r1", "r3")) is None
    assert disjoint_majorities(three, ("r0", "r1")) is None
    assert disjoint_majorities(three, ("r0", "r1", "r3")) == (("r0", "r2"), ("r1", "r3"))


def test_a_slot_after_a_change_is_chosen_by_the_new_configuration() -> None:
    b = Ballot(1, "r0")
    change = (config_command(ADD_R3),)
    votes = {(r, b, 1, change) for r in ("r0", "r1")}
    votes |= {(r, b, 2, (b"v1",)) for r in ("r0", "r1")}
    chosen = chosen_values(frozenset(votes), ("r0", "r1", "r2"))
    assert 1 in chosen and 2 not in chosen  # slot 2 needs 3 of {r0,r1,r2,r3}
    votes.add(("r3", b, 2, (b"v1",)))
    assert 2 in chosen_values(frozenset(votes), ("r0", "r1", "r2"))


# --- broken cores are caught ---------------------------------------------------------------------


def note_promise_ignoring_configurations(
    self: Leadership, promise: Promise, log: PaxosLog
) -> list[str]:
    self.promises[promise.sender] = promise
    self.note_ack(promise.sender, promise.sent_at)
    return []  # never adds a configuration found in the promises to ``required``


def test_candidate_ignoring_configurations_in_promises_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # r2, removed, knows neither change: {r1,r2} is a majority of {r0,r1,r2} and r2 leads,
    # missing v1, chosen in slot 3 by {r0,r3}, a majority of {r0,r1,r3}.
    monkeypatch.setattr(Leadership, "note_promise", note_promise_ignoring_configurations)
    result = check(TWO_CHANGES_BEHIND, states_max=10_000)
    assert_found(result, 14)
    assert result.violation is not None and result.violation.startswith("completeness")


def test_leader_not_stalling_after_a_change_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    # The slot after the addition of r3 is counted chosen by {r0,r1}, a majority of the old
    # configuration; the new one governs it, where {r0,r1} is not a majority. No second value
    # can be chosen there for all that: with single changes every majority of the old
    # configuration meets every majority of the new one, which any later candidate covers.
    monkeypatch.setattr(Leadership, "stalled", lambda self, log: False)
    result = check(ONE_LEADER, states_max=10_000)
    assert_found(result, 8)
    assert result.violation is not None and result.violation.startswith("learners")


def test_change_of_two_replicas_at_once_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    # {r0,r1,r2} to {r0,r1,r3} in one change: {r0,r2} and {r1,r3} are disjoint majorities.
    monkeypatch.setattr(replica_module, "single_change", lambda old, new: set(old) != set(new))
    result = check(ADD_THEN_REMOVE, states_max=10_000)
    assert_found(result, 5)
    assert result.violation is not None and result.violation.startswith("quorums")


# --- a core bug beyond the reach of breadth-first search -----------------------------------------


def step(model: Model, state: ModelState, text: str) -> ModelState | None:
    """The state after the action whose description starts with ``text``; None if disabled."""
    for action, child in model.successors(state):
        if model.describe(action).startswith(text):
            assert not isinstance(child, ModelFailure), str(child)
            return model.seal(child)
    return None


def replay(model: Model, steps: list[str]) -> ModelState:
    """The state after the actions whose descriptions start with ``steps``, in order."""
    state = model.initial_state()
    for text in steps:
        child = step(model, state, text)
        assert child is not None, f"no action {text!r}"
        state = child
    return state


STALE_LEADER_LEARNS_BY_CATCH_UP = [
    "campaign r1",
    "deliver Prepare r1->r2",
    "deliver Promise r2->r1",
    "propose v1 at r1",
    "deliver Accept r1->r2",
    "deliver Accepted r2->r1",
    "tick r1",
    "deliver Heartbeat r1->r0 ballot 1.r1 commit<=1",  # r0 lacks slot 1: asks r1 to catch up
    "campaign r0",
    "deliver Prepare r0->r2",
    "deliver Promise r2->r0",  # r0 leads 2.r0, re-proposes v1 in slot 1, next slot 2
    "campaign r1",
    "deliver Prepare r1->r2 ballot 2.r1",
    "deliver Promise r2->r1 ballot 2.r1",
    "propose v2 at r1",
    "deliver Accept r1->r2 ballot 2.r1",
    "deliver Accepted r2->r1 ballot 2.r1",  # v2 chosen in slot 2
    "deliver CatchUpRequest r0->r1",  # the old request, answered with slots 1 and 2
    "deliver CatchUp r1->r0",  # r0, still leading 2.r0, learns v2 chosen in slot 2
]


def test_stale_leader_learning_by_catch_up_keeps_chosen_slots() -> None:
    """Found by this checker: a leader that learned from a catch-up that slots from its next
    one on were chosen kept cutting from its next slot, overwrote a chosen entry and served it.
    The fixed core ends such a reign (a higher ballot leads)."""
    config = ModelConfig(
        campaign_order=("r1", "r0", "r1"), proposals_max=3, crashes_max=0, log_retained_slots=8
    )
    model = Model(config)
    state = replay(model, STALE_LEADER_LEARNS_BY_CATCH_UP)
    assert load(state.nodes[0]).role is not Role.LEADER, "r0 must end its reign"
    # Still leading, r0 cuts its next slot, 2, again: over the chosen v2. (A fixed core steps
    # down there, or cuts slot 3.)
    state = step(model, state, "propose v3 at r0") or state
    problem = first_violation(model.ids, model.members, state.nodes, state.votes)
    assert problem is None, problem
