"""The pure layers never import ray or rocksdict, and only storage/rocks.py imports rocksdict.

Walks every module's import statements (the AST, so a lazy import inside a function counts too).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "raydynamo"
PURE_LAYERS = (
    "consensus",
    "partition",
    "metadata",
    "admission",
    "api",
    "operations",
    "node",
    "sim",
)


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def modules_under(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", PURE_LAYERS)
def test_pure_layer_imports_neither_ray_nor_rocksdict(layer: str) -> None:
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in modules_under(layer)
        if imported_modules(path) & {"ray", "rocksdict"}
    ]
    assert offenders == []


def test_only_the_rocks_engine_imports_rocksdict() -> None:
    importers = [
        str(path.relative_to(PACKAGE))
        for path in sorted(PACKAGE.rglob("*.py"))
        if "rocksdict" in imported_modules(path)
    ]
    assert importers == ["storage/rocks.py"]


def test_the_walker_sees_imports_inside_functions(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    import ray.util\n    from rocksdict import Rdict\n")
    assert imported_modules(sample) == {"ray", "rocksdict"}


def test_every_pure_layer_exists_or_is_empty() -> None:
    # A layer that does not exist yet cannot be impure; one that exists must have modules scanned.
    scanned = sum(len(modules_under(layer)) for layer in PURE_LAYERS)
    assert scanned > 20


BLOCKING_RAY_CALLS = {"get_actor", "get", "wait", "kill"}


def blocking_ray_calls_in_coroutines(path: Path) -> list[str]:
    """``ray.get_actor(...)``, ``ray.get(...)``, ``ray.wait(...)`` or ``ray.kill(...)`` called
    directly in the body of an ``async def`` (nested plain functions excluded: they may be what
    is handed to ``asyncio.to_thread``)."""
    found = []

    def walk(node: ast.AST, in_coroutine: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.AsyncFunctionDef):
                walk(child, True)
            elif isinstance(child, (ast.FunctionDef, ast.Lambda, ast.ClassDef)):
                walk(child, False)
            else:
                if (
                    in_coroutine
                    and isinstance(child, ast.Call)
                    and isinstance(child.func, ast.Attribute)
                    and isinstance(child.func.value, ast.Name)
                    and child.func.value.id == "ray"
                    and child.func.attr in BLOCKING_RAY_CALLS
                ):
                    found.append(f"{path.name}:{child.lineno} ray.{child.func.attr}")
                walk(child, in_coroutine)

    walk(ast.parse(path.read_text(), filename=str(path)), False)
    return found


def test_no_coroutine_blocks_its_event_loop_on_ray() -> None:
    """Finding 7 of the storage node issue: blocking ``ray.get_actor`` calls ran inside async
    code, stalling every request of the loop. Handles are looked up with ``asyncio.to_thread``
    and results awaited."""
    offenders = [
        hit
        for path in sorted(PACKAGE.rglob("*.py"))
        for hit in blocking_ray_calls_in_coroutines(path)
    ]
    assert offenders == []


def test_the_blocking_call_check_sees_one(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import ray, asyncio\n"
        "async def f():\n"
        "    await asyncio.to_thread(ray.get_actor, 'fine')\n"
        "    def inner():\n"
        "        return ray.get_actor('fine too')\n"
        "    return ray.get_actor('x')\n"
    )
    assert blocking_ray_calls_in_coroutines(probe) == ["probe.py:6 ray.get_actor"]
