"""A storage node's links to its peers: one outbox and sender thread(s) per peer node.

Messages for a peer wait in its outbox; a sender thread takes everything waiting and sends it as
one call (``Transport.call``), so while a call is in flight new messages pile up and travel
together in the next one. While the peer's own call to us is being answered (``begin_reply``),
messages for it are held back and ride home in that call's reply (``end_reply``): an Accept and
its Accepted cost one actor call. Replies to our calls go to ``on_reply(peer, frame)``.
Must not import ray or rocksdict.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from raydynamo.consensus.codec import encode_batch
from raydynamo.consensus.messages import Message
from raydynamo.limits import PEER_OUTBOX_MESSAGES_MAX

log = logging.getLogger(__name__)


class PeerLinks:
    def __init__(
        self,
        node_id: str,
        transport: Any,
        on_reply: Callable[[str, bytes], None],
        *,
        calls_in_flight_max: int,
        retry_pause_s: float,
        outbox_messages_max: int = PEER_OUTBOX_MESSAGES_MAX,
    ) -> None:
        self.node_id = node_id
        self.transport = transport
        self.on_reply = on_reply
        self.calls_in_flight_max = calls_in_flight_max
        self.retry_pause_s = retry_pause_s
        self.lock = threading.Lock()  # guards everything below
        self.outbox: dict[str, list[tuple[str, Message]]] = {}
        self.replying: dict[str, int] = {}
        self.ready: dict[str, threading.Condition] = {}
        self.threads: list[threading.Thread] = []
        self.closed = False
        self.calls_out = 0
        self.outbox_messages_max = outbox_messages_max
        self.dropped = 0

    def post(self, peer: str, partition_id: str, message: Message) -> None:
        """Queue ``message`` for ``peer``. An outbox is bounded: while a peer is down or slow,
        the oldest half goes when it is full (Paxos resends what matters; a node must not grow
        without bound because a peer stopped answering)."""
        with self.lock:
            pending = self.outbox.setdefault(peer, [])
            if len(pending) >= self.outbox_messages_max:
                cut = len(pending) // 2
                del pending[:cut]
                self.dropped += cut
            pending.append((partition_id, message))
            condition = self._condition(peer)
            if not self.replying.get(peer):
                condition.notify()

    def outbox_depths(self) -> dict[str, int]:
        """Messages waiting per peer (for metrics)."""
        with self.lock:
            return {peer: len(pending) for peer, pending in self.outbox.items()}

    def begin_reply(self, peer: str) -> None:
        """A call from ``peer`` is being handled: hold its messages for the reply."""
        with self.lock:
            self.replying[peer] = self.replying.get(peer, 0) + 1

    def end_reply(self, peer: str) -> bytes:
        """The reply frame for ``peer``'s call: everything waiting for it."""
        with self.lock:
            frame = self._drain(peer)
            self.replying[peer] -= 1
            if not self.replying[peer] and self.outbox.get(peer):
                self._condition(peer).notify()
            return frame

    def close(self) -> None:
        with self.lock:
            self.closed = True
            for condition in self.ready.values():
                condition.notify_all()
        for thread in self.threads:
            thread.join(timeout=10)

    def _condition(self, peer: str) -> threading.Condition:
        """The condition ``peer``'s sender threads wait on (caller holds ``self.lock``)."""
        condition = self.ready.get(peer)
        if condition is None:
            condition = self.ready[peer] = threading.Condition(self.lock)
            for i in range(self.calls_in_flight_max):
                sender = threading.Thread(
                    target=self._send_loop,
                    args=(peer,),
                    name=f"{self.node_id}-to-{peer}-{i}",
                    daemon=True,
                )
                self.threads.append(sender)
                sender.start()
        return condition

    def _drain(self, peer: str) -> bytes:
        """Encode and empty ``peer``'s outbox (caller holds ``self.lock``)."""
        pending = self.outbox.get(peer)
        if not pending:
            return b""
        self.outbox[peer] = []
        return encode_batch(pending)

    def _send_loop(self, peer: str) -> None:
        while True:
            with self.lock:
                condition = self.ready[peer]
                while not self.closed and (self.replying.get(peer) or not self.outbox.get(peer)):
                    condition.wait(timeout=1.0)
                if self.closed:
                    return
                frame = self._drain(peer)
                self.calls_out += 1
            try:
                reply = self.transport.call(peer, self.node_id, frame)
            except Exception as err:  # the peer is down or restarting: Paxos retransmits
                log.debug("call to %s failed: %r", peer, err)
                time.sleep(self.retry_pause_s)
                continue
            if reply:
                self.on_reply(peer, reply)
