"""The stream process as it runs: `make run` (python -m bot.run) starts `python -m bot.stream`
when a platform is in intranet mode and stops it with the rest on Ctrl-C; a message sent by the
fake DingTalk gateway is acknowledged by it and answered by make run's answers worker through
the sessionWebhook on the stub platform server; likewise an event from the fake Feishu gateway,
answered through Feishu's reply API. `python -m bot.stream` alone (as the systemd
template runs it) stops cleanly on SIGTERM and refuses a platform that is not in intranet mode."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import pytest

from bot.platforms.feishu.bodies import text_of
from tests.e2e.streams import dingtalk_stream_env, feishu_ws_env
from tests.http.callbacks import FEISHU_APP_ID, FEISHU_APP_SECRET, ding_payload, feishu_message
from tests.stubs.platform_server import DINGTALK_SESSION, FEISHU_REPLY
from tests.stubs.stream_gateways import FeishuGateway, wait_until

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_dir():
    path = tempfile.mkdtemp(prefix="duban-st-")  # short: a unix socket path has 107 bytes
    yield path
    shutil.rmtree(path, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(proc: subprocess.Popen, port: int) -> bool:
    assert proc.poll() is None, proc.communicate()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def stream_env(gateway, stub, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    return env | dingtalk_stream_env(gateway, stub) | more


def make_run(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bot.run"], cwd=ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip


def children(pid: int) -> list[str]:
    kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [Path(f"/proc/{k}/cmdline").read_bytes().replace(b"\0", b" ").decode() for k in kids]


def test_make_run_starts_the_stream_process_and_stops_it_with_the_rest(data_dir, gateway, stub):
    port = free_port()
    proc = make_run(
        stream_env(gateway, stub, PORT=str(port), DUBAN_DEMO="1", DUBAN_DATA_DIR=data_dir)
    )
    try:
        wait_until(lambda: healthy(proc, port), 60, "make run")
        assert any("-m bot.stream" in c for c in children(proc.pid))
        wait_until(lambda: gateway.connections == 1, 60, "the stream process's connection")
        frame_id = gateway.callback(ding_payload("帮助", "run-1", oapi_base=stub.url))
        wait_until(lambda: gateway.acks_for(frame_id), 30, "the ACK")
        [reply] = wait_until(
            lambda: stub.requests_to(DINGTALK_SESSION, key="sess-run-1"), 60, "the reply"
        )
        assert "我的任务" in json.dumps(reply.json, ensure_ascii=False)  # the command list
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    wait_until(lambda: gateway.ws is None or gateway.ws.state.name == "CLOSED", 10, "closed")


def test_make_run_starts_no_stream_process_without_an_intranet_mode(data_dir):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    proc = make_run(env | {"PORT": str(port), "DUBAN_DEMO": "1", "DUBAN_DATA_DIR": data_dir})
    try:
        wait_until(lambda: healthy(proc, port), 60, "make run")
        kids = children(proc.pid)
        assert any("bot.scheduler" in c for c in kids)
        assert not any("bot.stream" in c for c in kids)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_the_stream_process_alone_stops_cleanly_on_sigterm(redis_url, gateway, stub):
    env = stream_env(gateway, stub, DUBAN_REDIS_URL=redis_url, DUBAN_KEY_PREFIX="proc")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.stream", "dingtalk"], cwd=ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_until(lambda: gateway.connections == 1 or proc.poll() is not None, 60, "connect")
        frame_id = gateway.ping()
        wait_until(lambda: gateway.acks_for(frame_id), 10, "the ping's answer")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "connected to the Stream gateway" in err


def test_the_stream_process_refuses_a_platform_not_in_intranet_mode(redis_url, gateway, stub):
    env = stream_env(gateway, stub, DUBAN_REDIS_URL=redis_url)
    proc = subprocess.run(
        [sys.executable, "-m", "bot.stream", "wecom"], cwd=ROOT, env=env, text=True,
        capture_output=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "DUBAN_WECOM_MODE=longconn 未设置" in proc.stderr and gateway.connections == 0


@pytest.fixture
def feishu_gateway():
    with FeishuGateway(FEISHU_APP_ID, FEISHU_APP_SECRET) as gw:
        yield gw


def test_make_run_answers_a_feishu_event_from_the_websocket(data_dir, feishu_gateway, stub):
    """DUBAN_FEISHU_MODE=ws: the stream process takes the event into the inbox and make run's
    answers worker replies through Feishu's reply API, with the app's tenant token."""
    stub.require_feishu_app(FEISHU_APP_ID, FEISHU_APP_SECRET)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    env |= feishu_ws_env(feishu_gateway, stub)
    proc = make_run(env | {"PORT": str(port), "DUBAN_DEMO": "1", "DUBAN_DATA_DIR": data_dir})
    try:
        wait_until(lambda: healthy(proc, port), 60, "make run")
        assert any("-m bot.stream" in c for c in children(proc.pid))
        wait_until(lambda: feishu_gateway.connections == 1, 60, "the event WebSocket")
        frame = feishu_gateway.event(feishu_message("帮助", "om_run_1"))
        assert wait_until(lambda: feishu_gateway.answers_for(frame), 30, "the answer") == [
            {"code": 200}
        ]
        [reply] = wait_until(lambda: stub.requests_to(FEISHU_REPLY, key="om_run_1"), 60, "reply")
        assert "我的任务" in text_of(reply.json)  # the command list
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
