"""The 9:00 reminder run at province scale: every department's reminder, each to a robot of its
own, through the real delivery path to the stub platform server.

    python -m bench.pushes [--sizes 40,400,1000] [--workers 1] [--concurrency N]
                           [--latency-ms 0] [--cap-requests 2000] [--profile]

For each size a synthetic campaign (bench/synthetic.py: N departments, 25 assignments each, all
open, so every department gets a reminder) is written, Redis is flushed and the main worker is
started as `make run` starts it (`python -m bot.worker`; --workers more of them; --concurrency
sets DUBAN_PUSH_CONCURRENCY, else the default). Then, as the scheduler would at 09:00 on a
working day (2020-08-14, a Friday), the bench enqueues `bot.jobs.send_reminders`, which queues
the notices and asks for a drain of the outbox, and then `bot.delivery_jobs.drain_outbox` once
more (the scheduler's minute sweep). The drain posts the pushes itself, robots in parallel lanes
(bot/delivery.py Pusher); the pushes go to the stub, which checks each robot's 加签 and keeps
each robot to 20 pushes a minute, answering 130101 beyond that; --latency-ms makes it answer
each robot post that much later, as a platform across a network does (what the lanes overlap).

Reported per size: the reminder job's time, the drain's (until the bench's own drain finished:
the pushes themselves, as the drain posts them), the first-to-last push, the whole run,
pushes per second to distinct robots, throttle answers, duplicates (the same body to the same
robot twice), robots that got nothing, and dead letters; against the stub's own capacity,
measured in the same run by a plain client posting custom-robot bodies as fast as it can over one
keep-alive connection and over eight. CPU per push is the worker's (forked horses included) and
Redis's over the whole run. With --profile the worker runs under cProfile
(bench/profile_worker.py) and the bench prints where a push's CPU goes.
"""

from __future__ import annotations

import argparse
import math
import shutil
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import redis
import requests
from rq.job import Job

from bench.procs import (
    RESULTS,
    CpuMeter,
    Processes,
    StubProcess,
    bench_env,
    save_results,
    worker_cmd,
)
from bench.synthetic import robot_secret, robot_token, write_campaign
from bot.queue import KINDS, MAIN, WORKERS, make_queue, queue_name
from tests.stubs.platform_server import DINGTALK_ROBOT

NOW_ISO = "2020-08-14T01:00:00+00:00"  # 09:00 in Shanghai, a working Friday


