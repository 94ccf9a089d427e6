"""What the end-to-end benchmarks share: the processes `make run` starts, the stub platform
server in a process of its own, and CPU accounting over process trees from /proc.

Used by bench/e2e.py and bench/pushes.py. Nothing here is imported by the product.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from tests.stubs.platform_server import (
    DINGTALK_ROBOT,
    ERRMSG,
    WECOM_WEBHOOK,
    PlatformStub,
    Recorded,
    _Rule,
)

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")

# --- CPU of process trees -----------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _children(pid: int) -> list[int]:
    """Live children of `pid` (every thread's children file, as /proc lists them per task)."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            out += [int(x) for x in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
        except OSError:
            continue
    return out


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of `pid`, of the children it has reaped (cutime + cstime: an
    RQ work horse lands there when the worker waits for it) and of its live descendants. A child
    reaped between two readings moves from the last term to the second: the sum stays right."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    own = sum(int(fields[i]) for i in (11, 12, 13, 14)) / CLK_TCK
    return own + sum(tree_cpu(c) for c in _children(pid))


class CpuMeter:
    """CPU seconds spent by named groups of process trees between start() and stop()."""

    def __init__(self, groups: dict[str, list[int]]):
        self.groups = groups
        self.before: dict[str, float] = {}

    def read(self) -> dict[str, float]:
        return {name: sum(tree_cpu(p) for p in pids) for name, pids in self.groups.items()}

    def start(self) -> None:
        self.before = self.read()

    def stop(self) -> dict[str, float]:
        after = self.read()
        return {name: after[name] - self.before.get(name, 0.0) for name in after}


# --- the stub platform server in its own process -----------------------------------------------


class BudgetStub(PlatformStub):
    """The test stub, keeping each robot to the platform's budget (robot_per_minute in a sliding
    window) on the custom-robot endpoints: over it, DingTalk answers 130101 and WeCom 45009
    (https://open.dingtalk.com/document/orgapp/custom-robots-send-group-messages "消息发送频率限制",
    https://developer.work.weixin.qq.com/document/path/91770 "消息发送频率限制"). The
    sessionWebhook has no documented limit and is not throttled. `latency_s`: each robot post
    is answered that much later, as across a network to the platform (0: at once)."""

    def __init__(self, per_minute: int = 20, window_s: float = 60.0, latency_s: float = 0.0):
        super().__init__()
        self.per_minute, self.window_s, self.latency_s = per_minute, window_s, latency_s
        self._sent: dict[str, deque[float]] = {}
        self.throttled = 0

    def _answer(self, rec: Recorded, rule: _Rule | None) -> tuple[int, dict[str, Any]]:
        if self.latency_s and rec.path in (DINGTALK_ROBOT, WECOM_WEBHOOK):
            time.sleep(self.latency_s)
        if rule is None and rec.path in (DINGTALK_ROBOT, WECOM_WEBHOOK):
            with self._lock:
                times = self._sent.setdefault(rec.key, deque())
                while times and times[0] <= rec.at - self.window_s:
                    times.popleft()
                over = len(times) >= self.per_minute
                if over:
                    self.throttled += 1
                else:
                    times.append(rec.at)
            if over:
                code = 130101 if rec.path == DINGTALK_ROBOT else 45009
                return 200, {"errcode": code, "errmsg": ERRMSG[code]}
        return super()._answer(rec, rule)


def _digest(body: bytes) -> str:
    return hashlib.sha1(body).hexdigest()[:16]


def _serve_stub(conn, per_minute: int, latency_s: float = 0.0, lean: bool = False) -> None:
    """The stub process: serves HTTP in a thread and answers the parent's commands on `conn`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stub = BudgetStub(per_minute, latency_s=latency_s).start(lean=lean)
    conn.send(stub.url)
    taken = 0
    while True:
        cmd, arg = conn.recv()
        if cmd == "take":  # what arrived since the last take: (path, key, at, body digest)
            reqs = stub.requests
            conn.send([(r.path, r.key, r.at, _digest(r.body)) for r in reqs[taken:]])
            taken = len(reqs)
        elif cmd == "count":  # how many requests to `arg` (a path) arrived so far
            conn.send(sum(1 for r in stub.requests if r.path == arg))
        elif cmd == "sign":  # check 加签 for these (access_token, secret) pairs
            for token, secret in arg:
                stub.require_dingtalk_sign(token, secret)
            conn.send(True)
        elif cmd == "throttled":
            conn.send(stub.throttled)
        elif cmd == "stop":
            stub.stop()
            conn.send(True)
            return


class StubProcess:
    """The stub platform server (tests/stubs/platform_server.py) in a process of its own, so its
    CPU is not counted as ours; it timestamps every request on receipt (Recorded.at). `lean`:
    with the stub's lean HTTP front end, a fraction of http.server's CPU per request (the stub
    shares the machine's cores with what is measured; a real platform does not)."""

    def __init__(self, per_minute: int = 20, latency_s: float = 0.0, lean: bool = False):
        ctx = mp.get_context("fork")
        self._conn, child = ctx.Pipe()
        self._lock = threading.Lock()
        args = (child, per_minute, latency_s, lean)
        self.proc = ctx.Process(target=_serve_stub, args=args, daemon=True)
        self.proc.start()
        self.url: str = self._conn.recv()

    def _ask(self, cmd: str, arg: Any = None) -> Any:
        with self._lock:
            self._conn.send((cmd, arg))
            return self._conn.recv()

    def take(self) -> list[tuple[str, str, float, str]]:
        return self._ask("take")

    def count(self, path: str) -> int:
        return self._ask("count", path)

    def require_sign(self, pairs: list[tuple[str, str]]) -> None:
        self._ask("sign", pairs)

    def throttled(self) -> int:
        return self._ask("throttled")

    def stop(self) -> None:
        try:
            self._ask("stop")
        except (OSError, EOFError):
            pass
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()


# --- the product's processes, as `make run` starts them ---------------------------------------


GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"


def web_cmd(target: str, port: int) -> list[str]:
    """gunicorn as bot/run.py starts it (deploy/gunicorn.conf.py, access log on stdout)."""
    return [
        sys.executable, "-m", "gunicorn", target, "-c", str(GUNICORN_CONF),
        "--bind", f"127.0.0.1:{port}", "--access-logfile", "-", "--no-control-socket",
    ]  # fmt: skip


def worker_cmd(*queues: str) -> list[str]:
    """`python -m bot.worker [--queue q ...]` as bot/run.py starts it."""
    return [sys.executable, "-m", "bot.worker", *(a for q in queues for a in ("--queue", q))]


class Processes:
    """Child processes in sessions of their own, output to log files; stopped together."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 (closed with the child)
        p = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.procs[name] = p
        return p

    def pid(self, name: str) -> int:
        return self.procs[name].pid

    def check(self) -> None:
        for name, p in self.procs.items():
            if p.poll() is not None:
                tail = (self.log_dir / f"{name}.log").read_text(errors="replace")[-1500:]
                raise RuntimeError(f"{name} exited with {p.returncode}:\n{tail}")

    def stop(self, name: str | None = None) -> None:
        names = [name] if name else list(self.procs)
        for n in names:
            p = self.procs[n]
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for n in names:
            p = self.procs.pop(n)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)


def bench_env(redis_url: str, stub_url: str, **more: str) -> dict[str, str]:
    """The environment of every child: this one without DUBAN_*, then the bench's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    env.update(
        {
            "DUBAN_REDIS_URL": redis_url,
            "DUBAN_KEY_PREFIX": "bench",
            "DUBAN_SECRET_KEY": "bench",
            "DUBAN_WECOM_API_BASE": stub_url,
            "DUBAN_DINGTALK_API_BASE": stub_url,
            "DUBAN_DINGTALK_OAPI_BASE": stub_url,
        }
    )
    env.update(more)
    return env


def wait_idle_queues(client, names: list[str], timeout: float = 60.0) -> bool:
    """Until the RQ queues are empty and no job is running on them (True), or the timeout."""
    from rq import Queue

    queues = [Queue(n, connection=client) for n in names]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(q.count == 0 and q.started_job_registry.count == 0 for q in queues):
            return True
        time.sleep(0.1)
    return False


RESULTS = ROOT / "bench" / "results"  # git-ignored


def save_results(name: str, data: dict) -> Path:
    """Write a run's raw results to bench/results/<name>-<time>.json and say where."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(data, indent=1, ensure_ascii=False))
    print(f"raw results: {out.relative_to(ROOT)}")
    return out


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]
