"""First results of request ids, bounded by log time and by bytes: what makes retries harmless.

A replayed request id is answered from the first result and changes nothing, for as long as that
result is kept. It is kept while it is younger than ``retention_s`` of *log time* and the
partition's results fit in ``bytes_max``; past either bound the oldest go first.

Log time: every replica must expire the same results at the same slot, so time cannot come from
a replica's clock. A leader stamps its proposals with the time elapsed since its previous stamp on
its own monotonic clock (a clock command, ``commands.encode_clock``); log time is the sum of the
applied stamps. A new leader's first stamp counts zero (it cannot know how long the reign change
took), so log time runs behind real time, never ahead (up to the clocks' rate drift): a result is
kept for at least ``retention_s`` of real time, which must exceed every retry window (the
driver's and the router's attempts and timeouts: about ten minutes at most here).

State keys (``partition.keys``: all in the partition's state, so snapshots carry them)::

    s t                               log time, milliseconds (u64)
    s b                               bytes of kept results (u64)
    r <request id>                    the first result (msgpack)
    x <time ms:u64> <slot:u64> <rid>  the expiry index, oldest first; value: the result's size

Deterministic: the same history gives the same bytes on every replica.
Pure: engine interface only; no ray, no rocksdict.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from raydynamo.limits import STAMP_MS_MAX
from raydynamo.partition.keys import PartitionKeys
from raydynamo.storage.engine import ReadView, WriteBatch, prefix_end

_U64 = struct.Struct(">Q")
EMPTY = 1 << 64  # no result kept: later than any log time


@dataclass(frozen=True, slots=True)
class DedupBounds:
    retention_s: float = 900.0
    bytes_max: int = 64 << 20


DEFAULT_BOUNDS = DedupBounds()


def _u64(raw: bytes | None) -> int:
    return int(_U64.unpack(raw)[0]) if raw else 0


class DedupLedger:
    """The first results of one partition, read from ``view`` and written to ``batch``."""

    def __init__(self, keys: PartitionKeys, bounds: DedupBounds) -> None:
        self.keys = keys
        self.bounds = bounds
        self.time_key = keys.log_time
        self.bytes_key = keys.kept_bytes
        # A lower bound of the log time of the oldest kept result, once a scan of the expiry
        # index has looked (never later than the true oldest). Results are recorded in log-time
        # order and only ``expire`` removes them, so while the bound is known and not past the
        # cutoff, and the bytes fit, a scan would delete nothing and is skipped: the same
        # outcome on every replica, without a RocksDB iterator per applied slot. A new ledger
        # (a restart, an installed snapshot) starts unknown.
        self._oldest_ms: int | None = None

    def log_time_ms(self, view: ReadView) -> int:
        return _u64(view.get(self.time_key))

    def advance(self, batch: WriteBatch, now_ms: int, elapsed_ms: int) -> int:
        """Apply a clock stamp to log time ``now_ms``; return the new log time."""
        now_ms += max(0, min(elapsed_ms, STAMP_MS_MAX))
        batch.put(self.time_key, _U64.pack(now_ms))
        return now_ms

    def record(
        self,
        batch: WriteBatch,
        now_ms: int,
        slot: int,
        request_id: bytes,
        packed_result: bytes,
        kept_bytes: int,
    ) -> int:
        """Keep ``packed_result`` for ``request_id``; return the new byte total."""
        size = len(packed_result) + len(request_id)
        batch.put(self.keys.dedup(request_id), packed_result)
        index = self.keys.dedup_expiry_prefix + _U64.pack(now_ms) + _U64.pack(slot) + request_id
        batch.put(index, _U64.pack(size))
        if self._oldest_ms is not None:
            self._oldest_ms = min(self._oldest_ms, now_ms)
        return kept_bytes + size

    def kept_bytes(self, view: ReadView) -> int:
        return _u64(view.get(self.bytes_key))

    def expire(self, view: ReadView, batch: WriteBatch, now_ms: int, kept_bytes: int) -> None:
        """Drop the oldest results while they are too old or there are too many bytes; store the
        byte total. Only results recorded before this slot can go (they are in ``view``)."""
        cutoff_ms = now_ms - int(self.bounds.retention_s * 1000)
        within_budget = kept_bytes <= self.bounds.bytes_max
        if within_budget and self._oldest_ms is not None and self._oldest_ms >= cutoff_ms:
            batch.put(self.bytes_key, _U64.pack(max(0, kept_bytes)))
            return
        start = self.keys.dedup_expiry_prefix
        skip = len(start)
        oldest_left = EMPTY
        for key, value in view.scan(start, prefix_end(start)):
            written_ms = _u64(key[skip : skip + 8])
            if written_ms >= cutoff_ms and kept_bytes <= self.bounds.bytes_max:
                oldest_left = written_ms
                break
            request_id = key[skip + 16 :]
            batch.delete(key)
            batch.delete(self.keys.dedup(request_id))
            kept_bytes -= _u64(value)
        # The cache must never be later than the true oldest (a later one would skip a scan
        # that deletes): results this slot recorded are not in ``view`` but are not older than
        # now_ms, so min(oldest left in view, now_ms) is safe whether or not it recorded any.
        self._oldest_ms = min(oldest_left, now_ms)
        batch.put(self.bytes_key, _U64.pack(max(0, kept_bytes)))
