"""Run the link server as a child process and wait until it listens.

    with LinkServerProcess(log_path=tmp / "links.log") as srv:   # python = sys.executable
        srv.url, srv.port, srv.pid
    # or srv = LinkServerProcess(...).start(); ...; srv.stop()

`python` may be another interpreter (the tests run Debian's /usr/bin/python3 with
python3-aiohttp 3.8 to prove the server runs in the bookworm link container).
stop() sends SIGTERM, waits, then SIGKILLs; the port file lives in a private temp
dir that is always removed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The directory that holds the `chaoskit` package (for PYTHONPATH of another interpreter).
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class LinkServerProcess:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        python: str | None = None,
        log_path: str | Path | None = None,
        log_level: str = "INFO",
    ) -> None:
        self.host = host
        self.port = port
        self.python = python or sys.executable
        self.log_path = Path(log_path) if log_path else None
        self.log_level = log_level
        self.proc: subprocess.Popen[bytes] | None = None
        self._tmp: str | None = None

    @property
    def url(self) -> str:
        host = self.host if self.host not in ("", "0.0.0.0") else "127.0.0.1"
        return f"http://{host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self, timeout_s: float = 20.0) -> LinkServerProcess:
        self._tmp = tempfile.mkdtemp(prefix="chaoskit-links-")
        port_file = Path(self._tmp) / "port"
        env = dict(os.environ)
        env["PYTHONPATH"] = PACKAGE_ROOT + (
            os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
        )
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(
                [
                    self.python,
                    "-m",
                    "chaoskit.links",
                    "--host",
                    self.host,
                    "--port",
                    str(self.port),
                    "--port-file",
                    str(port_file),
                    "--log-level",
                    self.log_level,
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                cwd=self._tmp,
            )
        finally:
            if log is not subprocess.DEVNULL:
                log.close()
        end = time.monotonic() + timeout_s
        try:
            while not port_file.exists():
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"link server exited with {self.proc.returncode} before listening"
                        + (f"; see {self.log_path}" if self.log_path else "")
                    )
                if time.monotonic() > end:
                    raise TimeoutError(f"link server did not listen within {timeout_s} s")
                time.sleep(0.02)
            self.port = int(port_file.read_text().strip())
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, grace_s: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL after grace_s. Returns the exit code."""
        code = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(grace_s)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(grace_s)
            code = self.proc.returncode
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        return code

    def __enter__(self) -> LinkServerProcess:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
