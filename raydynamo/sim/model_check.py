"""``python -m raydynamo.sim check``: exhaustive, breadth-first model check of the consensus core.

TLC is not available here, so this is our own explicit-state checker (no library). It drives the
real ``Replica`` (it does not re-implement Paxos) through every interleaving of a small model, by
default: 3 replicas; r0 and r1 campaign at most twice each; two proposals of distinct one-command
values; messages delivered in any order, any number of times; up to two crashes, each keeping any
prefix of the unsynced disk tail, or striking between a leader's early sends and its persist;
ticks; compaction after every applied slot, so lagging replicas need snapshots. Membership
changes go through the log as in the core: a joining replica exists from the start, and leaders
are asked to add it and then to remove a member (or any target configuration: the core refuses
what is not one change away), the removed replica running on. ``model_world`` lists the actions
and bounds, ``model_state`` what a state is and how it is fingerprinted, ``model_invariants``
what is checked in every state (agreement, safe proposals, learners, prefix, leader
completeness, and that no two disjoint majorities may decide one slot, "majority" always
meaning one of the configuration governing the slot; an exception inside the core is a
violation too).

Breadth-first order makes the first violation found one with a shortest trace. Distinct states
are remembered by a 64-bit hash of their canonical fingerprint, as TLC does: the chance that two
of a million states collide is about 3e-8. The frontier keeps replicas pickled.

These configurations are too large to exhaust in Python (none of them was exhausted at 600,000
states), so ``check`` explores breadth-first within a states budget: every behaviour of up to
``depth_complete`` actions, and part of the next level. Since BFS only goes deep where the model
is narrow, the default check (``DEFAULT_SUITE``) shares the budget between six runs: the full
model, three reigns in a row, crashes under two racing leaders, and three of membership changes
(the broad one, and two narrow ones where a removed replica campaigns). The tests exhaust smaller
configurations completely and find the mutants they plant in the core.

Output: one JSON line (``states``, ``transitions``, ``depth``, ``violations``, ``complete``,
``seconds``, and per run its ``depth_complete`` and configuration); on a violation the shortest
trace goes to stderr (and into the JSON line) and the exit code is 1.
Pure: must not import ray or rocksdict.
"""

from __future__ import annotations

import dataclasses
import json
import resource
import sys
import time
from dataclasses import dataclass, field

from raydynamo.sim.model_invariants import first_violation
from raydynamo.sim.model_world import (
    Action,
    Model,
    ModelConfig,
    ModelFailure,
    ModelState,
    links_cut,
)

# ``python -m raydynamo.sim check`` without bounds explores this many distinct states in all,
# shared by the runs of ``DEFAULT_SUITE``: about two and a half minutes and 0.9 GB here.
DEFAULT_STATES_MAX = 500_000


@dataclass(slots=True)
class CheckResult:
    states: int = 0
    transitions: int = 0
    depth: int = 0  # of the deepest state found
    depth_complete: int = 0  # every state this many actions from the start was explored
    complete: bool = False  # every reachable state was explored (no depth or states bound hit)
    violation: str | None = None
    trace: list[str] = field(default_factory=list)
    final_state: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self, config: ModelConfig) -> dict[str, object]:
        out: dict[str, object] = {
            "states": self.states,
            "transitions": self.transitions,
            "depth": self.depth,
            "depth_complete": self.depth_complete,
            "violations": 0 if self.violation is None else 1,
            "complete": self.complete,
            "seconds": round(self.seconds, 2),
            "states_per_s": round(self.states / self.seconds) if self.seconds else None,
            "config": dataclasses.asdict(config),
        }
        if self.violation is not None:
            out["violation"] = self.violation
            out["trace"] = self.trace
        return out


