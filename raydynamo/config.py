"""Configuration: frozen pydantic models loaded from ``configs/*.yaml``.

Every field has a description; unknown fields are refused, and a bad file is refused with a
message naming the field (``ConfigError``). No behaviour hides in environment variables.

The files of the top-level ``configs/`` directory install with the package as
``raydynamo.configs`` (see ``pyproject.toml``) and are read through ``importlib.resources``, so a
regular install, an editable one and a bare source checkout all find them, from any working
directory. Paths in a configuration (``storage.data_dir``) are kept as written: ``~`` is
expanded by the process that uses them (``raydynamo.storage.data_dir``), whose home need not be
the loader's.
Pure: no ray, no rocksdict.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from raydynamo.consensus.types import Settings
from raydynamo.metadata.storage_hosts import check_host_identity

CONFIGS_PACKAGE = "raydynamo.configs"
DEFAULT_CONFIG_FILE = "local.yaml"
DATA_DIR_DEFAULT = "~/.local/share/raydynamo"


class ConfigError(ValueError):
    """A configuration file or value is invalid; the message names the field."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ConsensusConfig(_Frozen):
    heartbeat_interval_s: float = Field(0.1, gt=0, description="Leader heartbeat period.")
    lease_duration_s: float = Field(
        1.0,
        gt=0,
        description="How long a follower refuses other candidates after it heard the leader.",
    )
    election_timeout_s: float = Field(
        1.5, gt=0, description="Silence after which a follower asks peers and may campaign."
    )
    election_jitter_s: float = Field(0.5, ge=0, description="Random extra wait before elections.")
    retransmit_interval_s: float = Field(0.2, gt=0, description="Resend unanswered messages after.")
    clock_drift_max: float = Field(
        0.01, ge=0, lt=0.5, description="Assumed bound on clock rate drift (0.01 = 1%)."
    )
    slots_in_flight_max: int = Field(4, ge=1, description="Pipelined slots per leader.")
    batch_commands_max: int = Field(1024, ge=1, description="Commands one slot may carry.")
    batch_bytes_max: int = Field(4 << 20, ge=1024, description="Bytes one slot may carry.")
    pending_commands_max: int = Field(
        20_000, ge=1, description="Commands queued at a leader before it refuses more."
    )
    catchup_entries_max: int = Field(256, ge=1, description="Slots per catch-up message.")
    log_retained_slots: int = Field(
        512, ge=1, description="Applied slots kept for lagging followers before compaction."
    )
    handoff_timeout_s: float = Field(2.0, gt=0, description="Give up a leader hand-off after.")

    @model_validator(mode="after")
    def _elections_outwait_leases(self) -> ConsensusConfig:
        if self.election_timeout_s <= self.lease_duration_s:
            raise ValueError("election_timeout_s must be greater than lease_duration_s")
        return self

    def to_settings(self) -> Settings:
        """The replica settings: every field of this model, and leases on."""
        return Settings(**self.model_dump(), leases_enabled=True)


class StorageConfig(_Frozen):
    data_dir: str = Field(
        DATA_DIR_DEFAULT,
        min_length=1,
        description="Directory under which each storage node keeps its RocksDB (one "
        "subdirectory per storage node). A leading ~ is the home of the storage node's process. "
        "Created private (0700) with any missing parents.",
    )
    sync_writes: bool = Field(
        True,
        description="fsync every round before acknowledging. False keeps data in OS buffers "
        "only: it survives a process crash but NOT a power loss.",
    )
    write_buffer_bytes_max: int = Field(
        64 << 20, ge=1 << 20, description="Memtable budget shared by all replicas of a node."
    )
    block_cache_bytes: int = Field(32 << 20, ge=0, description="RocksDB block cache per node.")
    dedup_retention_s: float = Field(
        900.0,
        gt=0,
        description="How long (of the log's own clock, which never runs ahead of real time) "
        "the first result of a request id is kept, so that a retry is answered instead of "
        "applied again. Must exceed every retry window (the driver's attempts and the "
        "router's timeouts: minutes).",
    )
    dedup_bytes_max: int = Field(
        64 << 20,
        ge=1 << 16,
        description="Bytes of kept first results per partition; past it the oldest go first.",
    )


