"""The model checker: it passes the real core, and it fails deliberately broken ones.

A checker that never fails proves nothing, so each mutant below breaks one safety rule of the
core (monkeypatched for the test only) and the checker must find a violation with a short trace.
The reductions the checker relies on (pruning dead answers; losses adding nothing under
duplication) are checked against the plain model on small configurations.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from raydynamo.consensus import leadership as leadership_module
from raydynamo.consensus.leadership import Leadership
from raydynamo.consensus.messages import Accepted
from raydynamo.consensus.replica import Replica, Role
from raydynamo.consensus.types import NOOP, Ballot, Entry, Value
from raydynamo.sim.model_check import CheckResult, check, run_check
from raydynamo.sim.model_world import Model, ModelConfig, ModelFailure

SMALL = ModelConfig(campaigns_max=1, proposals_max=1, crashes_max=0, ticks=False)


def assert_found(result: CheckResult, depth_max: int) -> None:
    assert result.violation is not None, "the checker missed a broken core"
    assert len(result.trace) <= depth_max, result.trace
    assert len(result.trace) == result.depth


# --- the real core -------------------------------------------------------------------------------


def test_default_model_bounded_run_finds_nothing() -> None:
    result = check(ModelConfig(), states_max=15_000)
    assert result.violation is None, "\n".join([result.violation or "", *result.trace])
    assert result.states == 15_000
    assert result.transitions > result.states
    assert result.depth >= 8


def test_small_models_are_explored_completely() -> None:
    for config in (SMALL, dataclasses.replace(SMALL, crashes_max=1)):
        result = check(config, states_max=60_000)
        assert result.violation is None, "\n".join([result.violation or "", *result.trace])
        assert result.complete, config


def test_compaction_and_snapshots_find_nothing() -> None:
    config = ModelConfig(
        campaign_order=("r0", "r1"), proposals_max=2, crashes_max=1, log_retained_slots=1
    )
    result = check(config, states_max=12_000)
    assert result.violation is None, "\n".join([result.violation or "", *result.trace])


def test_cli_prints_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_check(depth=4, states_max=None) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["violations"] == 0
    assert summary["depth"] == 4
    assert summary["states"] > 0 and summary["transitions"] >= summary["states"]


# --- the reductions are sound --------------------------------------------------------------------


def projections(config: ModelConfig) -> set[tuple[object, ...]]:
    """Every reachable (replica memories, ghost votes), ignoring the network and counters."""
    model = Model(config)
    init = model.initial_state()
    seen = {init.fingerprint(config.crashes_max)}
    found = {(tuple(n.memory for n in init.nodes), init.votes)}
    level = [init]
    while level:
        nxt = []
        for state in level:
            for _, child in model.successors(state):
                assert not isinstance(child, ModelFailure), str(child)
                fp = child.fingerprint(config.crashes_max)
                if fp not in seen:
                    seen.add(fp)
                    found.add((tuple(n.memory for n in child.nodes), child.votes))
                    nxt.append(model.seal(child))
        level = nxt
    return found


def test_pruning_dead_answers_keeps_every_replica_state() -> None:
    config = ModelConfig(campaigns_max=1, proposals_max=0, crashes_max=0, ticks=False)
    plain = projections(dataclasses.replace(config, prune=False))
    assert projections(config) == plain


def test_losing_messages_adds_no_replica_state() -> None:
    config = ModelConfig(campaigns_max=1, proposals_max=0, crashes_max=0, ticks=False)
    lossy = projections(dataclasses.replace(config, losses_max=2))
    assert projections(config) == lossy


# --- broken cores are caught ---------------------------------------------------------------------


def lowest_ballot_value(entries: list[Entry]) -> Value:
    for entry in entries:
        if entry.chosen:
            return entry.value
    return min(entries, key=lambda e: e.ballot).value if entries else NOOP


def test_recovery_picking_the_lowest_ballot_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Leadership, "_recovered_value", staticmethod(lowest_ballot_value))
    config = ModelConfig(campaign_order=("r0", "r1", "r0"), crashes_max=0, ticks=False)
    result = check(config, states_max=100_000)
    assert_found(result, 12)
    assert result.violation is not None and result.violation.startswith("safe proposals")


def test_quorum_reduced_by_one_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    # With 3 replicas a quorum of 2 less one is invisible: the core only counts a quorum when a
    # peer answers, and the leader plus one peer is already a majority. 5 replicas show it.
    def has_majority(voters: object, members: tuple[str, ...]) -> bool:
        return len(set(voters) & set(members)) >= len(members) // 2  # type: ignore[call-overload]

    monkeypatch.setattr(leadership_module, "has_majority", has_majority)
    result = check(ModelConfig(replicas=5, campaigns_max=1, crashes_max=0, ticks=False))
    assert_found(result, 6)


def test_acceptor_accepting_below_its_promise_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    def follow(self: Replica, sender: str, ballot: Ballot, now: float) -> bool:
        self._see_round(ballot)
        if ballot > self.promised or self.role is not Role.FOLLOWER:
            if self.ballot != ballot:
                self._step_down(now)
            if ballot > self.promised:
                self._set_promised(ballot)
        self.leader_id = sender
        return True

    monkeypatch.setattr(Replica, "_follow", follow)
    result = check(ModelConfig(campaigns_max=1, crashes_max=0, ticks=False))
    assert_found(result, 8)


def test_promise_not_persisted_is_caught_after_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    def set_promised(self: Replica, ballot: Ballot) -> None:
        self.promised = ballot  # forgets to persist it

    monkeypatch.setattr(Replica, "_set_promised", set_promised)
    result = check(ModelConfig(campaigns_max=1, crashes_max=1, ticks=False))
    assert_found(result, 9)
    assert any(line.split(". ", 1)[1].startswith("crash") for line in result.trace)


def test_vote_not_synced_is_caught_after_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    on_accept = Replica._on_Accept

    def on_accept_unsynced(self: Replica, msg: object, now: float) -> None:
        on_accept(self, msg, now)  # type: ignore[arg-type]
        self._out.sync = False

    monkeypatch.setattr(Replica, "_on_Accept", on_accept_unsynced)
    result = check(ModelConfig(campaigns_max=1, crashes_max=1, ticks=False))
    assert_found(result, 9)
    assert any("keeping 0 of 1 unsynced" in line for line in result.trace)


def test_vote_sent_before_persisting_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Accepted, "EARLY", True, raising=False)
    result = check(ModelConfig(campaigns_max=1, crashes_max=1, ticks=False))
    assert_found(result, 8)
    assert any("before persisting" in line for line in result.trace)


def test_follower_learning_a_commit_over_a_stale_entry_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def learn_commit(self: Replica, leader: str, ballot: Ballot, through: int, now: float) -> None:
        for slot in range(self.log.chosen_through + 1, min(through, self.log.max_slot) + 1):
            entry = self.log.get(slot)
            if entry is not None and not entry.chosen:  # whatever ballot it was accepted in
                self.log.mark_chosen(slot, entry.value)
        self._advance_chosen()
        if self.log.chosen_through < through:
            self._request_catchup(leader, now)

    monkeypatch.setattr(Replica, "_learn_commit", learn_commit)
    result = check(ModelConfig(campaign_order=("r0", "r1"), crashes_max=0))
    assert_found(result, 12)
    assert result.violation is not None and result.violation.startswith("learners")


def test_exception_inside_the_core_is_a_violation(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Replica, msg: object, now: float) -> None:
        raise AssertionError("boom")

    monkeypatch.setattr(Replica, "_on_Promise", broken)
    result = check(SMALL)
    assert_found(result, 3)
    assert result.violation is not None and "AssertionError: boom" in result.violation
