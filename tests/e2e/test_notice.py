"""The notice read closely (issue 12), with a real RQ worker on the real Redis: the 报送 mail as
a local SMTP server receives it, 涉密 material that never leaves the system, and the pushes
through the campaign's phases (报送 prompts, inspection readiness, quiet after the end)."""

from __future__ import annotations

import email
import email.policy
import email.utils
import html
import io
import os
import re
import subprocess
import sys
import time
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
import redis
import yaml

from app import create_app
from bot.config import ROOT, Settings
from bot.progress import Material, Status
from bot.queue import job_key, make_queue
from bot.reports import AUTHENTICITY
from bot.runtime import build_runtime
from bot.timeline import RUNNING, Timeline
from tests.e2e.background import (
    bind,
    complete_department,
    departments,
    local,
    notices,
    say,
    set_status,
    work,
)
from tests.http.conftest import login
from tests.stubs.smtp_server import SmtpStub

DEPT = "司法局"
LIAISON_MAIL = "lisi@jinfeng.gov.cn"
SECRET_TITLE = "2020年舆情应对内部预案"  # 78 shares 77's 考评要点, which says 涉密
OLD_SECRET_URL = "https://intranet.example.cn/yuqing.html"  # stored before the rule existed


@pytest.fixture
def rt(env, redis_client, clock, tmp_path):
    """The shipped org, with a liaison of 司法局 whose e-mail address org.yaml knows."""
    org = yaml.safe_load((ROOT / "org.yaml").read_text(encoding="utf-8"))
    org["members"].append(
        {"platform": "console", "user_id": "li", "department": DEPT, "role": "liaison",
         "name": "李四", "email": LIAISON_MAIL}
    )  # fmt: skip
    path = tmp_path / "org.yaml"
    path.write_text(yaml.safe_dump(org, allow_unicode=True), encoding="utf-8")
    env(DUBAN_ORG=str(path))
    client = redis.Redis.from_url(env.settings.redis_url)
    runtime = build_runtime(Settings.from_env(), clock=clock, client=client)
    yield runtime
    client.close()


