"""Which HTTP server for the DynamoDB endpoint, and whether more processes per node help.

    python -m bench.endpoint_servers trivial [--rounds 3] [--seconds 4]
    python -m bench.endpoint_servers service [--rounds 3] [--seconds 5]

``trivial``: the endpoint application over an in-memory handler (no Ray), served by uvicorn
(httptools) and by granian (embedded, asyncio and uvloop loops); ``wrk`` against ``GET /`` and
boto3 with 16 threads doing PutItem then GetItem. ``service``: the same boto3 load against the
real service (one local Ray, three storage nodes, every write fsync'ed by a majority), the
router embedded in each server process: uvicorn, granian, and two uvicorn processes sharing the
port with SO_REUSEPORT. Variants are interleaved round by round; every measurement is a JSON
line, then the medians. The machine is shared: compare variants of the same run only.

Needs the bench extra (granian) and ``wrk`` for the GET figures (skipped when absent).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from typing import Any

TABLE = "bench"
THREADS = 16
ACCESS_KEY = ("AKIDEXAMPLE", "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY")


# ------------------------------------------------------------------------------ server side


class MemoryHandler:
    """A request handler keeping items in a dict: the endpoint's own cost, nothing below."""

    def __init__(self) -> None:
        self.items: dict[str, Any] = {}

    async def call(
        self, operation: str, request: dict[str, Any], request_id: str | None = None
    ) -> dict[str, Any]:
        if operation == "PutItem":
            self.items[request["Item"]["pk"]["S"]] = request["Item"]
            return {}
        if operation == "GetItem":
            item = self.items.get(request["Key"]["pk"]["S"])
            return {"Item": item} if item is not None else {}
        return {}


def run_server(server: str, port: int, gcs: str | None, config_json: str | None) -> None:
    from raydynamo.config import config_from_dict
    from raydynamo.endpoint.app import EndpointApp
    from raydynamo.endpoint.server import EndpointServer, bind_socket, build_app

    config = config_from_dict(json.loads(config_json) if config_json else {})
    if gcs is not None:
        import ray

        ray.init(address=gcs, namespace=config.cluster.namespace, log_to_driver=False)
        app = build_app(config)
    else:
        app = EndpointApp(MemoryHandler(), operations={"PutItem", "GetItem", "CreateTable"})
    if server == "uvicorn":
        sock = bind_socket("127.0.0.1", port, reuse_port=True)
        asyncio.run(EndpointServer(app, config.endpoint, sock).serve())
        return
    from granian.constants import Interfaces
    from granian.server.embed import Server

    embedded = Server(
        app, address="127.0.0.1", port=port, interface=Interfaces.ASGINL, log_enabled=False
    )
    if server == "granian-uvloop":
        import uvloop

        uvloop.run(embedded.serve())
    else:
        asyncio.run(embedded.serve())


# ------------------------------------------------------------------------------ client side


