"""What a storage node answers, as types: one class per outcome, shared by node and group client.

A write request (one ``(request_id, command)``) is answered with exactly one ``WriteReply``:

- ``Applied(result, slot)``: the command is chosen and was applied here (or an earlier copy of the
  same request id was: ``result`` is then the first result). Final.
- ``NotLeader(leader_hint)``: this replica cannot order it now. ``proposed`` tells whether the
  command had reached the log before leadership moved (it may still be chosen by the next leader:
  only a retry with the *same* request id is then safe) or was refused before anything happened.
- ``Overloaded()``: refused before anything was proposed (a full queue): the client may retry after
  backing off; DynamoDB calls this ``ThrottlingException``.
- ``StaleMap(map_version)``: the caller routed with a partition map older than ``map_version``;
  nothing was proposed.
- ``NoSuchPartition()``: this node does not host the partition (the caller's map is stale);
  nothing was proposed.
- ``Unavailable(reason)``: the node is closing or failed; the command may or may not be chosen.

Reads are answered with their results or one of ``NotLeader``, ``StaleMap``, ``NoSuchPartition``.
Instances are small frozen dataclasses that cross Ray calls by pickle; nothing matches strings.
Must not import ray or rocksdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Result = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Applied:
    result: Result
    slot: int


@dataclass(frozen=True, slots=True)
class NotLeader:
    leader_hint: str | None
    proposed: bool = False


@dataclass(frozen=True, slots=True)
class Overloaded:
    pass


@dataclass(frozen=True, slots=True)
class StaleMap:
    map_version: int


@dataclass(frozen=True, slots=True)
class NoSuchPartition:
    pass


@dataclass(frozen=True, slots=True)
class Unavailable:
    reason: str


WriteReply = Applied | NotLeader | Overloaded | StaleMap | NoSuchPartition | Unavailable
Refusal = NotLeader | Overloaded | StaleMap | NoSuchPartition | Unavailable

# Refusals after which the request was certainly not proposed: any retry is safe.
NOT_PROPOSED = (Overloaded, StaleMap, NoSuchPartition)


def never_proposed(reply: WriteReply) -> bool:
    """True when ``reply`` proves the command never reached the log."""
    if isinstance(reply, NotLeader):
        return not reply.proposed
    return isinstance(reply, NOT_PROPOSED)
