"""Size-limited data directories: a node's data directory on its own small tmpfs.

With one, `disk-full` with `fill: true` is a real full file system: a filler file
takes every free block, so the node's writes fail with ENOSPC from the kernel (any
program, Go's included, no shim involved); the heal removes the file.

The tmpfs is mounted on the host at the node's data directory (the docker backend
bind-mounts that directory into the container, so the data survives a container
being recreated by a restart), which needs root: `why_not_size_limited()` says
why it cannot be done here, for the validator.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

SIZE_MB = 64  # each node's data file system
FILLER = ".chaoskit-disk-full"
_CHUNK = 1 << 20


def why_not_size_limited() -> str | None:
    """None when size-limited data directories can be mounted here, else the reason."""
    if os.geteuid() != 0:
        return (
            "a size-limited data directory is a tmpfs mounted by the harness, which needs "
            "root (run chaoskit as root, or use disk-full without fill: the shim's ENOSPC)"
        )
    if shutil.which("mount") is None:
        return "the mount command is missing (apt-get install mount)"
    return None


def mount(path: Path, size_mb: int = SIZE_MB) -> None:
    """Mount a `size_mb` tmpfs at `path` (created) unless one is already there."""
    path.mkdir(parents=True, exist_ok=True)
    if os.path.ismount(path):
        return
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0777", "tmpfs", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )


def unmount(path: Path) -> None:
    """Unmount the tmpfs at `path` if one is there (lazily: a process may hold a file)."""
    if os.path.ismount(path):
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def clear(path: Path) -> None:
    """Empty a data directory, keeping the directory itself (it may be a mount point)."""
    for child in path.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                child.unlink()


def fill(path: Path) -> int:
    """Take every free block of the file system of `path` with a filler file; returns
    the bytes written. Writes until the kernel answers ENOSPC."""
    if not os.path.ismount(path):
        raise RuntimeError(f"{path} is not a size-limited data directory (no tmpfs mounted)")
    written = 0
    chunk = b"\0" * _CHUNK
    with open(path / FILLER, "ab", buffering=0) as f:
        size = _CHUNK
        while size:
            try:
                written += f.write(chunk[:size])
            except OSError as e:
                if e.errno != 28:  # ENOSPC: full, try smaller pieces down to 1 byte
                    raise
                size //= 2
    return written


def free(path: Path) -> None:
    """Remove the filler file: the file system has room again."""
    with contextlib.suppress(FileNotFoundError):
        (path / FILLER).unlink()
