"""The ``raydynamo`` command: run the service on a Ray cluster.

    raydynamo serve  [--host 127.0.0.1] [--port 8000] [--config ...]    local Ray + service +
                                                                       DynamoDB endpoint, foreground
    raydynamo up     [--address auto] [--config configs/cluster.yaml]   start (detached actors)
    raydynamo down   [--address auto] [--config ...] [--wipe]          stop them
    raydynamo status [--address auto] [--config ...] [--json]          tables, partitions, nodes,
                                                                       hosts, heals in progress
    raydynamo demo   [--address auto] [--config ...]                   the main job
    raydynamo export TABLE DIR [--address auto] [--config ...]         a table to Parquet files
    raydynamo import DIR TABLE [--address auto] [--config ...]         Parquet files into a table

``up`` is meant to run as a Ray job (``ray job submit -- raydynamo up --address auto``): the
actors it starts are detached and named in the configured namespace, so they outlive the job.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from typing import Any

from raydynamo.config import ConfigError, RaydynamoConfig, load_config
from raydynamo.ray_start import start_ray
from raydynamo.storage.data_dir import expand_data_dir


def _ray_init(address: str | None, config: RaydynamoConfig) -> None:

    options: dict[str, Any] = {
        "namespace": config.cluster.namespace,
        "include_dashboard": False,
        "log_to_driver": False,
    }
    if address:
        options["address"] = address
    start_ray(**options)


def cmd_up(ns: argparse.Namespace, config: RaydynamoConfig) -> int:
    from raydynamo.actors.service import service_running, start_service
    from raydynamo.endpoint.node import start_node_endpoints

    _ray_init(ns.address, config)
    if service_running(config.cluster.namespace):
        print(f"raydynamo is already running in namespace {config.cluster.namespace!r}")
    else:
        start_service(config, detached=True)
        print(
            f"raydynamo is up in namespace {config.cluster.namespace!r}: "
            f"{config.cluster.storage_nodes} storage nodes, "
            f"{config.cluster.metadata_shards} metadata shards, {config.cluster.routers} routers"
        )
    print(render_endpoints(start_node_endpoints(config)))
    return 0


def cmd_down(ns: argparse.Namespace, config: RaydynamoConfig) -> int:
    from raydynamo.actors.service import stop_service
    from raydynamo.endpoint.node import stop_node_endpoints

    _ray_init(ns.address, config)
    stopped = stop_node_endpoints(config) + stop_service(config)
    print(f"stopped {len(stopped)} actors" if stopped else "raydynamo was not running")
    if ns.wipe:
        data_dir = expand_data_dir(config.storage.data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)
        print(f"removed {data_dir} on this machine")
    return 0


def render_status(status: dict[str, Any]) -> str:
    lines = [f"cluster {status.get('cluster_id', '?')}", "storage nodes:"]
    for node in sorted(status["nodes"], key=lambda n: n["node_id"]):
        health = "up" if node.get("alive") else "DOWN"
        if node.get("alive") and node.get("directory_lost"):
            health = "EMPTY"  # answers from a new, empty data directory: it rejoins its groups
        host = str(node.get("host") or node.get("zone", "?"))[:15]
        lines.append(
            f"  {node['node_id']:<6} {health:<5} host {host:<15} "
            f"replicas {node.get('replicas', '-'):<4} leaders {node.get('leaders', '-')}"
        )
    heals = status.get("heals") or []
    if heals:
        lines.append("heals in progress:")
    for heal in heals:
        kind = "rejoins" if heal["lost"] == heal["replacement"] else f"-> {heal['replacement']}"
        lines.append(
            f"  {str(heal['group_id'])[-12:]:<12} {heal['lost']} {kind}  step {heal['step']}"
        )
    lines.append("tables:")
    if not status["tables"]:
        lines.append("  (none)")
    for table in status["tables"]:
        lines.append(f"  {table['table']}  {table['status']}  items~{table['items']}")
        for p in table["partitions"]:
            mark = "ok" if p["healthy"] else "DEGRADED"
            zones = "hosts distinct" if p["zones_distinct"] else (p["note"] or "hosts shared")
            lines.append(
                f"    {p['partition_id'][-12:]:<12} leader {p['leader']!s:<5} "
                f"replicas {','.join(p['members']):<14} {mark:<8} {zones}"
                f"  rcu/s {p.get('read_units_per_s', 0):g} wcu/s {p.get('write_units_per_s', 0):g}"
                f" throttled {p.get('throttled', 0)}"
            )
    return "\n".join(lines)


def render_endpoints(endpoints: list[dict[str, Any]]) -> str:
    lines = ["endpoints (DynamoDB API, one per Ray node):"]
    if not endpoints:
        lines.append("  (none)")
    for endpoint in sorted(endpoints, key=lambda e: str(e.get("node_id"))):
        node = str(endpoint.get("node_id", "?"))[:12]
        where = endpoint.get("url") or f"NOT SERVING ({endpoint.get('error')})"
        lines.append(f"  node {node:<12} {where}")
    return "\n".join(lines)


def cmd_status(ns: argparse.Namespace, config: RaydynamoConfig) -> int:
    import ray

    from raydynamo.actors.controller import CONTROLLER_NAME
    from raydynamo.endpoint.node import node_endpoints

    _ray_init(ns.address, config)
    try:
        controller = ray.get_actor(CONTROLLER_NAME, namespace=config.cluster.namespace)
    except ValueError:
        print(f"raydynamo is not running in namespace {config.cluster.namespace!r}")
        return 1
    status = ray.get(controller.status.remote(), timeout=60)
    endpoints = node_endpoints(config)
    if ns.json:
        print(json.dumps({**status, "endpoints": endpoints}, indent=2, default=str))
    else:
        print(render_status(status))
        print(render_endpoints(endpoints))
    return 0


def cmd_serve(ns: argparse.Namespace, config: RaydynamoConfig) -> int:
    from raydynamo.endpoint.serve import run_serve, with_address

    try:
        config = with_address(config, ns.host, ns.port)
    except ValueError as err:
        print(f"raydynamo: {err}", file=sys.stderr)
        return 2
    return run_serve(config)


def cmd_demo(ns: argparse.Namespace, config: RaydynamoConfig) -> int:
    from raydynamo.demo import run_demo

    return run_demo(address=ns.address, config_path=ns.config)


def _client_error(err: BaseException) -> str | None:
    """A DynamoDB error's text (no Ray traceback), when ``err`` carries one."""
    from raydynamo.data.session import client_error_in

    found = client_error_in(err)
    return None if found is None else str(found)