def file_text(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return html.unescape("".join(z.read(n).decode("utf-8", "replace") for n in z.namelist()))


def secret_catalogue(rt) -> None:
    """司法局: a link and a located paper item on 12, a 涉密 paper item on 78, and (old data) a
    link stored on 78 before links were refused there."""
    bind(rt, "sfj1", DEPT, name="张三")
    assert "已收到" in say(rt, "sfj1", "提交 12 https://www.jinfeng.gov.cn/sfj/a.html 执法公示")
    assert "存放：档案室3号柜" in say(rt, "sfj1", "纸质 12 2019年执法案卷 存放：档案室3号柜")
    refused = say(rt, "sfj1", f"提交 78 {OLD_SECRET_URL} {SECRET_TITLE}")
    assert refused.startswith("第78项的考评要点注明涉密：涉密材料不能提交网址或文件")
    assert "纸质 78" in refused and "存放：" in refused
    assert "涉密" in say(rt, "sfj1", f"纸质 78 {SECRET_TITLE} 存放：机要室")
    a, _ = rt.store.assignments.get(78, DEPT)
    old = Material("预案全文", OLD_SECRET_URL, "张三", rt.store.now_iso())
    set_status(rt, 78, DEPT, Status.IN_PROGRESS, materials=(*a.materials, old))


def test_the_submission_mail_says_who_sends_it_and_what_is_true(rt, env):
    smtp = SmtpStub().start()
    try:
        rt.services.settings = env(DUBAN_SMTP_URL=smtp.url)
        secret_catalogue(rt)
        reply = say(rt, "sfj1", "报送 确认")
        assert "本次报送附真实性承诺（对照第99项），报送人：张三。" in reply
        work(rt)
    finally:
        smtp.stop()
    [(sender, rcpts, raw)] = smtp.messages
    assert rcpts == ["jfqfzb@163.com"]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert str(msg["Subject"]) == f"【{DEPT}】2020年金凤区法治政府建设示范创建资料目录报送（第1版）"
    assert email.utils.parseaddr(str(msg["From"])) == (f"{DEPT}（督办系统代发）", sender)
    assert str(msg["Reply-To"]) == LIAISON_MAIL
    sent_at = email.utils.parsedate_to_datetime(str(msg["Date"]))
    assert sent_at == local(2020, 8, 14, 10, 0)  # the submission's time, with its zone
    assert str(msg["Message-ID"]).startswith("<submission.1.")
    assert str(msg["Message-ID"]).endswith("@jinfeng.test>")
    body = msg.get_body(("plain",)).get_content()
    lines = body.splitlines()
    assert f"报送单位：{DEPT}" in lines
    assert f"报送人：张三（{LIAISON_MAIL}）" in lines
    assert AUTHENTICITY in lines
    # the paper materials as they are: two, where kept (the 涉密 one counts, unnamed)
    assert (
        "纸质材料2件不随本次报送发送，由本单位整理成册备现场查验，"
        "存放于：档案室3号柜（1件）、机要室（1件）。" in lines
    )
    for bad in ("…", "已通过", "已退回", "已整理成册备查", "（尚未填写说明）", "{", "}"):
        assert bad not in body
    files = [p.get_payload(decode=True) for p in msg.iter_attachments()]
    assert len(files) == 2
    for data in files:
        text = file_text(data)
        assert SECRET_TITLE not in text and OLD_SECRET_URL not in text
        assert "涉密材料，现场查阅" in text and "机要室" in text
    assert SECRET_TITLE not in body and OLD_SECRET_URL not in body
    # a department without any paper material says so, without pretending
    smtp = SmtpStub().start()
    try:
        rt.services.settings = env(DUBAN_SMTP_URL=smtp.url)
        bind(rt, "mz1", "民政局", name="王五")
        assert "已保存" in say(rt, "mz1", "说明 13 已整理失信惩戒情况。")
        say(rt, "mz1", "报送 确认")
        work(rt)
    finally:
        smtp.stop()
    [(_, _, raw)] = smtp.messages
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert "【民政局】" in str(msg["Subject"]) and msg["Reply-To"] is None
    assert "本次未登记纸质材料。" in msg.get_body(("plain",)).get_content().splitlines()


def test_nothing_secret_in_exports_for_the_office_or_in_pushes(rt):
    secret_catalogue(rt)
    assert "全区资料目录汇总表" in say(rt, "admin", "导出 全区", admin=True)
    assert "正在生成" in say(rt, "admin", f"导出 {DEPT}", admin=True)
    assert "正在生成" in say(rt, "sfj1", "导出")
    rt.services.enqueue("bot.jobs.send_reminders", slot="s1", now_iso=rt.store.now_iso())
    work(rt)
    exports = rt.store.exports.list()
    assert len(exports) == 5  # the district workbook, twice a department's two files
    for e in exports:
        text = file_text(rt.store.exports.get(e["token"])[1])
        assert SECRET_TITLE not in text and OLD_SECRET_URL not in text
        assert "涉密材料，现场查阅" in text
    pushed = [n.text for n in notices(rt)]
    assert any(f"督办提醒 · {DEPT}" in t for t in pushed)
    assert not any(SECRET_TITLE in t or OLD_SECRET_URL in t for t in pushed)


def remind(rt, slot: str, at) -> None:
    rt.services.enqueue("bot.jobs.send_reminders", slot=slot, now_iso=at.isoformat())
    rt.services.enqueue("bot.jobs.send_escalations", slot=slot, now_iso=at.isoformat())
    work(rt)


def test_the_office_hears_who_has_not_submitted_from_the_day_before(rt):
    complete_department(rt, "金凤区人民法院")
    bind(rt, "fy", "金凤区人民法院")
    say(rt, "fy", "报送 确认")
    remind(rt, "d17", local(2020, 8, 17, 9, 0))  # two working days before: not yet
    assert [n for n in notices(rt) if "报送督办" in n.text] == []
    remind(rt, "d18", local(2020, 8, 18, 9, 0))
    [digest] = [n for n in notices(rt) if n.department == "" and "报送督办" in n.text]
    lines = digest.text.splitlines()
    assert (
        lines[1]
        == f"「资料目录报送」8月19日截止，{len(departments(rt)) - 1} 个部门尚未报送资料目录："
    )
    assert "金凤区人民法院" not in lines[2] and DEPT in lines[2]
    remind(rt, "d19", local(2020, 8, 19, 9, 0))
    assert "「资料目录报送」今天截止" in [n for n in notices(rt) if "报送督办" in n.text][-1].text


def test_after_the_last_deadline_pushes_turn_to_readiness_then_quiet(rt, clock):
    bind(rt, "sfj1", DEPT, name="张三")
    say(rt, "sfj1", "纸质 12 2019年执法案卷 存放：档案室3号柜")
    say(rt, "sfj1", "纸质 15 2020年执法台账")  # no place yet
    complete_department(rt, "金凤区人民法院")
    bind(rt, "fy", "金凤区人民法院")
    say(rt, "fy", "报送 确认")
    work(rt)
    before = len(notices(rt))
    remind(rt, "d0901", local(2020, 9, 1, 9, 0))  # Tuesday: readiness pushes are weekly
    assert len(notices(rt)) == before
    remind(rt, "d0907", local(2020, 9, 7, 9, 0))  # Monday
    fresh = notices(rt)[before:]
    mine = next(n for n in fresh if n.department == DEPT)
    lines = mine.text.splitlines()
    assert lines[0] == f"**🗂 实地查验准备 · {DEPT}**"
    assert lines[1].startswith("自治区实地查验：9月（具体日期待定）。")
    assert "本部门已登记纸质材料 2 件，存放于：档案室3号柜。" in lines
    assert "- 第15项第1份「2020年执法台账」" in lines
    assert "尚未报送资料目录：材料齐全后发送「报送」。" in lines
    assert "金凤区人民法院" not in {n.department for n in fresh}  # complete and submitted
    office = [n for n in fresh if n.department == ""]
    assert len(office) == 1 and office[0].text.startswith("**🗂 实地查验准备情况（9月7日）**")
    for n in fresh:
        for word in ("截止", "逾期", "已过"):
            assert word not in n.text, n.text
    # the office sets the day: the days before it are reminded, each
    assert "定于 2020年9月17日" in say(rt, "admin", "查验日期 9月17日", admin=True)
    clock.now = local(2020, 9, 15, 9, 0)
    n = len(notices(rt))
    remind(rt, "d0915", clock.now)
    text = next(x for x in notices(rt)[n:] if x.department == DEPT).text
    assert "自治区实地查验定于 9月17日（还有 2 个工作日）。" in text
    n = len(notices(rt))
    rt.services.enqueue("bot.jobs.send_ranking", slot="r0915", now_iso=clock.now.isoformat())
    work(rt)
    assert len(notices(rt)) == n + len(departments(rt)) + 1
    # after the inspection day: quiet
    n = len(notices(rt))
    remind(rt, "d0918", local(2020, 9, 18, 9, 0))
    rt.services.enqueue(
        "bot.jobs.send_ranking", slot="r0918", now_iso=local(2020, 9, 18, 17, 30).isoformat()
    )
    work(rt)
    assert len(notices(rt)) == n


# --- one clock --------------------------------------------------------------------------------


def test_the_overview_a_chat_reply_and_a_push_agree_on_the_time_left(redis_url, redis_client, env):
    """DUBAN_FAKE_NOW drives every process: a real scheduler process, the web app and the
    jobs read one clock (anchored in Redis), so they say the same about the deadline."""
    settings = env(DUBAN_FAKE_NOW="2020-08-14T08:59:57+08:00", DUBAN_CLOCK_SPEED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.scheduler"],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        app = create_app(settings)  # its runtime reads the clock the scheduler anchored
        rt = app.extensions["duban"]
        queue = make_queue(rt.redis, rt.settings.key_prefix)
        remind = job_key(rt.settings.key_prefix, "remind-2020-08-14-0900")
        deadline = time.monotonic() + 30
        while remind not in queue.get_job_ids():
            assert time.monotonic() < deadline, "the scheduler never reached 09:00"
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(10)
    assert abs((rt.store.clock() - local(2020, 8, 14, 9, 0)).total_seconds()) < 30
    work(rt)
    push = next(n for n in notices(rt) if n.department == DEPT)
    assert push.text.startswith(f"**⏰ 督办提醒 · {DEPT}（距截止仅剩 3 个工作日）**")
    client = app.test_client()
    assert login(client, "demo").status_code == 302
    page = client.get("/admin").get_data(as_text=True)
    assert "今天 2020-08-14" in page and "3 个工作日" in page and "已过" not in page
    reply = client.post(
        "/sandbox/send",
        json={"user_id": "zhangsan", "text": "我的任务"},
        headers={"X-CSRF-Token": _csrf(client)},
    ).json["text"]
    assert "距「资料目录报送」截止（8月19日）还有 3 个工作日。" in reply
    # and what they record carries the same year
    bound = [e for e in rt.store.audit.entries(50) if e.action == "bind"]
    assert bound and all(e.at.startswith("2020-08-14") for e in bound)


def _csrf(client) -> str:
    html_text = client.get("/sandbox").get_data(as_text=True)
    return re.search(r'data-csrf="([^"]+)"', html_text).group(1)


def test_the_demo_started_on_any_day_shows_a_campaign_in_progress(redis_url, redis_client, env):
    settings = env()  # demo mode, the real clock
    app = create_app(settings)
    rt = app.extensions["duban"]
    today = rt.calendar.local_today(datetime.now(UTC))
    c = rt.catalog.campaign
    assert rt.demo_shift % 7 == 0 and rt.demo_shift > 0
    assert c.issued_on <= today <= c.issued_on + timedelta(days=6)
    assert c.deadlines[0].date >= today - timedelta(days=1)
    assert all(d.date >= today for d in c.deadlines[1:])
    assert c.event("inspection").window_start > today
    assert Timeline(c).phase(today) == RUNNING
    # the real data file is unchanged, and the pages say what the demo did
    assert "2020-08-19" in (ROOT / "indicators.yaml").read_text(encoding="utf-8")
    client = app.test_client()
    assert login(client, "demo").status_code == 302
    page = client.get("/admin").get_data(as_text=True)
    assert "演示模式：为便于体验，创建活动的日期整体后移了" in page
    assert "原通知 2020年8月13日印发、8月19日报送" in page and "已过" not in page
    assert "演示模式" in client.get("/sandbox").get_data(as_text=True)
    # another process of the demo, started later the same week, moves it alike
    again = create_app(settings).extensions["duban"]
    assert again.demo_shift == rt.demo_shift
    # with DUBAN_FAKE_NOW the time is chosen: nothing moves
    fixed = create_app(env(DUBAN_FAKE_NOW="2020-08-14T10:00:00+08:00")).extensions["duban"]
    assert fixed.demo_shift == 0 and fixed.catalog.campaign.issued_on.year == 2020
