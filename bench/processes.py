"""Servers a benchmark runs as child processes: started on a free loopback port, always stopped.

Role: ``ChildServer`` starts one server command in a session of its own (so a Ctrl-C in the
terminal reaches the benchmark, which then stops its servers in order, instead of killing them
half way), asks the kernel to send it SIGTERM should the benchmark itself die
(``PR_SET_PDEATHSIG``), and remembers every process found under it while it runs. ``stop``
sends SIGTERM, waits, then SIGKILLs whatever is still alive among the processes it started: the
server, its process group and every descendant it saw (a pid is only signalled while its start
time still matches, so a reused pid is never hit). ``raydynamo_serve`` and ``moto_server``
start the two DynamoDB endpoints ``bench.wire`` compares.

Invariants: nothing here signals a process this module did not start (or that was not started
under one it started); every ``ChildServer`` is stopped by ``with`` or ``stop`` even on error.
Linux only (``/proc``, ``prctl``). Must not import ray, rocksdict or ``raydynamo`` internals
beyond its configuration loader.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

START_DEADLINE_S = 180.0  # a local Ray and the service start in 10-30 s here; more when busy
STOP_DEADLINE_S = 60.0  # raydynamo serve stops its actors and Ray on SIGTERM in a few seconds
SERVE_ATTEMPTS = 2
LEFTOVER_GRACE_S = 15.0  # after the server exits, how long its descendants may take to follow
_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)  # resolved here: the child only calls it


def _die_with_parent() -> None:
    """In the child before exec: a session of its own, SIGTERM when the benchmark ends."""
    os.setsid()
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _start_time(pid: int) -> str | None:
    """The start time of a live, non-zombie process (field 22 of /proc/PID/stat)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else fields[19]


def descendants(root_pid: int) -> set[tuple[int, str]]:
    """Every live process under ``root_pid`` as (pid, start time)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        children.setdefault(int(text.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    found: set[tuple[int, str]] = set()
    todo = list(children.get(root_pid, []))
    while todo:
        pid = todo.pop()
        started_at = _start_time(pid)
        if started_at is not None:
            found.add((pid, started_at))
            todo.extend(children.get(pid, []))
    return found


def still_alive(processes: set[tuple[int, str]]) -> set[tuple[int, str]]:
    return {(pid, at) for pid, at in processes if _start_time(pid) == at}


def _wait_gone(processes: set[tuple[int, str]], deadline_s: float) -> set[tuple[int, str]]:
    """Those of ``processes`` still alive after waiting up to ``deadline_s`` for them to end."""
    deadline = time.monotonic() + deadline_s
    alive = still_alive(processes)
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = still_alive(alive)
    return alive


def free_loopback_port() -> int:
    """A port free on 127.0.0.1 right now (for servers that cannot be told to pick one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ChildServer:
    """One server command in a session of its own; its output lines kept and queued."""

    def __init__(
        self, name: str, command: Sequence[str], *, leftover_grace_s: float = LEFTOVER_GRACE_S
    ) -> None:
        self.name = name
        self.leftover_grace_s = leftover_grace_s
        self.process = subprocess.Popen(
            list(command),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            preexec_fn=_die_with_parent,  # two system calls, no locks: threads may run
        )
        self.pid = self.process.pid
        self.started_at = _start_time(self.pid) or ""
        self.output: list[str] = []
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: set[tuple[int, str]] = set()
        threading.Thread(target=self._read, name=f"{name}-output", daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            self.lines.put(line)

    def note_descendants(self) -> None:
        """Remember the processes under the server now (call once it is up, and before stop)."""
        self.seen |= descendants(self.pid)

    def wait_for_line(self, marker: str, deadline_s: float = START_DEADLINE_S) -> str:
        """The first output line containing ``marker``; raises if the server exits first."""
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            if marker in line:
                return line
        raise RuntimeError(f"{self.name} did not start:\n" + "".join(self.output[-40:]))

    def wait_until(self, ready: Callable[[], bool], deadline_s: float = START_DEADLINE_S) -> None:
        """Poll ``ready`` (which may raise while the server starts) until it answers True."""
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            with contextlib.suppress(Exception):
                if ready():
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start:\n" + "".join(self.output[-40:]))

    def stop(self) -> None:
        """SIGTERM, wait, then SIGKILL the group and every descendant seen that is still alive."""
        if self.process.poll() is None:
            self.note_descendants()
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_DEADLINE_S)
            except subprocess.TimeoutExpired:
                if _start_time(self.pid) == self.started_at:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self.pid, signal.SIGKILL)
                self.process.wait(STOP_DEADLINE_S)
        alive = _wait_gone(self.seen, self.leftover_grace_s)
        for pid, _ in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _wait_gone(alive, STOP_DEADLINE_S)

    def __enter__(self) -> ChildServer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


def raydynamo_serve(
    work_dir: Path, namespace: str, overrides: dict[str, dict[str, Any]] | None = None
) -> tuple[ChildServer, str]:
    """``raydynamo serve`` with the shipped local configuration, its data in ``work_dir``;
    ``overrides`` (section -> field -> value) change it for experiments."""
    from raydynamo.config import load_config

    data = load_config().model_dump(mode="json")
    for section, fields in (overrides or {}).items():
        data[section].update(fields)
    data["storage"]["data_dir"] = str(work_dir / "data")
    data["cluster"]["namespace"] = namespace
    config_path = work_dir / "serve.yaml"
    config_path.write_text(yaml.safe_dump(data))
    command = [sys.executable, "-m", "raydynamo.cli", "serve", "--config", str(config_path)]
    for attempt in range(1, SERVE_ATTEMPTS + 1):
        server = ChildServer("raydynamo serve", [*command, "--port", "0"])
        try:
            line = server.wait_for_line("serving DynamoDB at ")
        except RuntimeError:
            server.stop()
            if attempt == SERVE_ATTEMPTS:
                raise
            continue  # a local Ray can time out starting on a loaded machine: once more
        except BaseException:
            server.stop()
            raise
        server.note_descendants()
        return server, line.split("serving DynamoDB at ", 1)[1].split()[0]
    raise AssertionError("unreachable")


def moto_server(ready: Callable[[str], bool]) -> tuple[ChildServer, str]:
    """``moto_server`` on a free loopback port; ``ready(url)`` says when it answers."""
    port = free_loopback_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    server = ChildServer("moto_server", command)
    url = f"http://127.0.0.1:{port}"
    try:
        server.wait_until(lambda: ready(url))
    except BaseException:
        server.stop()
        raise
    server.note_descendants()
    return server, url
