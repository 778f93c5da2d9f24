"""The driver's client surface never imports ray (only the transport under it may)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DRIVER = Path(__file__).resolve().parent.parent / "raydynamo" / "driver"
CLIENT_SURFACE = (
    "__init__.py",
    "aio.py",
    "batch_writer.py",
    "client.py",
    "conditions.py",
    "exceptions.py",
    "handler.py",
    "invoke.py",
    "loop_thread.py",
    "operations.py",
    "paginators.py",
    "resource.py",
    "transform.py",
    "waiters.py",
)


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", CLIENT_SURFACE)
def test_client_surface_module_imports_neither_ray_nor_rocksdict(module: str) -> None:
    assert not _imported(DRIVER / module) & {"ray", "rocksdict"}
