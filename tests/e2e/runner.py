"""`make run` driven as a person drives it: `python -m bot.run` in a process group of its own,
its output kept in files (a full pipe would stall it), its processes found through /proc."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening_sockets(port: int) -> int:
    """How many sockets listen on 127.0.0.1:`port` (/proc/net/tcp: state 0A is LISTEN)."""
    want = f"0100007F:{port:04X}"
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for row in rows if row.split()[1] == want and row.split()[3] == "0A")


def children_of(pid: int) -> list[int]:
    """Direct children of a process, from /proc (Linux)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def get(port: int, path: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_until(predicate, timeout: float, what: str, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


class MakeRun:
    """One `python -m bot.run` with PORT, demo mode and its own data directory."""

    def __init__(
        self, data_dir: str, port: int | str, logs: Path, args: tuple[str, ...] = (), **env: str
    ):
        base = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
        base |= {"PORT": str(port), "DUBAN_DEMO": "1", "DUBAN_DATA_DIR": data_dir}
        self.port = port
        self.data_dir = Path(data_dir)
        logs.mkdir(parents=True, exist_ok=True)
        n = len(list(logs.glob("out*")))
        self.out_path, self.err_path = logs / f"out{n}.txt", logs / f"err{n}.txt"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot.run", *args],
                cwd=ROOT,
                env=base | env,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )

    @property
    def out(self) -> str:
        return self.out_path.read_text(errors="replace")

    @property
    def err(self) -> str:
        return self.err_path.read_text(errors="replace")

    def wait(self, timeout: float = 30) -> int:
        return self.proc.wait(timeout)

    def wait_healthy(self, timeout: float = 60.0) -> dict:
        def check():
            assert self.proc.poll() is None, (self.proc.returncode, self.out, self.err)
            try:
                status, body = get(int(self.port), "/healthz", timeout=2)
            except OSError:
                return None
            return json.loads(body) if status == 200 else None

        return wait_until(check, timeout, "the web server to be healthy", 0.2)

    def children(self) -> dict[str, int]:
        """The Procfile's processes now running: name -> pid."""
        names = {
            "bot.embedded": "redis",
            "redis-server": "redis",
            "gunicorn": "web",
            "bot.worker --queue answers": "answers",
            "bot.worker --queue links": "links",
            "bot.worker": "worker",
            "bot.scheduler": "scheduler",
        }
        out = {}
        for pid in children_of(self.proc.pid):
            line = cmdline(pid)
            name = next((n for key, n in names.items() if key in line), line)
            out[name] = pid
        return out

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(40)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise
