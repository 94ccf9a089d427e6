"""Every chat command against the real Redis: success paths, refusals, undo and audit."""

from __future__ import annotations

import json

import pytest

from bot.progress import Status
from tests.outbox import read_outbox


def state(rt, ind: int, dept: str):
    a, _ = rt.store.assignments.get(ind, dept)
    return a


def snapshot(rt) -> dict:
    """Every key and value under the test prefix (to prove that a refusal changed nothing)."""
    out = {}
    for k in sorted(rt.redis.scan_iter(f"{rt.settings.key_prefix}:*")):
        t = rt.redis.type(k)
        if t == b"hash":
            out[k] = rt.redis.hgetall(k)
        elif t == b"list":
            out[k] = rt.redis.lrange(k, 0, -1)
        elif t == b"stream":
            out[k] = rt.redis.xlen(k)
        elif t == b"set":
            out[k] = rt.redis.smembers(k)
        else:
            out[k] = rt.redis.get(k)
    return out


# --- success paths --------------------------------------------------------------------------


def test_help_lists_member_commands_and_hides_admin_ones(chat, admin):
    out = chat("nobody")("帮助")
    assert "提交 <编号> <链接…> [名称]" in out and "我的任务" in out
    assert "退回" not in out
    assert "退回 <编号> <部门> <原因>" in admin("帮助")
    assert "也可以写：上报" in chat("nobody")("帮助 提交")


def test_help_lists_commands_in_the_order_they_are_used(chat, admin):
    words = [line[2:].split(" ")[0].split("：")[0] for line in admin("帮助").splitlines()
             if line.startswith("- ")]  # fmt: skip
    assert words[:8] == ["我的任务", "查看", "提交", "纸质", "说明", "完成", "不涉及", "删除"]
    assert words.index("报送") < words.index("绑定") < words.index("帮助")
    assert words.index("撤销") < words.index("存放") < words.index("声明") < words.index("进度")
    assert words[-6:] == ["总览", "通过", "退回", "催办", "星标", "查验日期"]  # the office's, last


def test_bind_fuzzy_alias_and_rebind(rt, chat):
    c = chat("u1", "李四")
    assert "已绑定到**司法局**" in c("绑定 法制办")
    assert rt.store.bindings.get("console", "u1").department == "司法局"
    out = c("绑定 行政审批局")
    assert "已绑定到**行政审批局**" in out and "已从司法局改绑" in out
    assert "无需重复绑定" in c("绑定 行政审批局")
    outbox = [n.text for _, n, _ in read_outbox(rt.store)]
    assert any("李四 已绑定为司法局成员" in t for t in outbox)


def test_unbind(rt, sfj):
    assert "已解除与司法局的绑定" in sfj("解绑")
    assert rt.store.bindings.get("console", "u-sfj") is None
    assert "请先发送「绑定 部门名称」" in sfj("我的任务")


def test_my_tasks_orders_lead_and_star_first(rt, sfj, admin):
    admin("星标 1")  # 司法局 cooperates on 1: ★ brings it first among cooperating items
    out = sfj("我的任务")
    # 71 assignments, of which the bonus (96, 97) and deduction (98, 99) items do not count:
    # they are named apart, for what they are, on the last page
    assert "共 67 项" in out
    assert "个工作日" in out  # the countdown to the next deadline
    pages, page = [out], 1
    while f"发送「我的任务 第{page + 1}页」" in pages[-1]:
        page += 1
        pages.append(sfj(f"我的任务 第{page}页"))
    lines = [x for p in pages for x in p.splitlines() if x.startswith("- ")]
    assert len(lines) == 67
    assert "加分项、减分项（不计入进度）：第96项⚪ 第97项⚪ 第98项⚪ 第99项⚪" in pages[-1]
    assert "【牵头】" in lines[0]
    first_coop = next(x for x in lines if "【配合】" in x)
    assert "第1项★" in first_coop


