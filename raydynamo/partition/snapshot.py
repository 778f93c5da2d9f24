"""A replica's state as one blob, to bring back a replica that fell behind the compaction point.

The blob holds the applied-through slot and every key of the partition's state ranges (data,
first results, their expiry index), taken from one consistent engine snapshot; installing it
replaces those ranges in one atomic batch. Pure: engine interface only.
"""

from __future__ import annotations

import msgpack

from raydynamo.consensus.codec import decode_int, encode_int
from raydynamo.partition.keys import PartitionKeys
from raydynamo.storage.engine import ReadView, WriteBatch


def build_snapshot(view: ReadView, keys: PartitionKeys) -> tuple[int, bytes]:
    """(applied-through slot, blob) of the partition's state as ``view`` sees it."""
    applied_raw = view.get(keys.applied)
    applied = decode_int(applied_raw) if applied_raw is not None else 0
    cut = len(keys.prefix)
    pairs = []
    for start, end in keys.state_ranges():
        pairs.extend([key[cut:], value] for key, value in view.scan(start, end))
    return applied, msgpack.packb([applied, pairs], use_bin_type=True)


def snapshot_batch(keys: PartitionKeys, blob: bytes) -> tuple[int, WriteBatch]:
    """A batch that replaces the partition's state by the blob's, and the blob's slot."""
    applied, pairs = msgpack.unpackb(blob, raw=False)
    batch = WriteBatch()
    for start, end in keys.state_ranges():
        batch.delete_range(start, end)
    for suffix, value in pairs:
        batch.put(keys.prefix + suffix, value)
    batch.put(keys.applied, encode_int(applied))
    return int(applied), batch
