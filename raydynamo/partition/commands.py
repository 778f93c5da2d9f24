"""The commands a partition's log orders, and their byte encoding.

A slot's value is a tuple of encoded commands. Every command is one client request: a request id
(unique per client request, reused by its retries) and a tuple of operations applied in order.
Encoding is msgpack ``[kind, request_id, ops]`` so the layout can grow; the core never decodes it.
Pure: no ray, no rocksdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

KIND_WRITE = 1
KIND_CLOCK = 3  # a leader's stamp: log time advanced by the milliseconds it carries

OP_PUT = 1
OP_DELETE = 2


@dataclass(frozen=True, slots=True)
class Put:
    """Store ``value`` under the partition-local ``key``."""

    key: bytes
    value: bytes


@dataclass(frozen=True, slots=True)
class Delete:
    key: bytes


Op = Put | Delete


@dataclass(frozen=True, slots=True)
class Write:
    """One client request: its operations apply atomically and exactly once per request id."""

    request_id: bytes
    ops: tuple[Op, ...]


def encode_write(write: Write) -> bytes:
    ops: list[list[Any]] = []
    for op in write.ops:
        if isinstance(op, Put):
            ops.append([OP_PUT, op.key, op.value])
        else:
            ops.append([OP_DELETE, op.key])
    return msgpack.packb([KIND_WRITE, write.request_id, ops], use_bin_type=True)


def decode_command(data: bytes) -> Write:
    kind, request_id, raw_ops = msgpack.unpackb(data, raw=False)
    if kind != KIND_WRITE:
        raise ValueError(f"unknown command kind {kind}")
    ops: list[Op] = []
    for raw in raw_ops:
        if raw[0] == OP_PUT:
            ops.append(Put(raw[1], raw[2]))
        elif raw[0] == OP_DELETE:
            ops.append(Delete(raw[1]))
        else:
            raise ValueError(f"unknown operation {raw[0]}")
    return Write(request_id, tuple(ops))


def encode_clock(elapsed_ms: int) -> bytes:
    """A clock command: ``[KIND_CLOCK, b"", elapsed_ms]`` (no request id: never deduplicated)."""
    return msgpack.packb([KIND_CLOCK, b"", max(0, int(elapsed_ms))], use_bin_type=True)


def decode_clock(data: bytes) -> int:
    kind, _, elapsed_ms = msgpack.unpackb(data, raw=False)
    if kind != KIND_CLOCK:
        raise ValueError(f"not a clock command: kind {kind}")
    return int(elapsed_ms)