def test_submit_two_links_with_name_paper_explain_done(rt, sfj):
    out = sfj(
        "提交 12 https://www.jinfeng.gov.cn/a.html https://www.jinfeng.gov.cn/b.html 双随机方案"
    )
    assert "2 个链接" in out
    a = state(rt, 12, "司法局")
    assert [m.url for m in a.materials] == [
        "https://www.jinfeng.gov.cn/a.html",
        "https://www.jinfeng.gov.cn/b.html",
    ]
    assert [m.title for m in a.materials] == ["双随机方案（1）", "双随机方案（2）"]
    assert a.status is Status.IN_PROGRESS and a.materials[0].added_by == "张三"
    assert rt.redis.smembers(rt.store.keys.link_queue) == {
        b"https://www.jinfeng.gov.cn/a.html",
        b"https://www.jinfeng.gov.cn/b.html",
    }
    assert "纸质材料" in sfj("纸质 第12项 2019年执法案卷")
    assert "已保存第12项的报送说明" in sfj("说明 #12 我局开展双随机抽查36次。")
    assert "已标记完成" in sfj("完成 12号")
    a = state(rt, 12, "司法局")
    assert a.status is Status.DONE and len(a.materials) == 3
    assert a.explanation == "我局开展双随机抽查36次。"


def test_view_shows_units_and_our_materials(sfj):
    sfj("提交 1 https://a.gov.cn/x 审批时限说明")
    out = sfj("查看 1")
    assert "牵头：行政审批局" in out and "配合单位 32 个：进行中 1，未开始 31" in out
    assert "本部门（配合）：进行中" in out
    assert "[审批时限说明](https://a.gov.cn/x)" in out


def test_not_applicable_for_cooperating_unit(rt, sfj):
    out = sfj("不涉及 1 我局无行政审批事项")
    assert "已标记为不涉及" in out
    a = state(rt, 1, "司法局")
    assert a.status is Status.NOT_APPLICABLE and a.reason == "我局无行政审批事项"


def test_delete_material(rt, sfj):
    sfj("提交 12 https://a.cn/1 https://a.cn/2")
    assert "已删除第12项的材料" in sfj("删除 12 1")
    assert [m.url for m in state(rt, 12, "司法局").materials] == ["https://a.cn/2"]
    sfj("删除 12 1")
    assert state(rt, 12, "司法局").status is Status.TODO


def test_progress_and_ranking(rt, sfj, chat):
    sfj("说明 4 已公布证明事项清单")
    sfj("完成 4")
    out = sfj("进度")
    assert "司法局 进度：2%" in out and "全区排名：第 1 /" in out
    other = chat("u-sp")
    other("绑定 行政审批局")
    rank = other("排行")
    assert rank.splitlines()[1].startswith("1. 司法局")
    assert "← 本部门" in rank


def test_admin_approve_and_return_notify_department(rt, sfj, admin):
    sfj("说明 12 材料见附件")
    out = admin("退回 12 司法局 缺少2019年抽查台账")
    assert "已退回司法局第12项" in out
    a = state(rt, 12, "司法局")
    assert a.status is Status.RETURNED and a.reason == "缺少2019年抽查台账"
    notices = [n for _, n, _ in read_outbox(rt.store) if n.kind == "review"]
    assert notices[-1].department == "司法局" and "缺少2019年抽查台账" in notices[-1].text
    assert "退回原因：缺少2019年抽查台账" in sfj("我的任务")
    sfj("完成 12")
    assert "已通过司法局第12项" in admin("通过 12 司法局")
    assert state(rt, 12, "司法局").status is Status.APPROVED
    assert "已通过依法治区办审核" in [n for _, n, _ in read_outbox(rt.store)][-1].text
    # Changing what the office accepted sends it back to 已完成, to be reviewed again.
    out = sfj("提交 12 https://a.cn/new 补充台账")
    assert "（已完成）" in out and "修改后需依法治区办重新审核" in out
    assert "材料齐全后请发送" not in out  # it is done already
    assert state(rt, 12, "司法局").status is Status.DONE
    assert "修改后需依法治区办重新审核" not in sfj("纸质 12 台账")  # reviewed once is enough


