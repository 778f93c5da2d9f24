"""Data directories: ``~`` expanded by the process that uses them, created private (0700) with
their parents, and ``raydynamo down --wipe`` deleting the directory the storage nodes used."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from raydynamo.storage.data_dir import PRIVATE_DIR_MODE, expand_data_dir, make_private_dir


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture(params=[0o022, 0o277])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """The usual umask, and one that takes write and execute from the owner too."""
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def test_tilde_is_this_process_home(home: Path) -> None:
    assert expand_data_dir("~/.local/share/raydynamo") == str(home / ".local/share/raydynamo")
    assert expand_data_dir("/srv/rd") == "/srv/rd"


def test_missing_directories_are_created_private_with_their_parents(home: Path, umask: int) -> None:
    created = make_private_dir("~/.local/share/raydynamo/sn0")
    assert created == str(home / ".local/share/raydynamo/sn0")
    for path in (".local", ".local/share", ".local/share/raydynamo", ".local/share/raydynamo/sn0"):
        assert mode_of(home / path) == PRIVATE_DIR_MODE, path
    assert make_private_dir(created) == created  # again: nothing to do, no error


def test_an_existing_node_directory_is_narrowed_and_existing_parents_left_alone(
    tmp_path: Path,
) -> None:
    shared = tmp_path / "shared"
    node = shared / "sn1"
    node.mkdir(parents=True)
    os.chmod(shared, 0o755)
    os.chmod(node, 0o755)
    (node / "CURRENT").write_text("kept")
    make_private_dir(str(node))
    assert mode_of(node) == PRIVATE_DIR_MODE
    assert mode_of(shared) == 0o755
    assert (node / "CURRENT").read_text() == "kept"


def test_a_file_in_the_way_is_refused(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("")
    with pytest.raises(NotADirectoryError):
        make_private_dir(str(tmp_path / "taken"))
    with pytest.raises(OSError):
        make_private_dir(str(tmp_path / "taken" / "sn0"))


def test_down_wipe_deletes_the_expanded_data_directory(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import raydynamo.actors.service as service
    import raydynamo.cli as cli

    monkeypatch.setattr(cli, "_ray_init", lambda address, config: None)
    monkeypatch.setattr(service, "stop_service", lambda config: [])
    node_dir = Path(make_private_dir("~/rd-data/sn0"))
    (node_dir / "CURRENT").write_text("")
    config = tmp_path / "wipe.yaml"
    config.write_text("storage:\n  data_dir: ~/rd-data\n")
    assert cli.main(["down", "--config", str(config), "--wipe"]) == 0
    assert not (home / "rd-data").exists()
    assert home.exists()
