"""Writing files: atomically, with the mode a plain ``open()`` would give, and JSON in one format.

Every file fedquant writes (the generated numeric module, an experiment's records and reports, figures) goes
through :func:`atomic_path`: the content is written to a temporary file in the destination's folder, then
renamed over the destination, so a reader never sees half a file and an interrupted write leaves the old
one. A new file gets ``0o666`` minus the umask, as ``open()`` would (``mkstemp``'s own mode is ``0o600``).
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np


@functools.cache
def file_mode() -> int:
    """The mode ``open()`` would give a new file: 0o666 minus the process umask."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` (same suffix, so writers that infer a format from it still do);
    renamed onto ``path`` when the block succeeds, removed when it fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix or ".tmp")
    os.fchmod(fd, file_mode())
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)


def dumps(obj: Any) -> str:
    """JSON as every record is written: one-space indent, key order kept, NaN refused, numpy values as Python."""
    return json.dumps(obj, indent=1, sort_keys=False, allow_nan=False, default=_plain) + "\n"


def _plain(o: Any) -> Any:
    if isinstance(o, np.integer | np.floating):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o).__name__)


def probe_writable(folder: Path) -> str | None:
    """None if a file can be created (and is removed at once) in ``folder``; else the OS's reason."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        return err.strerror or str(err)
    return None