class NodeConfig(_Frozen):
    tick_interval_s: float = Field(0.02, gt=0, description="How often a node ticks its replicas.")
    peer_calls_in_flight_max: int = Field(
        1, ge=1, description="Concurrent message calls to one peer node; more wait and batch."
    )
    strong_read_wait_s: float = Field(
        2.0, ge=0, description="How long a strong read waits for a new leader's lease."
    )
    num_cpus: float = Field(0.0, ge=0, description="Ray CPUs each storage node reserves.")
    pending_bytes_max: int = Field(
        64 << 20,
        ge=1 << 16,
        description="Bytes of commands a replica may have proposed and not yet applied; more "
        "writes are refused at once with ThrottlingException (nothing proposed).",
    )
    inbox_bytes_max: int = Field(
        256 << 20,
        ge=1 << 16,
        description="Bytes of writes and peer frames queued for a node's core thread; more "
        "client writes are refused at once with ThrottlingException.",
    )
    snapshot_chunk_bytes: int = Field(
        1 << 20,
        ge=1 << 12,
        description="Bytes of state one snapshot chunk carries (one item or first result "
        "larger than this travels alone); a transfer holds about one chunk in memory at each "
        "end, whatever the partition's size.",
    )
    snapshot_transfers_max: int = Field(
        2,
        ge=1,
        description="Snapshot transfers one storage node sends at once (a thread each); more "
        "requests wait for the replicas to ask again.",
    )
    snapshot_stall_s: float = Field(
        10.0,
        gt=0,
        description="A snapshot transfer that makes no progress for this long is abandoned at "
        "both ends (its staged chunks deleted) and retried from scratch.",
    )


class RouterConfig(_Frozen):
    cache_mode: Literal["constant", "on_miss"] = Field(
        "constant",
        description="constant: refresh every cached table's map at a fixed rate whatever the "
        "hit rate (no load spike when caches go cold); on_miss: fetch on a miss and expire "
        "after cache_ttl_s (the classic cache, kept for the cold-router experiment).",
    )
    refresh_interval_s: float = Field(
        0.25, gt=0, description="Constant-work refresh period (one request per shard)."
    )
    cache_ttl_s: float = Field(30.0, gt=0, description="Entry lifetime in on_miss mode.")
    request_timeout_s: float = Field(
        30.0, gt=0, description="Give up on a partition that has no leader for this long."
    )
    partition_calls_in_flight_max: int = Field(
        2, ge=1, description="Calls in flight to one partition; more requests wait and batch."
    )
    call_timeout_s: float = Field(
        5.0,
        gt=0,
        description="One call to a storage node that takes longer is abandoned and the request "
        "moves to another replica (with the same request id).",
    )
    partition_queue_bytes_max: int = Field(
        16 << 20,
        ge=1 << 16,
        description="Bytes of requests waiting for one partition in a router; more are refused "
        "at once with ThrottlingException.",
    )


class ControllerConfig(_Frozen):
    health_interval_s: float = Field(1.0, gt=0, description="How often storage nodes are probed.")
    stats_interval_s: float = Field(
        10.0, gt=0, description="How often ItemCount and TableSizeBytes are recomputed."
    )
    node_dead_after_s: float = Field(
        10.0, gt=0, description="A storage node unreachable this long is replaced."
    )
    heal_step_timeout_s: float = Field(
        10.0,
        gt=0,
        description="How long a heal waits for a membership change it asked for before it "
        "asks the group again for its chosen configuration and decides anew.",
    )


class EndpointCredential(_Frozen):
    access_key_id: str = Field(
        min_length=1, description="An access key id clients sign requests with (SigV4)."
    )
    secret_access_key: str = Field(
        min_length=1, repr=False, description="Its secret access key; keep it out of git."
    )


