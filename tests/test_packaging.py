"""The wheel: it holds every module and the shipped configurations, and an installed copy loads
its default configuration from its own files, from any working directory, without Ray.

The wheel is built from a copy of the source tree (so the checkout gets no ``build/``) with the
test environment's setuptools and no index (``--no-build-isolation --no-index``), and installed
with ``pip install --target`` into a directory that a fresh interpreter puts first on its path.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PIP_TIMEOUT_S = 120

# Run in the installed copy, from an unrelated directory: where raydynamo and its configurations
# come from, what the default configuration says, and whether ray was imported.
PROBE = """
import json, sys
import raydynamo
from raydynamo.config import load_config, resolve_config_path
config = load_config()
print(json.dumps({
    "package": raydynamo.__file__,
    "default_config": str(resolve_config_path(None)),
    "cluster_config": str(resolve_config_path("cluster")),
    "namespace": config.cluster.namespace,
    "data_dir": config.storage.data_dir,
    "ray_imported": "ray" in sys.modules,
}))
"""


def pip(*args: str, cwd: Path) -> None:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args]
    done = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False
    )
    assert done.returncode == 0, f"{' '.join(args[:2])} failed:\n{done.stdout}\n{done.stderr}"


def copy_source(destination: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("raydynamo", "configs"):
        shutil.copytree(REPO / name, destination / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, destination / name)
    return destination


def source_modules() -> set[str]:
    return {
        path.relative_to(REPO).as_posix()
        for path in (REPO / "raydynamo").rglob("*.py")
        if "__pycache__" not in path.parts
    }


def test_the_wheel_installs_and_loads_its_own_configs_from_anywhere(tmp_path: Path) -> None:
    source = copy_source(tmp_path / "src")
    pip("wheel", str(source), "--no-deps", "--no-build-isolation", "--no-index", "-w", "dist",
        cwd=tmp_path)  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("raydynamo-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    shipped = {f"raydynamo/configs/{path.name}" for path in (REPO / "configs").glob("*.yaml")}
    assert {"raydynamo/configs/local.yaml", "raydynamo/configs/cluster.yaml"} <= shipped
    assert shipped <= names
    assert source_modules() - names == set(), "modules missing: list their packages in pyproject"
    assert not any(name.startswith("configs/") for name in names)

    site = tmp_path / "site"
    pip("install", "--no-deps", "--no-index", "--target", str(site), str(wheel), cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    probe = json.loads(done.stdout)
    installed = str(site / "raydynamo")
    assert probe["package"].startswith(installed)
    assert probe["default_config"] == str(site / "raydynamo" / "configs" / "local.yaml")
    assert probe["cluster_config"] == str(site / "raydynamo" / "configs" / "cluster.yaml")
    assert probe["namespace"] == "raydynamo"
    assert probe["data_dir"] == "~/.local/share/raydynamo"
    assert probe["ray_imported"] is False
