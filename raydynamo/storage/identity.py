"""The identity record of a storage node's data directory: which cluster and storage node own it.

Every data directory (``<data_dir>/<storage_node_id>``) carries one record, written once when the
directory is created and never rewritten::

    cluster_id        the service the directory belongs to (created once per service)
    storage_node_id   the storage node that owns it (``sn3``)
    directory_id      a random id of this directory's life: a directory lost and created again
                      gets a new one, which is how the controller tells "restarted" from
                      "restarted with nothing" (an acceptor that forgot its promises)
    created_on_host   the host identity of the machine it was created on (information, and the
                      tie-break when a shared file system shows the directory on every host)

A storage node calls ``ensure_identity`` before it opens RocksDB: a directory of another cluster
or another storage node, one whose record fails its checksum, or one holding files but no record
is refused with ``IdentityMismatch``, and the node never opens (let alone serves) that data.

Why a file beside the RocksDB files rather than a key inside the database: it is checked before
RocksDB touches the directory (opening a database recovers, creates and locks files: already
too much for a directory that is not ours), and the service's start-up reads it on every host to
find where each directory lives without opening, or taking the lock of, a database a running
node holds. The file name is not one RocksDB uses, so RocksDB leaves it alone.

The record is JSON sealed with a masked CRC32C (``storage.checksum``), written to a temporary
file, fsync'ed, renamed into place, and the directory fsync'ed: a crash leaves either no record
(and an empty directory, which is then created again) or the whole record.

Must not import ray or rocksdict.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from raydynamo.storage.checksum import ChecksumMismatch, seal, unseal
from raydynamo.storage.data_dir import expand_data_dir

IDENTITY_FILE = "RAYDYNAMO-IDENTITY"
IDENTITY_FORMAT = 1
_TEMPORARY_SUFFIX = ".tmp"
DIRECTORY_MODE = 0o700


class IdentityMismatch(Exception):
    """The data directory is not this storage node's: the node refuses to open it."""


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    cluster_id: str
    storage_node_id: str
    directory_id: str
    created_on_host: str
    format: int = IDENTITY_FORMAT

    def to_wire(self) -> dict[str, object]:
        return asdict(self)

    @staticmethod
    def from_wire(data: dict[str, object]) -> NodeIdentity:
        fields = ("cluster_id", "storage_node_id", "directory_id", "created_on_host")
        if not all(isinstance(data.get(name), str) for name in fields):
            raise ValueError("identity record lacks a field")
        if data.get("format") != IDENTITY_FORMAT:
            raise ValueError(f"identity record format {data.get('format')!r} is not known")
        return NodeIdentity(*(str(data[name]) for name in fields))


@dataclass(frozen=True, slots=True)
class OpenedIdentity:
    identity: NodeIdentity
    created: bool  # True when this call created the directory's record (a new, empty directory)


def new_cluster_id() -> str:
    return uuid.uuid4().hex


def encode_identity(identity: NodeIdentity) -> bytes:
    return seal(json.dumps(identity.to_wire(), sort_keys=True).encode())


def decode_identity(data: bytes) -> NodeIdentity:
    """The record in ``data``; ``ValueError`` (``ChecksumMismatch`` included) when unreadable."""
    payload = unseal(data)
    try:
        loaded = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"identity record is not JSON: {err}") from None
    if not isinstance(loaded, dict):
        raise ValueError("identity record is not a JSON object")
    return NodeIdentity.from_wire(loaded)


def read_identity(directory: str | Path) -> NodeIdentity | None:
    """The record of ``directory``, None when it has none; ``IdentityMismatch`` when unreadable."""
    path = Path(directory) / IDENTITY_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return decode_identity(data)
    except (ValueError, ChecksumMismatch) as err:
        raise IdentityMismatch(
            f"data directory {directory} has a damaged identity record ({err}): refusing to open it"
        ) from None


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_identity(directory: Path, identity: NodeIdentity) -> None:
    temporary = directory / (IDENTITY_FILE + _TEMPORARY_SUFFIX)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, encode_identity(identity))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, directory / IDENTITY_FILE)
    _fsync_directory(directory)


def _contents(directory: Path, *, remove_leftover: bool) -> list[str]:
    """The directory's entries, less a temporary record a crash left behind (removed when
    ``remove_leftover``: only the directory's own node may, a reader must not)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    leftover = IDENTITY_FILE + _TEMPORARY_SUFFIX
    if leftover in names:
        if remove_leftover:
            (directory / leftover).unlink(missing_ok=True)
        names.remove(leftover)
    return names


def ensure_identity(
    directory: str | Path, *, cluster_id: str | None, storage_node_id: str, host: str
) -> OpenedIdentity:
    """Check (or, for a new empty directory, write) the identity record of ``directory``.

    ``cluster_id`` None accepts any cluster (a standalone fleet of storage nodes that no
    controller manages); a new directory then gets a cluster id of its own. Raises
    ``IdentityMismatch`` for a directory of another cluster or storage node, with a damaged
    record, or holding files but no record.
    """
    path = Path(directory)
    found = read_identity(path)
    if found is None:
        if _contents(path, remove_leftover=True):
            raise IdentityMismatch(
                f"data directory {path} holds files but no identity record (another program's "
                "directory, or one written before identity records existed): refusing to open it"
            )
        path.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        os.chmod(path, DIRECTORY_MODE)
        identity = NodeIdentity(
            cluster_id=cluster_id or new_cluster_id(),
            storage_node_id=storage_node_id,
            directory_id=uuid.uuid4().hex,
            created_on_host=host,
        )
        _write_identity(path, identity)
        return OpenedIdentity(identity, created=True)
    if found.storage_node_id != storage_node_id:
        raise IdentityMismatch(
            f"data directory {path} belongs to storage node {found.storage_node_id}, "
            f"not {storage_node_id}: refusing to open it"
        )
    if cluster_id is not None and found.cluster_id != cluster_id:
        raise IdentityMismatch(
            f"data directory {path} belongs to cluster {found.cluster_id}, not to this "
            f"cluster ({cluster_id}): refusing to open it"
        )
    return OpenedIdentity(found, created=False)


def scan_identities(data_dir: str | Path) -> tuple[list[NodeIdentity], list[str]]:
    """The identity records of every directory under ``data_dir``, and the problems met (one
    line each: damaged records, directories holding files but no record). ``~`` in
    ``data_dir`` is this process's home, as for the storage nodes that made the directories."""
    root = Path(expand_data_dir(str(data_dir)))
    found: list[NodeIdentity] = []
    problems: list[str] = []
    try:
        entries = sorted(p for p in root.iterdir() if p.is_dir())
    except FileNotFoundError:
        return found, problems
    for entry in entries:
        try:
            identity = read_identity(entry)
        except IdentityMismatch as err:
            problems.append(str(err))
            continue
        if identity is None:
            if _contents(entry, remove_leftover=False):
                problems.append(f"{entry} holds files but no identity record")
            continue
        if identity.storage_node_id != entry.name:
            problems.append(f"{entry} holds the record of storage node {identity.storage_node_id}")
            continue
        found.append(identity)
    return found, problems
