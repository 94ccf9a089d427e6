"""Reminders, escalations and the ranking push, run by a real RQ worker on the real Redis."""

from __future__ import annotations

from bot import texts
from bot.progress import Material, Role, Status
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

COURT = "金凤区人民法院"  # one assignment (69, lead)
PROCURATORATE = "金凤区人民检察院"  # two (48, 70)
STREET = "北京中路街道"  # 18: lead 36, 37, 85, 87; the rest cooperating


def remind(rt, slot="s1", now=None, department=""):
    rt.services.enqueue(
        "bot.jobs.send_reminders",
        slot=slot,
        department=department,
        now_iso=(now or rt.store.clock()).isoformat(),
    )
    work(rt)


def reminders(rt):
    return [n for n in notices(rt) if n.kind in ("reminder", "escalation")]


def by_department(items):
    out = {}
    for n in items:
        assert n.department not in out, f"two notices for {n.department!r}"
        out[n.department] = n
    return out


def submit(rt, department: str) -> None:
    """The department sends its catalogue (报送) as a bound member would."""
    bind(rt, f"u-{department}", department)
    assert "已报送" in say(rt, f"u-{department}", "报送 确认")


def test_every_open_department_gets_one_reminder_and_a_complete_one_none(rt, clock):
    complete_department(rt, COURT)
    submit(rt, COURT)
    complete_department(rt, PROCURATORATE)  # complete, but its catalogue is not sent yet
    remind(rt)
    got = by_department(reminders(rt))
    expected = set(departments(rt)) - {COURT}
    assert set(got) == expected
    lines = got[PROCURATORATE].text.splitlines()
    assert lines[2:-1] == [
        "尚未报送资料目录（截止 8月19日）：材料齐全后发送「报送」",
        "共 2 项，已全部完成。",
    ]
    # the way to the page: the department's door (a group sees it), as the card's button
    assert lines[-1].startswith("➜ [打开填报页](http://duban.test/m/d/")
    # the same slot again (a retried or duplicated job) posts nothing more
    remind(rt)
    assert len(reminders(rt)) == len(expected)
    # another slot does post again
    remind(rt, slot="s2")
    assert len(reminders(rt)) == 2 * len(expected)


def test_reminder_content_returned_and_dead_links_first_then_counts(rt, clock):
    # 北京中路街道: one cooperating item starred, one lead item returned, one done, a dead link
    set_status(rt, 20, STREET, Status.DONE)
    set_status(rt, 36, STREET, Status.RETURNED, reason="缺少2019年台账")
    url = "https://www.jinfeng.gov.cn/dead.html"
    set_status(rt, 37, STREET, Status.IN_PROGRESS, materials=(Material("执法公示", url),))
    rt.store.links.record(url, {"ok": False, "status": 404, "error": "http_404"})
    rt.store.assignments.set_star(94, None, True, "test")  # the office stars a cooperating item
    remind(rt)
    text = by_department(reminders(rt))[STREET].text
    lines = text.splitlines()
    # 14 August is 3 working days before the deadline: the urgent header (no liaison bound here)
    assert lines[0] == f"**⏰ 督办提醒 · {STREET}（距截止仅剩 3 个工作日）**"
    # 2020-08-14 (Fri): 17, 18, 19 August are the working days left
    assert lines[1] == "距「资料目录报送」截止（8月19日）还有 3 个工作日。"
    assert lines[2] == "尚未报送资料目录（截止 8月19日）：材料齐全后发送「报送」"
    # what needs the department's hand first: the return, the dead link; the rest as counts
    assert lines[3:8] == [
        "**已退回 1 项，请按原因修改后重新标记完成：**",
        "- 第36项：缺少2019年台账",
        "**1 个链接无法打开，请核对：**",
        f"- 第37项 [执法公示]({url})：网页不存在（HTTP 404）",
        "共 18 项，已完成 1 项，还有 17 项未完成（牵头 4 项，★ 1 项）："
        "发送「我的任务」逐项查看，材料齐全后发送「完成 编号」。",
    ]
    assert len(lines) <= texts.PHONE_LINES


def test_escalation_mentions_liaisons_from_three_working_days_before(rt, clock):
    bind(rt, "li1", STREET, role="liaison")
    bind(rt, "mem1", STREET)
    clock.now = local(2020, 8, 13, 9, 0)  # Thursday: 4 working days left
    remind(rt, slot="d13")
    n13 = by_department(notices(rt))[STREET]
    assert n13.mentions == () and n13.kind == "reminder"
    clock.now = local(2020, 8, 14, 9, 0)  # Friday: 3 working days left
    remind(rt, slot="d14")
    n14 = [n for n in notices(rt) if n.department == STREET][-1]
    assert n14.kind == "escalation" and n14.mentions == ("console:li1",)
    assert n14.text.startswith(f"**⏰ 督办提醒 · {STREET}（距截止仅剩 3 个工作日）**")
    clock.now = local(2020, 8, 19, 9, 0)  # the deadline day itself
    remind(rt, slot="d19")
    n19 = [n for n in notices(rt) if n.department == STREET][-1]
    assert "今天截止" in n19.text and n19.mentions == ("console:li1",)