def test_star_toggle_changes_weights(rt, admin):
    assert "标为★" in admin("星标 5")
    assert rt.store.assignments.star_overrides() == {5: True}
    assert "取消" in admin("星标 5")
    assert rt.store.assignments.star_overrides() == {5: False}


def test_overview(admin, sfj):
    sfj("说明 4 x")
    sfj("完成 4")
    out = admin("总览")
    assert "已完成 1 项" in out and "全区总览" in out


# --- refusals change nothing ----------------------------------------------------------------


REFUSALS = [
    ("提交 120 https://a.cn", "编号 120 不存在，指标编号为 1–99"),
    ("提交 8 https://a.cn", "司法局 不负责第 8 项"),
    ("提交 12 www.a.gov.cn/x", "链接需以 http:// 或 https:// 开头"),
    ("提交 12 只有名称", "请附上材料的网址"),
    ("提交", "请写上指标编号"),
    ("纸质 12", "请写上纸质材料的名称"),
    ("说明 12", "请写上说明内容"),
    ("完成 12", "还没有材料或说明"),
    ("完成 8", "不负责第 8 项"),
    ("不涉及 12 无", "牵头单位，不能标记不涉及"),
    ("不涉及 1", "请写明原因"),
    ("删除 12 1", "还没有材料"),
    ("删除 12", "请写上材料序号"),
    ("撤销 12", "没有可以撤销的操作"),
    ("通过 12 司法局", "仅限依法治区办管理员"),
    ("退回 12 司法局 不行", "仅限依法治区办管理员"),
    ("星标 12", "仅限依法治区办管理员"),
    ("总览", "仅限依法治区办管理员"),
    ("我的任务 随便", "请写「我的任务」"),
    ("帮助 不存在的命令", "没有「不存在的命令」这个命令"),
    ("绑定 火星局", "没有找到部门「火星局」"),
    ("绑定 局", "对应多个部门"),
]


@pytest.mark.parametrize("text,needle", REFUSALS)
def test_refusals_explain_and_change_nothing(rt, sfj, text, needle):
    before = snapshot(rt)
    out = sfj(text)
    assert needle in out, out
    assert snapshot(rt) == before


def test_admin_refusals_change_nothing(rt, admin):
    before = snapshot(rt)
    assert "尚无任何材料，不能通过" in admin("通过 12 司法局")
    assert "不负责第 8 项" in admin("通过 8 司法局")
    assert "请写明退回原因" in admin("退回 12 司法局")
    assert "没有找到部门" in admin("退回 12 火星局 原因")
    assert snapshot(rt) == before


def test_unbound_member_is_told_to_bind(rt, chat):
    before = snapshot(rt)
    assert "请先发送「绑定 部门名称」" in chat("stranger")("提交 12 https://a.cn")
    assert snapshot(rt) == before


def test_unknown_text_quiet_unless_mentioned(sfj):
    assert sfj("今天天气不错", mentioned=False) == ""
    assert "您是不是想用" in sfj("提教 12", mentioned=True)


# Chat that starts with a command word. None of it may run a command: 报送 freezes a version and
# mails it, 解绑 drops the binding. Unaddressed, the bot stays quiet; addressed, it asks.
CHAT_STARTING_WITH_A_KEYWORD = [
    "报送时间是哪天？",
    "解绑是什么意思",
    "完成了吗",
    "完成12了吗",
    "说明一下情况",
    "进度怎么样了",
    "查看一下",
    "撤销一下吧",
    "删除了吧",
    "提交材料了",
    "我的任务呢",
    "排行第几",
]


@pytest.mark.parametrize("text", CHAT_STARTING_WITH_A_KEYWORD)
def test_chat_starting_with_a_keyword_runs_nothing(rt, sfj, text):
    sfj("提交 12 https://a.cn/1")
    before = snapshot(rt)
    assert sfj(text, mentioned=False) == ""
    assert "您是不是想用" in sfj(text, mentioned=True)
    assert snapshot(rt) == before


