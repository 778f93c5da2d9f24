"""Configuration files: the shipped ones load, bad ones are refused naming the field."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from raydynamo.config import (
    ConfigError,
    ConsensusConfig,
    config_from_dict,
    load_config,
    resolve_config_path,
    shipped_configs,
)
from raydynamo.consensus.types import Settings


@pytest.mark.parametrize("name", ["local", "cluster"])
def test_shipped_configs_load(name: str) -> None:
    config = load_config(name)
    assert config.cluster.replicas == 3
    assert config.consensus.election_timeout_s > config.consensus.lease_duration_s


def test_config_names_resolve_from_any_directory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    shipped = shipped_configs()
    for name in ("cluster", "cluster.yaml", "configs/cluster.yaml", "configs/cluster"):
        resolved = resolve_config_path(name)
        assert resolved.is_file()
        assert str(resolved) == str(shipped / "cluster.yaml")
    assert str(resolve_config_path(None)) == str(shipped / "local.yaml")


def test_config_paths_are_paths(tmp_path: Path, monkeypatch) -> None:
    """An existing file wins over the shipped one of its name; a missing file named by a path is
    an error, never silently replaced by the shipped file of the same name."""
    monkeypatch.chdir(tmp_path)
    Path("cluster.yaml").write_text("cluster:\n  storage_nodes: 9\n")
    assert load_config("cluster.yaml").cluster.storage_nodes == 9
    assert load_config(tmp_path / "cluster.yaml").cluster.storage_nodes == 9
    assert load_config("cluster").cluster.storage_nodes == 6  # a bare name: the shipped file
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "elsewhere" / "local.yaml")


def test_default_data_directory_is_per_user_not_under_tmp() -> None:
    for config in (load_config(), load_config("cluster"), config_from_dict({})):
        assert config.storage.data_dir == "~/.local/share/raydynamo"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"cluster": {"storage_nodes": 0}}, "cluster.storage_nodes"),
        ({"cluster": {"replicas": 4}}, "replicas must be 3 or 5"),
        ({"consensus": {"lease_duration_s": "long"}}, "consensus.lease_duration_s"),
        ({"consensus": {"election_timeout_s": 0.5}}, "election_timeout_s"),
        ({"storage": {"sync_writes": "sometimes"}}, "storage.sync_writes"),
        ({"router": {"cache_mode": "lru"}}, "router.cache_mode"),
        ({"nodes": {}}, "nodes"),
    ],
)
def test_bad_values_are_refused_naming_the_field(data: dict, field: str) -> None:
    with pytest.raises(ConfigError) as err:
        config_from_dict(data)
    assert field in str(err.value)


def test_bad_files_are_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("cluster: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(listed)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")


def test_configs_are_frozen() -> None:
    config = load_config()
    with pytest.raises(ValueError):
        config.cluster.storage_nodes = 7  # type: ignore[misc]


def test_replica_settings_come_only_from_the_configuration() -> None:
    """``Settings`` has no defaults of its own (which could disagree with the configuration's);
    its fields are the configuration's, plus the model checker's switch for leases."""
    config_fields = set(ConsensusConfig.model_fields)
    assert {f.name for f in dataclasses.fields(Settings)} == config_fields | {"leases_enabled"}
    with pytest.raises(TypeError):
        Settings()  # type: ignore[call-arg]
    for name in ("local", "cluster"):
        consensus = load_config(name).consensus
        settings = consensus.to_settings()
        from_settings = {field: getattr(settings, field) for field in config_fields}
        assert from_settings == consensus.model_dump()
        assert settings.leases_enabled