def test_no_digest_before_a_deadline_has_passed(rt, clock):
    rt.services.enqueue("bot.jobs.send_escalations", slot="x", now_iso=clock.now.isoformat())
    work(rt)
    assert notices(rt) == []


def test_after_the_deadline_office_digest_and_lead_units_get_their_laggards(rt, clock):
    complete_department(rt, COURT)
    # indicator 1 is led by 行政审批局 with every department cooperating; 民政局 has contributed
    set_status(rt, 1, "民政局", Status.IN_PROGRESS, explanation="正在整理")
    bind(rt, "sfj", "司法局")
    assert say(rt, "sfj", "说明 12 已整理2019年以来的执法清单。").startswith("已")
    assert "第 1 版" in say(rt, "sfj", "报送 确认")
    work(rt)
    clock.now = local(2020, 8, 21, 9, 0)  # Friday after 19 August: 2 working days over
    rt.services.enqueue("bot.jobs.send_escalations", slot="d21", now_iso=clock.now.isoformat())
    work(rt)
    esc = notices(rt, "escalation")
    office = [n for n in esc if n.department == ""]
    assert len(office) == 1
    lines = office[0].text.splitlines()
    assert lines[0] == "**⚠️ 逾期督办日报（8月21日）**"
    assert lines[1].startswith("「资料目录报送」已于 8月19日 截止（已过 2 个工作日），")
    listed = {line[2:].split("：")[0]: line for line in lines if line.startswith("- ")}
    # bonus and deduction items (96-99, led by 司法局) are no chores: they never count
    regular = rt.catalog.regular_ids
    statuses = {k: v for k, v in rt.store.assignments.statuses().items() if k[0] in regular}
    overdue = {d for (_, d), (_, s) in statuses.items() if not s.is_complete}
    # 人民法院 has everything done but never sent its catalogue: listed too
    assert set(listed) == overdue | {COURT}
    assert listed[COURT] == f"- {COURT}：已全部完成，未报送目录"
    total = sum(1 for (_, d) in statuses if d == "司法局")
    open_n = sum(1 for (_, d), (_, s) in statuses.items() if d == "司法局" and not s.is_complete)
    assert total == sum(1 for (_, d) in rt.store.assignments.statuses() if d == "司法局") - 4
    assert listed["司法局"] == f"- 司法局：未完成 {open_n}/{total} 项，已报送第1版"
    assert listed[STREET].endswith("未报送目录")
    # the lead unit of indicator 1 hears which cooperating units have nothing yet
    lead = [n for n in esc if n.department == "行政审批局"]
    assert len(lead) == 1
    line1 = next(x for x in lead[0].text.splitlines() if x.startswith("- 第1项："))
    coop = [d for (i, d), r in rt.assignments.items() if i == 1 and r is Role.COOPERATE]
    idle = [d for d in coop if statuses[(1, d)][1] is Status.TODO]
    assert "民政局" in coop and "民政局" not in idle and len(idle) == len(coop) - 1
    assert line1 == f"- 第1项：{'、'.join(idle[:10])}等 {len(idle)} 个单位"
    # the same slot again posts nothing
    rt.services.enqueue("bot.jobs.send_escalations", slot="d21", now_iso=clock.now.isoformat())
    work(rt)
    assert len(notices(rt, "escalation")) == len(esc)


