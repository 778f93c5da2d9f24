"""How the model checker sees one ``Replica``: its settings, copies, fingerprint and view.

The fingerprint keeps everything of a replica that can change what it does later, and leaves out
what cannot in this model (``REPLICA_FIELDS`` and ``LEADERSHIP_FIELDS`` list every field and its
fate; ``check_model_fields`` fails loudly when the core grows a field not listed there, so the
abstraction cannot silently rot):
- time: each replica's clock advances only by ticks of ``TICK_S`` (= the retransmit interval), so
  a timer field only matters as "set at the current time or earlier" (``t == now``);
- leases are off and every timeout is ``FAR_S`` away, so lease grants, election timers, the
  leader's ack times and the gray-failure query never act; elections come only from the model's
  explicit ``campaign`` actions;
- ``leader_id`` only ever flows into hints; ``rng`` only draws election jitter, which is 0
  (``NO_JITTER``).
Pure: must not import ray or rocksdict.
"""

from __future__ import annotations

import copy
from collections import deque
from enum import Enum
from typing import NamedTuple

from raydynamo.consensus.leadership import InflightSlot, Leadership
from raydynamo.consensus.log import PaxosLog
from raydynamo.consensus.membership import Membership
from raydynamo.consensus.messages import InstallSnapshot
from raydynamo.consensus.replica import Replica
from raydynamo.consensus.types import Ballot, DurableState, Ready, Settings, Value

TICK_S = 0.25
FAR_S = 1e9  # timeouts nobody reaches: elections happen only by explicit campaign actions


def model_settings(log_retained_slots: int) -> Settings:
    """Leases off, elections only by explicit ``campaign``, retransmits once per tick."""
    return Settings(
        heartbeat_interval_s=TICK_S / 5,
        lease_duration_s=FAR_S / 2,
        election_timeout_s=FAR_S,
        election_jitter_s=0.0,
        retransmit_interval_s=TICK_S,
        handoff_timeout_s=FAR_S,
        log_retained_slots=log_retained_slots,
        leases_enabled=False,
        clock_drift_max=0.01,
        slots_in_flight_max=8,
        batch_commands_max=1024,
        batch_bytes_max=4 << 20,
        pending_commands_max=20_000,
        catchup_entries_max=256,
    )


class _NoJitter:
    """Stands in for ``Replica.rng``: jitter is 0, so ``uniform(0, 0)`` is 0.0 either way, and a
    state no longer pickles 2.5 kB of Mersenne Twister per replica."""

    def uniform(self, low: float, high: float) -> float:
        assert low == high, "the model runs with zero election jitter"
        return low

    def __reduce__(self) -> str:
        return "NO_JITTER"


NO_JITTER = _NoJitter()


class ReplicaView(NamedTuple):
    """What the invariants (and message pruning) need of one replica, so they never load it."""

    chosen: dict[int, Value]  # slots this replica knows chosen, above its compaction point
    values: dict[int, Value]  # the value of every entry in its log
    missing: tuple[int, ...]  # slots through chosen_through without an entry (never legal)
    ballot: Ballot | None  # the ballot it leads in phase 2, if any
    recovered_through: int
    inflight: dict[int, Value]
    promised: Ballot
    reign: Ballot | None  # the ballot it campaigns or leads with, if any
    tickable: bool  # a tick can change something: it leads, or it may re-ask for a catch-up
    members: tuple[str, ...]  # its latest known configuration
    may_lead: bool  # a campaign would start phase 1 (a known member of its configuration)
    deciders: dict[int, tuple[str, ...]]  # as leader: the configuration deciding each slot


