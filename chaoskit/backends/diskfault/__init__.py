"""The disk-fault shim: an LD_PRELOAD library (shim.c) that makes a node's writes
and fsyncs on its data directory fail (EIO, ENOSPC) or slow down, switched live
through a per-node control file. Compiled with gcc at first use into a cache
directory (keyed by the source's hash), so nothing is built unless a disk fault
is asked for.

Only programs that write through the C library are reached (Python, PostgreSQL,
Redis); Go programs such as etcd make their system calls directly.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

SOURCE = Path(__file__).with_name("shim.c")
ENV_CONTROL = "CHAOSKIT_DISK_CONTROL"
ENV_PREFIX = "CHAOSKIT_DISK_PREFIX"
ERRNOS = {"EIO": errno.EIO, "ENOSPC": errno.ENOSPC, "EROFS": errno.EROFS, "EDQUOT": errno.EDQUOT}


class ShimError(RuntimeError):
    """The shim cannot be built here (the message says what to install)."""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "chaoskit"


def shim_path() -> Path:
    """The compiled shim, built once per source version."""
    src = SOURCE.read_bytes()
    out = cache_dir() / f"diskfault-{hashlib.sha256(src).hexdigest()[:12]}.so"
    if out.exists():
        return out
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise ShimError("disk faults need a C compiler to build their shim: apt-get install gcc")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as d:
        tmp = Path(d) / out.name
        p = subprocess.run(
            [gcc, "-shared", "-fPIC", "-O2", "-o", str(tmp), str(SOURCE), "-ldl", "-lpthread"],
            capture_output=True,
            text=True,
        )
        if p.returncode != 0:
            raise ShimError(f"building the disk-fault shim failed: {p.stderr.strip()[-500:]}")
        os.replace(tmp, out)  # atomic: a parallel build of the same source wins or loses whole
    return out


def control_text(
    fsync_errno: int = 0,
    write_errno: int = 0,
    fsync_delay_ms: float = 0.0,
    probability: float = 1.0,
) -> str:
    return (
        f"fsync_errno={int(fsync_errno)}\nwrite_errno={int(write_errno)}\n"
        f"fsync_delay_us={int(fsync_delay_ms * 1000)}\nprobability={probability:.6f}\n"
    )


def diskfault_env(
    ld_preload: str, control: Path | str, data_dir: Path | str, shim: str | None = None
) -> dict[str, str]:
    """The environment that loads the shim in a node (after any LD_PRELOAD it has)."""
    lib = shim or str(shim_path())
    return {
        "LD_PRELOAD": ":".join(x for x in (ld_preload, lib) if x),
        ENV_CONTROL: str(control),
        ENV_PREFIX: os.path.abspath(data_dir),  # the shim matches /proc/self/fd paths
    }