def test_ranking_order_ties_and_change(rt, clock):
    # 人民检察院 completes first, 人民法院 later: the same score 100% shares the first place,
    # the earlier one listed first
    complete_department(rt, PROCURATORATE, reached_at="2020-08-13T01:00:00.000Z")
    complete_department(rt, COURT, reached_at="2020-08-13T02:00:00.000Z")
    set_status(rt, 36, STREET, Status.DONE, reached_at="2020-08-13T03:00:00.000Z")
    rt.services.enqueue("bot.jobs.send_ranking", slot="r1", now_iso=clock.now.isoformat())
    work(rt)
    ranks = {k.decode(): int(v) for k, v in rt.redis.hgetall(rt.store.keys.last_ranking).items()}
    everyone = departments(rt)
    assert ranks[PROCURATORATE] == 1 and ranks[COURT] == 1 and ranks[STREET] == 3
    rest = set(everyone) - {PROCURATORATE, COURT, STREET}
    assert {ranks[d] for d in rest} == {4}  # all at 0%: one shared rank
    got = by_department(notices(rt, "ranking"))
    assert set(got) == set(everyone) | {""}
    n = len(everyone)
    lines = got[COURT].text.splitlines()
    assert lines[1] == f"全区第 1 / {n} 名（与 1 个部门并列），完成率 100%（已完成 1/1 项）"
    assert lines[2].startswith("首次排名") and lines[3] == texts.RANKING_RULE
    assert "加权" not in got[COURT].text
    assert got[STREET].text.splitlines()[1].startswith(f"全区第 3 / {n} 名，完成率")
    table = got[""].text.splitlines()
    assert table[1] == f"1. {PROCURATORATE} 100%（2/2）"
    assert table[2] == f"1. {COURT} 100%（1/1）"
    assert table[3].startswith(f"3. {STREET} ")
    assert all(line.startswith("4. ") for line in table[4:-1])
    assert table[-1] == texts.RANKING_RULE
    # the next working day 司法局 completes everything, later than the two courts: it joins
    # them in the first place, listed after them, and the street office drops to 4th
    clock.now = local(2020, 8, 17, 17, 30)
    complete_department(rt, "司法局", reached_at="2020-08-17T01:00:00.000Z")
    rt.services.enqueue("bot.jobs.send_ranking", slot="r2", now_iso=clock.now.isoformat())
    work(rt)
    latest = {n.department: n for n in notices(rt, "ranking")}
    assert latest["司法局"].text.splitlines()[1].startswith(f"全区第 1 / {n} 名（与 2 个部门并列）")
    assert "较上次上升 3 名" in latest["司法局"].text
    assert "较上次下降 1 名" in latest[STREET].text
    assert "与上次持平" in latest[COURT].text
    table = latest[""].text.splitlines()
    assert [x.split(" ")[0] for x in table[1:5]] == ["1.", "1.", "1.", "4."]
    assert table[3].startswith("1. 司法局 ")
    # a repeated slot changes nothing
    before = len(notices(rt))
    rt.services.enqueue("bot.jobs.send_ranking", slot="r2", now_iso=clock.now.isoformat())
    work(rt)
    assert len(notices(rt)) == before


def test_admin_remind_command_pushes_now_and_members_are_refused(rt, clock):
    assert "仅限依法治区办管理员" in say(rt, "member", "催办 司法局")
    reply = say(rt, "office", "催办 司法局", admin=True)
    assert "已安排向司法局推送催办提醒" in reply
    work(rt)
    [n] = reminders(rt)
    assert n.department == "司法局" and "共 67 项" in n.text
    complete_department(rt, COURT)
    assert "没有未完成的事项，无需催办" in say(rt, "office", "催办 金凤区人民法院", admin=True)
    clock.now = local(2020, 8, 14, 10, 30)  # 司法局 was reminded at 10:00 and still rests
    reply = say(rt, "office", "催办", admin=True)
    assert f"已安排向 {len(departments(rt)) - 2} 个部门推送催办提醒" in reply
    assert "另有 1 个部门 60 分钟内刚催办过，本次跳过" in reply
    work(rt)
    again = [n.department for n in reminders(rt)]
    assert again.count("司法局") == 1 and len(again) == len(departments(rt)) - 1
    clock.now = local(2020, 8, 14, 22, 30)
    assert "免打扰时段" in say(rt, "office", "催办", admin=True)


def test_remind_cool_down_is_shared_and_ends(rt, clock):
    """One 催办 per department per DUBAN_REMIND_COOLDOWN_MIN (60): a second is refused with
    when and how long, changes nothing, and works again once the hour is over."""
    assert "60 分钟内不再重复催办该部门" in say(rt, "office", "催办 司法局", admin=True)
    clock.now = local(2020, 8, 14, 10, 20)
    refused = say(rt, "office", "催办 区司法局", admin=True)
    assert refused == "司法局已于 10:00 催办过，为免频繁打扰，请 40 分钟后再催办。"
    work(rt)
    assert [n.department for n in reminders(rt)] == ["司法局"]
    everyone = say(rt, "office", "催办", admin=True)
    assert "本次跳过" in everyone
    assert "所有未完成的部门都在 60 分钟内催办过" in say(rt, "office", "催办", admin=True)
    clock.now = local(2020, 8, 14, 11, 1)
    assert "已安排向司法局推送催办提醒" in say(rt, "office", "催办 司法局", admin=True)
