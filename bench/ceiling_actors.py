"""Bare Ray actors that the ceilings benchmark (``bench/ceilings.py``) measures against.

These are not part of the database: they are the simplest honest versions of what the database
does, so that ``bench/`` can print how close the real thing gets to them.

- ``NoopAsyncActor`` / ``NoopSyncActor``: one no-op method; the cost of a bare actor call.
- ``BareFollower`` with ``BareLeader`` (async actor) or ``BareThreadedLeader`` (threaded sync
  actor): a three-actor replicated put with no Paxos, no checksums and no fsync. The leader keeps
  at most one round in flight; requests that arrive meanwhile queue and the next round carries all
  of them as ONE forward call per follower (group commit). A round is acknowledged to its clients
  once ONE follower has stored it (that follower plus the leader are a majority of three). Every
  item really reaches both followers and is stored in their dicts. Each round is pickled once by
  the leader and the same bytes are sent to both followers.

Invariants: followers apply rounds in the order the leader sends them (one caller, one sync
actor: Ray keeps the order); a follower lags the leader by at most ``lagging_rounds_max`` rounds.

They live in a module, not in ``__main__``, so Ray workers import them by name
(``bench.ceiling_actors``): that works when the benchmarks run from the repository root
(``python -m bench...``, ``make bench``), as a local Ray puts the driver's working directory on
its workers' path. They are benchmark fixtures, not part of the installed package. This module
must not import rocksdict or anything from ``raydynamo``.
"""

from __future__ import annotations

import asyncio
import pickle
import threading
import time

import ray

Item = tuple[bytes, bytes]


@ray.remote
class NoopAsyncActor:
    """An async actor whose one method does nothing: the floor of an async actor call."""

    async def noop(self) -> None:
        """Do nothing."""
        return None


@ray.remote
class NoopSyncActor:
    """A sync (single-threaded) actor whose one method does nothing."""

    def noop(self) -> None:
        """Do nothing."""
        return None


@ray.remote
class BareFollower:
    """Stores every round the leader forwards in a plain dict; sync: rounds apply in order."""

    def __init__(self) -> None:
        self._store: dict[bytes, bytes] = {}
        self._rounds = 0

    def append(self, payload: bytes) -> int:
        """Store one round (a pickled list of items); return how many items it held."""
        items: list[Item] = pickle.loads(payload)
        self._store.update(items)
        self._rounds += 1
        return len(items)

    def stats(self) -> dict[str, int]:
        """Items stored and rounds received, to check nothing was skipped."""
        return {"items": len(self._store), "rounds": self._rounds}

    def clear(self) -> None:
        """Forget everything stored (between measurements)."""
        self._store.clear()
        self._rounds = 0


