"""Slow clients cannot take the web server down: the real server (deploy/gunicorn.conf.py) with
40 connections that announce a body and stall (20 send a Content-Length of 100 and then 5
bytes, 20 a chunked body whose chunk-size line never ends) still answers signed hook calls and
/healthz at once, and the stalled ones get 408 (the figures are printed: run with -s)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

import pytest

from tests.e2e.runner import ROOT, free_port, wait_until
from tests.http import callbacks as cb

pytestmark = pytest.mark.slow

SLOW = 40
WATCH_S = 10.0  # how long the slow clients keep hanging on (each ended is replaced)


@pytest.fixture
def server(redis_url, redis_client, tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    env |= {
        "DUBAN_REDIS_URL": redis_url,
        "DUBAN_KEY_PREFIX": "slow",
        "DUBAN_DATA_DIR": str(tmp_path),
        "DUBAN_DINGTALK_APP_KEY": "ding-app-key",
        "DUBAN_DINGTALK_APP_SECRET": cb.DING_SECRET,
        "DUBAN_DINGTALK_ROBOT_CODE": "ding-robot",
        "DUBAN_DINGTALK_REPLY": "inline",  # the answer is in the response: the command ran
        "DUBAN_LOG_LEVEL": "error",
    }
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "app:create_app()",
            "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
            "--bind", f"127.0.0.1:{port}", "--no-control-socket",
        ],
        cwd=ROOT, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "server.log", "wb"),  # noqa: SIM115
    )  # fmt: skip
    try:
        wait_until(lambda: _get(port, "/healthz", 2)[0] == 200, 30, "the server")
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)


def _get(port: int, path: str, timeout: float) -> tuple[int, bytes]:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    except OSError:
        return 0, b""


def _hook(port: int, n: int, timeout: float) -> tuple[int, bytes]:
    body = json.dumps(cb.ding_payload("帮助", f"slow-{n}"), ensure_ascii=False).encode()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.request("POST", "/hooks/dingtalk", body=body, headers=cb.ding_headers())
        resp = conn.getresponse()
        return resp.status, resp.read()
    except OSError:
        return 0, b""


def _slow_client(port: int, chunked: bool) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = f"POST /hooks/dingtalk HTTP/1.1\r\nHost: x\r\ntimestamp: {cb.now_ms()}\r\nsign: x\r\n"
    if chunked:
        s.sendall((head + "Transfer-Encoding: chunked\r\n\r\n").encode() + b"f" * 64)
    else:
        s.sendall((head + "Content-Length: 100\r\n\r\n").encode() + b'{"a":')
    return s


def _attacker(port: int, chunked: bool, until: float, out: list) -> None:
    """Keeps one stalled connection open until `until`: when the server ends it, another one
    takes its place. Records what the server did with each (its status line) and when."""
    while time.monotonic() < until:
        s = _slow_client(port, chunked)
        start = time.monotonic()
        try:
            first = s.recv(64).split(b"\r\n")[0].decode(errors="replace")
        except OSError:
            first = ""
        finally:
            s.close()
        out.append((first or "closed", time.monotonic() - start))


def test_hooks_and_health_answer_with_40_stalled_clients_connected(server):
    port = server
    outcomes: list = []
    until = time.monotonic() + WATCH_S
    attackers = [
        threading.Thread(target=_attacker, args=(port, i % 2 == 1, until, outcomes))
        for i in range(SLOW)
    ]
    for t in attackers:
        t.start()
    time.sleep(0.3)  # they all hang on inside the server now
    hooks, health = [], []
    n = 0
    while time.monotonic() < until - 0.5:
        n += 1
        t0 = time.monotonic()
        status, body = _hook(port, n, timeout=5)
        hooks.append((status, time.monotonic() - t0, body))
        t0 = time.monotonic()
        status, _ = _get(port, "/healthz", timeout=5)
        health.append((status, time.monotonic() - t0))
        time.sleep(0.2)
    for t in attackers:
        t.join(30)
    hook_s = [d for _, d, _ in hooks]
    print(
        f"\n{SLOW} stalled clients at all times for {WATCH_S:.0f} s: "
        f"{sum(1 for s, _, _ in hooks if s == 200)}/{len(hooks)} signed hook calls answered "
        f"(median {statistics.median(hook_s) * 1000:.0f} ms, max {max(hook_s) * 1000:.0f} ms), "
        f"{sum(1 for s, _ in health if s == 200)}/{len(health)} /healthz; "
        f"{len(outcomes)} stalled requests ended with {sorted({o for o, _ in outcomes})} after "
        f"{min(d for _, d in outcomes):.1f}–{max(d for _, d in outcomes):.1f} s"
    )
    assert all(s == 200 and "命令" in b.decode() for s, _, b in hooks), hooks
    assert max(hook_s) < 1.5, hook_s  # platforms give up after 3-5 s
    assert all(s == 200 for s, _ in health) and max(d for _, d in health) < 1.5, health
    # the stalled ones were ended by the server, not left hanging
    assert len(outcomes) >= SLOW
    assert all(o.startswith("HTTP/1.1 408") for o, _ in outcomes), outcomes
