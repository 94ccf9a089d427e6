"""Frames per second through the stream process, against a bare WebSocket echo, in the same run.

    python -m bench.stream [--frames 3000] [--wecom-frames 600] [--rounds 3] [--window 32]
                           [--platforms dingtalk,wecom,feishu]

Starts its own redis-server (the venv's) and the fake gateways of the tests
(tests/stubs/stream_gateways.py) on 127.0.0.1, then for each platform runs, in turn A B A B ...:

A  `python -m bot.stream <platform>`, the real process with the settings of intranet mode.
   DingTalk: each frame is a robot message with a fresh msgId; it is parsed, accepted into the
   inbox (one Redis script) and acknowledged; no answers worker runs, so this is the stream
   process's own cost. WeCom: each frame is a smart bot message with a fresh msgid, alternating
   帮助 and 我的任务; it is run through the dispatcher (claim, preload, reply stored), its reply
   claimed, sent as aibot_respond_msg and marked sent once the gateway answers. Feishu: each
   frame is an im.message.receive_v1 event (protobuf data frame, as Feishu's event WebSocket
   sends it) with a fresh message id; it is decoded, accepted into the inbox and answered with
   its {"code": 200} frame, as DingTalk's (no answers worker runs).
B  a bare client in a process of its own (`--echo <platform>`), same library (websockets) and
   same handshake (connections/open, aibot_subscribe, the Feishu endpoint request), that answers
   every frame at once with a fixed acknowledgement or reply: what the protocol costs without
   Duban (for Feishu, with lark-oapi's own protobuf Frame class).

The gateway keeps --window frames outstanding (a new one goes out as each is answered) and
times --frames of them after a warm-up of a tenth as many. Reported per platform: frames per
second (median over the rounds) and CPU milliseconds per frame of the client process (from
/proc), for A and B, and the ratio A/B. Raw results go to bench/results/stream-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
import requests
from websockets.asyncio.client import connect

from bench.procs import save_results, tree_cpu
from bot.embedded import EmbeddedRedis
from tests.http.callbacks import ding_payload, feishu_message
from tests.stubs.stream_gateways import (
    BOT_TOPIC,
    DingTalkGateway,
    FeishuGateway,
    WeComGateway,
    wecom_text,
)

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-stream-secret"
OAPI = "http://127.0.0.1:9"  # sessionWebhook host; nothing answers, and nothing is posted


# --- B: the bare clients ------------------------------------------------------------------------


async def echo_dingtalk(open_url: str) -> None:
    body = {"clientId": "bench-app", "clientSecret": SECRET, "ua": "echo", "localIp": "",
            "subscriptions": [{"type": "CALLBACK", "topic": BOT_TOPIC}]}  # fmt: skip
    answer = requests.post(open_url, json=body, timeout=10).json()
    async with connect(f"{answer['endpoint']}?ticket={answer['ticket']}") as ws:
        async for raw in ws:
            frame = json.loads(raw)
            headers = {
                "messageId": frame["headers"]["messageId"],
                "contentType": "application/json",
            }
            await ws.send(json.dumps({"code": 200, "headers": headers, "message": "OK",
                                      "data": json.dumps({"response": None})}))  # fmt: skip


async def echo_wecom(url: str) -> None:
    async with connect(url) as ws:
        await ws.send(json.dumps({"cmd": "aibot_subscribe", "headers": {"req_id": "sub-1"},
                                  "body": {"bot_id": "bench-bot", "secret": SECRET}}))  # fmt: skip
        reply = {"msgtype": "stream", "stream": {"id": "s", "finish": True, "content": "好的"}}
        async for raw in ws:
            frame = json.loads(raw)
            if frame.get("cmd") == "aibot_msg_callback":
                await ws.send(json.dumps({"cmd": "aibot_respond_msg", "headers": frame["headers"],
                                          "body": reply}, ensure_ascii=False))  # fmt: skip


async def echo_feishu(endpoint_url: str) -> None:
    from lark_oapi.ws.pb.pbbp2_pb2 import Frame

    body = {"AppID": "bench-app", "AppSecret": SECRET}
    answer = requests.post(endpoint_url, json=body, timeout=10).json()
    taken = json.dumps({"code": 200, "headers": {}, "data": ""}).encode()
    async with connect(answer["data"]["URL"]) as ws:
        async for raw in ws:
            frame = Frame()
            frame.ParseFromString(raw)
            if frame.method == 1:  # a data frame: answered at once, as taken
                frame.payload = taken
                await ws.send(frame.SerializeToString())


# --- the gateway side ---------------------------------------------------------------------------


async def pump(gateway, frames: list[str], window: int) -> float:
    """Send `frames` keeping `window` unanswered; seconds until the last one was answered."""
    free = asyncio.Semaphore(window)
    gateway.on_answer = free.release
    ws = gateway.ws
    start = time.perf_counter()
    for frame in frames:
        await free.acquire()
        await ws.send(frame)
    for _ in range(window):
        await free.acquire()
    gateway.on_answer = lambda: None
    return time.perf_counter() - start


def dingtalk_frames(gateway: DingTalkGateway, n: int, ids) -> list[str]:
    out = []
    for _ in range(n):
        i = next(ids)
        data = json.dumps(ding_payload("我的任务", f"b{i}", user=f"u{i % 50}", oapi_base=OAPI),
                          ensure_ascii=False)  # fmt: skip
        out.append(gateway.frame("CALLBACK", BOT_TOPIC, data)[1])
    return out


def wecom_frames(gateway: WeComGateway, n: int, ids) -> list[str]:
    out = []
    for _ in range(n):
        i = next(ids)
        text = "帮助" if i % 2 else "我的任务"
        out.append(gateway._callback_frame(wecom_text(text, f"w{i}", user=f"u{i % 50}")))
    return out


def feishu_frames(gateway: FeishuGateway, n: int, ids) -> list[bytes]:
    out = []
    for _ in range(n):
        i = next(ids)
        event = feishu_message("我的任务", f"om_b{i}", user=f"ou_u{i % 50}")
        data = json.dumps(event, ensure_ascii=False).encode()
        headers = {"type": "event", "message_id": f"ev-b{i}", "sum": "1", "seq": "0",
                   "trace_id": f"trace-{i}"}  # fmt: skip
        out.append(gateway._new(1, headers, data).SerializeToString())
    return out


FRAMES = {"dingtalk": dingtalk_frames, "wecom": wecom_frames, "feishu": feishu_frames}


def echo_url(platform: str, gateway) -> str:
    return {"dingtalk": lambda: gateway.open_url, "wecom": lambda: gateway.url,
            "feishu": lambda: gateway.endpoint_url}[platform]()  # fmt: skip


# --- one measurement ----------------------------------------------------------------------------


def run_side(side: str, platform: str, gateway, env: dict, frames: int, window: int, ids) -> dict:
    if side == "duban":
        cmd = [sys.executable, "-m", "bot.stream", platform]
    else:
        cmd = [sys.executable, "-m", "bench.stream", "--echo", platform,
               "--url", echo_url(platform, gateway)]  # fmt: skip
    before, old = gateway.connections, gateway.ws
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stderr=None if os.environ.get("BENCH_LOG") else subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while not (gateway.connections > before and gateway.ws not in (None, old)):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{side} {platform} did not connect")
            time.sleep(0.05)
        make = FRAMES[platform]
        gateway.call(pump(gateway, make(gateway, max(10, frames // 10), ids), window), 600)
        batch = make(gateway, frames, ids)
        cpu0 = tree_cpu(proc.pid)
        seconds = gateway.call(pump(gateway, batch, window), 600)
        cpu = tree_cpu(proc.pid) - cpu0
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {"fps": frames / seconds, "cpu_ms": 1000 * cpu / frames, "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.stream")
    ap.add_argument("--frames", type=int, default=3000, help="DingTalk frames per measurement")
    ap.add_argument("--wecom-frames", type=int, default=600, help="WeCom frames per measurement")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--window", type=int, default=32, help="frames outstanding at once")
    ap.add_argument("--feishu-frames", type=int, default=3000, help="Feishu frames")
    ap.add_argument("--platforms", default="dingtalk,wecom,feishu")
    ap.add_argument("--echo", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.echo:
        run = {"dingtalk": echo_dingtalk, "wecom": echo_wecom, "feishu": echo_feishu}[args.echo]
        try:
            asyncio.run(run(args.url))
        except Exception:
            pass  # the bench stops us by closing the connection or with SIGTERM
        return 0

    tmp = tempfile.mkdtemp(prefix="bench-stream-")
    server = EmbeddedRedis(tmp, persistent=False).start()
    client = redis.Redis.from_url(server.url)
    dgw = DingTalkGateway("bench-app", SECRET).start()
    wgw = WeComGateway("bench-bot", SECRET).start()
    fgw = FeishuGateway("bench-app", SECRET).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    env |= {
        "DUBAN_REDIS_URL": server.url, "DUBAN_KEY_PREFIX": "bench",
        "DUBAN_DINGTALK_APP_KEY": "bench-app", "DUBAN_DINGTALK_APP_SECRET": SECRET,
        "DUBAN_DINGTALK_ROBOT_CODE": "bench-robot", "DUBAN_DINGTALK_OAPI_BASE": OAPI,
        "DUBAN_DINGTALK_MODE": "stream", "DUBAN_DINGTALK_STREAM_URL": dgw.open_url,
        "DUBAN_WECOM_MODE": "longconn", "DUBAN_WECOM_BOT_ID": "bench-bot",
        "DUBAN_WECOM_BOT_SECRET": SECRET, "DUBAN_WECOM_LONGCONN_URL": wgw.url,
        "DUBAN_FEISHU_APP_ID": "bench-app", "DUBAN_FEISHU_APP_SECRET": SECRET,
        "DUBAN_FEISHU_MODE": "ws", "DUBAN_FEISHU_WS_URL": fgw.endpoint_url,
        "DUBAN_FEISHU_API_BASE": OAPI,
        "PYTHONUNBUFFERED": "1",
    }  # fmt: skip
    ids = itertools.count(1)
    results: dict = {"args": vars(args), "runs": []}
    try:
        for platform in args.platforms.split(","):
            gateway = {"dingtalk": dgw, "wecom": wgw, "feishu": fgw}[platform]
            frames = {"dingtalk": args.frames, "wecom": args.wecom_frames,
                      "feishu": args.feishu_frames}[platform]  # fmt: skip
            for r in range(args.rounds):
                for side in ("duban", "echo"):
                    client.flushdb()  # every round starts from the same (empty) store
                    m = run_side(side, platform, gateway, env, frames, args.window, ids)
                    results["runs"].append({"platform": platform, "side": side, "round": r, **m})
                    print(f"{platform:8} {side:5} round {r + 1}: {m['fps']:8.0f} frames/s"
                          f"  {m['cpu_ms']:6.2f} ms CPU/frame", flush=True)  # fmt: skip
    finally:
        dgw.stop()
        wgw.stop()
        fgw.stop()
        client.close()
        server.stop()
    print("\nplatform  stream process      bare echo           ratio")
    for platform in args.platforms.split(","):
        med = {}
        for side in ("duban", "echo"):
            rows = [x for x in results["runs"] if x["platform"] == platform and x["side"] == side]
            med[side] = (statistics.median(x["fps"] for x in rows),
                         statistics.median(x["cpu_ms"] for x in rows))  # fmt: skip
        ratio = med["duban"][0] / med["echo"][0]
        results[platform] = {"duban_fps": med["duban"][0], "echo_fps": med["echo"][0],
                             "ratio": ratio, "duban_cpu_ms": med["duban"][1],
                             "echo_cpu_ms": med["echo"][1]}  # fmt: skip
        print(f"{platform:8} {med['duban'][0]:7.0f}/s {med['duban'][1]:5.2f} ms  "
              f"{med['echo'][0]:7.0f}/s {med['echo'][1]:5.2f} ms  {ratio:6.3f}")  # fmt: skip
    save_results("stream", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