@pytest.mark.parametrize(
    "text,extra",
    [
        ("解绑 是什么意思", "是什么意思"),
        ("完成 12 好的", "好的"),
        ("报送 一下", "一下"),
        ("进度 司法局", "司法局"),
    ],
)
def test_text_left_over_after_a_command_is_refused(rt, sfj, text, extra):
    sfj("提交 12 https://a.cn/1")
    before = snapshot(rt)
    out = sfj(text, mentioned=False)
    assert f"命令后面多了「{extra}」，本次没有执行" in out and "用法：" in out
    assert snapshot(rt) == before


def test_commands_typed_tightly_or_with_closing_punctuation_still_run(rt, sfj):
    assert "司法局 进度：" in sfj("进度？")
    assert "司法局 · 共" in sfj("我的任务。")
    assert "1. 司法局" in sfj("排行榜")
    assert "已收到第12项" in sfj("提交第12项 https://a.cn/2 方案")
    assert "已保存第12项的报送说明" in sfj("说明十二 我局已开展抽查。")
    assert "第12项已标记完成" in sfj("完成第十二项！")
    assert state(rt, 12, "司法局").status == Status.DONE


def test_repeated_submit_and_done_are_refused(rt, sfj):
    sfj("提交 12 https://a.cn/1")
    before = snapshot(rt)
    assert "已在第12项的材料中" in sfj("提交 12 https://a.cn/1")
    assert snapshot(rt) == before
    sfj("完成 12")
    before = snapshot(rt)
    assert "无需重复标记" in sfj("完成 12")
    assert snapshot(rt) == before


# --- undo ------------------------------------------------------------------------------------


def test_undo_walks_back_our_changes(rt, sfj):
    sfj("提交 12 https://a.cn/1 方案")
    sfj("完成 12")
    assert "已撤销第12项的「标记完成」" in sfj("撤销 12")
    assert state(rt, 12, "司法局").status is Status.IN_PROGRESS
    assert "已撤销第12项的「提交链接」" in sfj("撤销 12")
    a = state(rt, 12, "司法局")
    assert a.status is Status.TODO and a.materials == ()
    assert "没有可以撤销的操作" in sfj("撤销 12")


def test_undo_cannot_revert_an_admin_review(rt, sfj, admin):
    sfj("说明 12 x")
    admin("退回 12 司法局 补充材料")
    before = snapshot(rt)
    assert "依法治区办的审核，不能撤销" in sfj("撤销 12")
    assert snapshot(rt) == before


# --- audit ------------------------------------------------------------------------------------


def test_every_state_change_has_exactly_one_audit_entry(rt, sfj, admin):
    script = [
        ("提交 12 https://a.cn/1 https://a.cn/2 方案", 1),
        ("纸质 12 案卷", 1),
        ("说明 12 说明文字", 1),
        ("完成 12", 1),
        ("撤销 12", 1),
        ("删除 12 1", 1),
        ("不涉及 1 无此项工作", 1),
        ("我的任务", 0),
        ("查看 12", 0),
        ("进度", 0),
        ("排行", 0),
        ("完成 8", 0),
        ("解绑", 1),
        ("绑定 司法局", 1),
    ]
    for text, changes in script:
        n = rt.store.audit.length()
        sfj(text)
        assert rt.store.audit.length() - n == changes, text
    for text in ("退回 12 司法局 补充", "通过 1 司法局 确认", "星标 3"):
        n = rt.store.audit.length()
        admin(text)
        assert rt.store.audit.length() - n == 1, text
    last = rt.store.audit.entries(count=1)[0]
    assert last.action == "star" and last.actor == "console:boss"
    submit = next(e for e in rt.store.audit.entries(count=50) if e.action == "submit")
    assert submit.before and json.loads(submit.after)["materials"][1]["url"] == "https://a.cn/2"


def test_export_says_where_the_link_will_arrive(rt, sfj):
    from bot.messages import Incoming

    def export_in(is_group: bool) -> str:
        msg = Incoming("console", "u-sfj", "导出", "cid-1" if is_group else "", is_group, True)
        return rt.dispatcher.handle(msg).text

    assert "稍后下载链接将发到本群" in export_in(True)
    assert "稍后下载链接将发到本部门工作群" in export_in(False)
