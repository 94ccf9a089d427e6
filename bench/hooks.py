"""Throughput and latency of POST /hooks/dingtalk through gunicorn, against a bare Flask endpoint.

    python -m bench.hooks [--seconds 5] [--rounds 2] [--connections 100] [--procs 4]

Starts its own redis-server (the venv's) and two gunicorn servers with the same settings, those
`make run` uses (deploy/gunicorn.conf.py: 2 gthread workers, SO_REUSEPORT, keep-alive): A is Duban (`app:create_app()`), B is a
bare Flask app with one POST route that reads the body and answers a fixed JSON. Then it loads
them in turn, A B A B ..., each round for --seconds after a short warm-up, with --connections
keep-alive connections spread over --procs load-generator processes (threads with http.client).

Every request to A is a really signed DingTalk callback
(https://open.dingtalk.com/document/orgapp/receive-message) with a fresh msgId,
from one of 64 group chats (each chat's replies have a budget of their own), alternating 我的任务
and 提交 (a new link each time, rotating over the department's indicators);
before each round of A the database is reset, so no round runs on a fuller store. B gets the same
bodies. Reported: requests per second, p50 and p99 latency per server, and the ratio A/B.

With the default DUBAN_DINGTALK_REPLY=queue, A acknowledges each callback and queues it
(bot/inbox.py); the commands run in the worker. So that this work is not left out of the
picture, after each round of A the bench also answers up to --answer of the queued callbacks
in-process, as a worker does, posting the replies to a stub sessionWebhook on 127.0.0.1, and
reports answers per second and CPU microseconds per answer. `--reply inline` measures the mode
that runs the command inside the request instead.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import itertools
import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from flask import Flask, Response, request

from bench.procs import save_results

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"
SECRET = "bench_app_secret_0123456789"
USER = "bench-staff"
DEPT = "司法局"


def bare_app() -> Flask:
    """Server B: the same stack without Duban, `gunicorn 'bench.hooks:bare_app()'`."""
    app = Flask(__name__)

    @app.post("/hooks/dingtalk")
    def hook() -> Response:
        request.get_data()
        return Response(b'{"msgtype":"empty"}', content_type="application/json")

    return app


# --- servers --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gunicorn_cmd(target: str, port: int, threads: int | None) -> list[str]:
    """Both servers as `make run` serves Duban: deploy/gunicorn.conf.py (2 gthread workers,
    SO_REUSEPORT, the collector frozen after load), on a port of their own."""
    cmd = [sys.executable, "-m", "gunicorn", target, "-c", str(GUNICORN_CONF),
           "--bind", f"127.0.0.1:{port}", "--log-level", "warning"]  # fmt: skip
    return cmd + (["--threads", str(threads)] if threads else [])


def wait_listening(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def reset_state(env: dict[str, str]) -> list[int]:
    """Flush the database, bind the bench user to 司法局; returns the department's indicators."""
    import redis

    from bot.config import Settings
    from bot.messages import Incoming
    from bot.runtime import build_runtime

    settings = Settings.from_env(env)
    client = redis.Redis.from_url(settings.redis_url)
    client.flushdb()
    rt = build_runtime(settings, client=client, enqueue=lambda *a, **k: "")
    rt.dispatcher.handle(Incoming("dingtalk", USER, f"绑定 {DEPT}", "cid", True, True, "bind"))
    ids = sorted(ind for (ind, d) in rt.assignments if d == DEPT)
    client.close()
    return ids


# --- load -----------------------------------------------------------------------------------------


