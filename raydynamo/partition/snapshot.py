"""A replica's state as a stream of bounded chunks, staged beside the live state, installed in O(1).

What a snapshot carries: every key of the partition's state ranges (``PartitionKeys.state_ranges``:
the applied-through marker, the data, the first results of request ids and their expiry index,
the log time), read from one consistent engine snapshot, as (key below the generation's state
prefix, value) pairs in key order. Exactly-once survives a snapshot because the first results
travel with the data they produced.

- Sender: ``SnapshotReader`` walks the view lazily and cuts the pairs into chunks of at most
  ``chunk_bytes_max`` (a chunk holds one pair at least, so a single pair larger than the bound
  travels alone); memory stays bounded by a chunk whatever the partition's size. It keeps a
  running CRC32C of every pair read (``pairs_digest``) so the receiver can check it got the whole
  stream and nothing else.
- Receiver: ``stage_batch`` writes a chunk into a generation that is not live (``g + 1`` while
  ``g`` is current); the first chunk's batch first clears that generation, so a retried transfer
  starts from scratch. ``install_batch`` switches the current generation and range-deletes the
  old one: a handful of operations whatever the data's size. ``garbage_batch`` removes what a
  crash left of an unfinished transfer (every generation but the current one).
Pure: engine interface only; no ray, no rocksdict.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import crc32c

from raydynamo.consensus.codec import decode_int, encode_int
from raydynamo.partition.keys import STATE_KINDS, PartitionKeys
from raydynamo.storage.engine import ReadView, WriteBatch

Pair = tuple[bytes, bytes]
PAIR_OVERHEAD_BYTES = 8  # what a pair costs in a chunk beyond its bytes (msgpack headers)


def current_generation(view: ReadView, keys: PartitionKeys) -> int:
    """The partition's live state generation (0 when none was ever installed)."""
    raw = view.get(keys.generation_key)
    return decode_int(raw) if raw is not None else 0


def applied_in(view: ReadView, keys: PartitionKeys) -> int:
    raw = view.get(keys.applied)
    return decode_int(raw) if raw is not None else 0


def pairs_digest(digest: int, pairs: Sequence[Pair]) -> int:
    """``digest`` extended over ``pairs`` (each pair length-prefixed, so pairs cannot blur)."""
    for key, value in pairs:
        digest = crc32c.crc32c(len(key).to_bytes(4, "big") + key, digest)
        digest = crc32c.crc32c(len(value).to_bytes(4, "big") + value, digest)
    return digest


def is_state_suffix(suffix: bytes) -> bool:
    """Whether ``suffix`` names a state key (kind byte first) and nothing else."""
    return len(suffix) >= 1 and suffix[:1] in STATE_KINDS


class SnapshotReader:
    """The chunks of a partition's state in ``view``, read lazily, one at a time."""

    def __init__(self, view: ReadView, keys: PartitionKeys, chunk_bytes_max: int) -> None:
        assert chunk_bytes_max > 0
        self.chunk_bytes_max = chunk_bytes_max
        self.cut = len(keys.state_prefix)
        self.pairs = self._walk(view, keys)
        self.held: Pair | None = None  # read, did not fit in the previous chunk
        self.digest = 0
        self.finished = False
        self.pairs_read = 0
        self.bytes_read = 0

    @staticmethod
    def _walk(view: ReadView, keys: PartitionKeys) -> Iterator[Pair]:
        for start, end in keys.state_ranges():
            yield from view.scan(start, end)

    def next_chunk(self) -> tuple[tuple[Pair, ...], bool]:
        """(pairs, last): the next chunk and whether it ends the stream. Extends ``digest``."""
        assert not self.finished, "the stream is over"
        chunk: list[Pair] = []
        size = 0
        while True:
            pair = self.held
            self.held = None
            if pair is None:
                raw = next(self.pairs, None)
                if raw is None:
                    self.finished = True
                    break
                pair = (raw[0][self.cut :], raw[1])
            cost = len(pair[0]) + len(pair[1]) + PAIR_OVERHEAD_BYTES
            if chunk and size + cost > self.chunk_bytes_max:
                self.held = pair
                break
            chunk.append(pair)
            size += cost
        self.digest = pairs_digest(self.digest, chunk)
        self.pairs_read += len(chunk)
        self.bytes_read += size
        return tuple(chunk), self.finished


def stage_batch(staging: PartitionKeys, pairs: Sequence[Pair], *, first: bool) -> WriteBatch:
    """A batch writing ``pairs`` into the staging generation; the first chunk of a transfer
    also clears whatever an earlier, abandoned transfer left there."""
    batch = WriteBatch()
    if first:
        for start, end in staging.state_ranges():
            batch.delete_range(start, end)
    prefix = staging.state_prefix
    for suffix, value in pairs:
        batch.put(prefix + suffix, value)
    return batch


def discard_batch(staging: PartitionKeys) -> WriteBatch:
    """A batch removing a staged, unfinished transfer."""
    batch = WriteBatch()
    for start, end in staging.state_ranges():
        batch.delete_range(start, end)
    return batch


def install_batch(live: PartitionKeys, staged: PartitionKeys, last_slot: int) -> WriteBatch:
    """A batch making the staged generation live, as of ``last_slot``, and dropping the old
    one: O(1) in the size of the data."""
    assert staged.generation != live.generation
    batch = WriteBatch()
    batch.put(staged.applied, encode_int(last_slot))
    batch.put(live.generation_key, encode_int(staged.generation))
    for start, end in live.state_ranges():
        batch.delete_range(start, end)
    return batch


def garbage_batch(view: ReadView, live: PartitionKeys) -> WriteBatch:
    """A batch deleting every generation but the live one (what a crash in the middle of a
    transfer, or before an old generation's range delete reached the disk, left behind); empty
    when there is nothing to remove."""
    batch = WriteBatch()
    for start, end in live.other_generation_ranges():
        if next(iter(view.scan(start, end, limit=1)), None) is not None:
            batch.delete_range(start, end)
    return batch


def state_pairs(view: ReadView, keys: PartitionKeys) -> list[Pair]:
    """Every state pair of the live generation, keys below its state prefix (so two replicas at
    different generations compare equal when they hold the same state)."""
    cut = len(keys.state_prefix)
    return [(key[cut:], value) for key, value in SnapshotReader._walk(view, keys)]