def cmd_export(ns: argparse.Namespace, config: RaydynamoConfig) -> int:
    """Every item of TABLE as Parquet files in DIR (the type mapping of ``raydynamo.data``)."""
    from raydynamo.data import read_table

    try:
        dataset = read_table(ns.table, config=config, address=ns.address)
        dataset.write_parquet(ns.dir)
    except Exception as err:
        text = _client_error(err)
        if text is None:
            raise
        print(f"raydynamo: {text}", file=sys.stderr)
        return 1
    print(f"exported {ns.table} to {ns.dir}")
    return 0


def cmd_import(ns: argparse.Namespace, config: RaydynamoConfig) -> int:
    """Every row of the Parquet files in DIR into TABLE (which must exist)."""
    import ray.data

    from raydynamo.data import write_table

    if not os.path.isdir(ns.dir):
        print(f"raydynamo: {ns.dir} is not a directory", file=sys.stderr)
        return 2
    try:
        written = write_table(
            ray.data.read_parquet(ns.dir), ns.table, config=config, address=ns.address
        )
    except Exception as err:
        text = _client_error(err)
        if text is None:
            raise
        print(f"raydynamo: {text}", file=sys.stderr)
        return 1
    print(f"imported {int(written.get('items', 0))} items into {ns.table}")
    return 0


COMMANDS = {
    "serve": cmd_serve,
    "up": cmd_up,
    "down": cmd_down,
    "status": cmd_status,
    "demo": cmd_demo,
    "export": cmd_export,
    "import": cmd_import,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="raydynamo", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        cmd = sub.add_parser(name)
        if name == "serve":
            cmd.add_argument("--host", default=None, help="listen address (config: endpoint.host)")
            cmd.add_argument("--port", type=int, default=None, help="port (config: endpoint.port)")
        else:
            cmd.add_argument("--address", default=None, help="Ray address (auto, host:port)")
        cmd.add_argument("--config", default=None, help="a YAML file, or a name under configs/")
        if name == "down":
            cmd.add_argument("--wipe", action="store_true", help="also delete the data directory")
        if name == "status":
            cmd.add_argument("--json", action="store_true")
        if name == "export":
            cmd.add_argument("table", help="the table to read")
            cmd.add_argument("dir", help="the directory to write Parquet files into")
        if name == "import":
            cmd.add_argument("dir", help="a directory of Parquet files")
            cmd.add_argument("table", help="the table to write into (it must exist)")
    ns = parser.parse_args(argv)
    try:
        config = load_config(ns.config)
    except ConfigError as err:
        print(f"raydynamo: {err}", file=sys.stderr)
        return 2
    return COMMANDS[ns.command](ns, config)


if __name__ == "__main__":
    sys.exit(main())