def sign(ts: str) -> str:
    digest = hmac.new(SECRET.encode(), f"{ts}\n{SECRET}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


OAPI = "https://oapi.dingtalk.com"  # replaced by the stub's address in main()


def callback_payload(
    text: str, msg_id: str, user: str, chat: str, title: str, session_url: str, now_ms: int
) -> dict:
    """A DingTalk group @-message callback's JSON, as the benches send it ("消息发送与接收类型",
    https://open.dingtalk.com/document/development/robot-message-type)."""
    return {
        "msgtype": "text",
        "text": {"content": f" {text}"},
        "msgId": msg_id,
        "createAt": now_ms,
        "conversationType": "2",
        "conversationId": chat,
        "conversationTitle": title,
        "senderId": f"$:LWCP_v1:${user}",
        "senderNick": "压测",
        "senderStaffId": user,
        "senderCorpId": "ding_corp",
        "sessionWebhook": session_url,
        "sessionWebhookExpiredTime": now_ms + 5_400_000,
        "isAdmin": False,
        "chatbotUserId": "$:LWCP_v1:$bot",
        "isInAtList": True,
        "robotCode": "bench-robot",
    }


def body_for(text: str, msg_id: str) -> bytes:
    chat = f"cidBench{sum(map(ord, msg_id)) % 64}=="
    session = f"{OAPI}/robot/sendBySession?session=bench"
    payload = callback_payload(
        text, msg_id, USER, chat, "司法局工作群", session, int(time.time() * 1000)
    )
    return json.dumps(payload, ensure_ascii=False).encode()


def _load_proc(port, threads, seconds, warmup, indicators, seed, out_q) -> None:
    """One generator process: `threads` keep-alive connections, each sending back to back."""
    stop_at = time.perf_counter() + warmup + seconds
    measure_from = time.perf_counter() + warmup
    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()
    counter = itertools.count()

    def run(t: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        bad = 0
        while True:
            now = time.perf_counter()
            if now >= stop_at:
                break
            n = next(counter)
            if n % 2:
                text = "我的任务"
            else:
                ind = indicators[(n // 2) % len(indicators)]
                text = f"提交 {ind} https://www.jinfeng.gov.cn/bench/{seed}-{n}.html 压测材料"
            body = body_for(text, f"bench-{seed}-{t}-{n}-{uuid.uuid4().hex[:8]}")
            ts = str(int(time.time() * 1000))
            headers = {"Content-Type": "application/json", "timestamp": ts, "sign": sign(ts)}
            start = time.perf_counter()
            try:
                conn.request("POST", "/hooks/dingtalk", body, headers)
                resp = conn.getresponse()
                resp.read()
                ok = resp.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            end = time.perf_counter()
            if start >= measure_from:
                if ok:
                    mine.append(end - start)
                else:
                    bad += 1
        conn.close()
        with lock:
            lat.extend(mine)
            errors[0] += bad

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    out_q.put((lat, errors[0]))


def load(port: int, connections: int, procs: int, seconds: float, indicators, seed: int):
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    per = [connections // procs + (1 if i < connections % procs else 0) for i in range(procs)]
    ps = [
        ctx.Process(target=_load_proc, args=(port, n, seconds, 1.0, indicators, seed * 100 + i, q))
        for i, n in enumerate(per)
    ]
    for p in ps:
        p.start()
    lat: list[float] = []
    errors = 0
    for _ in ps:
        part, bad = q.get()
        lat.extend(part)
        errors += bad
    for p in ps:
        p.join()
    return lat, errors


WRK_SCRIPT = r"""
-- Generated by bench/hooks.py: a signed DingTalk callback with a fresh msgId per request,
-- alternating 我的任务 and 提交 (a new link each time, rotating over the indicators).
local indicators = {%(indicators)s}
local seed = "%(seed)s"
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  counter = 0
end

local head = '{"msgtype":"text","text":{"content":" '
local tail = ',"conversationType":"2",' ..
  '"conversationTitle":"司法局工作群","senderId":"$:LWCP_v1:$bench","senderNick":"压测",' ..
  '"senderStaffId":"%(user)s","senderCorpId":"ding_corp",' ..
  '"sessionWebhook":"%(oapi)s/robot/sendBySession?session=bench",' ..
  '"sessionWebhookExpiredTime":%(expires)s,"isAdmin":false,"chatbotUserId":"$:LWCP_v1:$bot",' ..
  '"isInAtList":true,"robotCode":"bench-robot","createAt":%(now)s}'
local headers = {["Content-Type"] = "application/json", ["timestamp"] = "%(ts)s",
                 ["sign"] = "%(sign)s"}

function request()
  counter = counter + 1
  local text
  if counter %% 2 == 1 then
    text = "我的任务"
  else
    local ind = indicators[(math.floor(counter / 2) %% #indicators) + 1]
    text = "提交 " .. ind .. " https://www.jinfeng.gov.cn/bench/" .. seed .. "-" .. tid .. "-" ..
      counter .. ".html 压测材料"
  end
  local body = head .. text .. '"},"msgId":"bench-' .. seed .. "-" .. tid .. "-" .. counter ..
    '","conversationId":"cidBench' .. (counter %% 64) .. '=="' .. tail
  return wrk.format("POST", "/hooks/dingtalk", headers, body)
end

function done(summary, latency, requests)
  io.write(string.format(
    "WRK {\"requests\":%%d,\"duration_us\":%%d,\"p50_us\":%%d,\"p99_us\":%%d," ..
    "\"mean_us\":%%f,\"errors\":%%d,\"non2xx\":%%d}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.mean, summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout, summary.errors.status))
end
"""


class CpuMeter:
    """CPU seconds (user + system) spent by the server's workers, Redis and the load generator
    over one measured run, from /proc and the children's rusage: where each request's cost goes."""

    def __init__(self, server_pid: int, redis_pid: int):
        self.server_pid, self.redis_pid = server_pid, redis_pid

    @staticmethod
    def _proc_cpu(pid: int) -> float:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _workers(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.server_pid)], capture_output=True, text=True)
        return [int(x) for x in out.stdout.split()]

    def _read(self) -> tuple[float, float, float]:
        kids = os.times()
        return (
            sum(self._proc_cpu(w) for w in self._workers()),
            self._proc_cpu(self.redis_pid),
            kids.children_user + kids.children_system,
        )

    def start(self) -> None:
        self.before = self._read()

    def stop(self, requests: int) -> dict[str, float]:
        after = self._read()
        names = ("server", "redis", "load")
        return {
            n: (a - b) / max(requests, 1) * 1e6
            for n, a, b in zip(names, after, self.before, strict=True)
        }


def load_wrk(
    port: int, connections: int, seconds: float, indicators, seed: int, meter: CpuMeter | None
) -> dict:
    """The same load from wrk (C, two threads): the generator takes far less of the 2 CPUs than
    Python threads do, so the servers get them. Warm-up: one second of the same load first.
    With `meter`, the result also says how many CPU microseconds each request cost where."""
    _wrk_once(port, connections, 1.0, indicators, f"{seed}warm")
    if meter:
        meter.start()
    result = _wrk_once(port, connections, seconds, indicators, f"{seed}run")
    if meter:
        result["cpu_us"] = meter.stop(result["requests"])
    return result


def _wrk_once(port: int, connections: int, seconds: float, indicators, seed: str) -> dict:
    now = int(time.time() * 1000)
    ts = str(now)
    script = WRK_SCRIPT % {
        "indicators": ",".join(str(i) for i in indicators),
        "seed": seed, "user": USER, "expires": now + 5_400_000, "now": now,
        "ts": ts, "sign": sign(ts), "oapi": OAPI,
    }  # fmt: skip
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        base = [
            "wrk",
            "-t",
            str(min(2, connections)),
            "-c",
            str(connections),
            "-s",
            f.name,
            "--timeout",
            "10s",
        ]
        url = f"http://127.0.0.1:{port}/"
        out = subprocess.run(
            [*base, "-d", f"{seconds:g}s", url], capture_output=True, text=True, check=True
        ).stdout
    finally:
        os.unlink(f.name)
    line = next(x for x in out.splitlines() if x.startswith("WRK "))
    return json.loads(line[4:])


def _run_stub(conn) -> None:
    from tests.stubs.platform_server import PlatformStub

    stub = PlatformStub().start()
    conn.send(stub.url)
    signal.sigwait([signal.SIGTERM])


def start_stub():
    """The stub platform server in a process of its own, so that its CPU is not counted as the
    answering side's."""
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_run_stub, args=(child,), daemon=True)
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
    try:
        proc.start()
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM])
    return proc, parent.recv()


