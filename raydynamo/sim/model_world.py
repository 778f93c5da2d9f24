"""The model checker's world: its bounds, its actions, and a shell that drives the real core.

The network is a set of messages, TLA+ style: delivering a message does not remove it, so every
message can be delivered again later (duplication), in any order (reordering), or never (loss).
A multiset with bounded copies would be no more general and would multiply states. Answers that
can never matter again are dropped from it (``MessageTable.is_dead``), which loses no replica
state (a test compares the reachable replica states with and without).

The group starts as ``replicas`` members; ``joiners`` more replicas exist from the start, empty
and joining (``Replica(..., joining=True)``, kept joining across restarts as a host records it):
they vote when asked and campaign only once they learned a chosen configuration holding them.

Actions, each applied to an immutable ``ModelState`` (see ``model_state``):
- ``deliver m``: the destination steps message ``m``, which stays in the network;
- ``lose m``: ``m`` leaves the network (``losses_max``, 0 by default: since a message may be
  never delivered anyway, a loss only removes choices; a test shows it adds no replica state);
  a message sent on a ``cut`` link is lost at once (a partition: fewer behaviours, to reach deep
  ones cheaply, as etcd's ``network.cut`` does);
- ``campaign r``: a would-be leader (``candidates``) starts phase 1 (``campaigns_max`` each, or
  exactly the sequence ``campaign_order``), offered only while the core would let it (a known
  member of its configuration: a removed replica that has not learned it still campaigns);
- ``propose r``: the next of ``proposals_max`` distinct one-command values, at a replica that
  leads;
- ``reconfig r k``: a leader asks to change the group to ``targets[k]`` (``propose_config``); the
  core accepts or refuses (a refusal is no transition), so a target two changes away is only
  taken once the first change is chosen, unless the core is broken (``changes_max`` accepted in
  all; a removed replica keeps running, with its disk, and is crashed like any other);
- ``tick r``: ``r``'s clock advances one ``TICK_S`` and ``r`` ticks: a leader heartbeats with its
  commit point and resends unacknowledged slots; a follower may ask for a catch-up again. Each
  replica has its own clock (the core never compares clocks of two replicas), and ticks are only
  offered where they can change something (leaders, followers waiting to re-ask): a follower's
  tick starts no election here, and a candidate's only resends a Prepare that is still in the
  network;
- ``crash r k``: ``r`` loses its memory and restarts from its disk, keeping the first ``k`` of
  its unsynced write batches (``crashes_max`` in all). Down time needs no action of its own: a
  replica that is down behaves like one that receives nothing;
- ``... ; r crashes early``: an input whose handling sent early messages (``may_precede_persist``:
  a leader's Accept and Heartbeat) ahead of records is also tried with a crash right after those
  sends, before the records are durable (counts as a crash).

``model_shell`` handles each ``Ready`` as a storage node does. Other crash points need no action:
a crash after persisting and before sending equals a crash after sending whose messages are
never delivered. An exception raised inside the core (or a broken shell contract) is a
``ModelFailure``.
Pure: must not import ray or rocksdict.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

from raydynamo.consensus.membership import config_in
from raydynamo.consensus.messages import (
    Accept,
    Accepted,
    CatchUp,
    CatchUpRequest,
    Heartbeat,
    HeartbeatAck,
    InstallSnapshot,
    Message,
    Prepare,
    Promise,
    Reject,
)
from raydynamo.consensus.replica import Replica
from raydynamo.consensus.types import Entry, Value
from raydynamo.sim.model_replica import TICK_S, clone, model_settings, new_replica
from raydynamo.sim.model_shell import CrashBeforePersist, Shell, Vote
from raydynamo.sim.model_state import Disk, DiskImage, MessageTable, NodeState, freeze, load, seal

NO_OPS_MAX = 2_000_000  # entries of the cache of deliveries that change nothing


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """The bounds of one model check."""

    replicas: int = 3  # the initial members r0..
    candidates: tuple[str, ...] = ("r0", "r1")
    campaigns_max: int = 2  # per candidate
    campaign_order: tuple[str, ...] = ()  # if set: exactly who campaigns, in this order
    proposals_max: int = 2  # in total, one distinct command each
    crashes_max: int = 2  # in total
    losses_max: int = 0  # in total
    ticks: bool = True
    log_retained_slots: int = 1  # compact behind every applied slot: snapshots get exercised
    prune: bool = True  # drop answers that can never change their destination again
    joiners: int = 0  # replicas after the members, empty and joining from the start
    targets: tuple[tuple[str, ...], ...] = ()  # configurations a leader may ask for
    changes_max: int = 0  # membership changes a leader accepted, in total
    cut: tuple[tuple[str, str], ...] = ()  # (sender, destination) links that lose everything

    @property
    def members(self) -> tuple[str, ...]:
        """The initial configuration."""
        return tuple(f"r{i}" for i in range(self.replicas))

    @property
    def replica_ids(self) -> tuple[str, ...]:
        """Every replica of the model: the members, then the joiners."""
        return tuple(f"r{i}" for i in range(self.replicas + self.joiners))


def links_cut(
    ids: tuple[str, ...], kept: tuple[tuple[str, str], ...]
) -> tuple[tuple[str, str], ...]:
    """For ``ModelConfig.cut``: every link between two of ``ids`` but the ``kept`` ones (both
    ways)."""
    both = set(kept) | {(b, a) for a, b in kept}
    return tuple((a, b) for a in ids for b in ids if a != b and (a, b) not in both)


class ModelFailure(Exception):
    """The core raised (or broke the shell contract) while handling an action."""


class Action(NamedTuple):
    kind: str  # deliver, lose, campaign, propose, reconfig, tick, crash
    replica: str
    arg: int = 0  # message id, batches kept by a crash, or index of a target configuration
    total: int = 0  # unsynced batches a crash could have kept
    crash_early: bool = False  # then crash after the early sends, before persisting


class ModelState(NamedTuple):
    nodes: tuple[NodeState, ...]
    network: frozenset[int]
    votes: frozenset[Vote]
    campaigns: tuple[int, ...]
    proposals: int
    crashes: int
    losses: int
    clocks: tuple[int, ...]  # per replica: now = clock * TICK_S (fingerprinted only as flags)
    changes: int = 0

    def fingerprint(self, crashes_max: int) -> int:
        """Disks only matter while a crash may still read them."""
        if self.crashes < crashes_max:
            nodes = tuple(n.fingerprint for n in self.nodes)
        else:
            nodes = tuple(n.memory for n in self.nodes)
        counters = (self.campaigns, self.proposals, self.crashes, self.losses, self.changes)
        return hash((nodes, self.network, self.votes, counters))


def proposal_value(number: int) -> Value:
    return (f"v{number}".encode(),)


class Refused(Exception):
    """The core refused the input (a membership change it cannot make now): no transition."""


class Model:
    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self.members = config.members
        self.ids = config.replica_ids
        self.cut = frozenset(config.cut)
        self.settings = model_settings(config.log_retained_slots)
        self.table = MessageTable()
        # (node fingerprint, message id) -> what delivering it sends and votes, for deliveries
        # that leave the node as it was: where those are already in the state, it is unchanged.
        self.no_ops: dict[tuple[int, int], tuple[frozenset[int], frozenset[Vote], bool]] = {}
        self.early_cut = False
        assert set(config.candidates) <= set(self.ids)
        assert all(set(target) <= set(self.ids) for target in config.targets)

    def initial_state(self) -> ModelState:
        nodes = []
        for rid in self.ids:
            shell = self._restart(rid, DiskImage(), 0.0)
            nodes.append(freeze(shell.replica, shell.disk, tuple(shell.applied), 0.0))
        campaigns = (0,) * len(self.config.candidates)
        clocks = (0,) * len(self.ids)
        state = ModelState(tuple(nodes), frozenset(), frozenset(), campaigns, 0, 0, 0, clocks)
        return self.seal(state)

    @staticmethod
    def seal(state: ModelState) -> ModelState:
        """Pickle the replicas an action left live: the state is kept (in the BFS frontier)."""
        return state._replace(nodes=tuple(seal(n) for n in state.nodes))

    # --- which actions ---------------------------------------------------------------------------

    def actions(self, state: ModelState) -> list[Action]:
        """The actions enabled in ``state``, ``crash_early`` variants aside (``successors``)."""
        cfg = self.config
        out: list[Action] = []
        for mid in sorted(state.network):
            out.append(Action("deliver", self.table.envelopes[mid][0], mid))
        for rid, node in zip(self.ids, state.nodes, strict=True):
            if node.view.ballot is not None and state.proposals < cfg.proposals_max:
                out.append(Action("propose", rid, state.proposals + 1))
            if node.view.ballot is not None and state.changes < cfg.changes_max:
                out += self._reconfigs(rid, node)
            if cfg.ticks and node.view.tickable:
                out.append(Action("tick", rid))
        out += self._campaigns(state)
        if state.crashes < cfg.crashes_max:
            for rid, node in zip(self.ids, state.nodes, strict=True):
                total = len(node.disk.tail)
                for kept in range(total, -1, -1):
                    out.append(Action("crash", rid, kept, total))
        if state.losses < cfg.losses_max:
            for mid in sorted(state.network):
                out.append(Action("lose", self.table.envelopes[mid][0], mid))
        return out

    def successors(self, state: ModelState) -> Iterator[tuple[Action, ModelState | ModelFailure]]:
        """Every (action, next state) from ``state``; a ``ModelFailure`` ends the list. An input
        whose handling sent early messages ahead of records is followed by its ``crash_early``
        variant, while crashes remain."""
        loaded: dict[int, Replica] = {}
        crashes_left = state.crashes < self.config.crashes_max
        for action in self.actions(state):
            variants = [action]
            while variants:
                current = variants.pop()
                try:
                    child = self.apply(state, current, loaded)
                except ModelFailure as failure:
                    yield current, failure
                    return
                if child is not None:
                    yield current, child
                if crashes_left and self.early_cut and not current.crash_early:
                    variants.append(current._replace(crash_early=True))

    def _campaigns(self, state: ModelState) -> list[Action]:
        """Campaigns left, where the core would start one (``ReplicaView.may_lead``)."""
        cfg = self.config
        if cfg.campaign_order:
            done = sum(state.campaigns)
            rids = list(cfg.campaign_order[done : done + 1])
        else:
            rids = [
                rid
                for i, rid in enumerate(cfg.candidates)
                if state.campaigns[i] < cfg.campaigns_max
            ]
        return [
            Action("campaign", rid)
            for rid in rids
            if state.nodes[self.ids.index(rid)].view.may_lead
        ]

    def _reconfigs(self, rid: str, node: NodeState) -> list[Action]:
        """The changes a leader may be asked for: every target that is not its configuration
        and keeps it a member. Whether it is one change away is the core's to judge."""
        members = node.view.members
        return [
            Action("reconfig", rid, k)
            for k, target in enumerate(self.config.targets)
            if tuple(sorted(target)) != members and rid in target
        ]

    # --- doing one -------------------------------------------------------------------------------

    def apply(
        self, state: ModelState, action: Action, loaded: dict[int, Replica] | None = None
    ) -> ModelState | None:
        """The state after ``action``; None for a ``crash_early`` variant whose input sent
        nothing early ahead of records (it would equal the plain action). Sets ``early_cut``:
        whether the input sent early messages ahead of records. ``loaded`` caches ``state``'s
        unpickled replicas between the actions tried from one state (only read, never
        stepped)."""
        self.early_cut = False
        try:
            return self._apply(state, action, {} if loaded is None else loaded)
        except Exception as exc:
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            where = f"{frame.filename.rsplit('/', 2)[-1]}:{frame.lineno} in {frame.name}"
            raise ModelFailure(f"{type(exc).__name__}: {exc} ({where})") from exc

    def _apply(
        self, state: ModelState, action: Action, loaded: dict[int, Replica]
    ) -> ModelState | None:
        kind = action.kind
        if kind == "lose":
            network = state.network - {action.arg}
            return state._replace(network=network, losses=state.losses + 1)
        i = self.ids.index(action.replica)
        node = state.nodes[i]
        clocks = state.clocks
        if kind == "tick":
            clocks = (*clocks[:i], clocks[i] + 1, *clocks[i + 1 :])
        now = clocks[i] * TICK_S
        if kind == "deliver" and not action.crash_early:
            no_op = self.no_ops.get((node.fingerprint, action.arg))
            if no_op is not None and no_op[0] <= state.network and no_op[1] <= state.votes:
                self.early_cut = no_op[2]
                return state
        if kind == "crash":
            shell = self._restart(action.replica, node.disk.after_crash(action.arg), now)
        else:
            if i not in loaded:
                loaded[i] = load(node)
            replica = clone(loaded[i])
            shell = Shell(self.table, replica, node.disk, node.applied, action.crash_early)
            try:
                self._input(replica, action, now)
            except Refused:
                return None
            try:
                shell.drain()
            except CrashBeforePersist:
                shell = self._restart_after(shell, now)
            else:
                if action.crash_early:
                    return None
                self.early_cut = shell.early_cut
        if self.cut:  # lost as they are sent
            shell.sent = {mid for mid in shell.sent if self._link(mid) not in self.cut}
        nodes = list(state.nodes)
        nodes[i] = freeze(shell.replica, shell.disk, tuple(shell.applied), now)
        if kind == "deliver" and nodes[i].fingerprint == node.fingerprint:
            self._note_no_op(node, action, shell)
        crashed = kind == "crash" or action.crash_early
        return state._replace(
            nodes=tuple(nodes),
            network=self._network(state.network, shell.sent, i, nodes, node),
            votes=state.votes | shell.votes,
            campaigns=self._count_campaign(state, action),
            proposals=state.proposals + (1 if kind == "propose" else 0),
            crashes=state.crashes + (1 if crashed else 0),
            clocks=clocks,
            changes=state.changes + (1 if kind == "reconfig" else 0),
        )

    def _restart(self, rid: str, image: DiskImage, now: float) -> Shell:
        """A replica back from a crash, with what its disk kept, having handled its Readies."""
        joining = rid not in self.members
        members = (*self.members, rid) if joining else self.members
        replica = new_replica(rid, members, self.settings, image.durable(), now, joining)
        shell = Shell(self.table, replica, Disk(image, ()), image.applied)
        shell.drain()
        return shell

    def _restart_after(self, crashed: Shell, now: float) -> Shell:
        """The replica crashed before persisting a Ready: what it sent stays sent, what earlier
        Readies of this action persisted stays on disk (unsynced batches too, this once)."""
        disk = crashed.disk
        shell = self._restart(crashed.replica.replica_id, disk.after_crash(len(disk.tail)), now)
        shell.sent |= crashed.sent
        shell.votes |= crashed.votes
        return shell

    def _note_no_op(self, node: NodeState, action: Action, shell: Shell) -> None:
        if len(self.no_ops) >= NO_OPS_MAX:
            self.no_ops.clear()
        self.no_ops[node.fingerprint, action.arg] = (
            frozenset(shell.sent),
            frozenset(shell.votes),
            shell.early_cut,
        )

    def _input(self, replica: Replica, action: Action, now: float) -> None:
        kind = action.kind
        if kind == "deliver":
            replica.step(self.table.envelopes[action.arg][1], now)
        elif kind == "campaign":
            replica.campaign(now)
        elif kind == "propose":
            replica.propose(list(proposal_value(action.arg)), now)
        elif kind == "reconfig":
            if not replica.propose_config(self.config.targets[action.arg], now):
                raise Refused()
        elif kind == "tick":
            replica.tick(now)
        else:
            raise AssertionError(f"unknown action {action}")

    def _network(
        self,
        network: frozenset[int],
        sent: set[int],
        actor: int,
        nodes: list[NodeState],
        was: NodeState,
    ) -> frozenset[int]:
        """Add what was sent; drop dead messages (see ``MessageTable.is_dead``): new ones, and
        those to the actor if its promise or reign changed (nobody else's state did)."""
        network = network | sent
        if not self.config.prune:
            return network
        table = self.table
        view = nodes[actor].view
        changed = (view.promised, view.reign) != (was.view.promised, was.view.reign)
        check = network if changed else sent
        actor_id = self.ids[actor]
        dead = []
        for mid in check:
            dest = table.envelopes[mid][0]
            if dest == actor_id:
                if table.is_dead(mid, view.promised, view.reign):
                    dead.append(mid)
            elif mid in sent:
                other = nodes[self.ids.index(dest)].view
                if table.is_dead(mid, other.promised, other.reign):
                    dead.append(mid)
        return network.difference(dead) if dead else network

    def _link(self, mid: int) -> tuple[str, str]:
        dest, msg = self.table.envelopes[mid]
        return msg.sender, dest

    def _count_campaign(self, state: ModelState, action: Action) -> tuple[int, ...]:
        if action.kind != "campaign":
            return state.campaigns
        i = self.config.candidates.index(action.replica)
        return (*state.campaigns[:i], state.campaigns[i] + 1, *state.campaigns[i + 1 :])

    # --- words -----------------------------------------------------------------------------------

    def describe(self, action: Action) -> str:
        text = self._describe(action)
        if action.crash_early:
            text += f"; {action.replica} crashes after sending its early messages, before"
            text += " persisting, and restarts from its disk"
        return text

    def _describe(self, action: Action) -> str:
        rid = action.replica
        if action.kind in ("deliver", "lose"):
            dest, msg = self.table.envelopes[action.arg]
            return f"{action.kind} {describe_message(dest, msg)}"
        if action.kind == "propose":
            return f"propose {fmt_value(proposal_value(action.arg))} at {rid}"
        if action.kind == "reconfig":
            target = fmt_members(tuple(sorted(self.config.targets[action.arg])))
            return f"reconfig: ask leader {rid} to change the group to {target}"
        if action.kind == "tick":
            return f"tick {rid} (its clock advances {TICK_S}s: heartbeat, retransmits, catch-up)"
        if action.kind == "crash":
            kept = f"keeping {action.arg} of {action.total} unsynced batches"
            return f"crash {rid}, restart from its disk ({kept})"
        return f"{action.kind} {rid}"

    def describe_state(self, state: ModelState) -> list[str]:
        lines = []
        for rid, node in zip(self.ids, state.nodes, strict=True):
            r = load(node)
            log = ", ".join(f"{s}={fmt_entry(e)}" for s, e in sorted(r.log.entries.items()))
            applied = ", ".join(fmt_value(v) for v in node.applied)
            configs = ", ".join(f"{fmt_members(c.members)}@{c.slot}" for c in r.membership.history)
            lines.append(
                f"{rid}: {r.role.value} promised={r.promised if r.promised.round else 'none'}"
                f" chosen<={r.log.chosen_through} configs=[{configs}]"
                f" log=[{log}] applied=[{applied}]"
            )
        return lines


