"""The notice read closely (issue 12), in chat against the real Redis: the inspection day,
涉密 materials, where paper is kept, bonus and deduction items, ★ rectification, and a group
that belongs to a department."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

import pytest
import yaml

from bot.config import ROOT
from bot.messages import Incoming
from bot.progress import Status
from bot.runtime import build_runtime
from tests.store.conftest import CLUSTER
from tests.store.test_commands import snapshot, state
from tests.store.test_once import Counted

# --- the inspection day ------------------------------------------------------------------------


def test_the_office_sets_the_inspection_day_audited_and_everyone_sees_it(rt, sfj, admin, clock):
    assert "9月（具体日期待定）" in admin("查验日期")
    assert "定于 2020年9月15日" in admin("查验日期 9月15日")
    assert rt.store.assignments.event_dates() == {"inspection": date(2020, 9, 15)}
    [entry] = [e for e in rt.store.audit.entries(20) if e.action == "event_date"]
    assert (entry.actor, entry.before, entry.after, entry.note) == (
        "console:boss",
        "",
        "2020-09-15",
        "inspection",
    )
    clock.set(2020, 9, 8, 2, 0)  # after the last deadline: the day is what 我的任务 says
    assert "自治区实地查验定于 9月15日（还有 5 个工作日）" in sfj("我的任务")
    assert "不在原定的9月内" in admin("查验日期 2020年10月9日")
    assert "已清除" in admin("查验日期 清除")
    assert rt.store.assignments.event_dates() == {}
    assert len([e for e in rt.store.audit.entries(20) if e.action == "event_date"]) == 3


def test_bad_inspection_days_are_refused_and_change_nothing(rt, sfj, admin):
    before = snapshot(rt)
    assert "仅限依法治区办管理员" in sfj("查验日期 9月15日")
    assert "请写具体日期" in admin("查验日期 下周二")
    assert "请写具体日期" in admin("查验日期 9月31日")
    assert "已经过去" in admin("查验日期 8月1日")
    assert "尚未设置日期，无需清除" in admin("查验日期 清除")
    assert snapshot(rt) == before


# --- 涉密 and where paper is kept -----------------------------------------------------------


def test_a_link_for_a_secret_item_is_refused_with_the_reason_and_what_to_type(rt, chat):
    zf = chat("u-zf", "赵六")
    zf("绑定 政府办")
    before = snapshot(rt)
    out = zf("提交 77 https://www.jinfeng.gov.cn/yuqing.html 网络舆情处置工作方案")
    assert out == (
        "第77项的考评要点注明涉密：涉密材料不能提交网址或文件，也不会随邮件报送。"
        "请登记为纸质材料并写明存放位置，例如：纸质 77 网络舆情处置工作方案 存放：机要室"
    )
    # a paper item of a 涉密 indicator must say where it is kept
    assert zf("纸质 77 网络舆情处置工作方案").startswith("涉密材料须写明存放位置")
    assert snapshot(rt) == before
    out = zf("纸质 77 网络舆情处置工作方案（2020年修订） 存放：机要室")
    assert out.startswith("已登记第77项涉密材料（存放：机要室）")
    [m] = state(rt, 77, "政府办").materials
    assert (m.title, m.url, m.location, m.secret) == (
        "网络舆情处置工作方案（2020年修订）",  # as typed: free text is stored byte for byte
        "",
        "机要室",
        True,
    )


def test_row_78_shares_77s_secret_evidence_and_a_department_may_mark_any_material(rt, sfj):
    assert sfj("提交 78 https://www.jinfeng.gov.cn/a.html 方案").startswith(
        "第78项的考评要点注明涉密"
    )
    out = sfj("提交 12 https://www.jinfeng.gov.cn/b.html 涉密执法数据")
    assert out.startswith("材料名称注明涉密：涉密材料不能提交网址或文件")
    assert "纸质 12 执法数据 存放：" in out
    assert sfj("纸质 12 涉密执法数据").startswith("涉密材料须写明存放位置")
    assert sfj("纸质 12 涉密执法数据 存放：机要室2号柜").startswith("已登记第12项涉密材料")
    assert state(rt, 12, "司法局").materials[0].secret


def test_paper_says_where_it_is_kept(rt, sfj):
    out = sfj("纸质 12 2019年执法案卷 存放：档案室3号柜")
    assert out.startswith("已登记第12项纸质材料「2019年执法案卷」（存放：档案室3号柜）")
    out = sfj("纸质 12 档案存放管理制度")  # 存放 inside a name is part of the name
    assert "请写明存放位置以备实地查验：存放 12 2 档案室3号柜" in out
    materials = state(rt, 12, "司法局").materials
    assert [(m.title, m.location) for m in materials] == [
        ("2019年执法案卷", "档案室3号柜"),
        ("档案存放管理制度", ""),
    ]
    before = snapshot(rt)
    assert "序号应为 1–2" in sfj("存放 12 3 档案室")
    assert "请写上材料序号" in sfj("存放 12 档案室")
    assert "请写上存放位置" in sfj("纸质 12 年度报告 存放：")
    assert snapshot(rt) == before
    assert "存放位置：档案室1号柜" in sfj("存放 12 2 档案室1号柜")
    assert state(rt, 12, "司法局").materials[1].location == "档案室1号柜"
    sfj("提交 12 https://www.jinfeng.gov.cn/c.html 公示")
    assert "是网上链接，无需存放位置" in sfj("存放 12 3 档案室")
    assert "档案室1号柜" in sfj("查看 12")
    assert "已撤销第12项的「提交链接」" in sfj("撤销 12")


# --- bonus and deduction items -------------------------------------------------------------


def test_any_department_may_offer_bonus_evidence_and_it_never_counts(rt, chat, sfj):
    jy = chat("u-jy", "钱七")
    jy("绑定 教育局")
    assert "加分项（自愿申报" not in jy("排行")  # asked before the offer: not kept after it
    assert "是加分项，自愿申报" in jy("不涉及 96 本单位无获奖")
    out = jy("提交 96 https://www.jinfeng.gov.cn/award.html 2019年全国普法先进单位")
    assert out.startswith("已收到第96项的 1 个链接")
    a = state(rt, 96, "教育局")
    assert a is not None and a.status is Status.IN_PROGRESS
    assert rt.store.assignments.statuses()[(96, "教育局")][1] is Status.IN_PROGRESS
    # the bonus and deduction items are named on the task list's last page, apart
    page, text = 1, jy("我的任务")
    while "发送「我的任务 第" in text:
        page += 1
        text = jy(f"我的任务 第{page}页")
    assert "加分项、减分项（不计入进度）：第96项🔵" in text
    assert "已标记完成" in jy("完成 96")
    assert "进度：0%" in jy("进度")  # the bonus item weighs nothing
    assert "加分项（自愿申报，不计入排名）：教育局（第96项）" in jy("排行")
    # the lead unit may say it has nothing for a bonus or deduction item
    assert "已标记为不涉及" in sfj("不涉及 97 本年度无相关经验推广")
    assert "牵头单位，不能标记不涉及" in sfj("不涉及 12 无")


def test_deduction_items_are_answered_by_a_declaration(rt, chat, sfj):
    out = sfj("声明 98")
    assert "本单位无发生严重违法行政行为,或者因行政不作为、乱作为造成恶劣社会影响的情形。" in out
    a = state(rt, 98, "司法局")
    assert a.status is Status.DONE and a.explanation.startswith("本单位无")
    assert "本单位存在以下情形：2019年一起复议撤销案件" in sfj("声明 98 有 2019年一起复议撤销案件")
    jy = chat("u-jy", "钱七")
    jy("绑定 教育局")
    before = snapshot(rt)
    assert "每次「报送」都附真实性承诺" in sfj("声明 99")
    assert "不是减分项" in sfj("声明 12")
    assert "请以「有」开头" in sfj("声明 98 没有")
    assert "不负责第 98 项" in jy("声明 98")
    assert snapshot(rt) == before


# --- ★ rectification ---------------------------------------------------------------------------


def test_a_star_item_needs_a_rectification_note_before_it_is_done(rt, sfj, admin):
    assert "须先发送「整改 4 整改情况」" in admin("星标 4")
    sfj("说明 4 已梳理证明事项清单")
    before = snapshot(rt)
    assert sfj("完成 4").startswith("第4项是★整改项")
    assert "不是★整改项" in sfj("整改 12 已整改")
    assert snapshot(rt) == before
    assert "已保存第4项的整改说明" in sfj("整改 4 已补充清单的法律依据并在网站公开")
    assert state(rt, 4, "司法局").rectification == "已补充清单的法律依据并在网站公开"
    assert "已标记完成" in sfj("完成 4")
    assert [e.action for e in rt.store.audit.entries(3)][:2] == ["done", "rectify"]
    assert "★整改说明：已补充清单的法律依据并在网站公开" in sfj("查看 4")


# --- a group belongs to a department -------------------------------------------------------


@pytest.fixture
def grt(settings, redis_client, clock, tmp_path):
    """司法局 has its own DingTalk group (cid-sfj) and WeCom group (wrk-sfj); cid-both is shared
    by 司法局 and 教育局. The client counts round trips."""
    org = yaml.safe_load((ROOT / "org.yaml").read_text(encoding="utf-8"))
    chats = {
        "司法局": [
            {"platform": "dingtalk", "conversation_id": "cid-sfj"},
            {"platform": "wecom", "chat_id": "wrk-sfj"},
            {"platform": "dingtalk", "conversation_id": "cid-both"},
        ],
        "教育局": [{"platform": "dingtalk", "conversation_id": "cid-both"}],
    }
    for d in org["departments"]:
        d["chats"] = chats.get(d["name"], [])
    path = tmp_path / "org.yaml"
    path.write_text(yaml.safe_dump(org, allow_unicode=True), encoding="utf-8")
    if CLUSTER:  # round trips are counted on one connection's sends
        pytest.skip("counts the sends of one connection")
    counted = Counted(settings.redis_url)
    runtime = build_runtime(settings.with_(org_path=str(path)), clock=clock, client=counted.client)
    runtime.counted = counted
    yield runtime
    counted.client.close()


_ids = iter(range(10**6))


def said(rt, text: str, user: str = "u-new", chat_id: str = "cid-sfj", platform="dingtalk"):
    """A callback from a group (chat_id) or, with chat_id "", a one-to-one chat: the reply text
    and the round trips it took."""
    msg = Incoming(
        platform, user, text, chat_id, bool(chat_id), True, f"g{next(_ids)}", user_name="周八"
    )
    before = rt.counted.n
    out = rt.dispatcher.handle_once(msg, "drain-test", 60_000)
    return out.reply.text, rt.counted.n - before


def test_a_member_in_the_departments_own_group_acts_for_it_without_binding(grt):
    text, trips = said(grt, "我的任务")
    assert text.startswith("**司法局 · 共 67 项")
    assert text.endswith("（本群是司法局的工作群，您在这里发送的命令按司法局处理，无需绑定；"
                         "在私聊或其他群里使用前，请先发送「绑定 部门名称」。）")  # fmt: skip
    assert trips == 2  # the group's department is read in the same preload
    text, trips = said(grt, "提交 12 https://www.jinfeng.gov.cn/a.html 双随机清单")
    assert text.startswith("已收到第12项的 1 个链接") and "本群是" not in text  # said once
    assert trips == 2
    a, _ = grt.store.assignments.get(12, "司法局")
    assert a.materials[0].added_by == "周八" and a.updated_by == "dingtalk:u-new"
    assert grt.store.bindings.get("dingtalk", "u-new") is None  # nothing was bound
    # the same person on WeCom in 司法局's group: told once there too
    text, _ = said(grt, "进度", platform="wecom", chat_id="wrk-sfj")
    assert "司法局 进度" in text and "本群是司法局的工作群" in text
    # a shared group and a one-to-one chat still need 绑定
    assert said(grt, "我的任务", chat_id="cid-both")[0].startswith("您还没有绑定部门")
    assert said(grt, "我的任务", chat_id="")[0].startswith("您还没有绑定部门")
    assert said(grt, "我的任务", chat_id="cid-other")[0].startswith("您还没有绑定部门")


def test_binding_wins_and_unbinding_is_not_needed_in_the_group(grt):
    assert "无需解绑" in said(grt, "解绑", user="u-x")[0]
    assert grt.store.bindings.get("dingtalk", "u-x") is None
    text, _ = said(grt, "绑定 教育局", user="u-x")
    assert "已绑定到**教育局**" in text and "已从" not in text
    assert said(grt, "我的任务", user="u-x")[0].startswith("**教育局 · ")  # binding wins


# --- one clock ---------------------------------------------------------------------------------


def test_processes_started_apart_read_one_fake_clock(settings, redis_client):
    fake = settings.with_(fake_now="2020-08-14T09:00:00+08:00", clock_speed=3600.0)
    first = build_runtime(fake)
    time.sleep(0.5)  # half a real second is half a fake hour at this speed
    second = build_runtime(fake)
    a, b = first.store.clock(), second.store.clock()
    assert abs((a - b).total_seconds()) < 60  # not 1800: the second did not start anew
    assert (a - datetime(2020, 8, 14, 1, 0, tzinfo=UTC)).total_seconds() >= 1800
    # another DUBAN_FAKE_NOW is another clock, starting at its own instant
    other = build_runtime(fake.with_(fake_now="2020-09-01T09:00:00+08:00"))
    assert other.store.clock().date() == date(2020, 9, 1)
    for rt in (first, second, other):
        rt.redis.close()


def test_no_reminders_on_demand_once_the_campaign_is_over(rt, admin, clock):
    assert "已安排向司法局推送催办提醒（未完成 67 项）" in admin("催办 司法局")  # 71 less 96-99
    clock.set(2020, 10, 9, 2, 0)
    before = snapshot(rt)
    assert admin("催办") == "本次创建活动已结束，不再推送提醒。"
    assert snapshot(rt) == before