def answer_backlog(env: dict[str, str], limit: int, redis_pid: int) -> dict[str, float]:
    """Answer up to `limit` queued callbacks in this process, as the worker's drain job does:
    answers per second and CPU microseconds per answer here and in Redis."""
    import redis

    from bot import inbox
    from bot.config import Settings
    from bot.runtime import build_runtime

    settings = Settings.from_env(env)
    client = redis.Redis.from_url(settings.redis_url)
    rt = build_runtime(settings, client=client, enqueue=lambda *a, **k: "")
    dctx = rt.delivery
    backlog = rt.store.inbox.backlog()
    redis_cpu = CpuMeter._proc_cpu(redis_pid)
    cpu, wall = time.process_time(), time.perf_counter()
    counts = inbox.drain_inbox(rt, dctx, "bench", max_entries=limit)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    redis_cpu = CpuMeter._proc_cpu(redis_pid) - redis_cpu
    client.close()
    n = max(1, sum(counts[k] for k in ("answered", "replayed", "lost", "bad")))
    return {
        "backlog": backlog, "answered": counts["answered"], "sent": counts["sent"],
        "deferred": counts["deferred"], "rate": n / wall,
        "cpu_us": cpu / n * 1e6, "redis_us": redis_cpu / n * 1e6,
    }  # fmt: skip


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