def fmt_members(members: tuple[str, ...]) -> str:
    return "{" + ",".join(members) + "}"


def fmt_value(value: Value) -> str:
    members = config_in(value)
    if members is not None:
        return f"config{fmt_members(members)}"
    return "+".join(c.decode(errors="replace") for c in value) if value else "noop"


def fmt_entry(entry: Entry) -> str:
    return f"{fmt_value(entry.value)}@{entry.ballot}{'(chosen)' if entry.chosen else ''}"


def _slots(entries: tuple[tuple[int, Value], ...]) -> str:
    return "[" + ", ".join(f"{s}={fmt_value(v)}" for s, v in entries) + "]"


def describe_message(dest: str, msg: Message) -> str:
    head = f"{type(msg).__name__} {msg.sender}->{dest}"
    if isinstance(msg, Prepare):
        return f"{head} ballot {msg.ballot} from slot {msg.from_slot}"
    if isinstance(msg, Promise):
        entries = ", ".join(f"{s}={fmt_entry(e)}" for s, e in msg.entries)
        return f"{head} ballot {msg.ballot} [{entries}]"
    if isinstance(msg, Accept):
        return f"{head} ballot {msg.ballot} {_slots(msg.entries)} commit<={msg.commit_through}"
    if isinstance(msg, Accepted):
        return f"{head} ballot {msg.ballot} slots {list(msg.slots)}"
    if isinstance(msg, Reject):
        behind = " (behind)" if msg.behind else ""
        return f"{head} ballot {msg.ballot} promised {msg.promised}{behind}"
    if isinstance(msg, Heartbeat):
        return f"{head} ballot {msg.ballot} commit<={msg.commit_through}"
    if isinstance(msg, HeartbeatAck):
        return f"{head} ballot {msg.ballot} chosen<={msg.chosen_through}"
    if isinstance(msg, CatchUpRequest):
        return f"{head} from slot {msg.from_slot}"
    if isinstance(msg, CatchUp):
        return f"{head} {_slots(msg.entries)} chosen<={msg.chosen_through}"
    if isinstance(msg, InstallSnapshot):
        configs = ", ".join(f"{fmt_members(c.members)}@{c.slot}" for c in msg.configs)
        return f"{head} through slot {msg.last_slot} configs [{configs}]"
    return f"{head} {msg!r}"
