"""`make run`: the whole product in one terminal (embedded Redis, web, worker, scheduler).

With DUBAN_REDIS_URL unset it starts the venv's redis-server under DUBAN_DATA_DIR (AOF on) and
points every child process at it. Ctrl-C stops everything cleanly.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from bot.config import Settings
from bot.embedded import EmbeddedRedis
from bot.queue import ANSWERS_QUEUE

GUNICORN_CONF = Path(__file__).resolve().parent.parent / "deploy" / "gunicorn.conf.py"


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


def main() -> int:
    settings = Settings.from_env()
    env = dict(os.environ)
    port = env.get("PORT", "8000")
    if not (port.isdigit() and 0 < int(port) < 65536):
        print(f"PORT 应为 1–65535 之间的端口号，现在是「{port}」。", file=sys.stderr)
        return 2
    if port_taken(int(port)):
        print(
            f"端口 {port} 已被占用（可能已有一个督办在运行）。请先停止它，或用 PORT=8001 make run 换一个端口。",
            file=sys.stderr,
        )
        return 1
    server = None
    if not settings.redis_url:
        server = EmbeddedRedis(settings.data_dir, unix=True)
        if not server.is_running():
            server.start()
        else:
            server = None  # someone else's; leave it running
        env["DUBAN_REDIS_URL"] = EmbeddedRedis(settings.data_dir, unix=True).url
    py = sys.executable
    children = {
        "web": [
            py, "-m", "gunicorn", "app:create_app()", "-c", str(GUNICORN_CONF),
            "--bind", f"127.0.0.1:{port}", "--access-logfile", "-",
        ],
        "worker": [py, "-m", "bot.worker"],
        "answers": [py, "-m", "bot.worker", "--queue", ANSWERS_QUEUE],  # see bot/inbox.py
        "scheduler": [py, "-m", "bot.scheduler"],
    }  # fmt: skip
    if settings.intranet_platforms:
        children["stream"] = [py, "-m", "bot.stream"]  # intranet mode: see bot/stream/
    procs: dict[str, subprocess.Popen] = {}
    stopping = crashed = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        for name, cmd in children.items():
            procs[name] = subprocess.Popen(cmd, env=env, start_new_session=True)
        print(
            f"\n督办已启动：http://127.0.0.1:{port}/sandbox （演示聊天）  "
            f"http://127.0.0.1:{port}/admin （管理后台）\n按 Ctrl-C 停止。\n",
            flush=True,
        )
        while not stopping:
            for name, p in procs.items():
                if p.poll() is not None:
                    print(
                        f"{name} 意外退出（退出码 {p.returncode}），正在停止全部服务。",
                        file=sys.stderr,
                    )
                    stopping = crashed = True
            time.sleep(0.3)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for p in procs.values():
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
        if server:
            server.stop()
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