@ray.remote
class BareLeader:
    """Group-committing leader over two ``BareFollower`` actors (see the module docstring)."""

    def __init__(self, followers: list[ray.actor.ActorHandle], lagging_rounds_max: int = 8) -> None:
        assert len(followers) == 2
        assert lagging_rounds_max >= 1
        self._followers = followers
        self._lagging_rounds_max = lagging_rounds_max  # bound on unacknowledged rounds per follower
        self._store: dict[bytes, bytes] = {}
        self._queue: list[tuple[list[Item], asyncio.Future[None]]] = []
        self._lagging: list[asyncio.Future[int]] = []
        self._round_running = False
        self._round_task: asyncio.Task[None] | None = None
        self._rounds = 0

    async def put(self, items: list[Item]) -> int:
        """Replicate ``items`` to a majority; return how many were stored."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((items, done))
        if not self._round_running:
            self._round_running = True
            self._round_task = asyncio.create_task(self._run_rounds())  # kept: not GC'd
        await done
        return len(items)

    async def _run_rounds(self) -> None:
        """Run rounds back to back while requests are queued; one round in flight at a time."""
        try:
            while self._queue:
                queued, self._queue = self._queue, []
                try:
                    await self._replicate([items for items, _ in queued])
                except Exception as error:  # a failed round fails every request it carried
                    for _, done in queued:
                        done.set_exception(error)
                    continue
                for _, done in queued:
                    done.set_result(None)
        finally:
            self._round_running = False

    async def _replicate(self, requests: list[list[Item]]) -> None:
        """Store one round locally, forward it to both followers, return after the first ack."""
        round_items: list[Item] = []
        for items in requests:
            round_items.extend(items)
        self._store.update(round_items)
        self._rounds += 1
        await self._bound_lagging()
        payload = pickle.dumps(round_items, protocol=5)  # serialized once, sent twice
        acks = [asyncio.wrap_future(f.append.remote(payload).future()) for f in self._followers]
        first, _ = await asyncio.wait(acks, return_when=asyncio.FIRST_COMPLETED)
        for ack in first:
            ack.result()  # raise if the first follower failed
        self._lagging.extend(ack for ack in acks if ack not in first)

    async def _bound_lagging(self) -> None:
        """Wait for the oldest slow acks when a follower lags too far behind."""
        self._lagging = [ack for ack in self._lagging if not ack.done()]
        while len(self._lagging) >= self._lagging_rounds_max:
            await self._lagging.pop(0)

    async def stats(self) -> dict[str, int]:
        """Items stored and rounds run by the leader."""
        return {"items": len(self._store), "rounds": self._rounds}

    async def drain(self) -> None:
        """Wait until every follower acknowledged every round sent so far."""
        while self._round_running or self._lagging:
            if self._lagging:
                await self._lagging.pop(0)
            else:
                await asyncio.sleep(0.001)

    async def clear(self) -> None:
        """Forget everything stored, here and on the followers (between measurements)."""
        await self.drain()
        self._store.clear()
        self._rounds = 0
        await asyncio.gather(*(f.clear.remote() for f in self._followers))


@ray.remote(max_concurrency=256)
class BareThreadedLeader:
    """The same leader as a threaded (sync) actor: requests block in Ray's thread pool.

    One background thread runs the rounds; ``put`` threads enqueue and wait on an event. Sync
    actor calls cost less CPU than async ones here, so this may be the cheaper ceiling.
    ``max_concurrency`` bounds the requests that can join a round.
    """

    def __init__(self, followers: list[ray.actor.ActorHandle], lagging_rounds_max: int = 8) -> None:
        assert len(followers) == 2
        assert lagging_rounds_max >= 1
        self._followers = followers
        self._lagging_rounds_max = lagging_rounds_max
        self._store: dict[bytes, bytes] = {}
        self._queue: list[tuple[list[Item], _Waiter]] = []
        self._lagging: list[ray.ObjectRef] = []
        self._queued = threading.Condition()
        self._rounds = 0
        self._in_round = False
        threading.Thread(target=self._run_rounds, name="rounds", daemon=True).start()

    def put(self, items: list[Item]) -> int:
        """Replicate ``items`` to a majority; return how many were stored."""
        waiter = _Waiter()
        with self._queued:
            self._queue.append((items, waiter))
            self._queued.notify()
        waiter.wait()
        return len(items)

    def _run_rounds(self) -> None:
        """Forever: take everything queued, replicate it as one round, release its requests."""
        while True:
            with self._queued:
                while not self._queue:
                    self._queued.wait()
                queued, self._queue = self._queue, []
                self._in_round = True
            error: BaseException | None = None
            try:
                self._replicate([items for items, _ in queued])
            except Exception as caught:  # a failed round fails every request it carried
                error = caught
            with self._queued:
                self._in_round = False
            for _, waiter in queued:
                waiter.release(error)

    def _replicate(self, requests: list[list[Item]]) -> None:
        """Store one round locally, forward it to both followers, return after the first ack."""
        round_items: list[Item] = []
        for items in requests:
            round_items.extend(items)
        self._store.update(round_items)
        self._rounds += 1
        if len(self._lagging) >= self._lagging_rounds_max:
            ray.get(self._lagging)
            self._lagging = []
        payload = pickle.dumps(round_items, protocol=5)  # serialized once, sent twice
        acks = [f.append.remote(payload) for f in self._followers]
        first, rest = ray.wait(acks, num_returns=1)
        ray.get(first)  # raise if the first follower failed
        self._lagging.extend(rest)

    def stats(self) -> dict[str, int]:
        """Items stored and rounds run by the leader."""
        return {"items": len(self._store), "rounds": self._rounds}

    def drain(self) -> None:
        """Wait until every follower acknowledged every round sent so far."""
        while True:
            with self._queued:
                idle = not self._queue and not self._in_round
            if idle:
                break
            time.sleep(0.001)
        ray.get(self._lagging)
        self._lagging = []

    def clear(self) -> None:
        """Forget everything stored, here and on the followers (between measurements)."""
        self.drain()
        self._store.clear()
        self._rounds = 0
        ray.get([f.clear.remote() for f in self._followers])


class _Waiter:
    """A one-shot event that carries an optional error to the thread waiting on it."""

    __slots__ = ("_error", "_event")

    def __init__(self) -> None:
        self._event = threading.Event()
        self._error: BaseException | None = None

    def release(self, error: BaseException | None) -> None:
        """Wake the waiting thread, failing it with ``error`` if given."""
        self._error = error
        self._event.set()

    def wait(self) -> None:
        """Block until released; raise the error it was released with."""
        self._event.wait()
        if self._error is not None:
            raise self._error
