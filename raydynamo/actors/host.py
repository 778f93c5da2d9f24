"""The storage node's threads around ``node.NodeCore``: one inbox, one core thread, peer links.

Every input (a peer's frame, a client's write, a tick, a hosting request) goes through one
bounded inbox to one core thread, which alone touches the ``NodeCore``. Each turn it takes
everything queued, feeds it to the core, ticks when due, and calls ``NodeCore.flush`` (persist,
send, apply: see ``node/core.py``); inputs arriving meanwhile form the next round (group commit).
Messages go to per-peer outboxes (``peers.PeerLinks``); messages for a peer whose own call is
being answered ride back in that call's reply, so an Accept and its Accepted cost one actor call.
Snapshots this node serves are read and sent by threads of their own (``snapshot_links``), a
chunk at a time, never by the core thread; chunks from peers arrive like any frame
(``deliver``) and their acknowledgements ride back in the reply.

Reads do not queue behind writes: they run in the caller's thread against the engine after
checking the lease the core published (``NodeCore.read_refusal``), waiting (bounded) for an
election or a new leader's recovery.

Crash-only: when the core raises (``NodeFailure`` or anything unexpected) the core thread calls
``on_fatal``, which in the Ray actor ends the process (Ray restarts it, and it recovers from its
own disk); in-process tests answer every waiter with ``Unavailable`` instead. Every waiter is
answered in every path: by the core, by ``close``, or by the process ending.

Why threads and not asyncio: measured here, a threaded Ray actor handles about twice the calls of
an async one at 64 in flight. Must not import ray or rocksdict.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, Protocol, TypeVar

from raydynamo.actors.peers import PeerLinks
from raydynamo.actors.snapshot_links import SnapshotLinks
from raydynamo.config import RaydynamoConfig
from raydynamo.limits import NODE_CALL_WAIT_S
from raydynamo.node.core import NodeCore, NodeLimits, Request, WriteWaiter
from raydynamo.node.load import NodeLoad, node_load
from raydynamo.node.replies import NoSuchPartition, NotLeader, Overloaded, StaleMap, Unavailable
from raydynamo.node.replies import WriteReply as WriteReply
from raydynamo.partition.dedup import DedupBounds
from raydynamo.storage.engine import Engine

log = logging.getLogger(__name__)

T = TypeVar("T")
ReadRefusal = NotLeader | StaleMap | NoSuchPartition


class Transport(Protocol):
    def call(self, peer: str, sender: str, frame: bytes) -> bytes:
        """Deliver ``frame`` to ``peer``'s ``deliver`` and return its reply frame (blocking)."""
        ...

    def call_snapshot(self, peer: str, sender: str, frame: bytes) -> bytes:
        """Deliver a snapshot chunk's ``frame`` to ``peer``; its reply frame (blocking)."""
        ...


def _refuse_closed(future: Future[Any]) -> None:
    future.set_exception(RuntimeError("the storage node stopped"))


