"""The messages replicas of one Paxos group exchange: one frozen dataclass per kind.

Every message names its ``sender`` (a replica id). A message class with ``EARLY = True`` may be
sent before the records of the Ready it came in are persisted (see ``Ready``); every other message
must wait for them, because it carries a vote (Promise, Accepted) or answers for state.
Messages that belong to a leader's reign carry its ``ballot``. ``sent_at`` fields are times of
the *sender's* clock, echoed back unchanged so the sender can measure durations on its own clock;
no replica ever compares two clocks.

This module is pure: no ray, no rocksdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from raydynamo.consensus.types import Ballot, Entry, Value


@dataclass(frozen=True, slots=True)
class Prepare:
    """Phase 1a over every slot from ``from_slot`` on (one Prepare covers the whole log)."""

    sender: str
    ballot: Ballot
    from_slot: int
    sent_at: float


@dataclass(frozen=True, slots=True)
class Promise:
    """Phase 1b: the acceptor promised ``ballot`` and reports what it holds from ``from_slot`` on.

    ``compacted_through`` tells the candidate when the acceptor no longer has some slots it asked
    for: the candidate must then catch up from a snapshot before it can lead.
    """

    sender: str
    ballot: Ballot
    entries: tuple[tuple[int, Entry], ...]
    chosen_through: int
    compacted_through: int
    sent_at: float


@dataclass(frozen=True, slots=True)
class Accept:
    """Phase 2a for a run of slots, with the leader's chosen prefix piggybacked.

    May be sent before the leader's own copy of the entries is persisted (``EARLY``): it asks for
    votes but is none, and the leader's own vote is only counted when it handles a reply, which
    the shell does only after the Ready's records are persisted. The leader's fsync then overlaps
    the followers' instead of preceding it.
    """

    EARLY: ClassVar[bool] = True

    sender: str
    ballot: Ballot
    entries: tuple[tuple[int, Value], ...]
    commit_through: int
    sent_at: float


@dataclass(frozen=True, slots=True)
class Accepted:
    """Phase 2b: the acceptor durably accepted ``slots`` in ``ballot``."""

    sender: str
    ballot: Ballot
    slots: tuple[int, ...]
    chosen_through: int
    sent_at: float


@dataclass(frozen=True, slots=True)
class Reject:
    """A Prepare or Accept was refused: a higher ballot was promised, a lease is still held, or
    (``behind``) the candidate lacks slots the acceptor already compacted, so it must catch up
    from a snapshot before it can lead."""

    sender: str
    ballot: Ballot
    promised: Ballot
    leader_hint: str | None
    lease_held: bool
    behind: bool = False


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """The leader is alive; slots through ``commit_through`` are chosen. Carries no vote, so it
    may be sent before the Ready's records are persisted (``EARLY``)."""

    EARLY: ClassVar[bool] = True

    sender: str
    ballot: Ballot
    commit_through: int
    sent_at: float


@dataclass(frozen=True, slots=True)
class HeartbeatAck:
    sender: str
    ballot: Ballot
    chosen_through: int
    sent_at: float


@dataclass(frozen=True, slots=True)
class CatchUpRequest:
    """A replica asks for the chosen values of slots from ``from_slot`` on."""

    sender: str
    from_slot: int


@dataclass(frozen=True, slots=True)
class CatchUp:
    """Chosen values, in slot order, starting right after the requester's chosen prefix."""

    sender: str
    entries: tuple[tuple[int, Value], ...]
    chosen_through: int


@dataclass(frozen=True, slots=True)
class InstallSnapshot:
    """The partition's data as of ``last_slot`` (applied) is ready to replace the replica's.

    ``data`` is opaque to the core; only the shells read and write it. The storage node never
    sends this message: it streams the data in ``SnapshotChunk``s into a staging area and hands
    its own replica the ``InstallSnapshot`` once the last chunk is in (``node.snapshots``).
    """

    sender: str
    last_slot: int
    data: object
    configs: tuple[Any, ...] = ()  # membership.Config history as of ``last_slot``


@dataclass(frozen=True, slots=True)
class SnapshotChunk:
    """One piece of a snapshot stream between storage nodes (the node cores handle it; replicas
    never see it). ``pairs`` are (state key below the generation prefix, value) in key order;
    ``digest`` is the CRC32C of every pair of the transfer through this chunk; ``last`` ends the
    stream. The sender sends chunk ``seq + 1`` only once chunk ``seq`` was acknowledged."""

    sender: str
    transfer_id: bytes
    seq: int
    last_slot: int
    configs: tuple[Any, ...]  # membership.Config history as of ``last_slot``
    pairs: tuple[tuple[bytes, bytes], ...]
    digest: int
    last: bool


@dataclass(frozen=True, slots=True)
class SnapshotAck:
    """Chunk ``seq`` of ``transfer_id`` is staged (``accepted``), or the receiver refuses the
    transfer (it does not need it, or expects another one): the sender abandons it."""

    sender: str
    transfer_id: bytes
    seq: int
    accepted: bool


@dataclass(frozen=True, slots=True)
class LeaderQuery:
    """Before an election: "do you still hear a leader?" (the gray-failure check)."""

    sender: str
    nonce: int


@dataclass(frozen=True, slots=True)
class LeaderQueryReply:
    sender: str
    nonce: int
    hears_leader: bool
    leader_ballot: Ballot


@dataclass(frozen=True, slots=True)
class LeaseRevoke:
    """The leader of ``ballot`` gave up its lease (planned hand-off): stop refusing candidates."""

    sender: str
    ballot: Ballot


@dataclass(frozen=True, slots=True)
class TimeoutNow:
    """The leader of ``ballot`` hands leadership to the receiver: campaign at once."""

    sender: str
    ballot: Ballot


def may_precede_persist(message: object) -> bool:
    """True for messages a shell may send before persisting the Ready they came with."""
    return bool(getattr(message, "EARLY", False))


Message = (
    Prepare
    | Promise
    | Accept
    | Accepted
    | Reject
    | Heartbeat
    | HeartbeatAck
    | CatchUpRequest
    | CatchUp
    | InstallSnapshot
    | SnapshotChunk
    | SnapshotAck
    | LeaderQuery
    | LeaderQueryReply
    | LeaseRevoke
    | TimeoutNow
)
