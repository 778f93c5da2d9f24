"""``python -m raydynamo.sim check``: exhaustive, breadth-first model check of the consensus core.

TLC is not available here, so this is our own explicit-state checker (no library). It drives the
real ``Replica`` (it does not re-implement Paxos) through every interleaving of a small model, by
default: 3 replicas; r0 and r1 campaign at most twice each; two proposals of distinct one-command
values; messages delivered in any order, any number of times; up to two crashes, each keeping any
prefix of the unsynced disk tail, or striking between a leader's early sends and its persist;
ticks; compaction after every applied slot, so lagging replicas need snapshots. ``model_world``
lists the actions and bounds, ``model_state`` what a state is and how it is fingerprinted,
``model_invariants`` what is checked in every state (agreement, safe proposals, learners, prefix,
leader completeness; an exception inside the core is a violation too).

Breadth-first order makes the first violation found one with a shortest trace. Distinct states
are remembered by a 64-bit hash of their canonical fingerprint, as TLC does: the chance that two
of a million states collide is about 3e-8. The frontier keeps replicas pickled.

The default configuration is far too large to exhaust in Python (its reachable states run into
the tens of millions), so ``check`` explores it breadth-first up to ``DEFAULT_STATES_MAX`` states:
every behaviour of up to ``depth_complete`` actions, and part of the next level. The tests
exhaust smaller configurations completely, and find the mutants they plant.

Output: one JSON line (``states``, ``transitions``, ``depth``, ``depth_complete``,
``violations``, ``complete``, ``seconds``, ...); on a violation the shortest trace goes to stderr
(and into the JSON line) and the exit code is 1. Pure: must not import ray or rocksdict.
"""

from __future__ import annotations

import dataclasses
import json
import resource
import sys
import time
from dataclasses import dataclass, field

from raydynamo.sim.model_invariants import first_violation
from raydynamo.sim.model_world import Action, Model, ModelConfig, ModelFailure, ModelState

# ``python -m raydynamo.sim check`` without bounds explores the default ModelConfig up to this
# many distinct states: about two minutes and 1.4 GB here (see the closing note of issue 2).
DEFAULT_STATES_MAX = 400_000


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
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        out: dict[str, object] = {
            "states": self.states,
            "transitions": self.transitions,
            "depth": self.depth,
            "depth_complete": self.depth_complete,
            "violations": 0 if self.violation is None else 1,
            "complete": self.complete,
            "seconds": round(self.seconds, 2),
            "states_per_s": round(self.states / self.seconds) if self.seconds else None,
            "max_rss_mb": rss_mb,
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
        problem = first_violation(self.model.members, state.nodes, state.votes)
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


def run_check(depth: int | None, states_max: int | None) -> int:
    """The ``check`` subcommand: prints the JSON summary (and a trace); returns the exit code.
    Without any bound it stops at ``DEFAULT_STATES_MAX`` states; ``depth`` alone explores every
    state within that depth, however many there are."""
    config = ModelConfig()
    if states_max is None and depth is None:
        states_max = DEFAULT_STATES_MAX
    result = check(config, depth_max=depth, states_max=states_max, progress=True)
    if result.violation is not None:
        print(f"VIOLATION: {result.violation}", file=sys.stderr)
        print("shortest trace from the initial state:", file=sys.stderr)
        for line in result.trace:
            print(f"  {line}", file=sys.stderr)
        if result.final_state:
            print("state reached:", file=sys.stderr)
            for line in result.final_state:
                print(f"  {line}", file=sys.stderr)
    print(json.dumps(result.summary(config)))
    return 0 if result.violation is None else 1