class NodeHost:
    def __init__(
        self,
        node_id: str,
        engine: Engine,
        config: RaydynamoConfig,
        transport: Transport,
        *,
        clock: Callable[[], float] = time.monotonic,
        seed: int = 0,
        on_fatal: Callable[[str], None] | None = None,
    ) -> None:
        self.node_id = node_id
        self.config = config
        self.clock = clock
        self.on_fatal = on_fatal
        self.inbox: queue.SimpleQueue[Callable[[float], None]] = queue.SimpleQueue()
        self.inbox_bytes = 0
        self.inbox_lock = threading.Lock()
        self.peers = PeerLinks(
            node_id,
            transport,
            self._on_peer_reply,
            calls_in_flight_max=config.node.peer_calls_in_flight_max,
            retry_pause_s=config.consensus.retransmit_interval_s,
        )
        self.snapshots = SnapshotLinks(
            node_id,
            transport,
            self._on_peer_reply,
            transfers_max=config.node.snapshot_transfers_max,
            resend_s=config.consensus.retransmit_interval_s,
            stall_s=config.node.snapshot_stall_s,
            clock=clock,
        )
        limits = NodeLimits(
            sync_writes=config.storage.sync_writes,
            dedup=DedupBounds(config.storage.dedup_retention_s, config.storage.dedup_bytes_max),
            pending_bytes_max=config.node.pending_bytes_max,
            snapshot_chunk_bytes=config.node.snapshot_chunk_bytes,
            snapshot_stall_s=config.node.snapshot_stall_s,
        )
        self.core = NodeCore(
            node_id,
            engine,
            config.consensus.to_settings(),
            self.peers,
            limits=limits,
            seed=seed,
            snapshots=self.snapshots,
        )
        self.reply_waiters: list[tuple[str, Future[bytes]]] = []
        # Every caller waiting on the core thread, with the answer it gets if the node stops.
        self.waiting: dict[Future[Any], Callable[[Future[Any]], None]] = {}
        self.waiting_lock = threading.Lock()
        self.flushed = threading.Condition()
        self.threads: list[threading.Thread] = []
        self.closed = False
        self.fatal: str | None = None

    @property
    def engine(self) -> Engine:
        return self.core.engine

    def _on_peer_reply(self, sender: str, frame: bytes) -> None:
        self._enqueue(lambda now: self.core.receive(sender, frame, now))

    @property
    def stats(self) -> dict[str, int]:
        s = self.core.stats
        snap = self.core.snapshot_stats
        sent = self.snapshots.counts
        return {
            "flushes": s.flushes,
            "fsyncs": s.fsyncs,
            "frames_in": s.frames_in,
            "bad_frames": s.bad_frames,
            "foreign_messages": s.foreign_messages,
            "snapshot_transfers_started": sent.started,
            "snapshot_transfers_completed": sent.completed,
            "snapshot_transfers_abandoned": sent.abandoned,
            "snapshot_chunks_sent": sent.chunks_sent,
            "snapshot_requests_dropped": snap.requests_dropped,
            "snapshot_chunks_staged": snap.chunks_staged,
            "snapshot_chunks_dropped": snap.chunks_dropped,
            "snapshot_chunks_corrupt": snap.chunks_corrupt,
            "snapshots_installed": snap.installed,
        }

    # --- life cycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Recover every replica in the catalog, then start the core thread."""
        self.core.recover(self.clock())
        core = threading.Thread(target=self._core_loop, name=f"{self.node_id}-core", daemon=True)
        self.threads.append(core)
        core.start()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.inbox.put(lambda now: None)
        self.peers.close()
        self.snapshots.close()
        for thread in self.threads:
            thread.join(timeout=10)
        self.core.fail_all_pending("the storage node is closing")
        self._answer_reply_waiters()
        self._answer_waiting()
        self.core.engine.close()

    def _enqueue(self, run: Callable[[float], None], size: int = 0) -> None:
        if size:
            with self.inbox_lock:
                self.inbox_bytes += size

            def counted(now: float, run: Callable[[float], None] = run) -> None:
                with self.inbox_lock:
                    self.inbox_bytes -= size
                run(now)

            self.inbox.put(counted)
        else:
            self.inbox.put(run)

    def _submit(self, run: Callable[[float], T]) -> T:
        """Run ``run(now)`` on the core thread and wait for its answer."""
        if self.closed or self.fatal is not None:
            raise RuntimeError(f"storage node {self.node_id} is closed")
        future: Future[T] = Future()

        def task(now: float) -> None:
            try:
                result = run(now)
            except ValueError as err:  # a refused request (e.g. hosting a group we are not in)
                future.set_exception(err)
                return
            except BaseException as err:
                future.set_exception(RuntimeError(f"storage node {self.node_id} failed"))
                raise err from None
            future.set_result(result)

        return self._wait(future, task, 0, _refuse_closed)

    def _wait(
        self,
        future: Future[T],
        task: Callable[[float], None],
        size: int,
        if_stopped: Callable[[Future[Any]], None],
    ) -> T:
        """Queue ``task`` for the core thread and wait for ``future``; if the node stops first,
        ``if_stopped`` answers it (no caller is ever left waiting on a dead core)."""
        with self.waiting_lock:
            self.waiting[future] = if_stopped
        try:
            self._enqueue(task, size)
            if self.fatal is not None or self.closed:
                self._answer_waiting()
            return future.result(timeout=NODE_CALL_WAIT_S)
        finally:
            with self.waiting_lock:
                self.waiting.pop(future, None)

    def _answer_waiting(self) -> None:
        with self.waiting_lock:
            waiting = list(self.waiting.items())
        for future, if_stopped in waiting:
            if not future.done():
                if_stopped(future)

    # --- operations (any thread) -----------------------------------------------------------------

    def host_partition(
        self, partition_id: str, members: tuple[str, ...], joining: bool = False
    ) -> None:
        self._submit(lambda now: self.core.host(partition_id, tuple(members), joining, now))

    def change_members(self, partition_id: str, members: tuple[str, ...]) -> bool:
        return self._submit(lambda now: self.core.change_members(partition_id, members, now))

    def campaign(self, partition_id: str) -> None:
        self._submit(lambda now: self.core.campaign(partition_id, now))

    def transfer_leadership(self, partition_id: str, target: str) -> bool:
        return self._submit(lambda now: self.core.transfer_leadership(partition_id, target, now))

    def drop_partition(self, partition_id: str) -> None:
        self._submit(lambda now: self.core.drop(partition_id))

    def set_map_version(self, partition_id: str, map_version: int) -> None:
        self._submit(lambda now: self.core.set_map_version(partition_id, map_version))

    def deliver(self, sender: str, frame: bytes) -> bytes:
        """A peer's frame; the reply carries what this node has for that peer."""
        if self.closed or self.fatal is not None:
            return b""
        future: Future[bytes] = Future()

        def task(now: float) -> None:
            self.peers.begin_reply(sender)
            self.reply_waiters.append((sender, future))
            self.core.receive(sender, frame, now)

        return self._wait(future, task, len(frame), lambda f: f.set_result(b""))

    def write(
        self, partition_id: str, requests: Sequence[Request], map_version: int = 0
    ) -> list[WriteReply]:
        """Order ``(request_id, command)`` pairs; one reply per request once it is settled."""
        if self.closed or self.fatal is not None:
            return [Unavailable("the storage node is closing")] * len(requests)
        size = sum(len(command) for _, command in requests)
        if self.inbox_bytes + size > self.config.node.inbox_bytes_max:
            return [Overloaded()] * len(requests)
        future: Future[list[WriteReply]] = Future()
        waiter = WriteWaiter(len(requests), future.set_result)
        stopped = [Unavailable("the storage node stopped")] * len(requests)
        return self._wait(
            future,
            lambda now: self.core.propose(partition_id, requests, map_version, now, waiter),
            size,
            lambda f: f.set_result(stopped),
        )

    def write_partitions(
        self, batches: Sequence[tuple[str, Sequence[Request], int]]
    ) -> list[list[WriteReply]]:
        """``write`` for several partitions at once (``(partition_id, requests, map_version)``
        each): proposed in one turn of the core thread, answered once every request of every
        partition is settled, one reply list per partition."""
        if not batches:
            return []
        if self.closed or self.fatal is not None:
            return [[Unavailable("the storage node is closing")] * len(r) for _, r, _ in batches]
        size = sum(len(command) for _, requests, _ in batches for _, command in requests)
        if self.inbox_bytes + size > self.config.node.inbox_bytes_max:
            return [[Overloaded()] * len(requests) for _, requests, _ in batches]
        future: Future[list[list[WriteReply]]] = Future()
        answers: list[list[WriteReply]] = [[] for _ in batches]
        missing = [len(batches)]

        def settled(index: int, replies: list[WriteReply]) -> None:  # on the core thread
            answers[index] = replies
            missing[0] -= 1
            if not missing[0]:
                future.set_result(answers)

        waiters = [
            WriteWaiter(len(requests), lambda replies, i=i: settled(i, replies))
            for i, (_, requests, _) in enumerate(batches)
        ]

        def propose_all(now: float) -> None:
            for (partition_id, requests, map_version), waiter in zip(batches, waiters, strict=True):
                self.core.propose(partition_id, requests, map_version, now, waiter)

        stopped = [[Unavailable("the storage node stopped")] * len(r) for _, r, _ in batches]
        return self._wait(future, propose_all, size, lambda f: f.set_result(stopped))

    def status(self) -> list[dict[str, Any]]:
        return self._submit(self.core.status)

    def load(self) -> NodeLoad:
        """What the node holds and queues now (its metrics), read on the core thread."""
        depths = self.peers.outbox_depths()
        return self._submit(
            lambda now: node_load(
                self.core,
                inbox_items=self.inbox.qsize(),
                inbox_bytes=self.inbox_bytes,
                peer_outboxes=depths,
            )
        )

    def partition_state(self, partition_id: str) -> tuple[int, list[tuple[bytes, bytes]]]:
        return self._submit(lambda now: self.core.partition_state(partition_id))

    def read(
        self, partition_id: str, keys: list[bytes], consistent: bool
    ) -> list[bytes | None] | ReadRefusal:
        """Values of partition-local ``keys``: at the leader under lease if ``consistent``."""
        refusal = self.await_readable(partition_id, consistent, 0)
        return refusal if refusal is not None else self.core.read_values(partition_id, keys)

    def read_items(
        self,
        partition_id: str,
        read_requests: list[dict[str, Any]],
        consistent: bool,
        map_version: int = 0,
    ) -> list[dict[str, Any]] | ReadRefusal:
        """Item reads (``partition.item_reads``): one answer per request, or a refusal."""
        refusal = self.await_readable(partition_id, consistent, map_version)
        if refusal is not None:
            return refusal
        return self.core.execute_reads(
            partition_id, read_requests, consistent=consistent, now=self.clock()
        )

    def read_range(
        self, partition_id: str, start: bytes, end: bytes | None, consistent: bool
    ) -> list[tuple[bytes, bytes]] | ReadRefusal:
        refusal = self.await_readable(partition_id, consistent, 0)
        return refusal if refusal is not None else self.core.read_range(partition_id, start, end)

    def partition_stats(self, partition_id: str) -> tuple[int, int] | NoSuchPartition:
        if partition_id not in self.core.replicas:
            return NoSuchPartition()
        return self.core.partition_stats(partition_id)

    def await_readable(
        self, partition_id: str, consistent: bool, map_version: int
    ) -> ReadRefusal | None:
        """None when the read may be served now; a refusal otherwise. A strong read waits
        (bounded) for an election in progress or a new leader's recovery, re-checking after
        every flush."""
        deadline = self.clock() + self.config.node.strong_read_wait_s
        while True:
            refusal = self.core.read_refusal(partition_id, consistent, map_version, self.clock())
            if refusal is None or not isinstance(refusal, NotLeader):
                return refusal
            if not self.core.may_soon_serve_strong(partition_id):
                return refusal
            now = self.clock()
            if now >= deadline or self.closed or self.fatal is not None:
                return refusal
            with self.flushed:
                self.flushed.wait(timeout=min(0.05, deadline - now))

    # --- the core thread -------------------------------------------------------------------------

    def _core_loop(self) -> None:
        try:
            self._run_core()
        except BaseException as err:  # crash-only: the node stops, whatever broke
            log.critical("storage node %s stops: %r", self.node_id, err, exc_info=True)
            self._stop_fatally(repr(err))

    def _run_core(self) -> None:
        interval = self.config.node.tick_interval_s
        next_tick = self.clock() + interval
        while not self.closed:
            try:
                items = [self.inbox.get(timeout=max(0.0, next_tick - self.clock()))]
            except queue.Empty:
                items = []
            while True:
                try:
                    items.append(self.inbox.get_nowait())
                except queue.Empty:
                    break
            now = self.clock()
            for run in items:
                run(now)
            if now >= next_tick:
                self.core.tick(now)
                next_tick = now + interval
            self.core.flush(now)
            self._answer_reply_waiters()
            with self.flushed:
                self.flushed.notify_all()

    def _answer_reply_waiters(self) -> None:
        waiters, self.reply_waiters = self.reply_waiters, []
        for sender, waiter in waiters:
            if not waiter.done():
                waiter.set_result(self.peers.end_reply(sender))

    def _stop_fatally(self, reason: str) -> None:
        self.fatal = reason
        if self.on_fatal is not None:
            self.on_fatal(reason)  # the Ray actor ends the process here
        # In-process (tests): answer everyone, then refuse everything from now on.
        self.core.fail_all_pending("the storage node stopped")
        self._answer_reply_waiters()
        self._answer_waiting()
        while True:
            try:
                self.inbox.get_nowait()
            except queue.Empty:
                break
        with self.flushed:
            self.flushed.notify_all()