class Explorer:
    """Breadth-first search over the states of one ``Model``."""

    def __init__(self, model: Model, depth_max: int | None, states_max: int | None) -> None:
        self.model = model
        self.depth_max = depth_max
        self.states_max = states_max
        self.parents: dict[int, tuple[int, Action] | None] = {}
        self.result = CheckResult()

    def run(self, progress: bool = False) -> CheckResult:
        started = time.perf_counter()
        try:
            self._search(progress)
        finally:
            self.result.states = len(self.parents)
            self.result.seconds = time.perf_counter() - started
        return self.result

    def _search(self, progress: bool) -> None:
        init = self.model.initial_state()
        fp = init.fingerprint(self.model.config.crashes_max)
        self.parents[fp] = None
        if self._violated(fp, init):
            return
        level: list[tuple[int, ModelState]] = [(fp, init)]
        depth = 0
        while level:
            self.result.depth_complete = depth
            if self.depth_max is not None and depth >= self.depth_max:
                return
            nxt = self._expand(level, depth)
            if nxt is None:
                return
            depth += 1
            level = nxt
            if progress and level:
                print(self._progress_line(depth, len(level)), file=sys.stderr, flush=True)
        self.result.complete = True

    def _expand(
        self, level: list[tuple[int, ModelState]], depth: int
    ) -> list[tuple[int, ModelState]] | None:
        """The next BFS level, or None when the search must stop (violation or states_max)."""
        model, parents, result = self.model, self.parents, self.result
        crashes_max = model.config.crashes_max
        nxt: list[tuple[int, ModelState]] = []
        for parent_fp, state in level:
            for action, child in model.successors(state):
                result.transitions += 1
                if isinstance(child, ModelFailure):
                    self._fail(str(child), parent_fp, action, None)
                    result.depth = depth + 1
                    return None
                fp = child.fingerprint(crashes_max)
                if fp in parents:
                    continue
                parents[fp] = (parent_fp, action)
                result.depth = depth + 1
                if self._violated(fp, child):
                    return None
                nxt.append((fp, model.seal(child)))
                if self.states_max is not None and len(parents) >= self.states_max:
                    return None
        return nxt

    def _violated(self, fp: int, state: ModelState) -> bool:
        model = self.model
        problem = first_violation(model.ids, model.members, state.nodes, state.votes)
        if problem is None:
            return False
        self._fail(problem, fp, None, state)
        return True

    def _fail(self, problem: str, fp: int, last: Action | None, state: ModelState | None) -> None:
        actions: list[Action] = [] if last is None else [last]
        link = self.parents[fp]
        while link is not None:
            fp, action = link
            actions.append(action)
            link = self.parents[fp]
        actions.reverse()
        result = self.result
        result.violation = problem
        result.trace = [f"{i + 1}. {self.model.describe(a)}" for i, a in enumerate(actions)]
        if state is not None:
            result.final_state = self.model.describe_state(state)

    def _progress_line(self, depth: int, frontier: int) -> str:
        done = f"{len(self.parents)} states, {self.result.transitions} transitions"
        return f"depth {depth}: {done}, {frontier} new"


def check(
    config: ModelConfig | None = None,
    depth_max: int | None = None,
    states_max: int | None = None,
    progress: bool = False,
) -> CheckResult:
    """Explore ``config`` breadth-first; stops at the first violation."""
    return Explorer(Model(config or ModelConfig()), depth_max, states_max).run(progress)


@dataclass(frozen=True, slots=True)
class SuiteRun:
    """One configuration of the default check and its share of the states budget."""

    name: str
    config: ModelConfig
    share: float


ADD_R3 = ("r0", "r1", "r2", "r3")
# The group {r0,r1,r2} becomes {r0,r1,r2,r3} then {r0,r1,r3}: r3 joins, r2 is removed and runs on.
ADD_THEN_REMOVE = ModelConfig(
    joiners=1,
    targets=(ADD_R3, ("r0", "r1", "r3")),
    changes_max=2,
    campaigns_max=1,
    proposals_max=1,
    crashes_max=1,
)
# r0 leads {r0,r1,r2} to {r0,r1} then {r0,r1,r3}, and r2, removed, campaigns knowing neither
# change. The links r0-r1, r0-r3 and r1-r2 alone carry messages, so that BFS gets that deep: the
# only quorum r2 can reach ({r1,r2}, a majority of {r0,r1,r2}) must not make it a leader.
TWO_CHANGES_BEHIND = ModelConfig(
    joiners=1,
    targets=(("r0", "r1"), ("r0", "r1", "r3")),
    changes_max=2,
    candidates=("r0", "r2"),
    campaign_order=("r0", "r2"),
    proposals_max=1,
    crashes_max=0,
    ticks=False,
    cut=links_cut(("r0", "r1", "r2", "r3"), (("r0", "r1"), ("r0", "r3"), ("r1", "r2"))),
)
# r1 leads {r0,r1,r2} to {r1,r2} then {r1,r2,r3}; r0, removed, campaigns afterwards (it may even
# win a ballot, and must step down once it learns the change).
REMOVED_CAMPAIGNS = ModelConfig(
    joiners=1,
    targets=(("r1", "r2"), ("r1", "r2", "r3")),
    changes_max=2,
    campaign_order=("r1", "r0"),
    proposals_max=1,
    crashes_max=0,
    ticks=False,
)

