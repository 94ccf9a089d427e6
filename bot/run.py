"""`make run`: the whole product in one terminal, as deploy/Procfile lists it.

Before anything starts, PORT, the settings and the data files are checked (bot/preflight.py)
and the data directory is claimed: one `make run` owns a DUBAN_DATA_DIR at a time. Then the
Procfile's processes start, the embedded Redis first (only when DUBAN_REDIS_URL is unset), and
the banner is printed once the web server answers. A process that exits is started again after
a growing delay (Redis included: the others wait for it and reconnect); Ctrl-C stops
everything, and so does a process that keeps failing right after each start.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shlex
import signal
import socket
import string
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bot.config import ROOT, ConfigError, Settings
from bot.datadir import DataDirBusy, Ownership
from bot.embedded import EmbeddedRedis
from bot.preflight import data_file_problem

PROCFILE = ROOT / "deploy" / "Procfile"
REDIS = "redis"  # the Procfile's embedded Redis: started first, stopped last
BACKOFF_S = (1, 2, 4, 8, 15, 30)  # delay before the 1st, 2nd, ... restart in a row
STABLE_S = 30.0  # a process that ran this long starts counting its failures afresh
MAX_FAILURES = 5  # exits in a row, each soon after its start, before make run gives up
STOP_WAIT_S = 10.0


def port_taken(port: int) -> bool:
    """Whether something already listens on 127.0.0.1:`port`. The web workers bind with
    SO_REUSEPORT (deploy/gunicorn.conf.py), so without this check a second `make run` would
    share the port with the first instead of failing."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def read_procfile(path: Path, env: dict[str, str]) -> dict[str, list[str]]:
    """name -> argv of each `name: command` line; $VARS come from `env`, and `python` is this
    interpreter (the project's virtualenv)."""
    out: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, command = line.partition(":")
        argv = shlex.split(string.Template(command).substitute(env))
        if argv and argv[0] == "python":
            argv[0] = sys.executable
        out[name.strip()] = argv
    return out


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when `make run` itself dies (even by kill -9), so
    no process is left behind holding the port or the data directory (Linux prctl)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@dataclass
class Child:
    """One Procfile process under supervision."""

    name: str
    argv: list[str]
    proc: subprocess.Popen | None = None
    started: float = 0.0
    failures: int = 0  # exits in a row, each within STABLE_S of its start
    restart_at: float = 0.0

    def start(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            self.argv, cwd=ROOT, env=env, start_new_session=True, preexec_fn=_die_with_parent
        )
        self.started = time.monotonic()

    def exited(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, deadline: float) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # and whatever it forked
            except OSError:
                pass
            self.proc.wait()


def exit_text(code: int) -> str:
    return f"被信号 {-code} 终止" if code < 0 else f"退出码 {code}"


