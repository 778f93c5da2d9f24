"""Snapshot transfers between storage nodes: the sender's cursor and the receiver's record of one.

A replica that fell behind its peers' compaction point asks for a snapshot; the node that got the
request takes an engine snapshot on its core thread (cheap) and hands an ``OutgoingTransfer`` to
its ``SnapshotSender``, which reads and sends it chunk by chunk *off the core thread* (in the Ray
shell: a thread per transfer, ``actors/snapshot_links.py``; in the simulator and the in-process
harness: ``SnapshotPump``, stepped by its driver). Flow control: chunk ``seq + 1`` is read only once
chunk ``seq`` was acknowledged, so a transfer holds one chunk (and one pair read ahead) whatever
the partition's size. A transfer that gets no acknowledgement for ``stall_s`` is abandoned; the
replica asks again and a new transfer starts from scratch.

``OutgoingTransfer`` is used by one thread at a time (its sender's); acknowledgements reach it
through ``on_ack``. ``IncomingTransfer`` is the receiving core's record (``node.snapshots``).
Pure: no ray, no rocksdict, no threads, no clock (callers pass ``now``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from raydynamo.consensus.messages import SnapshotAck, SnapshotChunk
from raydynamo.metadata.member_ids import node_of
from raydynamo.partition.keys import PartitionKeys
from raydynamo.partition.snapshot import SnapshotReader
from raydynamo.storage.engine import Snapshot


class OutgoingTransfer:
    """One snapshot on its way to ``peer``: a consistent view and where the stream stands."""

    def __init__(
        self,
        transfer_id: bytes,
        partition_id: str,
        sender: str,
        peer: str,
        last_slot: int,
        configs: tuple[Any, ...],
        view: Snapshot,
        keys: PartitionKeys,
        chunk_bytes_max: int,
        now: float,
    ) -> None:
        self.transfer_id = transfer_id
        self.partition_id = partition_id
        self.sender = sender
        self.peer = peer
        self.last_slot = last_slot
        self.configs = configs
        self.view: Snapshot | None = view
        self.reader = SnapshotReader(view, keys, chunk_bytes_max)
        self.chunk: SnapshotChunk | None = None  # the chunk sent last, until acknowledged
        self.acked = False
        self.completed = False  # the last chunk was acknowledged
        self.refused = False  # the receiver does not want this transfer
        self.progress_at = now  # start, or the last acknowledgement
        self.sent_at = float("-inf")
        self.chunks_sent = 0

    @property
    def finished(self) -> bool:
        return self.completed or self.refused

    def chunk_to_send(self, now: float) -> SnapshotChunk:
        """The chunk to send now: the next one once the previous one was acknowledged (read
        from the view here: the costly part, which is why senders call this off the core
        thread), else the previous one again."""
        assert not self.finished
        if self.chunk is None or self.acked:
            seq = 0 if self.chunk is None else self.chunk.seq + 1
            pairs, last = self.reader.next_chunk()
            self.chunk = SnapshotChunk(
                self.sender,
                self.transfer_id,
                seq,
                self.last_slot,
                self.configs,
                pairs,
                self.reader.digest,
                last,
            )
            self.acked = False
        self.sent_at = now
        self.chunks_sent += 1
        return self.chunk

    def on_ack(self, ack: SnapshotAck, now: float) -> None:
        """An acknowledgement from the peer: moves the stream on, or ends it (refused)."""
        chunk = self.chunk
        if ack.transfer_id != self.transfer_id or chunk is None or ack.seq != chunk.seq:
            return  # a duplicate, or for an earlier chunk
        if not ack.accepted:
            self.refused = True
            return
        self.acked = True
        self.progress_at = now
        if chunk.last:
            self.completed = True

    def waiting(self, now: float, resend_s: float) -> bool:
        """Whether the chunk sent last is still awaiting its acknowledgement (not yet due again)."""
        return self.chunk is not None and not self.acked and now - self.sent_at < resend_s

    def stalled(self, now: float, stall_s: float) -> bool:
        return now - self.progress_at > stall_s

    def close(self) -> None:
        """Release the view (idempotent)."""
        if self.view is not None:
            self.view.close()
            self.view = None


@dataclass(slots=True)
class IncomingTransfer:
    """What a receiving core knows of the transfer it is staging for one partition."""

    transfer_id: bytes
    source: str
    last_slot: int
    configs: tuple[Any, ...]
    staging: PartitionKeys
    progress_at: float
    next_seq: int = 0
    digest: int = 0
    complete: bool = False  # every chunk staged; the install is with the replica


class SnapshotSender(Protocol):
    """Where the core hands transfers off (the shell reads and sends them)."""

    def can_start(self, partition_id: str, peer: str) -> bool:
        """False while a transfer of ``partition_id`` to ``peer`` runs, or too many do."""
        ...

    def start(self, transfer: OutgoingTransfer) -> None: ...

    def on_ack(self, peer: str, ack: SnapshotAck, now: float) -> None:
        """An acknowledgement the core received (any thread may be running the transfer)."""
        ...

    def cancel(self, partition_id: str) -> None:
        """Abandon every transfer of ``partition_id`` (the node dropped it)."""
        ...


class Poster(Protocol):
    def post(self, peer: str, partition_id: str, message: Any) -> None: ...


@dataclass(slots=True)
class TransferCounts:
    started: int = 0
    completed: int = 0
    abandoned: int = 0  # stalled, refused or cancelled
    completed_multichunk: int = 0  # completed with two chunks or more
    chunks_sent: int = 0  # resends included

    def count_end(self, transfer: OutgoingTransfer, *, completed: bool) -> None:
        self.chunks_sent += transfer.chunks_sent
        if not completed:
            self.abandoned += 1
            return
        self.completed += 1
        if transfer.chunk is not None and transfer.chunk.seq >= 1:
            self.completed_multichunk += 1


@dataclass
class SnapshotPump:
    """A ``SnapshotSender`` driven by ``pump`` (the simulator, in-process tests): each call sends
    the next chunk of every transfer whose previous chunk was acknowledged, resends one that
    waited ``resend_s``, and ends transfers that completed, were refused or stalled."""

    transfers_max: int
    resend_s: float
    stall_s: float
    transfers: dict[tuple[str, str], OutgoingTransfer] = field(default_factory=dict)
    counts: TransferCounts = field(default_factory=TransferCounts)

    def can_start(self, partition_id: str, peer: str) -> bool:
        if (partition_id, peer) in self.transfers:
            return False
        return len(self.transfers) < self.transfers_max

    def start(self, transfer: OutgoingTransfer) -> None:
        key = (transfer.partition_id, transfer.peer)
        assert key not in self.transfers
        self.transfers[key] = transfer
        self.counts.started += 1

    def on_ack(self, peer: str, ack: SnapshotAck, now: float) -> None:
        for transfer in self.transfers.values():
            if transfer.peer == peer and transfer.transfer_id == ack.transfer_id:
                transfer.on_ack(ack, now)
                return

    def pump(self, now: float, outbox: Poster) -> None:
        for key, transfer in list(self.transfers.items()):
            if transfer.completed:
                self._end(key, completed=True)
            elif transfer.refused or transfer.stalled(now, self.stall_s):
                self._end(key, completed=False)
            elif not transfer.waiting(now, self.resend_s):
                chunk = transfer.chunk_to_send(now)
                outbox.post(node_of(transfer.peer), transfer.partition_id, chunk)

    def cancel(self, partition_id: str) -> None:
        for key in [k for k in self.transfers if k[0] == partition_id]:
            self._end(key, completed=False)

    def close(self) -> None:
        for key in list(self.transfers):
            self._end(key, completed=False)

    def _end(self, key: tuple[str, str], *, completed: bool) -> None:
        transfer = self.transfers.pop(key)
        transfer.close()
        self.counts.count_end(transfer, completed=completed)
