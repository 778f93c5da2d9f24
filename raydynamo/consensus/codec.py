"""Byte encodings of consensus messages and durable records, each sealed with a CRC32C.

Messages travel between storage nodes in batches: ``encode_batch`` turns a list of
``(partition_id, message)`` into one sealed frame and ``decode_batch`` checks the checksum before
anything is decoded, so a corrupted frame is refused whole and never half applied. Records
(``encode_entry``/``decode_entry`` etc.) are what the shell stores. msgpack carries the structure;
every value is a list whose first element names the kind, so the layout can grow fields at the end.

``InstallSnapshot`` has no encoding: it never travels (a storage node streams ``SnapshotChunk``s
and hands its own replica the ``InstallSnapshot``), so a frame claiming to hold one is refused.
A chunk's pairs must be (bytes, bytes); anything else is a ``CodecError``.
Pure: no ray, no rocksdict.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgpack

from raydynamo.consensus.membership import Config
from raydynamo.consensus.messages import (
    Accept,
    Accepted,
    CatchUp,
    CatchUpRequest,
    Heartbeat,
    HeartbeatAck,
    LeaderQuery,
    LeaderQueryReply,
    LeaseRevoke,
    Message,
    Prepare,
    Promise,
    Reject,
    SnapshotAck,
    SnapshotChunk,
    TimeoutNow,
)
from raydynamo.consensus.types import Ballot, Entry
from raydynamo.storage.checksum import seal, unseal


class CodecError(ValueError):
    """A frame decoded to something that is not a valid message or record."""


def _ballot(b: Ballot) -> list[Any]:
    return [b.round, b.replica_id]


def _unballot(v: list[Any]) -> Ballot:
    return Ballot(int(v[0]), str(v[1]))


def _entry(e: Entry) -> list[Any]:
    return [e.ballot.round, e.ballot.replica_id, list(e.value), e.chosen]


def _unentry(v: list[Any]) -> Entry:
    return Entry(Ballot(int(v[0]), str(v[1])), tuple(v[2]), bool(v[3]))


def _values(entries: tuple[tuple[int, tuple[bytes, ...]], ...]) -> list[Any]:
    return [[slot, list(value)] for slot, value in entries]


def _unvalues(v: list[Any]) -> tuple[tuple[int, tuple[bytes, ...]], ...]:
    return tuple((int(slot), tuple(value)) for slot, value in v)


def _configs(configs: tuple[Config, ...]) -> list[Any]:
    return [[c.slot, list(c.members)] for c in configs]


def _unconfigs(v: list[Any]) -> tuple[Config, ...]:
    return tuple(Config(int(slot), tuple(str(m) for m in members)) for slot, members in v)


def _bytes(v: Any) -> bytes:
    if not isinstance(v, bytes):
        raise TypeError(f"expected bytes, got {type(v).__name__}")
    return v


def _count(v: Any) -> int:
    n = int(v)
    if n < 0:
        raise ValueError(f"expected a count, got {n}")
    return n


_ENCODERS: dict[type, tuple[int, Callable[[Any], list[Any]]]] = {
    Prepare: (1, lambda m: [m.sender, _ballot(m.ballot), m.from_slot, m.sent_at]),
    Promise: (
        2,
        lambda m: [
            m.sender,
            _ballot(m.ballot),
            [[s, _entry(e)] for s, e in m.entries],
            m.chosen_through,
            m.compacted_through,
            m.sent_at,
        ],
    ),
    Accept: (
        3,
        lambda m: [m.sender, _ballot(m.ballot), _values(m.entries), m.commit_through, m.sent_at],
    ),
    Accepted: (
        4,
        lambda m: [m.sender, _ballot(m.ballot), list(m.slots), m.chosen_through, m.sent_at],
    ),
    Reject: (
        5,
        lambda m: [
            m.sender,
            _ballot(m.ballot),
            _ballot(m.promised),
            m.leader_hint,
            m.lease_held,
            m.behind,
        ],
    ),
    Heartbeat: (6, lambda m: [m.sender, _ballot(m.ballot), m.commit_through, m.sent_at]),
    HeartbeatAck: (7, lambda m: [m.sender, _ballot(m.ballot), m.chosen_through, m.sent_at]),
    CatchUpRequest: (8, lambda m: [m.sender, m.from_slot]),
    CatchUp: (9, lambda m: [m.sender, _values(m.entries), m.chosen_through]),
    SnapshotChunk: (
        15,
        lambda m: [
            m.sender,
            m.transfer_id,
            m.seq,
            m.last_slot,
            _configs(m.configs),
            [[k, v] for k, v in m.pairs],
            m.digest,
            m.last,
        ],
    ),
    SnapshotAck: (16, lambda m: [m.sender, m.transfer_id, m.seq, m.accepted]),
    LeaderQuery: (11, lambda m: [m.sender, m.nonce]),
    LeaderQueryReply: (
        12,
        lambda m: [m.sender, m.nonce, m.hears_leader, _ballot(m.leader_ballot)],
    ),
    LeaseRevoke: (13, lambda m: [m.sender, _ballot(m.ballot)]),
    TimeoutNow: (14, lambda m: [m.sender, _ballot(m.ballot)]),
}

_DECODERS: dict[int, Callable[[list[Any]], Message]] = {
    1: lambda v: Prepare(v[0], _unballot(v[1]), int(v[2]), float(v[3])),
    2: lambda v: Promise(
        v[0],
        _unballot(v[1]),
        tuple((int(s), _unentry(e)) for s, e in v[2]),
        int(v[3]),
        int(v[4]),
        float(v[5]),
    ),
    3: lambda v: Accept(v[0], _unballot(v[1]), _unvalues(v[2]), int(v[3]), float(v[4])),
    4: lambda v: Accepted(v[0], _unballot(v[1]), tuple(int(s) for s in v[2]), int(v[3]), v[4]),
    5: lambda v: Reject(v[0], _unballot(v[1]), _unballot(v[2]), v[3], bool(v[4]), bool(v[5])),
    6: lambda v: Heartbeat(v[0], _unballot(v[1]), int(v[2]), float(v[3])),
    7: lambda v: HeartbeatAck(v[0], _unballot(v[1]), int(v[2]), float(v[3])),
    8: lambda v: CatchUpRequest(v[0], int(v[1])),
    9: lambda v: CatchUp(v[0], _unvalues(v[1]), int(v[2])),
    15: lambda v: SnapshotChunk(
        str(v[0]),
        _bytes(v[1]),
        _count(v[2]),
        _count(v[3]),
        _unconfigs(v[4]),
        tuple((_bytes(k), _bytes(val)) for k, val in v[5]),
        int(v[6]),
        bool(v[7]),
    ),
    16: lambda v: SnapshotAck(str(v[0]), _bytes(v[1]), _count(v[2]), bool(v[3])),
    11: lambda v: LeaderQuery(v[0], int(v[1])),
    12: lambda v: LeaderQueryReply(v[0], int(v[1]), bool(v[2]), _unballot(v[3])),
    13: lambda v: LeaseRevoke(v[0], _unballot(v[1])),
    14: lambda v: TimeoutNow(v[0], _unballot(v[1])),
}


def encode_message(msg: Message) -> list[Any]:
    tag, encode = _ENCODERS[type(msg)]
    return [tag, *encode(msg)]


def decode_message(value: list[Any]) -> Message:
    try:
        return _DECODERS[value[0]](value[1:])
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as err:
        raise CodecError(f"not a consensus message: {err!r}") from err


def encode_batch(messages: list[tuple[str, Message]]) -> bytes:
    """One sealed frame carrying ``(partition_id, message)`` pairs."""
    body = [[pid, encode_message(m)] for pid, m in messages]
    return seal(msgpack.packb(body, use_bin_type=True))


def decode_batch(frame: bytes) -> list[tuple[str, Message]]:
    """Check the frame's checksum, then decode it (raises ``ChecksumMismatch``/``CodecError``)."""
    payload = unseal(frame)
    try:
        body = msgpack.unpackb(payload, raw=False, use_list=True)
    except Exception as err:  # msgpack raises several unrelated types
        raise CodecError(f"undecodable frame: {err!r}") from err
    if not isinstance(body, list):
        raise CodecError("a frame holds a list of (partition id, message) pairs")
    out: list[tuple[str, Message]] = []
    for pair in body:
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
            raise CodecError("a frame holds a list of (partition id, message) pairs")
        out.append((pair[0], decode_message(pair[1])))
    return out


def encode_entry(entry: Entry) -> bytes:
    return seal(msgpack.packb(_entry(entry), use_bin_type=True))


def decode_entry(data: bytes) -> Entry:
    return _unentry(msgpack.unpackb(unseal(data), raw=False))


def encode_ballot(ballot: Ballot) -> bytes:
    return seal(msgpack.packb(_ballot(ballot), use_bin_type=True))


def decode_ballot(data: bytes) -> Ballot:
    return _unballot(msgpack.unpackb(unseal(data), raw=False))


def encode_int(value: int) -> bytes:
    return seal(value.to_bytes(8, "big"))


def decode_int(data: bytes) -> int:
    return int.from_bytes(unseal(data), "big")


def encode_configs(configs: tuple[Config, ...]) -> bytes:
    return seal(msgpack.packb(_configs(configs), use_bin_type=True))


def decode_configs(data: bytes) -> tuple[Config, ...]:
    return _unconfigs(msgpack.unpackb(unseal(data), raw=False))
