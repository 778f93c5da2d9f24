"""Data directories: the configured ``storage.data_dir`` as a path, and private directories in it.

Role: a configuration is loaded by one process (a driver, ``raydynamo up``) and used by storage
nodes in others, maybe on other machines under other users, so ``~`` in ``data_dir`` is
expanded here, by the process that uses the path (``expand_data_dir``). ``make_private_dir``
creates a storage node's directory for its user alone: mode 0700, and so is every parent it
has to create (the XDG convention for ``~/.local/share``); a node's own directory that already
exists with wider permissions is narrowed to 0700. Parents that already exist are left as they
are: the configured ``data_dir`` may sit on a shared mount the node does not own.

Invariants: after ``make_private_dir(path)`` returns, ``path`` is a directory with mode exactly
0700, whatever the umask. Several storage nodes may create the same parents at once.

Must not import ray or rocksdict.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_DIR_MODE = 0o700


def expand_data_dir(path: str) -> str:
    """``path`` with ``~`` expanded for this process's user, made absolute."""
    return os.path.abspath(os.path.expanduser(path))


def make_private_dir(path: str) -> str:
    """Create ``path`` (``~`` expanded) and its missing parents with mode 0700; narrow ``path``
    to 0700 if it existed with more. Returns the expanded path."""
    target = Path(expand_data_dir(path))
    missing: list[Path] = []
    probe = target
    while not os.path.lexists(probe):
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:  # a sibling storage node created it meanwhile
            continue
        os.chmod(directory, PRIVATE_DIR_MODE)  # the umask may have taken bits from the owner
    if not target.is_dir():
        raise NotADirectoryError(f"data directory {target} exists and is not a directory")
    if stat.S_IMODE(target.stat().st_mode) != PRIVATE_DIR_MODE:
        os.chmod(target, PRIVATE_DIR_MODE)
    return str(target)
