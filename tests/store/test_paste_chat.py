"""Pasted links and several commands in one message, through the chat on a real Redis: what is
stored is what the sender meant (issue 10 item 1), and free text is stored as typed (item 2)."""

from __future__ import annotations

import pytest

from bot.progress import Status
from tests.store.test_commands import snapshot, state

A = "https://www.nxjf.gov.cn/a.html"
B = "https://www.nxjf.gov.cn/b.html"


def materials(rt, ind: int) -> list[tuple[str, str]]:
    return [(m.title, m.url) for m in state(rt, ind, "司法局").materials]


def test_a_full_width_comma_separates_two_links(rt, sfj):
    assert "2 个链接" in sfj(f"提交 15 {A}，{B}")
    assert materials(rt, 15) == [("", A), ("", B)]


def test_a_name_typed_straight_after_the_link_is_the_name(rt, sfj):
    sfj(f"提交 15 {A}清理情况说明")
    assert materials(rt, 15) == [("清理情况说明", A)]


def test_each_line_of_a_paste_is_a_link_and_its_name(rt, sfj):
    sfj(f"提交 12 {A} 双随机抽查方案\n{B} 抽查结果公示")
    assert materials(rt, 12) == [("双随机抽查方案", A), ("抽查结果公示", B)]


def test_labels_are_not_part_of_the_name(rt, sfj):
    sfj(f"提交 4 网址：{A} 名称：证明事项告知承诺制文件")
    assert materials(rt, 4) == [("证明事项告知承诺制文件", A)]


def test_a_command_on_the_next_line_runs_too(rt, sfj):
    out = sfj(f"提交 16 {A} 方案\n完成 16")
    assert "已收到第16项的 1 个链接" in out and "第16项已标记完成" in out
    a = state(rt, 16, "司法局")
    assert [(m.title, m.url) for m in a.materials] == [("方案", A)]
    assert a.status is Status.DONE


def test_each_command_of_a_message_answers_for_itself(rt, sfj):
    out = sfj("说明 12 已开展抽查\n完成 8\n完成 12")
    assert "已保存第12项的报送说明" in out and "不负责第 8 项" in out and "第12项已标记完成" in out
    assert state(rt, 12, "司法局").status is Status.DONE


@pytest.mark.parametrize(
    "text",
    [
        f"提交 12 {A} 方案一\n补充说明",
        f"提交 12 {A} www.b.gov.cn/y",
        f"提交 12 关于X的通知 {A} 已公开",
        f"提交 12 {A} 方案\uffff",
    ],
)
def test_what_cannot_be_understood_is_refused_with_the_usage(rt, sfj, text):
    before = snapshot(rt)
    out = sfj(text)
    assert "本次没有执行" in out or "用法：提交" in out, out
    assert snapshot(rt) == before


OUTLINE = (
    "一、总体情况\n（一）开展“双随机”抽查36次；\n（二）公示结果：全部公开。\n\n二、下一步：继续推进"
)


@pytest.mark.parametrize(
    "command,read",
    [
        (f"说明 12 {OUTLINE}", lambda a: a.explanation),
        ("纸质 12 2019年执法案卷（第一册）；评查记录", lambda a: a.materials[0].title),
        ("不涉及 1 我局无行政审批事项，（经核实）无相关工作。", lambda a: a.reason),
    ],
)
def test_free_text_is_stored_byte_for_byte(rt, sfj, command, read):
    typed = command.split(" ", 2)[2]
    sfj(command)
    ind = int(command.split(" ")[1])
    assert read(state(rt, ind, "司法局")) == typed


def test_a_return_reason_is_stored_as_typed(rt, sfj, chat):
    sfj("说明 12 见附件")
    chat("boss", "王主任", admin=True)("退回 12 司法局 缺少：2019年台账；\n请补充（原件扫描）。")
    a = state(rt, 12, "司法局")
    assert a.reason == "缺少：2019年台账；\n请补充（原件扫描）。"


@pytest.mark.parametrize(
    "text,code",
    [
        ("说明 12 已公开\uffff。", "U+FFFF"),
        ("纸质 12 案卷\ufffe", "U+FFFE"),
        ("不涉及 1 无此\x0b工作", "U+000B"),
        ("说明 12 坏\ud800字", "U+D800"),
        # ... also where the text would only be echoed back, never stored
        ("完成 12 \ud800", "U+D800"),
        ("帮助 \uffff", "U+FFFF"),
    ],
)
def test_a_character_no_file_can_hold_is_refused_at_input(rt, sfj, text, code):
    before = snapshot(rt)
    out = sfj(text)
    assert f"无法保存的特殊字符（{code}）" in out and "本次没有执行" in out
    assert snapshot(rt) == before