def clone(r: Replica) -> Replica:
    """A copy that shares every immutable part (ballots, entries, messages, settings) and copies
    the containers; ``check_model_fields`` keeps the list of mutable parts honest."""
    c = object.__new__(Replica)
    c.__dict__.update(r.__dict__)
    log = object.__new__(PaxosLog)
    log.__dict__.update(r.log.__dict__)
    log.entries = dict(r.log.entries)
    c.log = log
    membership = object.__new__(Membership)
    membership.__dict__.update(r.membership.__dict__)
    membership.history = list(r.membership.history)
    c.membership = membership
    c.query_replies = dict(r.query_replies)
    c._out = Ready()
    lead = r.leadership
    if lead is not None:
        copy = object.__new__(Leadership)
        copy.__dict__.update(lead.__dict__)
        copy.membership = membership  # the leadership reads the replica's, never its own
        copy.promises = dict(lead.promises)
        copy.required = list(lead.required)
        copy.inflight = {s: _clone_inflight(f) for s, f in lead.inflight.items()}
        copy.pending = deque(lead.pending)
        copy.acked_sent_at = dict(lead.acked_sent_at)
        copy.peer_chosen_through = dict(lead.peer_chosen_through)
        c.leadership = copy
    return c


def _clone_inflight(flight: InflightSlot) -> InflightSlot:
    out = copy.copy(flight)
    out.acks = set(flight.acks)
    return out


def new_replica(
    replica_id: str,
    members: tuple[str, ...],
    settings: Settings,
    durable: DurableState,
    now: float,
    joining: bool = False,
) -> Replica:
    """A replica as its storage node (re)starts it; a ``joining`` one stays joining across
    restarts, as the host records it."""
    replica = Replica(
        replica_id, members, settings, seed=0, now=now, durable=durable, joining=joining
    )
    replica.rng = NO_JITTER  # type: ignore[assignment]
    return replica


def replica_fingerprint(r: Replica, now: float) -> tuple[object, ...]:
    log = r.log
    lead = r.leadership
    return (
        r.role.value,
        r.promised,
        r.max_round_seen,
        r.catchup_requested_at == now,
        tuple(sorted(log.entries.items())),
        log.chosen_through,
        log.emitted_through,
        log.applied_through,
        log.compacted_through,
        log.max_slot,
        tuple(r.membership.history),
        None if lead is None else leadership_fingerprint(lead, now),
    )


def leadership_fingerprint(lead: Leadership, now: float) -> tuple[object, ...]:
    return (
        lead.ballot,
        lead.from_slot,
        lead.leading,
        tuple(sorted(lead.promises.items(), key=_first)),
        tuple(lead.required),
        lead.next_slot,
        lead.recovered_through,
        tuple(
            (slot, f.value, frozenset(f.acks), f.sent_at == now, f.members)
            for slot, f in sorted(lead.inflight.items())
        ),
        tuple(lead.pending),
        lead.config_request,
        lead.config_slot,
        lead.config_members,
        lead.last_heartbeat_at == now,
    )


def _first(item: tuple[str, object]) -> str:
    return item[0]


def replica_view(r: Replica, now: float) -> ReplicaView:
    log = r.log
    chosen: dict[int, Value] = {}
    missing: list[int] = []
    for slot in range(log.compacted_through + 1, log.chosen_through + 1):
        entry = log.entries.get(slot)
        if entry is None:
            missing.append(slot)
        else:
            chosen[slot] = entry.value
    for slot, entry in log.entries.items():
        if entry.chosen:
            chosen[slot] = entry.value
    values = {slot: entry.value for slot, entry in log.entries.items()}
    reign = None if r.leadership is None else r.leadership.ballot
    lead = r.leadership if r.leadership is not None and r.leadership.leading else None
    flights = {} if lead is None else lead.inflight
    return ReplicaView(
        chosen=chosen,
        values=values,
        missing=tuple(missing),
        ballot=None if lead is None else lead.ballot,
        recovered_through=0 if lead is None else lead.recovered_through,
        inflight={slot: f.value for slot, f in flights.items()},
        promised=r.promised,
        reign=reign,
        tickable=lead is not None or r.catchup_requested_at == now,
        members=r.membership.members,
        may_lead=r._may_lead(),
        deciders={slot: f.members for slot, f in flights.items()},
    )


