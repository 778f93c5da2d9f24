"""What the parts of the consensus core share: ballots, log entries, records, settings, Ready.

A slot's value is a ``Value``: a tuple of opaque, already-encoded commands (``bytes``). The empty
tuple is the no-op a new leader proposes to fill a gap. The core never looks inside a command; the
partition layer encodes and applies them.

``Ready`` is the hand-off from the pure core to its shell. The shell must, in this order:
  1. persist ``records`` (one atomic write batch, fsync'ed when ``sync`` is true),
  2. send ``messages``,
  3. apply ``to_apply`` in slot order, then call ``Replica.on_applied``.
Sending before persisting could let a peer count a vote that a crash then forgets. The one
exception: messages for which ``messages.may_precede_persist`` is true (a leader's Accept and
Heartbeat) may be sent before step 1, provided the shell gives the replica no further input until
step 1 is done; the leader's own vote is then never counted before it is durable.

This module is pure: no ray, no rocksdict, no clock reads, no randomness.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from raydynamo.consensus.messages import InstallSnapshot, Message

Value = tuple[bytes, ...]


class Role(Enum):
    FOLLOWER = "follower"
    CANDIDATE = "candidate"
    LEADER = "leader"


NOOP: Value = ()


@dataclass(frozen=True, order=True, slots=True)
class Ballot:
    """A proposer's right to propose: ordered by round, then by replica id."""

    round: int
    replica_id: str

    def __str__(self) -> str:
        return f"{self.round}.{self.replica_id}"


ZERO_BALLOT = Ballot(0, "")


@dataclass(frozen=True, slots=True)
class Entry:
    """What a replica holds for one slot: the ballot it accepted a value in, and whether it is
    known to be chosen (then ``value`` is the chosen value, whatever ``ballot`` says)."""

    ballot: Ballot
    value: Value
    chosen: bool = False


# ---------------------------------------------------------------------------------------------
# Durable records. The shell stores them and hands them back to ``Replica.recover``.


@dataclass(frozen=True, slots=True)
class PromisedRecord:
    """The highest ballot this acceptor promised; it must never answer a lower one again."""

    ballot: Ballot


@dataclass(frozen=True, slots=True)
class EntryRecord:
    """The entry of one slot (replaces any earlier record of that slot)."""

    slot: int
    entry: Entry


@dataclass(frozen=True, slots=True)
class ChosenThroughRecord:
    """Every slot up to and including ``slot`` is chosen, and its stored entry is the chosen one."""

    slot: int


@dataclass(frozen=True, slots=True)
class CompactedRecord:
    """Slots up to and including ``slot`` were applied to the data and their entries dropped."""

    slot: int


@dataclass(frozen=True, slots=True)
class ConfigRecord:
    """The configurations known (``membership.Config``, oldest first): replaces the last one."""

    configs: tuple[Any, ...]


Record = PromisedRecord | EntryRecord | ChosenThroughRecord | CompactedRecord | ConfigRecord


@dataclass(slots=True)
class DurableState:
    """Everything a replica keeps across a crash (the data's ``applied_through`` included)."""

    promised: Ballot = ZERO_BALLOT
    entries: dict[int, Entry] = field(default_factory=dict)
    chosen_through: int = 0
    compacted_through: int = 0
    applied_through: int = 0
    configs: tuple[Any, ...] = ()  # membership.Config history; empty: the hosting members


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Timings and bounds of one replica. Times are seconds of the replica's local clock.

    No field has a default: the storage node builds these from the configuration
    (``raydynamo.config.ConsensusConfig.to_settings``, where each field is described), and the
    simulator and the model checker state every value they run with, so no replica runs with
    timings nobody chose. ``leases_enabled`` is not configurable: only the model checker turns
    leases off.

    Clock assumption: every replica's clock runs at a rate within ``1 ± clock_drift_max`` of true
    time (offsets are arbitrary: only durations measured on one clock are ever used).
    """

    heartbeat_interval_s: float
    lease_duration_s: float
    election_timeout_s: float
    election_jitter_s: float
    retransmit_interval_s: float
    clock_drift_max: float
    slots_in_flight_max: int
    batch_commands_max: int
    batch_bytes_max: int
    pending_commands_max: int
    catchup_entries_max: int
    log_retained_slots: int
    handoff_timeout_s: float
    leases_enabled: bool

    def __post_init__(self) -> None:
        assert self.lease_duration_s > 0
        assert self.election_timeout_s > self.lease_duration_s, "elections must outwait leases"
        assert 0 <= self.clock_drift_max < 0.5
        assert self.slots_in_flight_max >= 1
        assert self.batch_commands_max >= 1

    @property
    def leader_lease_s(self) -> float:
        """How long after sending a message that a majority acknowledged the leader may serve
        strong reads. A follower promises (on its own clock) to refuse other candidates for
        ``lease_duration_s`` after it received the message; shrinking by the worst drift of both
        clocks makes the leader's lease end before the earliest follower's promise can."""
        rho = self.clock_drift_max
        return self.lease_duration_s * (1 - rho) / (1 + rho)


@dataclass(slots=True)
class Ready:
    """One batch of the core's output; see the module docstring for the order of handling."""

    records: list[Record] = field(default_factory=list)
    sync: bool = False
    messages: list[tuple[str, Message]] = field(default_factory=list)
    to_apply: list[tuple[int, Value]] = field(default_factory=list)
    snapshot_requests: list[str] = field(default_factory=list)
    snapshot_to_install: InstallSnapshot | None = None
    leadership_lost: bool = False
    became_leader: bool = False

    def is_empty(self) -> bool:
        return not (
            self.records
            or self.messages
            or self.to_apply
            or self.snapshot_requests
            or self.snapshot_to_install is not None
            or self.leadership_lost
            or self.became_leader
        )
