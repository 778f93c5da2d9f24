"""Identity records of data directories (``storage.identity``): a storage node refuses another
cluster's or another node's directory, a damaged record, and files without a record; a new
directory gets its record once, private to its owner."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from raydynamo.storage.engine import WriteBatch
from raydynamo.storage.identity import (
    IDENTITY_FILE,
    IdentityMismatch,
    ensure_identity,
    read_identity,
    scan_identities,
)
from raydynamo.storage.rocks import RocksEngine


def open_as(path: Path, cluster: str | None = "c1", node: str = "sn0"):  # type: ignore[no-untyped-def]
    return ensure_identity(path, cluster_id=cluster, storage_node_id=node, host="h0")


def test_a_new_directory_gets_a_record_once_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "sn0"
    first = open_as(path)
    assert first.created
    assert (first.identity.cluster_id, first.identity.storage_node_id) == ("c1", "sn0")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o700
    written = (path / IDENTITY_FILE).read_bytes()
    again = open_as(path)
    assert not again.created and again.identity == first.identity
    assert (path / IDENTITY_FILE).read_bytes() == written  # written once, never rewritten


def test_an_empty_existing_directory_counts_as_new(tmp_path: Path) -> None:
    path = tmp_path / "sn0"
    path.mkdir()
    assert open_as(path).created


@pytest.mark.parametrize(
    ("cluster", "node", "says"),
    [("c2", "sn0", "belongs to cluster c1"), ("c1", "sn1", "belongs to storage node sn0")],
)
def test_another_clusters_or_nodes_directory_is_refused(
    tmp_path: Path, cluster: str, node: str, says: str
) -> None:
    path = tmp_path / "sn0"
    open_as(path)
    with pytest.raises(IdentityMismatch, match=says):
        open_as(path, cluster=cluster, node=node)


def test_a_standalone_node_accepts_its_own_directory_of_any_cluster(tmp_path: Path) -> None:
    path = tmp_path / "sn0"
    created = open_as(path, cluster=None)
    assert created.identity.cluster_id  # a cluster id of its own
    assert open_as(path, cluster=None).identity == created.identity
    with pytest.raises(IdentityMismatch):
        open_as(path, cluster=None, node="sn1")


def test_a_damaged_record_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sn0"
    open_as(path)
    record = path / IDENTITY_FILE
    data = bytearray(record.read_bytes())
    data[-3] ^= 0x01
    record.write_bytes(bytes(data))
    with pytest.raises(IdentityMismatch, match="damaged"):
        open_as(path)


def test_files_without_a_record_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "sn0"
    path.mkdir()
    (path / "CURRENT").write_text("MANIFEST-000001\n")
    with pytest.raises(IdentityMismatch, match="no identity record"):
        open_as(path)


def test_a_half_written_record_is_started_again(tmp_path: Path) -> None:
    path = tmp_path / "sn0"
    path.mkdir()
    (path / (IDENTITY_FILE + ".tmp")).write_bytes(b"partial")
    assert open_as(path).created
    assert os.listdir(path) == [IDENTITY_FILE]


def test_rocksdb_leaves_the_record_alone(tmp_path: Path) -> None:
    path = tmp_path / "sn0"
    identity = open_as(path).identity
    engine = RocksEngine(str(path))
    for round_ in range(3):
        batch = WriteBatch()
        for i in range(2000):
            batch.put(f"k{round_}-{i}".encode(), b"v" * 100)
        engine.write(batch, sync=True)
    engine.close()
    engine = RocksEngine(str(path))
    engine.close()
    assert read_identity(path) == identity


def test_scan_finds_every_record_and_names_the_problems(tmp_path: Path) -> None:
    open_as(tmp_path / "sn0")
    open_as(tmp_path / "sn1", node="sn1")
    (tmp_path / "sn2").mkdir()
    (tmp_path / "sn2" / "LOG").write_text("x")
    (tmp_path / "sn3").mkdir()  # empty: nothing to say
    found, problems = scan_identities(tmp_path)
    assert [i.storage_node_id for i in found] == ["sn0", "sn1"]
    assert len(problems) == 1 and "sn2" in problems[0]
    assert scan_identities(tmp_path / "absent") == ([], [])


def test_scan_expands_the_home_directory_as_the_storage_nodes_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The default data_dir is "~/.local/share/raydynamo": a scan that took "~" literally found
    # nothing, so a restarted service made a new cluster id and its nodes refused their own
    # directories.
    monkeypatch.setenv("HOME", str(tmp_path))
    open_as(tmp_path / "data" / "sn0")
    found, problems = scan_identities("~/data")
    assert [(f.cluster_id, f.storage_node_id) for f in found] == [("c1", "sn0")]
    assert problems == []