def serving(port: int) -> bool:
    """Whether the web server answers and reaches Redis (work left stuck by an earlier run makes
    /healthz say 503 for a minute; the service is up all the same)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
            return resp.status == 200
    except urllib.error.HTTPError as e:
        try:
            return json.loads(e.read()).get("redis") is True
        except ValueError:
            return False
    except OSError:
        return False


def banner(settings: Settings, port: str) -> str:
    base = f"http://127.0.0.1:{port}"
    lines = ["", "督办已启动："]
    if settings.demo:
        lines.append(f"  演示聊天  {base}/sandbox")
    password = "（演示模式密码 demo）" if settings.demo and not settings.admin_password else ""
    lines += [f"  管理后台  {base}/admin {password}".rstrip(), "按 Ctrl-C 停止。", ""]
    return "\n".join(lines)


def busy_text(data_dir: str, owner: dict) -> str:
    who = "，".join(
        part
        for part in (
            f"进程 {owner['pid']}" if owner.get("pid") else "",
            f"端口 {owner['port']}" if owner.get("port") else "",
        )
        if part
    )
    return (
        f"数据目录 {data_dir} 正由另一个督办使用{f'（{who}）' if who else ''}，"
        "同一份数据同一时间只能由一个督办使用。\n"
        "请先停止那一个（在它的终端按 Ctrl-C）；如需同时再运行一个，请给它另一个数据目录，例如：\n"
        "  DUBAN_DATA_DIR=var2 PORT=8001 make run"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bot.run", description="make run")
    ap.add_argument("--procfile", type=Path, default=PROCFILE, help="the processes to run")
    args = ap.parse_args(argv)
    env = dict(os.environ)
    port = env.setdefault("PORT", "8000")
    if not (port.isdigit() and 0 < int(port) < 65536):
        print(f"PORT 应为 1–65535 之间的端口号，现在是「{port}」。", file=sys.stderr)
        return 2
    try:
        settings = Settings.from_env(env)
    except ConfigError as e:
        print(f"督办没有启动：{e}", file=sys.stderr)
        return 2
    problem = data_file_problem(settings)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    try:
        owner = Ownership(settings.data_dir).claim(port=int(port))
    except DataDirBusy as e:
        print(busy_text(settings.data_dir, e.owner), file=sys.stderr)
        return 1
    try:
        if port_taken(int(port)):
            print(
                f"端口 {port} 已被占用（可能已有一个督办在运行）。请先停止它，或用 PORT=8001 make run 换一个端口。",
                file=sys.stderr,
            )
            return 1
        return Supervisor(settings, env, args.procfile).run()
    finally:
        owner.release()


STREAM = "stream"  # the Procfile line of the intranet-mode process


class Supervisor:
    """Starts the Procfile's processes, restarts those that exit, and stops them all."""

    def __init__(self, settings: Settings, env: dict[str, str], procfile: Path = PROCFILE):
        self.settings = settings
        self.port = int(env["PORT"])
        env.setdefault("DUBAN_LOG_LEVEL", "warning")  # quiet: the banner stays in view
        self.embedded = (
            EmbeddedRedis(settings.data_dir, unix=True) if settings.embedded_redis else None
        )
        if self.embedded:
            env["DUBAN_REDIS_URL"] = self.embedded.url
        self.env = env
        commands = read_procfile(procfile, env)
        if not self.embedded:
            commands.pop(REDIS, None)
        if not settings.intranet_platforms:
            commands.pop(STREAM, None)  # intranet mode only (bot/stream/)
        self.children = [Child(name, argv) for name, argv in commands.items()]
        self.stopping = False

    def run(self) -> int:
        def stop(*_):
            self.stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        gave_up = False
        try:
            for child in self.children:
                child.start(self.env)
                if child.name == REDIS:
                    self._wait_for_redis(child)
            announced = False
            while not self.stopping:
                gave_up = self._tend()
                if gave_up:
                    break
                if not announced and serving(self.port):
                    print(banner(self.settings, str(self.port)), flush=True)
                    announced = True
                time.sleep(0.2)
        finally:
            self._stop_all()
        return 1 if gave_up else 0

    def _wait_for_redis(self, child: Child, timeout: float = 10.0) -> None:
        """Before the others start: they would only log that Redis is not there yet."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and child.exited() is None:
            if self.embedded.is_running():
                return
            time.sleep(0.05)

    def _tend(self) -> bool:
        """Restart what exited, when its delay has passed; True when one keeps failing."""
        now = time.monotonic()
        for child in self.children:
            code = child.exited()
            if code is not None:
                child.failures = child.failures + 1 if now - child.started < STABLE_S else 1
                child.proc = None
                if child.failures >= MAX_FAILURES:
                    print(
                        f"{child.name} 连续 {child.failures} 次启动后很快退出（{exit_text(code)}），"
                        "已停止全部服务。请查看上面的输出找出原因。",
                        file=sys.stderr,
                        flush=True,
                    )
                    return True
                delay = BACKOFF_S[min(child.failures, len(BACKOFF_S)) - 1]
                child.restart_at = now + delay
                print(
                    f"{child.name} 意外退出（{exit_text(code)}），{delay} 秒后重新启动。",
                    file=sys.stderr,
                    flush=True,
                )
            elif child.proc is None and now >= child.restart_at:
                child.start(self.env)
        return False

    def _stop_all(self) -> None:
        """The others first, Redis last (it writes its AOF as it stops)."""
        first = [c for c in self.children if c.name != REDIS]
        last = [c for c in self.children if c.name == REDIS]
        for group in (first, last):
            for child in group:
                child.stop()
            deadline = time.monotonic() + STOP_WAIT_S
            for child in group:
                child.wait(deadline)


if __name__ == "__main__":
    sys.exit(main())
