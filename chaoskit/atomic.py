"""Atomic file writes, for every package: a temp file in the target's directory, then
os.replace, so a reader (the report, libfaketime, a test waiting for a port file)
never sees half a file, and nothing is left behind on an error or Ctrl-C.

Files get the usual permissions (0666 minus the umask), not mkstemp's 0600: results,
port files and starter experiments are for everyone the umask allows to read them.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_open(path: str | Path, mode: str = "w", *, durable: bool = True) -> Iterator[IO[Any]]:
    """Open a temp file next to `path` for writing ("w" or "wb"); on a clean exit of
    the block it replaces `path`, on an exception it is removed. `durable` fsyncs
    before the rename (results that must survive a crash); port, pid and clock files,
    rewritten often and worthless after a reboot, pass durable=False."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open mode must be 'w' or 'wb', not {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes, *, durable: bool = True) -> None:
    with atomic_open(path, "wb", durable=durable) as f:
        f.write(data)


def atomic_write_text(path: str | Path, text: str, *, durable: bool = True) -> None:
    with atomic_open(path, "w", durable=durable) as f:
        f.write(text)


def _umask() -> int:
    # /proc tells the umask without setting it: os.umask(0) + restore would briefly
    # give other threads (the load's writers, the engine) a 0 umask.
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    umask = os.umask(0)
    os.umask(umask)
    return umask