class EndpointConfig(_Frozen):
    host: str = Field("127.0.0.1", description="Address the DynamoDB endpoint listens on.")
    port: int = Field(8000, ge=0, le=65535, description="Its TCP port (0: any free port).")
    auth: Literal["none", "sigv4"] = Field(
        "none",
        description="none: accept every request; sigv4: verify each request's AWS Signature "
        "Version 4 against credentials.",
    )
    credentials: tuple[EndpointCredential, ...] = Field(
        (), description="The access keys accepted with auth: sigv4."
    )
    tls_certificate_path: str | None = Field(
        None, description="PEM certificate (chain) for HTTPS; unset serves plain HTTP."
    )
    tls_key_path: str | None = Field(None, description="PEM private key of that certificate.")
    concurrency_max: int = Field(
        1000, ge=1, description="Open connections and requests beyond which new ones get 503."
    )
    request_bytes_max: int = Field(
        16 * 1024 * 1024,
        ge=1024,
        description="Largest request body accepted, compressed or not (DynamoDB's: 16 MB).",
    )
    buffered_bytes_max: int = Field(
        256 * 1024 * 1024,
        ge=1024,
        description="Request body bytes all requests together may hold in memory; past it new "
        "ones are refused with ServiceUnavailable (503, retried by clients).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> EndpointConfig:
        if self.auth == "sigv4" and not self.credentials:
            raise ValueError("auth: sigv4 needs at least one entry in credentials")
        if (self.tls_certificate_path is None) != (self.tls_key_path is None):
            raise ValueError("tls_certificate_path and tls_key_path go together")
        return self


class ClusterConfig(_Frozen):
    namespace: str = Field("raydynamo", description="Ray namespace of the named actors.")
    storage_nodes: int = Field(3, ge=1, description="Storage node actors to start.")
    metadata_shards: int = Field(2, ge=1, description="Metadata shard actors to start.")
    routers: int = Field(1, ge=0, description="Router actors for clients that are not drivers.")
    replicas: int = Field(3, description="Replicas per partition (3 or 5).")
    partitions_per_table: int = Field(
        4, ge=1, description="Partitions a new table starts with when nothing else says."
    )
    host_identity: str = Field(
        "address",
        description="How the host of a storage node's data directory is recognised across Ray "
        "restarts (Ray node ids change at every start): 'address' (the Ray node's IP address; "
        "every Ray node of a machine is the same host) or 'label:<key>' (the value of the Ray "
        "node label <key>, given with `ray start --labels <key>=<host>`; for several Ray nodes "
        "on one machine, or machines whose addresses change). Each host is a zone for placement.",
    )

    @field_validator("host_identity")
    @classmethod
    def _host_identity_known(cls, value: str) -> str:
        return check_host_identity(value)

    @model_validator(mode="after")
    def _replicas_odd(self) -> ClusterConfig:
        if self.replicas not in (3, 5):
            raise ValueError("replicas must be 3 or 5")
        return self


class DataConfig(_Frozen):
    """``raydynamo.data``: reading tables into Ray Datasets and writing Datasets into tables."""

    read_segments_per_partition_max: int = Field(
        16,
        ge=1,
        description="Scan segments (read tasks) per partition at most, when a read asks for "
        "more parallelism than the table has partitions (at least one task per partition).",
    )
    read_block_bytes_max: int = Field(
        16 << 20, ge=1 << 16, description="Bytes of items a read task gathers into one block."
    )
    schema_sample_items: int = Field(
        1000,
        ge=0,
        description="Items read_table reads first (spread over its segments) to choose its "
        "columns; attributes not seen there travel in the _dynamodb_json column.",
    )
    write_ops_per_command: int = Field(
        100, ge=1, le=100, description="Puts in one partition command of write_table."
    )
    write_rows_per_flush: int = Field(
        4000, ge=1, description="Rows a write task converts, validates and sends together."
    )
    write_rows_per_task_min: int = Field(
        50_000,
        ge=1,
        description="Rows Ray Data gathers for one write task at least (a task starts a router "
        "of its own: fewer, larger tasks amortize that; measured 2-3x faster than 4,000).",
    )
    write_bytes_in_flight_max: int = Field(
        8 << 20, ge=1 << 16, description="Bytes of commands one write task has in flight."
    )
    write_attempts_max: int = Field(
        12,
        ge=1,
        description="Attempts for a command that is throttled or not confirmed before the "
        "write fails (each retry keeps its request id, so nothing is applied twice).",
    )
    write_backoff_base_s: float = Field(
        0.05, gt=0, description="First retry pause of a throttled write (doubling, jittered)."
    )
    write_backoff_max_s: float = Field(5.0, gt=0, description="Longest retry pause.")
    write_tasks_max: int = Field(
        4, ge=1, description="Write tasks write_table runs at once (Ray Data's concurrency)."
    )
    write_capacity_share: float = Field(
        1.0,
        gt=0,
        le=1,
        description="Share of a provisioned table's WriteCapacityUnits that write_table may "
        "use, split evenly over its write tasks (on-demand tables: only throttling paces).",
    )


class MetricsConfig(_Frozen):
    """Metrics at Ray's metrics export (``raydynamo.metrics``, ``actors/metrics.py``)."""

    enabled: bool = Field(
        True,
        description="Record request and storage node metrics and publish them through "
        "ray.util.metrics (Ray's Prometheus export on every node).",
    )
    flush_interval_s: float = Field(
        1.0,
        gt=0,
        le=60,
        description="How often a process hands what it counted to Ray's metrics (requests are "
        "tallied in plain Python in between: a Ray metric record costs 2-10 us here).",
    )


class AdmissionConfig(_Frozen):
    mode: Literal["gac", "static"] = Field(
        "gac",
        description="gac: global admission control, a table's tokens handed to routers as "
        "time-limited grants by admission actors, so a skewed workload is served while the "
        "table has capacity; static: the original even split of the table's capacity over its "
        "partitions (kept so benchmarks can show the difference).",
    )
    enabled: bool = Field(
        True, description="Enforce capacity at all (false: nothing is ever throttled)."
    )
    shards: int = Field(1, ge=1, description="Admission actors; tables are hashed over them.")
    grant_ttl_s: float = Field(
        2.0, gt=0, description="How long a router may spend a grant before it expires."
    )
    refresh_s: float = Field(
        1.0, gt=0, description="How often a router asks for a new grant while it is busy."
    )
    grant_timeout_s: float = Field(
        2.0, gt=0, description="A grant request that takes longer is abandoned."
    )
    burst_window_s: float = Field(
        300.0, ge=0, description="Unused capacity is kept this long (DynamoDB: 300 s)."
    )
    on_demand_read_units_initial: float = Field(
        12_000.0, gt=0, description="Read units per second a new on-demand table serves."
    )
    on_demand_write_units_initial: float = Field(
        4_000.0, gt=0, description="Write units per second a new on-demand table serves."
    )


class RaydynamoConfig(_Frozen):
    cluster: ClusterConfig = Field(default_factory=ClusterConfig, description="Cluster shape.")
    consensus: ConsensusConfig = Field(
        default_factory=ConsensusConfig, description="Replication timings and bounds."
    )
    storage: StorageConfig = Field(default_factory=StorageConfig, description="Durability.")
    node: NodeConfig = Field(default_factory=NodeConfig, description="Storage node behaviour.")
    router: RouterConfig = Field(default_factory=RouterConfig, description="Request routing.")
    controller: ControllerConfig = Field(
        default_factory=ControllerConfig, description="Table management and healing."
    )
    endpoint: EndpointConfig = Field(
        default_factory=EndpointConfig, description="The DynamoDB wire endpoint (HTTP)."
    )
    data: DataConfig = Field(
        default_factory=DataConfig, description="Ray Data reads and writes (raydynamo.data)."
    )
    metrics: MetricsConfig = Field(
        default_factory=MetricsConfig, description="Metrics at Ray's metrics export."
    )
    admission: AdmissionConfig = Field(
        default_factory=AdmissionConfig,
        description="Provisioned-throughput enforcement and global admission control.",
    )


def config_from_dict(data: dict[str, Any]) -> RaydynamoConfig:
    try:
        return RaydynamoConfig.model_validate(data)
    except ValidationError as err:
        problems = []
        for e in err.errors():
            field = ".".join(str(p) for p in e["loc"]) or "(top level)"
            problems.append(f"{field}: {e['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None


def shipped_configs() -> Traversable:
    """The directory of the configuration files shipped with the package."""
    try:
        return resources.files(CONFIGS_PACKAGE)
    except ModuleNotFoundError:  # a source checkout put on sys.path without being installed
        return Path(__file__).resolve().parent.parent / "configs"


def resolve_config_path(path: str | Path | None) -> Path | Traversable:
    """The configuration file ``path`` names: the shipped ``local.yaml`` for None; ``path``
    itself if it exists; else, for a bare name (``cluster``, ``cluster.yaml``) or one under
    ``configs/`` (``configs/cluster.yaml``), the shipped file of that name, so that these work
    from any working directory (``ray job submit`` jobs do not run where they were submitted).
    Any other path is returned as given, and reading it fails."""
    shipped = shipped_configs()
    if path is None:
        return shipped / DEFAULT_CONFIG_FILE
    given = Path(path)
    if given.exists() or given.parent not in (Path("."), Path("configs")):
        return given
    for name in (given.name, f"{given.name}.yaml"):
        candidate = shipped / name
        if candidate.is_file():
            return candidate
    return given


def load_config(path: str | Path | None = None) -> RaydynamoConfig:
    """Load ``path`` (default: the shipped ``local.yaml``; see ``resolve_config_path``)."""
    source = resolve_config_path(path)
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except OSError as err:
        raise ConfigError(f"cannot read config file {source}: {err.strerror}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(f"config file {source} is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {source} must hold a mapping at the top level")
    return config_from_dict(data)
