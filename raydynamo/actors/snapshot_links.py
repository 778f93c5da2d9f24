"""A storage node's snapshot senders: one thread per transfer, a bounded number at once.

The node core hands over an ``OutgoingTransfer`` (an engine snapshot taken on the core thread and
where the stream stands, ``node/transfers.py``); its thread here does the costly part away from
the core thread: it reads a chunk from the view, encodes and seals it, and sends it to the peer's
``snapshot_chunk`` (``Transport.call_snapshot``), then waits for the acknowledgement, which
rides back in that call's reply and reaches the transfer through the core (``on_ack``). Only then
is the next chunk read: memory stays at about one chunk per transfer, whatever the partition's
size. A chunk without an acknowledgement is sent again after ``resend_s``; a transfer without
progress for ``stall_s``, refused by the peer, or whose partition was dropped, is abandoned (the
replica asks again and gets a new one, from scratch). A view that cannot be read any more (the
engine closed, or a read failed) ends its transfer, never the node.
Must not import ray or rocksdict.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from raydynamo.consensus.codec import encode_batch
from raydynamo.consensus.messages import SnapshotAck
from raydynamo.limits import SNAPSHOT_JOIN_TIMEOUT_S
from raydynamo.metadata.member_ids import node_of
from raydynamo.node.transfers import OutgoingTransfer, TransferCounts

log = logging.getLogger(__name__)


class SnapshotLinks:
    def __init__(
        self,
        node_id: str,
        transport: Any,
        on_reply: Callable[[str, bytes], None],
        *,
        transfers_max: int,
        resend_s: float,
        stall_s: float,
        clock: Callable[[], float],
    ) -> None:
        self.node_id = node_id
        self.transport = transport
        self.on_reply = on_reply
        self.transfers_max = transfers_max
        self.resend_s = resend_s
        self.stall_s = stall_s
        self.clock = clock
        self.lock = threading.Lock()  # guards everything below
        self.changed = threading.Condition(self.lock)
        self.running: dict[tuple[str, str], OutgoingTransfer] = {}
        self.acks: dict[bytes, list[SnapshotAck]] = {}  # per running transfer id
        self.peer_of: dict[bytes, str] = {}  # running transfer id -> the peer it goes to
        self.cancelled: set[bytes] = set()  # transfers that must stop (partition dropped)
        self.threads: dict[bytes, threading.Thread] = {}
        self.counts = TransferCounts()
        self.closed = False

    # --- the core's side (core thread) -----------------------------------------------------------

    def can_start(self, partition_id: str, peer: str) -> bool:
        with self.lock:
            return self._can_start(partition_id, peer)

    def _can_start(self, partition_id: str, peer: str) -> bool:
        return (
            not self.closed
            and (partition_id, peer) not in self.running
            and len(self.running) < self.transfers_max
        )

    def start(self, transfer: OutgoingTransfer) -> None:
        key = (transfer.partition_id, transfer.peer)
        with self.lock:
            if not self._can_start(*key):
                transfer.close()
                return
            self.running[key] = transfer
            self.acks[transfer.transfer_id] = []
            self.peer_of[transfer.transfer_id] = transfer.peer
            self.counts.started += 1
            thread = threading.Thread(
                target=self._run,
                args=(transfer,),
                name=f"{self.node_id}-snapshot-{transfer.partition_id}-to-{transfer.peer}",
                daemon=True,
            )
            self.threads[transfer.transfer_id] = thread
        thread.start()

    def on_ack(self, peer: str, ack: SnapshotAck, now: float) -> None:
        with self.lock:
            pending = self.acks.get(ack.transfer_id)
            if pending is not None and self.peer_of.get(ack.transfer_id) == peer:
                pending.append(ack)
                self.changed.notify_all()

    def cancel(self, partition_id: str) -> None:
        with self.lock:
            for (pid, _), transfer in self.running.items():
                if pid == partition_id:
                    self.cancelled.add(transfer.transfer_id)
            self.changed.notify_all()

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.changed.notify_all()
            threads = list(self.threads.values())
        for thread in threads:
            thread.join(timeout=SNAPSHOT_JOIN_TIMEOUT_S)

    # --- one transfer (its own thread) -----------------------------------------------------------

    def _run(self, transfer: OutgoingTransfer) -> None:
        completed = False
        try:
            completed = self._stream(transfer)
        except Exception as err:  # the view cannot be read: this transfer ends, not the node
            pid, peer = transfer.partition_id, transfer.peer
            log.warning("snapshot of %s to %s abandoned: %r", pid, peer, err)
        finally:
            transfer.close()
            with self.lock:
                self.running.pop((transfer.partition_id, transfer.peer), None)
                self.acks.pop(transfer.transfer_id, None)
                self.peer_of.pop(transfer.transfer_id, None)
                self.cancelled.discard(transfer.transfer_id)
                self.threads.pop(transfer.transfer_id, None)
                self.counts.count_end(transfer, completed=completed)

    def _stream(self, transfer: OutgoingTransfer) -> bool:
        """Send chunk after acknowledged chunk; True once the last one is acknowledged."""
        while True:
            with self.lock:
                acks, self.acks[transfer.transfer_id] = self.acks[transfer.transfer_id], []
                stop = self.closed or transfer.transfer_id in self.cancelled
            now = self.clock()
            for ack in acks:
                transfer.on_ack(ack, now)
            if transfer.completed:
                return True
            if stop or transfer.refused or transfer.stalled(now, self.stall_s):
                return False
            if transfer.waiting(now, self.resend_s):
                self._wait(transfer, self.resend_s - (now - transfer.sent_at))
                continue
            chunk = transfer.chunk_to_send(now)  # the read, off the core thread
            frame = encode_batch([(transfer.partition_id, chunk)])
            try:
                reply = self.transport.call_snapshot(node_of(transfer.peer), self.node_id, frame)
            except Exception as err:  # the peer is down or restarting: resend after a pause
                log.debug("snapshot chunk to %s failed: %r", transfer.peer, err)
                self._wait(transfer, self.resend_s)
                continue
            if reply:
                self.on_reply(node_of(transfer.peer), reply)

    def _wait(self, transfer: OutgoingTransfer, timeout_s: float) -> None:
        """Until an acknowledgement for ``transfer`` arrives, it is stopped, or ``timeout_s``."""
        with self.lock:
            if self.acks.get(transfer.transfer_id) or self.closed:
                return
            self.changed.wait(timeout=max(0.0, timeout_s))
