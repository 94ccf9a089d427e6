"""Replies read on a liaison's phone (issue 15 item 4): 我的任务 a page at a time, 查看 with the
cooperating units summarised, the daily reminder short, and 完成 for several items at once.

Each reply that concerns a department's items is at most texts.PHONE_LINES lines and goes out as
one message on every platform (no numbered parts, nothing cut off).
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from bot import reminders, texts
from bot.messages import Incoming
from bot.platforms import dingtalk, wecom
from bot.platforms.feishu import bodies as feishu
from bot.platforms.wecom import WECOM_TEXT_LIMIT, markup
from bot.progress import Status
from tests.store.test_commands import snapshot, state


def fits_a_phone(text: str) -> None:
    """At most a screen of lines, and one message (no parts, nothing cut) on every platform."""
    lines = text.split("\n")
    assert len(lines) <= texts.PHONE_LINES, (len(lines), text)
    assert len(dingtalk.custom_robot_bodies(text)) == 1
    assert len(wecom.webhook_bodies(text, kind="markdown")) == 1
    assert len(wecom.webhook_bodies(text, kind="text")) == 1
    assert len(feishu.webhook_bodies(text)) == 1
    # the WeCom app answers in a text message of at most 2048 bytes and cuts what is longer
    assert len(markup(text, "text").encode()) <= WECOM_TEXT_LIMIT


def largest(rt) -> str:
    """The department with the most assignments."""
    counts = Counter(d for _, d in rt.services.assignments)
    return max(sorted(counts), key=lambda d: counts[d])


def own_ids(rt, dept: str) -> list[int]:
    regular = rt.catalog.regular_ids
    return sorted(i for i, d in rt.services.assignments if d == dept and i in regular)


def listed(text: str) -> list[int]:
    return [int(m) for m in re.findall(r"^- \S+ 第(\d+)项", text, re.M)]


@pytest.fixture
def big(rt, chat):
    dept = largest(rt)
    assert dept == "司法局"  # 71 assignments in the shipped org.yaml
    c = chat("u-big", "张三")
    c(f"绑定 {dept}")
    return c


# --- 我的任务 ---------------------------------------------------------------------------------


def test_my_tasks_of_the_largest_department_fits_a_phone_and_pages_through_every_item(rt, big):
    first = big("我的任务")
    fits_a_phone(first)
    assert "司法局 · 共 67 项，已完成 0 项，未完成 67 项" in first
    assert re.search(r"还有 \d+ 项：发送「我的任务 第2页」", first)
    assert "填报页" not in first and "/m/" not in first  # there is no fill-in page yet
    seen, page, text = [], 1, first
    while True:
        fits_a_phone(text)
        seen += listed(text)
        if not re.search(r"^还有 \d+ 项", text, re.M):
            break
        page += 1
        text = big(f"我的任务 第{page}页")
    assert sorted(seen) == own_ids(rt, "司法局") and len(seen) == len(set(seen))
    assert "加分项、减分项（不计入进度）：第96项⚪ 第97项⚪ 第98项⚪ 第99项⚪" in text
    assert f"没有第 {page + 1} 页" in big(f"我的任务 {page + 1}")


@pytest.mark.parametrize("typed", ["我的任务 第2页", "我的任务 2", "我的任务 ２", "我的任务第二页"])
def test_the_second_page_is_asked_for_in_several_ways(big, typed):
    second = big(typed)
    assert second == big("我的任务 第2页")
    assert listed(second) and not set(listed(second)) & set(listed(big("我的任务")))


def test_returned_and_lead_items_come_first_with_the_reason(rt, big, admin):
    for n in (4, 12):
        big(f"说明 {n} 已整理")
    admin("退回 12 司法局 缺少2019年双随机抽查台账，请补充后重新报送")
    admin("退回 4 司法局 清单未公开")
    out = big("我的任务")
    fits_a_phone(out)
    items = listed(out)
    assert items[:2] == [4, 12]
    assert "已退回 2 项，排在最前" in out
    assert "排在最前" not in big("我的任务 第2页")
    line = next(x for x in out.splitlines() if "第12项" in x)
    assert "🔴" in line and "退回原因：缺少2019年双随机抽查台账" in line
    roles = [("牵头" in x) for x in out.splitlines()[3:] if x.startswith("- ")][2:]
    assert roles == sorted(roles, reverse=True)  # lead before cooperating after the returns


def test_overdue_is_said_once_the_first_deadline_has_passed(rt, big, clock):
    clock.set(2020, 8, 21, 2)  # after 资料目录报送 (8月19日)
    out = big("我的任务")
    fits_a_phone(out)
    assert "已过「资料目录报送」截止日，未完成的均已逾期" in out


def test_all_and_done_filters_page_too(rt, big):
    big("说明 12 已整理")
    big("完成 12")
    done = big("我的任务 已完成")
    assert listed(done) == [12] and "第2页" not in done
    every = big("我的任务 全部")
    fits_a_phone(every)
    assert "发送「我的任务 全部 第2页」" in every
    assert 12 not in listed(every)  # open items first, the completed one later
    assert "请写「我的任务」" in big("我的任务 全部 下一页")


# --- 查看 -------------------------------------------------------------------------------------


def test_view_summarises_many_cooperating_units_and_lists_them_on_request(rt, big, chat):
    coop = [d for (i, d), r in rt.services.assignments.items() if i == 4 and r.value != "lead"]
    assert len(coop) > 30
    other = chat("u-other")
    other(f"绑定 {coop[0]}")
    other("说明 4 已整理")
    other("完成 4")
    out = big("查看 4")
    fits_a_phone(out)
    assert f"配合单位 {len(coop)} 个：已完成 1，未开始 {len(coop) - 1}" in out
    assert "「查看 4 全部」" in out and coop[1] not in out
    full = big("查看 4 全部")
    assert all(d in full for d in coop)
    assert f"已完成（1）：{coop[0]}" in full


def test_view_names_a_few_units_inline(big):
    out = big("查看 16")  # three lead units
    fits_a_phone(out)
    assert "查看 16 全部" not in out and "牵头：政府办⚪、发展与改革局⚪、司法局⚪" in out


def test_view_shows_the_first_materials_and_the_rest_on_request(rt, big):
    links = " ".join(f"https://www.jinfeng.gov.cn/a{i}.html" for i in range(9))
    big(f"提交 12 {links} 双随机清单")
    out = big("查看 12")
    fits_a_phone(out)
    assert "还有 4 份材料：发送「查看 12 全部」" in out
    assert "a8.html" in big("查看 12 全部")


# --- the daily reminder ----------------------------------------------------------------------


def test_the_reminder_puts_returns_and_dead_links_first_and_counts_the_rest(rt):
    items = []
    link_states = {}
    for n in own_ids(rt, "司法局"):
        a, _ = rt.store.assignments.get(n, "司法局")
        items.append(a)
    from bot.progress import Material

    for k in range(0, 9):
        a = items[k]
        url = f"https://www.jinfeng.gov.cn/dead{k}.html"
        items[k] = a.changed("x", "2020-08-14T02:00:00Z", materials=(Material(f"材料{k}", url),))
        link_states[url] = {"ok": False, "status": 404}
    for k in (10, 11, 12):
        items[k] = items[k].changed(
            "x", "2020-08-14T02:00:00Z", status=Status.RETURNED, reason="请补充2020年的材料"
        )
    notice = reminders.compose_reminder(
        "司法局", items, rt.catalog, frozenset(), link_states, "距截止还有 3 个工作日。"
    )
    fits_a_phone(notice.text)
    lines = notice.text.splitlines()
    assert lines[2] == "**已退回 3 项，请按原因修改后重新标记完成：**"
    assert lines.index("**9 个链接无法打开，请核对：**") < next(
        i for i, x in enumerate(lines) if x.startswith("共 67 项")
    )
    rest = "、".join(str(i) for i in own_ids(rt, "司法局")[3:9])  # the links not listed
    assert f"另有 6 个链接无法打开（第{rest}项），发送「查看 编号」核对" in notice.text
    assert "发送「我的任务」" in notice.text


# --- 完成 for several items ------------------------------------------------------------------


@pytest.fixture
def ready(rt, sfj):
    """司法局 with materials on 12, 15, 16 and 17, nothing on 19."""
    for n in (12, 15, 16, 17):
        sfj(f"说明 {n} 已整理")
    return sfj


@pytest.mark.parametrize(
    "typed",
    [
        "完成 12 15 16",
        "完成 12、15、16",
        "完成 12,15,16",
        "完成　１２，１５，１６",
        "完成第12、15、16项",
    ],
)
def test_done_for_several_items(rt, ready, typed):
    out = ready(typed)
    fits_a_phone(out)
    assert out.startswith("「完成」共 3 项，全部办理：")
    for n in (12, 15, 16):
        assert f"✅ 第{n}项已标记完成" in out
        assert state(rt, n, "司法局").status is Status.DONE


@pytest.mark.parametrize("typed", ["完成 15-17", "完成 15－17", "完成 15~17", "完成 15至17"])
def test_done_for_a_range(rt, ready, typed):
    assert "全部办理" in ready(typed)
    assert [state(rt, n, "司法局").status for n in (15, 16, 17)] == [Status.DONE] * 3


def test_a_bad_item_in_a_batch_is_named_and_the_others_go_ahead(rt, ready):
    audit = rt.store.audit.length()
    out = ready("完成 12 8 19 120 15")
    fits_a_phone(out)
    assert out.startswith("「完成」共 5 项：2 项已办理，3 项未办理（不影响已办理的各项）：")
    assert "✅ 第12项已标记完成" in out and "✅ 第15项已标记完成" in out
    assert "❌ 司法局 不负责第 8 项。" in out
    assert "❌ 第19项还没有材料或说明，不能标记完成。" in out
    assert "❌ 编号 120 不存在" in out
    assert rt.store.audit.length() - audit == 2
    assert state(rt, 19, "司法局").status is Status.TODO


def test_a_batch_with_nothing_to_do_changes_nothing(rt, ready):
    before = snapshot(rt)
    out = ready("完成 8 19")
    assert "均未办理，没有任何改动" in out
    assert snapshot(rt) == before


@pytest.mark.parametrize(
    "typed,says",
    [
        ("完成 17-12", "范围写反了"),
        ("完成 1-40", "一次最多处理 12 项"),
        ("完成 12 好的", "多了「好的」"),
    ],
)
def test_a_batch_that_cannot_be_read_changes_nothing(rt, ready, typed, says):
    before = snapshot(rt)
    assert says in ready(typed)
    assert snapshot(rt) == before


def callback(rt, text: str, msg_id: str, resume: bool = False):
    msg = Incoming("console", "u-sfj", text, "", False, True, msg_id)
    return rt.dispatcher.handle_once(msg, "g", 60_000, resume=resume)


def test_a_redelivered_batch_changes_each_item_once_and_answers_the_same(rt, ready):
    audit = rt.store.audit.length()
    first = callback(rt, "完成 12 15 16", "batch-1")
    assert "全部办理" in first.reply.text
    again = callback(rt, "完成 12 15 16", "batch-1")
    assert again.reply is None and again.duplicate
    assert rt.store.audit.length() - audit == 3


def test_a_batch_resumed_after_a_crash_finishes_the_rest_once(rt, ready):
    # The first run claimed the message and did item 1 before its worker died.
    assert rt.store.inbox.claim("console", "batch-2")[0]
    done_first = callback(rt, "完成 12", "batch-2#1.1")
    assert "已标记完成" in done_first.reply.text
    audit = rt.store.audit.length()
    out = callback(rt, "完成 12 15 16", "batch-2", resume=True)
    assert "全部办理" in out.reply.text and "✅ 第12项已标记完成" in out.reply.text
    assert rt.store.audit.length() - audit == 2
    assert callback(rt, "完成 12 15 16", "batch-2").duplicate == out.reply.to_json()


def test_view_with_long_links_stops_listing_before_the_screen_is_full(big):
    links = " ".join(f"https://www.example.gov.cn/{'a' * 300}/{i}.html" for i in range(6))
    big(f"提交 4 {links}")
    out = big("查看 4")
    fits_a_phone(out)
    assert re.search(r"还有 \d 份材料：发送「查看 4 全部」", out) and "/0.html" in out
    assert all(f"/{i}.html" in big("查看 4 全部") for i in range(6))


def test_an_item_whose_run_died_unanswered_is_marked_to_check_not_done(rt, ready):
    # The first run claimed the message and item 2, and died before item 2's reply was kept.
    assert rt.store.inbox.claim("console", "batch-3")[0]
    assert rt.store.inbox.claim("console", "batch-3#1.2")[0]
    out = callback(rt, "完成 12 15 16", "batch-3", resume=True).reply.text
    assert out.startswith("「完成」共 3 项：2 项已办理，1 项待核对（不影响已办理的各项）")
    assert "- ❔ 您的消息「完成 15」处理时中断，无法确认是否已生效。" in out
    assert "✅ 第12项已标记完成" in out and "✅ 第16项已标记完成" in out