# Every field of the core's state objects, split by how the fingerprint treats it. A field the
# core gains must be added here, after deciding whether it can change future behaviour.
REPLICA_FIELDS = {
    "fingerprinted": {
        "role",
        "promised",
        "max_round_seen",
        "catchup_requested_at",
        "log",
        "membership",
    },
    "fingerprinted_apart": {"leadership"},
    "constant": {"replica_id", "settings"},
    "abstracted": {
        "rng",  # jitter only, zero (NO_JITTER)
        "leader_id",  # flows only into hints
        "last_heard_at",  # elections and LeaderQuery: never reached
        "grant_holder",  # leases: off
        "grant_until",  # leases: off
        "election_at",  # FAR_S away
        "query_nonce",  # LeaderQuery: never started (asserted)
        "query_started_at",
        "query_replies",
        "_last_now",  # equals the model's now whenever the core reads it
        "_out",  # drained after every input (asserted)
    },
}
LEADERSHIP_FIELDS = {
    "fingerprinted": {
        "ballot",
        "from_slot",
        "leading",
        "promises",
        "required",
        "next_slot",
        "recovered_through",
        "inflight",
        "pending",
        "config_request",
        "config_slot",
        "config_members",
        "last_heartbeat_at",
    },
    "constant": {"replica_id", "settings"},
    "aliased": {"membership"},  # the replica's own (asserted)
    "abstracted": {
        "started_at",  # check-quorum: FAR_S away
        "prepare_sent_at",  # candidate retransmits: candidates are not ticked (duplication)
        "pending_bytes",  # a function of pending
        "acked_sent_at",  # leases and check-quorum only
        "peer_chosen_through",  # hand-off only
        "handoff_target",  # never set (asserted)
        "handoff_started_at",
    },
}
MEMBERSHIP_FIELDS = {"history"}
LOG_FIELDS = {
    "compacted_through",
    "applied_through",
    "emitted_through",
    "chosen_through",
    "entries",
    "max_slot",
}
# The fields ``clone`` copies; every other field must hold an immutable value.
CLONED_FIELDS = {
    "log",
    "membership",
    "history",
    "required",
    "leadership",
    "query_replies",
    "_out",
    "entries",
    "promises",
    "inflight",
    "pending",
    "acked_sent_at",
    "peer_chosen_through",
}


INFLIGHT_FIELDS = {"value", "acks", "sent_at", "members"}  # all fingerprinted; acks cloned


def vars_of_slots(obj: object) -> list[str]:
    return list(type(obj).__slots__)  # type: ignore[attr-defined]


def _all(fields: dict[str, set[str]]) -> set[str]:
    return set().union(*fields.values())


def _immutable(value: object) -> bool:
    if value is None or isinstance(value, int | float | str | bytes | Enum | _NoJitter):
        return True
    if isinstance(value, tuple | frozenset):
        return all(_immutable(v) for v in value)
    params = getattr(value, "__dataclass_params__", None)
    return params is not None and params.frozen


def _check_fields(obj: object, expected: set[str]) -> None:
    fields = vars(obj)
    name = type(obj).__name__
    assert set(fields) == expected, f"{name} fields changed: {sorted(fields)}"
    for key, value in fields.items():
        assert key in CLONED_FIELDS or _immutable(value), f"{name}.{key} is mutable: clone it"


def check_model_fields(r: Replica) -> None:
    """The model's assumptions about a replica between two actions."""
    _check_fields(r, _all(REPLICA_FIELDS))
    assert isinstance(r.log, PaxosLog)
    _check_fields(r.log, LOG_FIELDS)
    assert isinstance(r.membership, Membership)
    _check_fields(r.membership, MEMBERSHIP_FIELDS)
    assert r._out.is_empty(), "the model drains every Ready"
    assert r.query_started_at is None, "the model never lets a follower start an election"
    lead = r.leadership
    if lead is not None:
        _check_fields(lead, _all(LEADERSHIP_FIELDS))
        assert lead.membership is r.membership, "a leadership reads its replica's membership"
        assert lead.handoff_target is None, "the model never hands leadership off"
        for flight in lead.inflight.values():
            assert set(vars_of_slots(flight)) == INFLIGHT_FIELDS, "InflightSlot fields changed"


def snapshot_message(replica: Replica, applied: tuple[Value, ...]) -> InstallSnapshot:
    """What a shell sends for a snapshot request: its whole applied data and the membership
    history as of it."""
    last = len(applied)
    return InstallSnapshot(replica.replica_id, last, applied, replica.snapshot_configs(last))
