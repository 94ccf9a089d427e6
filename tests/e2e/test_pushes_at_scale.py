"""The 9:00 reminder run at province scale, through a real worker (`python -m bot.worker`, as
`make run` starts it) to the stub platform server, which checks every robot's 加签 and keeps
every robot to 20 pushes a minute (answering 130101 beyond that, as DingTalk does).

Hundreds of departments, each with a DingTalk custom robot of its own (bench/synthetic.py): every
department's reminder arrives exactly once, at its own robot, with no throttle answer, nothing
left leased, pending or dead. The run's time is printed, not asserted (bench/pushes.py measures
it against the stub's capacity)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from rq.job import Job

from bench.procs import BudgetStub
from bench.synthetic import department_name, robot_secret, robot_token, write_campaign
from bot import delivery
from bot.config import Settings
from bot.messages import Notice
from bot.queue import KINDS, make_enqueue, make_queue
from bot.runtime import build_runtime
from tests.e2e.world import DEPT, content, wecom
from tests.outbox import queue_notices
from tests.stubs.platform_server import DINGTALK_ROBOT, WECOM_WEBHOOK

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "scale"
NOW_ISO = "2020-08-14T01:00:00+00:00"  # 09:00 in Shanghai, a working Friday
DEPARTMENTS = 1000


@pytest.fixture
def budget_stub():
    stub = BudgetStub(per_minute=20).start()
    yield stub
    stub.stop()


def start_worker(env: dict[str, str], log_path) -> subprocess.Popen:
    full = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")} | env
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "bot.worker"], cwd=ROOT, env=full, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait(5)


def test_every_departments_reminder_reaches_its_own_robot_once(
    tmp_path, redis_url, redis_client, budget_stub, capsys
):
    n = DEPARTMENTS
    indicators, org = write_campaign(
        tmp_path / "campaign", n, per_dept=5, robot_base=budget_stub.url
    )
    for i in range(n):
        budget_stub.require_dingtalk_sign(robot_token(i), robot_secret(i))
    env = {
        "DUBAN_REDIS_URL": redis_url,
        "DUBAN_KEY_PREFIX": PREFIX,
        "DUBAN_SECRET_KEY": "scale",
        "DUBAN_BACKUP_KEEP": "0",
        "DUBAN_INDICATORS": str(indicators),
        "DUBAN_ORG": str(org),
        "DUBAN_DATA_DIR": str(tmp_path),
        "DUBAN_DINGTALK_API_BASE": budget_stub.url,
        "DUBAN_DINGTALK_OAPI_BASE": budget_stub.url,
        "DUBAN_WECOM_API_BASE": budget_stub.url,
        "DUBAN_PUSH_TIMEOUT_S": "5",
    }
    rt = build_runtime(Settings.from_env(env), client=redis_client)  # the assignments
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        enqueue = make_enqueue(make_queue(redis_client, PREFIX), PREFIX)
        t0 = time.monotonic()
        jid = enqueue("bot.jobs.send_reminders", slot="scale-0900", now_iso=NOW_ISO)
        job = Job.fetch(jid, connection=redis_client)

        def robots() -> Counter:
            return Counter(r.key for r in budget_stub.requests_to(DINGTALK_ROBOT))

        deadline = time.monotonic() + 240
        while len(robots()) < n and time.monotonic() < deadline:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-2000:]
            time.sleep(0.1)
        elapsed = time.monotonic() - t0
        queued = (job.latest_result().return_value or {}).get("queued")
        time.sleep(2.0)  # anything posted twice would arrive meanwhile
    finally:
        stop(worker)
    with capsys.disabled():
        print(
            f"\n{n} departments' reminders through one worker to the stub: {elapsed:.1f}s "
            f"({n / elapsed:.0f} pushes/s to distinct robots); the robots' budget allows it at once"
        )
    got = robots()
    assert queued == n
    assert set(got) == {robot_token(i) for i in range(n)}  # every department's own robot
    assert set(got.values()) == {1}  # each exactly once
    assert budget_stub.throttled == 0  # no 130101
    sent = budget_stub.requests_to(DINGTALK_ROBOT)
    assert all(r.json["msgtype"] == "markdown" for r in sent)
    by_robot = {r.key: r.json["markdown"]["text"] for r in sent}
    assert department_name(7) in by_robot[robot_token(7)]  # its own department's reminder
    assert delivery.dead_letters(rt.store) == []
    assert not redis_client.zcard(rt.store.keys.push_leases)  # every push ended, none leased
    assert sum(make_queue(redis_client, PREFIX, k).failed_job_registry.count for k in KINDS) == 0
    pending = redis_client.xpending(rt.store.keys.outbox, delivery.GROUP)
    assert pending["pending"] == 0  # every notice acknowledged


def test_pushes_to_different_robots_overlap_up_to_the_setting_and_each_robots_keep_order(
    world_for, stub
):
    """A drain posts pushes to different robots at once, never more than
    DUBAN_PUSH_CONCURRENCY, and one robot's pushes one after the other, in the outbox's order;
    no push job is forked for them."""
    robots = [f"robot-{i}" for i in range(8)]
    w = world_for([wecom(r) for r in robots], DUBAN_PUSH_CONCURRENCY="3", DUBAN_PUSH_TIMEOUT_S="5")
    for r in robots:
        stub.fail_next(2, delay=1.0, key=r)  # each robot answers its two pushes after 1 s
    lock, now, most = threading.Lock(), Counter(), Counter()
    answer = stub._answer

    def counting(rec, rule):  # how many requests the stub holds at once, in all and per robot
        with lock:
            now["all"] += 1
            now[rec.key] += 1
            most.update({k: 0 for k in now})
            for k, v in now.items():
                most[k] = max(most[k], v)
        try:
            return answer(rec, rule)
        finally:
            with lock:
                now["all"] -= 1
                now[rec.key] -= 1

    stub._answer = counting
    w.start_worker()
    w.notify("甲通知", "乙通知")
    w.wait_until(lambda: len(stub.requests_to(WECOM_WEBHOOK)) >= 16, 60, "16 pushes")
    time.sleep(1.5)
    for r in robots:
        assert [content(x) for x in stub.requests_to(WECOM_WEBHOOK, key=r)] == ["甲通知", "乙通知"]
        assert most[r] == 1  # one robot: one at a time
    assert most["all"] == 3  # different robots: at once, as many as the setting allows
    assert delivery.dead_letters(w.store) == []
    finished = [w.queue.fetch_job(i) for i in w.queue.finished_job_registry.get_job_ids()]
    assert [j.func_name for j in finished if j and j.func_name == delivery.PUSH_JOB] == []


def test_a_drain_killed_with_pushes_in_flight_and_waiting_delivers_each_once(world_for, stub):
    """The worker dies while its drain has three pushes in flight (the platform holds them) and
    three more waiting in their lanes: the waiting ones are resumed from their leases and
    arrive once; the three whose fate nobody can know are not posted again but listed for the
    office as uncertain, as for a push job killed mid-post."""
    robots = [f"robot-{i}" for i in range(6)]
    w = world_for([wecom(r) for r in robots], DUBAN_PUSH_CONCURRENCY="3")
    stub.fail_next(3, delay=30.0)  # the first three posts hang at the platform
    first = w.start_worker()
    w.notify("提醒通知")
    w.wait_until(lambda: len(stub.requests_to(WECOM_WEBHOOK)) >= 3, 30, "3 pushes in flight")
    time.sleep(0.3)
    assert len(stub.requests_to(WECOM_WEBHOOK)) == 3  # the other three wait for a lane
    w.kill(first)
    w.start_worker()
    w.wait_until(lambda: len(stub.requests_to(WECOM_WEBHOOK)) >= 6, 40, "the other three")
    w.wait_until(lambda: len(delivery.dead_letters(w.store)) >= 3, 30, "three listed")
    time.sleep(2.0)  # nothing more may arrive
    got = Counter(r.key for r in stub.requests_to(WECOM_WEBHOOK))
    assert got == Counter(robots)  # each robot once
    dead = delivery.dead_letters(w.store)
    assert sorted(d["status"] for d in dead) == ["uncertain"] * 3
    assert not w.client.zcard(w.store.keys.push_leases)


def test_pushes_a_drain_has_not_started_by_its_deadline_go_to_push_jobs(world_for, stub):
    """A drain stops starting pushes after DRAIN_PUSH_S (here at once), so it never holds the
    urgent queue for long: what it has not started is leased and handed to push jobs, which a
    worker posts, each once."""
    robots = [f"robot-{i}" for i in range(4)]
    w = world_for([wecom(r) for r in robots])
    ctx = w.delivery()
    notice = Notice("提醒通知", DEPT)
    batch = []
    for target in ctx.org.chats_of(DEPT):
        spec = delivery.notice_spec("1-0", notice, delivery.target_fp(target))
        batch.append((spec, delivery.route_for(ctx.settings, target).robot))
    with delivery.Pusher(ctx, run_for_s=0) as pusher:
        pusher.push(batch)
    assert pusher.outcomes["handed"] == 4 and pusher.outcomes["sent"] == 0
    assert stub.requests_to(WECOM_WEBHOOK) == []
    assert w.client.zcard(w.store.keys.push_leases) == 4  # leased until their jobs end
    w.start_worker()
    w.wait_until(lambda: len(stub.requests_to(WECOM_WEBHOOK)) >= 4, 30, "4 pushes")
    w.wait_until(lambda: not w.client.zcard(w.store.keys.push_leases), 10, "leases released")
    time.sleep(1.0)
    assert Counter(r.key for r in stub.requests_to(WECOM_WEBHOOK)) == Counter(robots)
    finished = [w.queue.fetch_job(i) for i in w.queue.finished_job_registry.get_job_ids()]
    # (a lease that ran out while the worker started is resumed by a second job: harmless)
    assert len([j for j in finished if j and j.func_name == delivery.PUSH_JOB]) >= 4


def test_a_review_notice_written_during_the_run_goes_before_the_reminders_left(world_for, stub):
    """退回 and 通过 notices never wait behind chatter: one written while a drain's lanes still
    post the 9:00 reminders joins that drain and is taken before the reminders not yet posted
    (one lane here, each post answered after 1 s), each robot's own notices still in order."""
    robots = [f"robot-{i}" for i in range(8)]
    w = world_for([wecom(r) for r in robots], DUBAN_PUSH_CONCURRENCY="1", DUBAN_PUSH_TIMEOUT_S="5")
    stub.fail_next(8, delay=1.0)  # the eight reminders: one a second
    w.start_worker()
    queue_notices(w.store, [Notice("九点提醒", DEPT, (), "reminder")])
    w.wait_until(lambda: stub.requests_to(WECOM_WEBHOOK), 30, "the first reminder")
    queue_notices(w.store, [Notice("审核通知：已退回", DEPT, (), "review")])
    w.wait_until(lambda: len(stub.requests_to(WECOM_WEBHOOK)) >= 16, 60, "16 pushes")
    time.sleep(1.0)
    sent = [(r.key, content(r)) for r in stub.requests_to(WECOM_WEBHOOK)]
    assert len(sent) == 16 and set(sent) == {
        (r, t) for r in robots for t in ("九点提醒", "审核通知：已退回")
    }
    for r in robots:  # each robot: its reminder, then the review notice
        assert [t for k, t in sent if k == r] == ["九点提醒", "审核通知：已退回"]
    first_review = next(i for i, (_, t) in enumerate(sent) if t == "审核通知：已退回")
    last_reminder = max(i for i, (_, t) in enumerate(sent) if t == "九点提醒")
    assert first_review < last_reminder  # not held back until every reminder was out