def stub_capacity(stub: StubProcess, total: int, connections: int) -> float:
    """Requests per second the stub answers to a plain client: `connections` threads, each with
    a keep-alive requests.Session, posting a reminder-sized custom-robot body, each to a robot
    of its own (so none is throttled)."""
    from bot.platforms.base import encode_json

    body = encode_json(
        {"msgtype": "markdown", "markdown": {"title": "督办提醒", "text": "测" * 900}}
    )
    per = total // connections
    errors = [0]

    def run(t: int) -> None:
        s = requests.Session()
        for i in range(per):
            url = f"{stub.url}{DINGTALK_ROBOT}?access_token=cap-{connections}-{t}-{i}"
            r = s.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10)
            if r.status_code != 200 or r.json().get("errcode") != 0:
                errors[0] += 1
        s.close()

    threads = [threading.Thread(target=run, args=(t,)) for t in range(connections)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - t0
    stub.take()
    if errors[0]:
        raise RuntimeError(f"the stub refused {errors[0]} capacity requests")
    return per * connections / elapsed


def wait_job(job: Job, timeout: float) -> float:
    """Seconds until `job` finished (raises if it failed or the timeout passed)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        status = job.get_status(refresh=True)
        if status == "finished":
            return time.perf_counter() - t0
        if status == "failed":
            raise RuntimeError(f"job {job.func_name} failed: {job.latest_result()}")
        time.sleep(0.02)
    raise RuntimeError(f"job {job.func_name} did not finish in {timeout}s")


def budget_floor_s(most_to_one_robot: int, per_minute: int = 20) -> float:
    """The shortest time in which the platform's budget lets one robot take this many pushes:
    `per_minute` at once, the next ones a minute later each."""
    return max(0, math.ceil(most_to_one_robot / per_minute) - 1) * 60.0


def run_size(n: int, args, stub: StubProcess, redis_url: str, redis_pid: int, tmp: Path) -> dict:
    from bot.config import Settings
    from bot.queue import make_enqueue
    from bot.runtime import build_runtime

    indicators, org = write_campaign(tmp / f"campaign-{n}", n, robot_base=stub.url)
    env = bench_env(
        redis_url, stub.url, DUBAN_INDICATORS=str(indicators), DUBAN_ORG=str(org),
        DUBAN_DATA_DIR=str(tmp),
    )  # fmt: skip
    if args.concurrency:
        env["DUBAN_PUSH_CONCURRENCY"] = str(args.concurrency)
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    rt = build_runtime(Settings.from_env(env), client=client)  # assignments created
    stub.require_sign([(robot_token(i), robot_secret(i)) for i in range(n)])
    stub.take()
    throttled_before = stub.throttled()
    procs = Processes(tmp)
    cmd = worker_cmd()
    if args.profile:
        prof = RESULTS / f"profile-pushes-{n}-{time.strftime('%Y%m%d-%H%M%S')}"
        prof.mkdir(parents=True, exist_ok=True)
        queues = [a for kind in WORKERS[MAIN] for a in ("--queue", queue_name("bench", kind))]
        cmd = [cmd[0], "-m", "bench.profile_worker", *queues, "--out", str(prof)]
    for i in range(args.workers):
        procs.start(f"worker{i}-{n}", cmd, env)
    from rq import Worker

    deadline = time.monotonic() + 60
    while len(Worker.all(connection=client)) < args.workers and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    meter = CpuMeter({"worker": [procs.pid(p) for p in procs.procs], "redis": [redis_pid]})
    meter.start()
    try:
        enqueue = make_enqueue(make_queue(client, "bench"), "bench")
        t0 = time.time()
        jid = enqueue("bot.jobs.send_reminders", slot=f"bench-{n}", now_iso=NOW_ISO)
        remind_s = wait_job(Job.fetch(jid, connection=client), 600)
        queued = Job.fetch(jid, connection=client).return_value() or {}
        t1 = time.time()
        jid = enqueue("bot.delivery_jobs.drain_outbox", retries=0, on_failure=None)
        fanout_s = wait_job(Job.fetch(jid, connection=client), 600)
        posts: list[tuple[str, str, float, str]] = []
        last_new, stall = time.monotonic(), args.stall
        while True:
            new = [r for r in stub.take() if r[0] == DINGTALK_ROBOT]
            posts += new
            if new:
                last_new = time.monotonic()
            robots = {key for _, key, _, _ in posts}
            if len(robots) >= queued.get("queued", n) or time.monotonic() - last_new > stall:
                break
            time.sleep(0.2)
        procs.check()
        cpu = meter.stop()
    finally:
        procs.stop()
    if args.profile:
        from bench.profile_worker import report

        report(prof, pushes=True)
    per_robot = Counter(key for _, key, _, _ in posts)
    bodies = Counter((key, digest) for _, key, _, digest in posts)
    times = sorted(at for _, _, at, _ in posts)
    dead = len(rt.store.delivery.dead_letters())
    failed = sum(make_queue(client, "bench", k).failed_job_registry.count for k in KINDS)
    client.close()
    first, last = (times[0], times[-1]) if times else (t1, t1)
    return {
        "departments": n,
        "notices": queued.get("queued", 0),
        "posts": len(posts),
        "robots": len(per_robot),
        "missing": n - len(per_robot),
        "duplicates": sum(c - 1 for c in bodies.values() if c > 1),
        "most_to_one_robot": max(per_robot.values(), default=0),
        "throttled": stub.throttled() - throttled_before,
        "dead_letters": dead,
        "failed_jobs": failed,
        "remind_s": remind_s,
        "fanout_s": fanout_s,
        "first_push_after_s": first - t0,
        "push_span_s": last - first,
        "total_s": last - t0,
        "pushes_per_s": len(per_robot) / (last - t1) if last > t1 else 0.0,
        "cpu_ms_per_push": {k: v / max(len(posts), 1) * 1e3 for k, v in cpu.items()},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.pushes")
    ap.add_argument("--sizes", default="40,400,1000")
    ap.add_argument("--workers", type=int, default=1, help="main-queue workers (make run: 1)")
    ap.add_argument(
        "--concurrency", type=int, default=0, help="DUBAN_PUSH_CONCURRENCY (default: the product's)"
    )
    ap.add_argument(
        "--latency-ms", type=float, default=0.0,
        help="the stub answers each robot post this much later, as across a network",
    )  # fmt: skip
    ap.add_argument("--cap-requests", type=int, default=2000)
    ap.add_argument("--stall", type=float, default=30.0, help="give up after no push for this")
    ap.add_argument("--profile", action="store_true", help="the worker under cProfile")
    args = ap.parse_args(argv)
    from bot.config import Settings
    from bot.embedded import EmbeddedRedis

    tmp = Path(tempfile.mkdtemp(prefix="duban-pushes-"))
    stub = StubProcess(per_minute=20, latency_s=args.latency_ms / 1000)
    server = EmbeddedRedis(tmp / "redis", unix=True).start()
    rows, caps = [], {}
    try:
        for c in (1, 8):
            caps[c] = stub_capacity(stub, args.cap_requests, c)
        for n in (int(s) for s in args.sizes.split(",")):
            row = run_size(n, args, stub, server.url, server.proc.pid, tmp)
            rows.append(row)
            print(
                f"{n} departments: {row['robots']} robots reached in {row['total_s']:.1f}s",
                flush=True,
            )
        caps[1] = (caps[1] + stub_capacity(stub, args.cap_requests, 1)) / 2  # before and after
    finally:
        stub.stop()
        server.stop()
    head = (
        f"{'depts':>6}{'pushed':>8}{'robots':>8}{'remind s':>10}{'drain s':>10}"
        f"{'1st push s':>11}{'all s':>8}{'push/s':>8}{'vs stub':>9}"
        f"{'throttled':>10}{'dup':>5}{'missing':>8}{'dead':>6}{'CPU ms/push':>12}"
    )
    print()
    print(
        f"stub capacity (plain client, keep-alive): {caps[1]:.0f} req/s on 1 connection, "
        f"{caps[8]:.0f} req/s on 8; {args.workers} worker(s) like `make run`, "
        f"DUBAN_PUSH_CONCURRENCY={args.concurrency or Settings().push_concurrency}, "
        f"stub latency {args.latency_ms:g} ms"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['departments']:>6}{r['posts']:>8}{r['robots']:>8}{r['remind_s']:>10.2f}"
            f"{r['fanout_s']:>10.2f}{r['first_push_after_s']:>11.2f}{r['total_s']:>8.1f}"
            f"{r['pushes_per_s']:>8.1f}{r['pushes_per_s'] / caps[1]:>8.3f}x"
            f"{r['throttled']:>10}{r['duplicates']:>5}{r['missing']:>8}{r['dead_letters']:>6}"
            f"{sum(r['cpu_ms_per_push'].values()):>12.1f}"
        )
    print(
        "budget: 20 pushes a minute per robot; the most any robot got in one run: "
        + ", ".join(f"{r['most_to_one_robot']} ({r['departments']})" for r in rows)
        + "; the shortest run the budget allows: "
        + ", ".join(f"{budget_floor_s(r['most_to_one_robot']):.0f}s" for r in rows)
        + " (a robot's first 20 go at once): the rest of the time is ours, not the budget's"
    )
    print(
        "lower bound from the stub's capacity (1 connection): "
        + ", ".join(f"{r['departments'] / caps[1]:.2f}s ({r['departments']})" for r in rows)
    )
    save_results("pushes", {"args": vars(args), "stub_capacity": caps, "rows": rows})
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
