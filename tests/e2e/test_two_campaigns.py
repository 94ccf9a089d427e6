"""Two campaigns in one deployment, end to end with a real worker process: commands, the
scheduler's reminders, escalation and rankings, exports and 报送 each stay inside their
campaign (its store, its roster, its outbox), and every job names the campaign it acts in."""

from __future__ import annotations

import shutil

import pytest
import redis
from rq.job import Job

from bot.config import ROOT, Settings
from bot.queue import make_enqueue, make_queue
from bot.records import Binding
from bot.runtime import build_runtime
from bot.schedule import Scheduler, schedule_table
from bot.store import RedisStore
from tests.e2e.background import local, notices, say, use_env
from tests.e2e.test_prefixes import run_worker

PREFIX = "two"
XIXIA = "xixia-2020"
DEPT = "司法局"  # a department of both districts' rosters


@pytest.fixture
def env(redis_url, monkeypatch, tmp_path):
    campaigns = tmp_path / "campaigns"
    shutil.copytree(ROOT / "demo" / "campaigns", campaigns)
    values = {
        "DUBAN_REDIS_URL": redis_url,
        "DUBAN_KEY_PREFIX": PREFIX,
        "DUBAN_DEMO": "1",
        "DUBAN_PUBLIC_URL": "http://duban.test",
        "DUBAN_CAMPAIGNS_DIR": str(campaigns),
        "DUBAN_DATA_DIR": str(tmp_path / "var"),
        "DUBAN_BACKUP_KEEP": "0",
    }
    use_env(monkeypatch, values)
    return values


@pytest.fixture
def rt(env, redis_client, clock):
    client = redis.Redis.from_url(env["DUBAN_REDIS_URL"])
    runtime = build_runtime(Settings.from_env(), clock=clock, client=client)
    yield runtime
    client.close()


def bind(view, user: str) -> None:
    b = Binding("console", user, DEPT, user, "liaison", view.store.now_iso())
    view.store.bindings.set("console", user, None, b, "test")


def scheduler(rt, at: list):
    """The scheduler as `python -m bot.scheduler` makes it (the deployment's plain enqueue, the
    active campaigns), its clock at at[0]."""
    return Scheduler(
        RedisStore(rt.redis, PREFIX, lambda: at[0]),
        rt.calendar,
        make_enqueue(make_queue(rt.redis, PREFIX), PREFIX),
        [e for e in schedule_table(rt.settings) if e.name in ("remind", "escalate", "rank")],
        lambda: at[0],
        campaigns=rt.active_campaign_ids(),
    )


def test_commands_reminders_rankings_exports_and_submissions_stay_in_their_campaign(
    rt, env, redis_client
):
    x = rt.for_campaign(XIXIA)
    bind(rt, "jf")  # 金凤区's liaison of 司法局
    bind(x, "xi")  # 西夏区's

    # commands: each person's change lands in their own campaign only
    say(rt, "jf", "说明 12 金凤区司法局的说明")
    say(rt, "xi", "说明 12 西夏区司法局的说明")
    assert rt.store.assignments.get(12, DEPT)[0].explanation == "金凤区司法局的说明"
    assert x.store.assignments.get(12, DEPT)[0].explanation == "西夏区司法局的说明"
    say(rt, "xi", "完成 12")
    assert x.store.assignments.get(12, DEPT)[0].status.is_complete
    assert not rt.store.assignments.get(12, DEPT)[0].status.is_complete

    # 导出 and 报送 in Xixia: jobs that name Xixia, run by a real worker
    say(rt, "xi", "导出")
    assert "第 1 版" in say(rt, "xi", "报送 确认")
    ids = make_queue(rt.redis, PREFIX).get_job_ids()
    jobs = Job.fetch_many(ids, connection=redis_client)
    by_func = {j.func_name: j.kwargs for j in jobs}
    assert by_func["bot.jobs.export_department"]["campaign"] == XIXIA
    assert by_func["bot.jobs.build_submission"]["campaign"] == XIXIA

    # the scheduler: 09:00 reminders and escalation, 17:30 ranking, one job per campaign
    at = [local(2020, 8, 14, 9, 0)]  # a Friday
    s = scheduler(rt, at)
    started = s.tick()
    at[0] = local(2020, 8, 14, 17, 30)
    started += s.tick()
    assert len(started) == 3
    ids = make_queue(rt.redis, PREFIX).get_job_ids()
    scheduled = [
        (j.func_name, j.kwargs["campaign"])
        for j in Job.fetch_many(ids, connection=redis_client)
        if j.func_name.startswith("bot.jobs.send_")
    ]
    assert sorted(scheduled) == sorted(
        (f, c)
        for f in ("bot.jobs.send_reminders", "bot.jobs.send_escalations", "bot.jobs.send_ranking")
        for c in ("default", XIXIA)
    )

    run_worker(env)  # python -m bot.worker --burst: every job above, for real

    for j in Job.fetch_many(make_queue(rt.redis, PREFIX).get_job_ids(), connection=redis_client):
        assert j is None or j.get_status() == "finished"
    # the store of each campaign holds its own export and submission
    assert [e["department"] for e in x.store.exports.list()] != []
    assert rt.store.exports.list() == []
    sub = x.store.submissions.get(DEPT, 1)
    assert sub is not None and rt.store.submissions.get(DEPT, 1) is None
    # the outboxes: reminders and rankings of each campaign name its own departments only
    jin, xia = notices(rt), notices(x)
    for kind in ("reminder", "ranking"):
        assert [n for n in jin if n.kind == kind] and [n for n in xia if n.kind == kind]
    jin_depts = {n.department for n in jin if n.kind == "reminder"}
    xia_depts = {n.department for n in xia if n.kind == "reminder"}
    assert "金凤区人民法院" in jin_depts and "西夏区人民法院" not in jin_depts
    assert "西夏区人民法院" in xia_depts and "金凤区人民法院" not in xia_depts
    assert "良田镇" in jin_depts and "镇北堡镇" in xia_depts
    jin_text = "\n".join(n.text for n in jin)
    xia_text = "\n".join(n.text for n in xia)
    assert "镇北堡镇" in xia_text and "镇北堡镇" not in jin_text  # the rankings
    assert "良田镇" in jin_text and "良田镇" not in xia_text
    # the export's and the submission's links went to Xixia's 司法局 chat, not Jinfeng's
    made = f"{DEPT}资料目录已生成"
    assert [n.department for n in xia if made in n.text] == [DEPT]
    final = f"{DEPT}第1版报送材料已定稿"
    assert not [n for n in jin if made in n.text or final in n.text]
    assert [n.department for n in xia if final in n.text] == [DEPT]