def boto3_load(url: str, seconds: float) -> dict[str, float]:
    """PutItem then GetItem from 16 threads (clients made and warmed first): ops/s each."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session()
    clients = [
        session.client(
            "dynamodb",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY[0],
            aws_secret_access_key=ACCESS_KEY[1],
            config=Config(retries={"max_attempts": 1}, max_pool_connections=2),
        )
        for _ in range(THREADS)
    ]
    for index, client in enumerate(clients):
        client.put_item(TableName=TABLE, Item={"pk": {"S": f"warm-{index}"}})
    rates: dict[str, float] = {}
    for operation in ("PutItem", "GetItem"):
        done = [0] * THREADS
        failed = [0] * THREADS
        stop_at = time.monotonic() + seconds

        def work(index: int, operation: str = operation, stop_at: float = stop_at) -> None:
            client, n = clients[index], 0
            while time.monotonic() < stop_at:
                key = {"pk": {"S": f"k{index}-{n % 100}"}}
                try:
                    if operation == "PutItem":
                        client.put_item(TableName=TABLE, Item={**key, "v": {"S": "x" * 100}})
                    else:
                        client.get_item(TableName=TABLE, Key=key, ConsistentRead=True)
                    done[index] += 1  # noqa: B023 (joined before the loop goes on)
                except Exception:
                    failed[index] += 1  # noqa: B023
                n += 1

        threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        rates[operation] = round(sum(done) / (time.monotonic() - started), 1)
        rates[f"{operation}_errors"] = sum(failed)
    return rates


def wrk_get(url: str, seconds: float) -> float | None:
    if shutil.which("wrk") is None:
        return None
    out = subprocess.run(
        ["wrk", "-t1", "-c16", f"-d{seconds:.0f}s", url + "/"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    return None


# ------------------------------------------------------------------------------ the runs


def wait_healthy(url: str, deadline_s: float = 120.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not come up")


def measure(
    variant: str, processes: int, port: int, seconds: float, gcs: str | None, config: str | None
) -> dict[str, Any]:
    server = variant.split("x")[0]
    command = [sys.executable, "-m", "bench.endpoint_servers", "_serve", server, str(port)]
    if gcs is not None:
        command += ["--gcs", gcs, "--config-json", config or "{}"]
    children = [subprocess.Popen(command) for _ in range(processes)]
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url)
        if gcs is not None:
            time.sleep(1.0)  # let every process finish starting its router before the load
        figures: dict[str, Any] = {"variant": variant}
        if gcs is None:
            figures["wrk_get_per_s"] = wrk_get(url, seconds)
        load = subprocess.run(
            [sys.executable, "-m", "bench.endpoint_servers", "_load", url, str(seconds)],
            capture_output=True,
            text=True,
            check=True,
        )
        figures.update(json.loads(load.stdout))
        return figures
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(30)


def start_service() -> tuple[str, str, list[Any]]:
    import ray

    import raydynamo
    from raydynamo.actors.service import start_service as start
    from raydynamo.config import config_from_dict

    data_dir = tempfile.mkdtemp(prefix="raydynamo-bench-endpoint-")
    config_data = {"storage": {"data_dir": data_dir}, "cluster": {"namespace": "bench-endpoint"}}
    config = config_from_dict(config_data)
    ray.init(
        address="local", namespace="bench-endpoint", include_dashboard=False, log_to_driver=False
    )
    handles = start(config, detached=False)
    client = raydynamo.connect(config=config)
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=TABLE, WaiterConfig={"Delay": 0.2})
    return ray.get_runtime_context().gcs_address, json.dumps(config_data), handles


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["trivial", "service", "_serve", "_load"])
    parser.add_argument("rest", nargs="*")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--gcs", default=None)
    parser.add_argument("--config-json", default=None)
    ns = parser.parse_args(argv)
    if ns.mode == "_serve":
        run_server(ns.rest[0], int(ns.rest[1]), ns.gcs, ns.config_json)
        return 0
    if ns.mode == "_load":
        print(json.dumps(boto3_load(ns.rest[0], float(ns.rest[1]))))
        return 0
    gcs = config = None
    handles: list[Any] = []
    if ns.mode == "service":
        gcs, config, handles = start_service()
        variants = [("uvicornx1", 1), ("granianx1", 1), ("uvicornx2", 2)]
    else:
        variants = [("uvicornx1", 1), ("granianx1", 1), ("granian-uvloopx1", 1)]
    results: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in variants}
    for round_index in range(ns.rounds):
        for index, (name, processes) in enumerate(variants):
            port = 18700 + 10 * round_index + index
            figures = measure(name, processes, port, ns.seconds, gcs, config)
            print(json.dumps({"mode": ns.mode, "round": round_index, **figures}), flush=True)
            results[name].append(figures)
    for name, runs in results.items():
        medians = {
            key: statistics.median(run[key] for run in runs)
            for key in runs[0]
            if isinstance(runs[0][key], int | float) and not key.endswith("_errors")
        }
        print(json.dumps({"mode": ns.mode, "variant": name, "median": medians}), flush=True)
    del handles
    return 0


if __name__ == "__main__":
    sys.exit(main())
