"""The whole campaign of the seed notice on a fast fake clock, from its issue (2020-08-13) to
after September: a real scheduler and a real worker (`python -m bot.scheduler`, `python -m
bot.worker`) push to the stub platform server; the assertions are on what was pushed.

The fake clock runs 16 hours a real second, so the two months take about 90 s. What a push says
is dated by the time its job was given (the slot's time), which the outbox keeps.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import defaultdict
from datetime import date, datetime

import pytest
import yaml
from rq import Worker

from bot import delivery
from bot.config import ROOT, Settings
from bot.queue import make_queue
from bot.runtime import build_runtime, clock_name
from bot.store import RedisStore
from tests.e2e.background import bind, local, notices, say, use_env
from tests.outbox import read_outbox
from tests.stubs.platform_server import WECOM_WEBHOOK, PlatformStub

START = "2020-08-13T08:30:00+08:00"  # the morning the notice was issued
SPEED = 57600  # fake seconds per real second
LEAD_S = 12  # real seconds the processes get to start before the fake clock reaches START
END = local(2020, 10, 12, 18, 0)  # past National Day, into the working days after it
ROBOTS = {"司法局": "k-sfj", "行政审批局": "k-spj", "": "k-office"}  # "" = the office
PROMPT = "尚未报送资料目录（截止 8月19日）：材料齐全后发送「报送」"


def reminder(n) -> bool:
    return n.kind in ("reminder", "escalation") and n.text.startswith(("**📋", "**⏰", "**🗂"))


@pytest.fixture
def campaign(tmp_path, redis_url, redis_client, monkeypatch):
    org = yaml.safe_load((ROOT / "org.yaml").read_text(encoding="utf-8"))
    for d in org["departments"]:
        if d["name"] in ROBOTS:
            d["chats"] = [{"platform": "wecom", "webhook_key": ROBOTS[d["name"]]}]
    org["admin_chats"] = [{"platform": "wecom", "webhook_key": ROBOTS[""]}]
    org_path = tmp_path / "org.yaml"
    org_path.write_text(yaml.safe_dump(org, allow_unicode=True), encoding="utf-8")
    with PlatformStub() as stub:
        settings = use_env(
            monkeypatch,
            {
                "DUBAN_REDIS_URL": redis_url,
                "DUBAN_KEY_PREFIX": "camp",
                "DUBAN_ORG": str(org_path),
                "DUBAN_WECOM_API_BASE": stub.url,
                "DUBAN_FAKE_NOW": START,
                "DUBAN_CLOCK_SPEED": str(SPEED),
                "DUBAN_ROBOT_PER_MINUTE": "1000",
                "DUBAN_PUBLIC_URL": "http://duban.test",
            },
        )
        # The fake clock reaches START LEAD_S real seconds from now (it reads earlier days till
        # then, before the notice was issued: nothing is pushed), so that the worker and the
        # scheduler are up by the first morning. Every process reads this one clock.
        store = RedisStore(redis_client, settings.key_prefix)
        store.scheduler.clock_anchor(clock_name(settings), time.time() + LEAD_S)
        rt = build_runtime(settings)
        procs: list[subprocess.Popen] = []

        def start(*args: str) -> None:
            log = open(tmp_path / f"{args[1]}.log", "wb")  # noqa: SIM115
            procs.append(
                subprocess.Popen(
                    [sys.executable, *args], cwd=ROOT, env=dict(os.environ), stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True,
                )
            )  # fmt: skip

        try:
            yield rt, stub, start, procs
        finally:
            for p in procs:
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
            rt.redis.close()


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(0.25)


def day_of(rt, at: str) -> date:
    return rt.calendar.local_today(datetime.fromisoformat(at.replace("Z", "+00:00")))


@pytest.mark.timeout(600)
def test_the_whole_campaign_from_the_notice_to_after_the_inspection(campaign):
    rt, stub, start, procs = campaign
    # On the morning of 8/13, 行政审批局 sends its catalogue; 司法局 never does.
    bind(rt, "spj", "行政审批局", name="李四")
    assert "已保存" in say(rt, "spj", "说明 1 已公布全部行政审批事项清单。")
    assert "已报送行政审批局资料目录第 1 版" in say(rt, "spj", "报送 确认")
    queue = make_queue(rt.redis, rt.settings.key_prefix)
    start("-m", "bot.worker")
    wait_until(lambda: Worker.all(queue=queue), 60, "the worker listens")
    start("-m", "bot.scheduler")
    wait_until(lambda: rt.store.clock() >= END, 300, "the fake clock reaches October")
    scheduler = procs[-1]
    scheduler.send_signal(signal.SIGTERM)
    assert scheduler.wait(15) == 0
    # let the worker finish the queue, then drain the outbox once more and wait for the pushes
    wait_until(lambda: queue.count == 0, 120, "the queue is worked off")
    queue.enqueue(delivery.DRAIN_JOB)
    wait_until(
        lambda: (
            queue.count == 0
            and queue.started_job_registry.count == 0
            and rt.redis.zcard(rt.store.keys.push_leases) == 0
        ),
        120,
        "every push is done",
    )
    assert all(p.poll() is None for p in procs[:-1]), "the worker died"

    pushed = [(n, day_of(rt, at)) for _, n, at in read_outbox(rt.store, count=100_000)]
    by_dept = defaultdict(list)
    for n, day in pushed:
        by_dept[n.department].append((n, day))

    # 1. 报送 prompts before 8/19, and only to those who have not sent their catalogue
    sfj = [(n, d) for n, d in by_dept["司法局"] if reminder(n)]
    early = [(n, d) for n, d in sfj if d <= date(2020, 8, 19)]
    assert len({d for _, d in early}) >= 4  # 8/13, 8/14, 8/17, 8/18, 8/19 are working days
    assert all(PROMPT in n.text for n, _ in early)
    assert not any(PROMPT in n.text for n, d in pushed if d > date(2020, 8, 19))
    spj = [n for n, _ in by_dept["行政审批局"] if reminder(n)]
    assert spj and not any("尚未报送" in n.text for n in spj)
    office = by_dept[""]
    unsent = [(n, d) for n, d in office if "报送督办" in n.text]
    assert unsent and {d for _, d in unsent} <= {date(2020, 8, 18), date(2020, 8, 19)}
    for n, _ in unsent:
        assert "司法局" in n.text and "行政审批局" not in n.text
    # the countdown runs daily to the deadlines: most of August's working days have one
    august = {d for _, d in sfj if d <= date(2020, 8, 31)}
    assert len(august) >= 10

    # 2. no deadline wording about the inspection, anywhere
    for n, _ in pushed:
        for line in n.text.splitlines():
            if "查验" in line:
                assert not any(w in line for w in ("截止", "逾期", "已过")), line
        assert "「自治区实地查验" not in n.text

    # 3. after the last deadline: readiness, weekly; no overdue digest after August
    overdue = [d for n, d in office if "逾期督办日报" in n.text]
    assert overdue and max(overdue) <= date(2020, 8, 31)
    ready = [(n, d) for n, d in sfj if d >= date(2020, 9, 1)]
    assert ready and all(n.text.startswith("**🗂 实地查验准备 · 司法局**") for n, _ in ready)
    mondays = {date(2020, 9, 7), date(2020, 9, 14), date(2020, 9, 21), date(2020, 9, 28)}
    assert {d for _, d in ready} <= mondays and len({d for _, d in ready}) >= 2
    assert any("实地查验准备情况" in n.text for n, d in office if d in mondays)

    # 4. after the campaign ends with September: quiet
    assert max(d for _, d in pushed) <= date(2020, 9, 30)

    # 5. what the outbox holds for the robots' chats reached the stub, each part once
    # (Markdown, or a template_card for a message with the page's buttons that fits one)
    sent = defaultdict(list)
    for rec in stub.requests_to(WECOM_WEBHOOK):
        sent[rec.key].append(json.dumps(rec.json, ensure_ascii=False, sort_keys=True))
    for dept, key in ROBOTS.items():
        route = delivery.route_for(rt.settings, rt.org.admin_chats[0] if not dept else
                                   rt.org.chats_of(dept)[0])  # fmt: skip
        expected = [
            json.dumps(b, ensure_ascii=False, sort_keys=True)
            for n, _ in by_dept[dept]
            for b in delivery.bodies_for(route, n.text, n.mentions, "")
        ]
        assert sorted(sent[key]) == sorted(expected), dept
    assert sum(len(v) for v in sent.values()) > 100
    assert stub.rejected == []  # every card passed the stub's schema check
    # every page link a push carried (a group sees each) is the department's door, which
    # opens no item and takes no write, never a person's signed link
    pages = [u for n, _ in pushed for u in re.findall(r"/m/[^\s)?]+", n.text)]
    assert pages and all(u.startswith("/m/d/") for u in pages)
    assert notices(rt)  # (the outbox reader of the other tests agrees)
    assert Settings.from_env().fake_now == START