# --- main -----------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--connections", type=int, default=100)
    ap.add_argument("--procs", type=int, default=4, help="Python load-generator processes")
    ap.add_argument(
        "--load",
        choices=("wrk", "python"),
        default="wrk" if shutil.which("wrk") else "python",
        help="load generator: wrk (apt-get install wrk) or Python threads",
    )
    ap.add_argument("--threads", type=int, help="gunicorn threads per worker (default: the conf's)")
    ap.add_argument("--reply", choices=("queue", "inline"), default="queue")
    ap.add_argument("--answer", type=int, default=1000, help="queued callbacks answered per round")
    args = ap.parse_args()

    from bot.embedded import EmbeddedRedis

    global OAPI
    stub, OAPI = start_stub()  # the sessionWebhook the answers are posted to

    tmp = tempfile.mkdtemp(prefix="duban-bench-")
    # As `make run` has it: a unix socket, and the append-only file on (fsync every second).
    server = EmbeddedRedis(tmp, unix=True).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    env.update(
        {
            "DUBAN_REDIS_URL": server.url,
            "DUBAN_KEY_PREFIX": "bench",
            "DUBAN_DINGTALK_APP_KEY": "bench-key",
            "DUBAN_DINGTALK_APP_SECRET": SECRET,
            "DUBAN_DINGTALK_ROBOT_CODE": "bench-robot",
            "DUBAN_DINGTALK_OAPI_BASE": OAPI,
            "DUBAN_DINGTALK_REPLY": args.reply,
            "DUBAN_SECRET_KEY": "bench",
        }
    )
    answers: list[dict[str, float]] = []
    port_a, port_b = free_port(), free_port()
    cmds = {
        "A duban": gunicorn_cmd("app:create_app()", port_a, args.threads),
        "B bare flask": gunicorn_cmd("bench.hooks:bare_app()", port_b, args.threads),
    }
    procs = [
        subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True) for cmd in cmds.values()
    ]
    results = {
        name: {"rates": [], "p50": [], "p99": [], "n": 0, "secs": 0.0, "err": 0, "cpu": {}}
        for name in cmds
    }
    try:
        wait_listening(port_a)
        wait_listening(port_b)
        for r in range(args.rounds):
            for (name, port), proc in zip(
                (("A duban", port_a), ("B bare flask", port_b)), procs, strict=True
            ):
                indicators = reset_state(env)
                res = results[name]
                if args.load == "wrk":
                    meter = CpuMeter(proc.pid, server.proc.pid)
                    w = load_wrk(
                        port, args.connections, args.seconds, indicators, r * 10 + 1, meter
                    )
                    for part, us in w["cpu_us"].items():
                        res["cpu"].setdefault(part, []).append(us)
                    rate = w["requests"] / (w["duration_us"] / 1e6)
                    p50, p99, errors = (
                        w["p50_us"] / 1e3,
                        w["p99_us"] / 1e3,
                        w["errors"] + w["non2xx"],
                    )
                    res["n"] += w["requests"]
                    res["secs"] += w["duration_us"] / 1e6
                else:
                    lat, errors = load(
                        port, args.connections, args.procs, args.seconds, indicators, r * 10 + 1
                    )
                    rate, p50, p99 = (
                        len(lat) / args.seconds,
                        pct(lat, 0.5) * 1e3,
                        pct(lat, 0.99) * 1e3,
                    )
                    res["n"] += len(lat)
                    res["secs"] += args.seconds
                res["rates"].append(rate)
                res["p50"].append(p50)
                res["p99"].append(p99)
                res["err"] += errors
                print(
                    f"round {r + 1} {name:13} {rate:8.0f} req/s  "
                    f"p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  errors {errors}",
                    flush=True,
                )
                if name.startswith("A") and args.reply == "queue" and args.answer:
                    a = answer_backlog(env, args.answer, server.proc.pid)
                    answers.append(a)
                    print(
                        f"        answered {a['answered']:.0f} of {a['backlog']:.0f} queued "
                        f"(replies posted {a['sent']:.0f}, deferred {a['deferred']:.0f}): "
                        f"{a['rate']:6.0f} answers/s, CPU {a['cpu_us']:5.0f} µs per answer "
                        f"(+ Redis {a['redis_us']:4.0f} µs)",
                        flush=True,
                    )
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            p.wait(20)
        server.stop()
        stub.terminate()
        stub.join(5)
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    how = "wrk, 2 threads" if args.load == "wrk" else f"{args.procs} Python processes"
    threads = f"{args.threads} threads" if args.threads else "its threads"
    print(f"gunicorn: deploy/gunicorn.conf.py, {threads}; "
          f"{args.connections} keep-alive connections from {how}; "
          f"{os.cpu_count()} CPUs shared by servers, Redis and load")  # fmt: skip
    rates = {}
    for name, res in results.items():
        rates[name] = res["n"] / res["secs"]
        print(
            f"{name:13} {rates[name]:8.0f} req/s  p50 {statistics.median(res['p50']):6.1f} ms  "
            f"p99 {statistics.median(res['p99']):6.1f} ms (worst round {max(res['p99']):6.1f})  "
            f"errors {res['err']}"
        )
    for name, res in results.items():
        if res["cpu"]:
            parts = "  ".join(f"{k} {statistics.median(v):5.0f}" for k, v in res["cpu"].items())
            print(f"{name:13} CPU µs per request (median of rounds): {parts}")
    if answers:
        print(
            f"answering in one worker process (median of rounds): "
            f"{statistics.median(a['rate'] for a in answers):.0f} answers/s, "
            f"CPU {statistics.median(a['cpu_us'] for a in answers):.0f} µs per answer "
            f"+ Redis {statistics.median(a['redis_us'] for a in answers):.0f} µs"
        )
    print(f"DingTalk replies: {args.reply}")
    print(f"ratio A/B throughput: {rates['A duban'] / rates['B bare flask']:.2f} over all rounds")
    pairs = [a / b for a, b in zip(*(r["rates"] for r in results.values()), strict=True)]
    print(
        "ratio A/B per round (A then the B right after it): "
        + ", ".join(f"{x:.2f}" for x in pairs)
        + f"; median {statistics.median(pairs):.2f}"
    )
    save_results(
        "hooks",
        {
            "args": vars(args),
            "rates": rates,
            "round_ratios": pairs,
            "p99_ms": {name: statistics.median(res["p99"]) for name, res in results.items()},
            "errors": {name: res["err"] for name, res in results.items()},
            "answers": answers,
        },
    )


if __name__ == "__main__":
    main()
