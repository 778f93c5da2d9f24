"""How the endpoint starts: ``raydynamo serve`` in the foreground, and one endpoint per Ray node.

``raydynamo serve`` runs as a real command in a session of its own (its own local Ray, as a
user would run it): it prints its URL, serves boto3, keeps its data in the configured
directory across a restart, and stops on SIGTERM and on Ctrl-C (SIGINT to its process group)
with every process it started gone.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.endpoint_support import ACCESS_KEY_ID, SECRET_ACCESS_KEY, fast_waiter_session

pytestmark = pytest.mark.ray

START_DEADLINE_S = 180.0
STOP_DEADLINE_S = 90.0


class ServeProcess:
    """``raydynamo serve`` as a child process; its output read line by line."""

    def __init__(self, config_path: Path) -> None:
        command = [
            sys.executable,
            "-m",
            "raydynamo.cli",
            "serve",
            "--config",
            str(config_path),
            "--port",
            "0",
        ]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            self.lines.put(line)

    def wait_for_url(self) -> str:
        deadline = time.monotonic() + START_DEADLINE_S
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                assert self.process.poll() is None, "".join(self.output)
                continue
            if "serving DynamoDB at " in line:
                return line.split("serving DynamoDB at ", 1)[1].split()[0]
        raise AssertionError("no URL printed in time:\n" + "".join(self.output))

    def descendants(self) -> set[tuple[int, str]]:
        return descendants(self.process.pid)

    def stop(self, how: str) -> int:
        if how == "SIGTERM":
            self.process.send_signal(signal.SIGTERM)
        else:  # Ctrl-C in a terminal: SIGINT to the whole foreground process group
            os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(STOP_DEADLINE_S)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(STOP_DEADLINE_S)


def _stat(pid: int) -> tuple[int, str, str] | None:
    """``(parent pid, state, start time)`` of a live process, from /proc (Linux)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return int(fields[1]), fields[0], fields[19]


def descendants(root: int) -> set[tuple[int, str]]:
    """Every process under ``root``, as (pid, start time) so a reused pid is not mistaken."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            children.setdefault(stat[0], []).append(int(entry.name))
    found: set[tuple[int, str]] = set()
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        if (stat := _stat(pid)) is not None:
            found.add((pid, stat[2]))
            todo.extend(children.get(pid, []))
    return found


def still_running(processes: set[tuple[int, str]]) -> set[tuple[int, str]]:
    alive = set()
    for pid, started_at in processes:
        stat = _stat(pid)
        if stat is not None and stat[2] == started_at and stat[1] != "Z":
            alive.add((pid, started_at))
    return alive


def wait_gone(processes: set[tuple[int, str]]) -> set[tuple[int, str]]:
    deadline = time.monotonic() + STOP_DEADLINE_S
    alive = still_running(processes)
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)  # polling /proc for the processes to go; the deadline bounds it
        alive = still_running(alive)
    return alive


@pytest.fixture
def serve_config(tmp_path: Path) -> Path:
    config = {
        "cluster": {"namespace": f"serve-{uuid.uuid4().hex[:8]}", "partitions_per_table": 2},
        "storage": {"data_dir": str(tmp_path / "data")},
        "router": {"refresh_interval_s": 0.1},
    }
    path = tmp_path / "serve.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def started(serve_config: Path) -> Iterator[list[ServeProcess]]:
    processes: list[ServeProcess] = []
    yield processes
    for process in processes:
        process.kill()


def client_for(url: str) -> Any:
    return fast_waiter_session().client(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )


def test_serve_prints_its_url_keeps_its_data_and_stops_cleanly(
    serve_config: Path, started: list[ServeProcess]
) -> None:
    first = ServeProcess(serve_config)
    started.append(first)
    client = client_for(first.wait_for_url())
    client.create_table(
        TableName="Kept",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName="Kept")
    client.put_item(TableName="Kept", Item={"pk": {"S": "a"}, "v": {"N": "1"}})
    ray_processes = first.descendants()
    assert len(ray_processes) >= 3  # at least the GCS, the raylet and the service's actors
    assert first.stop("SIGTERM") == 0
    assert "raydynamo stopped" in "".join(first.output)
    assert wait_gone(ray_processes) == set()

    second = ServeProcess(serve_config)
    started.append(second)
    client = client_for(second.wait_for_url())
    client.get_waiter("table_exists").wait(TableName="Kept")
    got = client.get_item(TableName="Kept", Key={"pk": {"S": "a"}}, ConsistentRead=True)
    assert got["Item"] == {"pk": {"S": "a"}, "v": {"N": "1"}}
    ray_processes = second.descendants()
    assert second.stop("Ctrl-C") == 0
    assert wait_gone(ray_processes) == set()


def test_serve_refuses_a_bad_port_naming_the_field(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "raydynamo.cli", "serve", "--port", "70000"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "port" in done.stderr and "Traceback" not in done.stderr


def test_one_endpoint_per_ray_node_is_started_listed_and_stopped(service: Any) -> None:
    from raydynamo.cli import render_endpoints
    from raydynamo.endpoint.node import node_endpoints, start_node_endpoints, stop_node_endpoints
    from tests.endpoint_support import boto3_client, with_endpoint

    config = with_endpoint(service)
    try:
        answers = start_node_endpoints(config)
        assert len(answers) == 1 and "url" in answers[0], answers
        listed = node_endpoints(config)
        assert [entry["url"] for entry in listed] == [answers[0]["url"]]
        assert answers[0]["url"] in render_endpoints(listed)
        assert "TableNames" in boto3_client(answers[0]["url"]).list_tables()
    finally:
        stopped = stop_node_endpoints(config)
    assert len(stopped) == 1
    assert node_endpoints(config) == []


def test_listing_endpoints_without_ray_connects_to_nothing() -> None:
    # In a process of its own: Ray's auto-init would join any cluster running on this machine.
    check = (
        "import ray\n"
        "from raydynamo.config import config_from_dict\n"
        "from raydynamo.endpoint.node import node_endpoints, stop_node_endpoints\n"
        "config = config_from_dict({})\n"
        "print(node_endpoints(config), stop_node_endpoints(config), ray.is_initialized())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.split("\n")[-2] == "[] [] False"