def test_a_lane_holding_a_review_notice_is_taken_before_reminder_lanes(world_for, stub):
    """With one lane thread and seven robots' reminders queued ahead of it, the eighth robot's
    review notice is posted first (at worst second: a lane that had already begun)."""
    robots = [f"robot-{i}" for i in range(8)]
    w = world_for([wecom(r) for r in robots])
    ctx = w.delivery()
    batch = []
    for i, target in enumerate(ctx.org.chats_of(DEPT)):
        kind, text = ("review", "审核通知") if i == 7 else ("reminder", "九点提醒")
        spec = delivery.notice_spec(
            f"{i + 1}-0", Notice(text, DEPT, (), kind), delivery.target_fp(target)
        )
        batch.append((spec, delivery.route_for(ctx.settings, target).robot))
    with delivery.Pusher(ctx, size=1) as pusher:
        pusher.push(batch)
    assert pusher.outcomes["sent"] == 8
    order = [content(r) for r in stub.requests_to(WECOM_WEBHOOK)]
    assert sorted(order) == sorted(["九点提醒"] * 7 + ["审核通知"])
    assert order.index("审核通知") <= 1
    assert not w.client.zcard(w.store.keys.push_leases)


def test_a_drain_counts_what_became_of_each_push(world_for, stub):
    """drain_outbox's answer (the job's result, logged by RQ): the pushes it sent itself, and
    the chats it could not push to (a WeCom smart-bot chat id alone), listed for the office."""
    w = world_for([wecom("robot-1"), {"platform": "wecom", "chat_id": "wr-smart-only"}])
    ctx = w.delivery()
    w.notify("提醒通知")
    counts = delivery.drain_outbox(ctx)
    assert counts["entries"] == 1 and counts["pushes"] == 1 and counts["sent"] == 1
    assert counts["dead"] == 1  # the chat without a push address
    assert [content(r) for r in stub.requests_to(WECOM_WEBHOOK)] == ["提醒通知"]
    (dead,) = delivery.dead_letters(w.store)
    assert "webhook" in dead["error"]
