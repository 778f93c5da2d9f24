"""Applying a partition's chosen slots to its data, exactly once per request id.

``apply_slot`` turns one chosen slot into a write batch (data, first results, the applied-through
marker: all in one atomic batch, so a crash never separates data from the slot it came from) and
the result of every command in it. Replaying a request id that was applied before returns the
stored first result and changes nothing. First results are kept by ``dedup.DedupLedger``: for a
time of the log's own clock (clock commands the leaders stamp) and within a byte budget, so every
replica keeps and expires the same ones at the same slot.
Pure: engine interface only; no ray, no rocksdict.
"""

from __future__ import annotations

from typing import Any

import msgpack

from raydynamo.consensus.codec import encode_int
from raydynamo.consensus.membership import is_config_command
from raydynamo.consensus.types import Value
from raydynamo.partition.commands import (
    KIND_CLOCK,
    KIND_WRITE,
    Delete,
    Put,
    decode_clock,
    decode_command,
)
from raydynamo.partition.dedup import DEFAULT_BOUNDS, DedupBounds, DedupLedger
from raydynamo.partition.item_writes import (
    KIND_ITEM_WRITE,
    SlotOverlay,
    apply_item_write,
    command_header,
)
from raydynamo.partition.keys import PartitionKeys
from raydynamo.storage.engine import ReadView, WriteBatch

Result = dict[str, Any]


class PartitionStateMachine:
    def __init__(self, keys: PartitionKeys, dedup: DedupBounds = DEFAULT_BOUNDS) -> None:
        self.keys = keys
        self.ledger = DedupLedger(keys, dedup)

    def apply_slot(
        self, view: ReadView, slot: int, value: Value
    ) -> tuple[WriteBatch, list[tuple[bytes, Result]]]:
        batch = WriteBatch()
        results: list[tuple[bytes, Result]] = []
        seen_here: dict[bytes, Result] = {}
        overlay = SlotOverlay(view, batch)  # item writes must see the slot's earlier writes
        now_ms = self.ledger.log_time_ms(view)
        kept_bytes = self.ledger.kept_bytes(view)
        for raw in value:
            if is_config_command(raw):
                continue  # a membership change of the group: the consensus core applies it
            kind, request_id = command_header(raw)
            if kind == KIND_CLOCK:
                now_ms = self.ledger.advance(batch, now_ms, decode_clock(raw))
                continue
            first = seen_here.get(request_id)
            if first is None:
                stored = view.get(self.keys.dedup(request_id))
                first = msgpack.unpackb(stored, raw=False) if stored is not None else None
            if first is not None:
                results.append((request_id, first))
                continue
            if kind == KIND_ITEM_WRITE:
                result = apply_item_write(overlay, self.keys, raw, slot, batch)
            elif kind == KIND_WRITE:
                result = self._apply_ops(decode_command(raw).ops, batch)
            else:
                raise ValueError(f"unknown command kind {kind}")
            result["slot"] = slot
            packed = msgpack.packb(result, use_bin_type=True)
            kept_bytes = self.ledger.record(batch, now_ms, slot, request_id, packed, kept_bytes)
            seen_here[request_id] = result
            results.append((request_id, result))
        self.ledger.expire(view, batch, now_ms, kept_bytes)
        batch.put(self.keys.applied, encode_int(slot))
        return batch, results

    def _apply_ops(self, ops: tuple[Put | Delete, ...], batch: WriteBatch) -> Result:
        for op in ops:
            if isinstance(op, Put):
                batch.put(self.keys.data(op.key), op.value)
            else:
                batch.delete(self.keys.data(op.key))
        return {"ok": True}
