"""A private event loop in a background thread: how the sync client runs the async core.

Role: ``LoopThread.run(coro)`` runs a coroutine on a loop owned by one ``Client`` and blocks the
calling thread until it finishes, returning its result or raising its exception. Any number of
threads may call ``run`` at once; their coroutines run concurrently on the one loop (so 64
threads give 64 requests in flight).

Why a private loop rather than ``asyncio.run`` per call: the handler below may keep state bound
to the loop it first ran on (connections, futures, batching queues), and a loop per call would
cost a loop's start-up on every request.

Calling from inside a running event loop (a Jupyter cell, an async Ray actor) works: the caller's
thread blocks, exactly as boto3 blocks it, while the handler runs on the private loop, which never
needs the caller's loop, so this cannot deadlock. It does stall the caller's loop for the call's
duration; async code should use ``AsyncClient``. The one call that would deadlock, ``run`` from
the private loop's own thread (a handler calling back into the sync client), is refused.

Lifecycle: the thread starts on first use (a client that is never used costs nothing, and a
client unpickled in a Ray worker starts its own), is a daemon (it never blocks interpreter exit),
and stops on ``close()``, which cancels whatever is still running. Interrupting a blocked caller
(Ctrl-C) cancels its coroutine.

This module must not import ray.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

CLOSE_TIMEOUT_S = 10.0  # how long close() waits for the final coroutine and the thread
_thread_numbers = itertools.count(1)

REENTRANT_CALL = (
    "The synchronous raydynamo client was called from its own event loop thread (for example "
    "from inside a request handler); that would deadlock. Use raydynamo.driver.AsyncClient "
    "inside async code."
)


class LoopThread:
    """An event loop running in a daemon thread, started on first use."""

    def __init__(self, name: str = "raydynamo-client") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def started(self) -> bool:
        return self._loop is not None

    @property
    def closed(self) -> bool:
        return self._closed

    def _start_locked(self) -> asyncio.AbstractEventLoop:
        """The running loop, started if need be; the caller holds ``self._lock``."""
        if self._closed:
            raise RuntimeError("This raydynamo client has been closed.")
        if self._loop is None:
            loop = asyncio.new_event_loop()
            ready = threading.Event()
            name = f"{self._name}-{next(_thread_numbers)}"
            thread = threading.Thread(target=_serve, args=(loop, ready), name=name, daemon=True)
            thread.start()
            ready.wait()
            self._loop, self._thread = loop, thread
        return self._loop

    def in_loop_thread(self) -> bool:
        thread = self._thread
        return thread is not None and thread.ident == threading.get_ident()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the private loop and wait for its outcome in this thread."""
        if self.in_loop_thread():
            coro.close()
            raise RuntimeError(REENTRANT_CALL)
        try:
            # Submitting under the lock orders every submission before close()'s stop, so a
            # submitted coroutine always runs or is cancelled; it is never stranded.
            with self._lock:
                future = asyncio.run_coroutine_threadsafe(coro, self._start_locked())
        except BaseException:
            coro.close()
            raise
        try:
            return future.result()
        except BaseException:
            future.cancel()  # no-op once done; cancels the coroutine on Ctrl-C
            raise

    def close(self, final: Callable[[], Coroutine[Any, Any, Any]] | None = None) -> None:
        """Run ``final()`` (if the loop ever started), then stop the loop and join the thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self.in_loop_thread():
            # Closed from its own thread (say, the client collected there): waiting for
            # ``final`` or joining would deadlock, so only ask the loop to stop.
            loop.call_soon(loop.stop)
            return
        try:
            if final is not None:
                asyncio.run_coroutine_threadsafe(final(), loop).result(CLOSE_TIMEOUT_S)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(CLOSE_TIMEOUT_S)


def _serve(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
    """The thread's body: run the loop until stopped, then cancel leftovers and close it."""
    asyncio.set_event_loop(loop)
    loop.call_soon(ready.set)
    try:
        loop.run_forever()
    finally:
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