# Breadth-first search goes deep only where the model is narrow, so the default check runs six
# configurations: the full model (broad, shallow); three reigns in a row without crashes (deep
# enough for a third leader to recover what the second chose over the first, or for a follower
# to learn a commit point over a stale entry); crashes under two racing leaders (deep enough
# for a crash to erase what an answer promised); membership changes with crashes (broad: an
# addition and what races it); a removed replica campaigning two changes behind (explored
# completely); and a removed replica campaigning after its removal. Each share keeps the
# ``depth_complete`` its run had alone (10, 12, 12; 10, complete, 12).
DEFAULT_SUITE = (
    SuiteRun("everything", ModelConfig(), 0.31),
    SuiteRun("three reigns", ModelConfig(campaign_order=("r0", "r1", "r0"), crashes_max=0), 0.175),
    SuiteRun("crashes", ModelConfig(campaigns_max=1, crashes_max=2, ticks=False), 0.21),
    SuiteRun("membership", ADD_THEN_REMOVE, 0.165),
    SuiteRun("two changes behind", TWO_CHANGES_BEHIND, 0.07),
    SuiteRun("removed campaigns", REMOVED_CAMPAIGNS, 0.07),
)


def run_suite(
    suite: tuple[SuiteRun, ...],
    depth_max: int | None,
    states_max: int | None,
    progress: bool = False,
) -> list[tuple[SuiteRun, CheckResult]]:
    """Each run gets its share of ``states_max``; the suite stops at the first violation."""
    results: list[tuple[SuiteRun, CheckResult]] = []
    for run in suite:
        budget = None if states_max is None else max(1, round(states_max * run.share))
        if progress:
            print(f"run {run.name!r}: {run.config}", file=sys.stderr, flush=True)
        result = check(run.config, depth_max, budget, progress)
        results.append((run, result))
        if result.violation is not None:
            break
    return results


def suite_summary(results: list[tuple[SuiteRun, CheckResult]]) -> dict[str, object]:
    checked = [r for _, r in results]
    seconds = sum(r.seconds for r in checked)
    states = sum(r.states for r in checked)
    out: dict[str, object] = {
        "states": states,
        "transitions": sum(r.transitions for r in checked),
        "depth": max(r.depth for r in checked),
        "violations": sum(1 for r in checked if r.violation is not None),
        "complete": all(r.complete for r in checked),
        "seconds": round(seconds, 2),
        "states_per_s": round(states / seconds) if seconds else None,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "runs": [{"name": run.name, **r.summary(run.config)} for run, r in results],
    }
    for run, r in results:
        if r.violation is not None:
            out["violation"] = f"{run.name}: {r.violation}"
            out["trace"] = r.trace
    return out


def print_violation(name: str, result: CheckResult) -> None:
    print(f"VIOLATION in run {name!r}: {result.violation}", file=sys.stderr)
    print("shortest trace from the initial state:", file=sys.stderr)
    for line in result.trace:
        print(f"  {line}", file=sys.stderr)
    if result.final_state:
        print("state reached:", file=sys.stderr)
        for line in result.final_state:
            print(f"  {line}", file=sys.stderr)


def run_check(depth: int | None, states_max: int | None) -> int:
    """The ``check`` subcommand: runs ``DEFAULT_SUITE``, prints one JSON line (and the trace of
    a violation); returns the exit code. Without any bound the suite explores
    ``DEFAULT_STATES_MAX`` states in all; ``depth`` alone explores every state within that depth
    of every run, however many there are."""
    if states_max is None and depth is None:
        states_max = DEFAULT_STATES_MAX
    results = run_suite(DEFAULT_SUITE, depth, states_max, progress=True)
    for run, result in results:
        if result.violation is not None:
            print_violation(run.name, result)
    summary = suite_summary(results)
    print(json.dumps(summary))
    return 1 if summary["violations"] else 0
