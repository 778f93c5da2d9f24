"""Applying a partition's chosen slots to its data, exactly once per request id.

``apply_slot`` turns one chosen slot into a write batch (data, first results, the applied-through
marker: all in one atomic batch, so a crash never separates data from the slot it came from) and
the result of every command in it. Replaying a request id that was applied before returns the
stored first result and changes nothing. Results are kept for ``dedup_slots_retained`` slots, then
expire deterministically (by slot, not by clock), so every replica holds the same bytes.
Pure: engine interface only; no ray, no rocksdict.
"""

from __future__ import annotations

from typing import Any

import msgpack

from raydynamo.consensus.codec import encode_int
from raydynamo.consensus.membership import is_config_command
from raydynamo.consensus.types import Value
from raydynamo.partition.commands import KIND_WRITE, Delete, Put, decode_command
from raydynamo.partition.item_writes import (
    KIND_ITEM_WRITE,
    SlotOverlay,
    apply_item_write,
    command_header,
)
from raydynamo.partition.keys import PartitionKeys, slot_bytes
from raydynamo.storage.engine import ReadView, WriteBatch, prefix_end

Result = dict[str, Any]


class PartitionStateMachine:
    def __init__(self, keys: PartitionKeys, dedup_slots_retained: int = 100_000) -> None:
        self.keys = keys
        self.dedup_slots_retained = dedup_slots_retained

    def apply_slot(
        self, view: ReadView, slot: int, value: Value
    ) -> tuple[WriteBatch, list[tuple[bytes, Result]]]:
        batch = WriteBatch()
        results: list[tuple[bytes, Result]] = []
        seen_here: dict[bytes, Result] = {}
        overlay = SlotOverlay(view, batch)  # item writes must see the slot's earlier writes
        for raw in value:
            if is_config_command(raw):
                continue  # a membership change of the group: the consensus core applies it
            kind, request_id = command_header(raw)
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
            batch.put(self.keys.dedup(request_id), packed)
            batch.put(self.keys.dedup_expiry(slot, request_id), b"")
            seen_here[request_id] = result
            results.append((request_id, result))
        self._expire_dedup(view, slot, batch)
        batch.put(self.keys.applied, encode_int(slot))
        return batch, results

    def _apply_ops(self, ops: tuple[Put | Delete, ...], batch: WriteBatch) -> Result:
        for op in ops:
            if isinstance(op, Put):
                batch.put(self.keys.data(op.key), op.value)
            else:
                batch.delete(self.keys.data(op.key))
        return {"ok": True}

    def _expire_dedup(self, view: ReadView, slot: int, batch: WriteBatch) -> None:
        expired_slot = slot - self.dedup_slots_retained
        if expired_slot <= 0:
            return
        start = self.keys.dedup_expiry_prefix + slot_bytes(expired_slot)
        end = prefix_end(start)
        for key, _ in view.scan(start, end):
            request_id = key[len(start) :]
            batch.delete(self.keys.dedup(request_id))
            batch.delete(key)
