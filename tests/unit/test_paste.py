"""Pasted links and names, as people send them: every case of issue 10 item 1 and more of the same
kind. Each case goes through the real 提交 command's parser (keyword, indicator, links); no I/O."""

from __future__ import annotations

import pytest

from bot.commands import Dispatcher, Rest, UserError, load_handlers

A = "https://www.nxjf.gov.cn/a.html"
B = "https://www.nxjf.gov.cn/b.html"
C = "https://www.nxjf.gov.cn/c.html"


@pytest.fixture(scope="module")
def registry():
    return load_handlers()


def parse(registry, catalog, text: str) -> list[tuple[str, tuple[str, ...]]]:
    cmd, rest = registry.match(Rest.of(text))
    assert cmd.keyword == "提交"
    ind, groups = cmd.parse(rest, catalog)
    assert ind.id == 12
    return [(g.name, g.urls) for g in groups]


@pytest.mark.parametrize(
    "text,expected",
    [
        # issue 10 item 1: a full-width comma between two links separates them
        (f"提交 12 {A}，{B}", [("", (A, B))]),
        # ... and so do an ASCII comma, a 、 and nothing at all
        (f"提交 12 {A},{B}", [("", (A, B))]),
        (f"提交 12 {A}、{B}", [("", (A, B))]),
        (f"提交 12 {A}{B}", [("", (A, B))]),
        # a name written straight after the link, without a space
        (f"提交 12 {A}清理情况说明", [("清理情况说明", (A,))]),
        # one link and its name per line
        (
            f"提交 12 {A} 双随机抽查方案\n{B} 抽查结果公示\n{C} 整改报告",
            [("双随机抽查方案", (A,)), ("抽查结果公示", (B,)), ("整改报告", (C,))],
        ),
        # labels are labels, in either order, with either colon
        (f"提交 12 网址：{A} 名称：证明事项告知承诺制文件", [("证明事项告知承诺制文件", (A,))]),
        (f"提交 12 名称：证明事项告知承诺制文件，网址：{A}", [("证明事项告知承诺制文件", (A,))]),
        (f"提交 12 链接:{A} 标题:双随机方案", [("双随机方案", (A,))]),
        (f"提交 12 双随机方案链接：{A}", [("双随机方案", (A,))]),
        (f"提交 12 网址 {A}", [("", (A,))]),
        # brackets and quotes around a link, closing punctuation after it
        (f"提交 12 【{A}】双随机方案", [("双随机方案", (A,))]),
        (f"提交 12 双随机方案（{A}）", [("双随机方案", (A,))]),
        (f"提交 12 双随机方案 ({A})", [("双随机方案", (A,))]),
        (f"提交 12 双随机方案：{A}。", [("双随机方案", (A,))]),
        (f"提交 12 “{A}”", [("", (A,))]),
        (f"提交 12 <{A}>", [("", (A,))]),
        (f"提交 12 [双随机方案]({A})", [("双随机方案", (A,))]),
        ("提交 12 https://a.cn/wiki/A_(B) 条目", [("条目", ("https://a.cn/wiki/A_(B)",))]),
        # percent-encoded characters stay in the link; Chinese characters end it
        (
            "提交 12 https://a.cn/%E4%B8%AD%E6%96%87.html 中文文件名",
            [("中文文件名", ("https://a.cn/%E4%B8%AD%E6%96%87.html",))],
        ),
        ("提交 12 https://a.cn/x?id=1&t=2#p，方案", [("方案", ("https://a.cn/x?id=1&t=2#p",))]),
        # a link typed with a full-width input method is folded; the name is not
        (
            "提交 12 ｈｔｔｐｓ：／／ｗｗｗ．ａ．ｃｎ／ｘ 方案（试行）",
            [("方案（试行）", ("https://www.a.cn/x",))],
        ),
        # several links, one name: shared (numbered later by 提交)
        (f"提交 12 {A} {B} 双随机方案", [("双随机方案", (A, B))]),
        (f"提交 12 双随机方案 {A} {B}", [("双随机方案", (A, B))]),
        # two links with one name each, on one line: after the links or before them
        (f"提交 12 {A} 方案一 {B} 方案二", [("方案一", (A,)), ("方案二", (B,))]),
        (f"提交 12 方案一 {A} 方案二 {B}", [("方案一", (A,)), ("方案二", (B,))]),
        # Windows line endings, tabs, full-width spaces
        (f"提交 12 {A}\t方案一\r\n{B}　方案二\r\n", [("方案一", (A,)), ("方案二", (B,))]),
        # a numbered list
        (f"提交 12\n1. 方案一 {A}\n2、方案二 {B}\n（3）方案三 {C}", [("方案一", (A,)), ("方案二", (B,)), ("方案三", (C,))]),
        # a name on a line of its own, before or after its link
        (f"提交 12\n方案一\n{A}\n方案二\n{B}", [("方案一", (A,)), ("方案二", (B,))]),
        (f"提交 12\n{A}\n方案一\n{B}\n方案二", [("方案一", (A,)), ("方案二", (B,))]),
        (f"提交 12 {A}\n名称：方案一", [("方案一", (A,))]),
        # a line with a link only, next to lines with both
        (f"提交 12 {A}\n{B} 方案二", [("", (A,)), ("方案二", (B,))]),
        # full-width punctuation inside a name is kept as written
        (
            f"提交 12 {A} 关于印发《双随机抽查工作细则（试行）》的通知；",
            [("关于印发《双随机抽查工作细则（试行）》的通知", (A,))],
        ),
        # a link repeated in one paste is taken once
        (f"提交 12 {A} 方案\n{A} 方案", [("方案", (A,))]),
    ],
)  # fmt: skip
def test_paste(registry, catalog, text, expected):
    assert parse(registry, catalog, text) == expected


@pytest.mark.parametrize(
    "text,needle",
    [
        ("提交 12 www.jinfeng.gov.cn/a.html 方案", "www.jinfeng.gov.cn/a.html"),
        (f"提交 12 {A} www.b.gov.cn/y", "www.b.gov.cn/y"),
        ("提交 12 jinfeng.gov.cn/a.html", "jinfeng.gov.cn/a.html"),
        ("提交 12 ftp://files.example.cn/a", "ftp://"),
        ("提交 12 javascript://alert(1)", "javascript"),
        ("提交 12 https:// 方案", "https://"),
        ("提交 12 只有名称没有链接", "请附上材料的网址"),
        ("提交 12", "请附上材料的网址"),
        # a name that belongs to no link
        (f"提交 12 {A} 方案一\n补充说明", "「补充说明」是哪个链接的名称"),
        (f"提交 12 关于X的通知 {A} 已公开", "「已公开」是哪个链接的名称"),
        (f"提交 12\n方案一\n方案二\n{A}", "「方案一」是哪个链接的名称"),
        (f"提交 12 {A} " + "名" * 201, "200 字以内"),
        (f"提交 12 {A} 方案\uffff", "U+FFFF"),
        (f"提交 12 {A} 方案\x07", "U+0007"),
    ],
)
def test_refused(registry, catalog, text, needle):
    with pytest.raises(UserError) as e:
        parse(registry, catalog, text)
    assert needle in str(e.value)


@pytest.fixture(scope="module")
def dispatcher(registry, catalog, org):
    return Dispatcher(registry, catalog, org, store=None)


@pytest.mark.parametrize(
    "text,pieces",
    [
        # issue 10 item 1: the next line's command is a command of its own
        (f"提交 16 {A}\n完成 16", [f"提交 16 {A}", "完成 16"]),
        (f"@督办 提交 16 {A} 方案\r\n完成 16\r\n", [f"提交 16 {A} 方案", "完成 16"]),
        (f"提交 12 {A}\n提交 13 {B}", [f"提交 12 {A}", f"提交 13 {B}"]),
        ("完成 12\n完成 13", ["完成 12", "完成 13"]),
        # a command word with wrong arguments after a command that takes no text: its own error
        ("完成 12\n完成 120", ["完成 12", "完成 120"]),
        # lines that do not start a command go on with the one before
        (f"提交 12 {A} 方案一\n{B} 方案二", [f"提交 12 {A} 方案一\n{B} 方案二"]),
        ("说明 12 一、总体情况\n（一）开展抽查；", ["说明 12 一、总体情况\n（一）开展抽查；"]),
        ("说明 12\n一、总体情况", ["说明 12\n一、总体情况"]),
        ("说明 12 总体情况\n说明：本项由法制科负责", ["说明 12 总体情况\n说明：本项由法制科负责"]),
        ("退回 12 司法局 缺台账\n完成情况不清", ["退回 12 司法局 缺台账\n完成情况不清"]),
        (
            "说明 12 第一段\n\n第二段\n说明 13 另一项",
            ["说明 12 第一段\n\n第二段", "说明 13 另一项"],
        ),
        # a message that does not open with a command is one piece (chat)
        ("好的\n完成 16", ["好的\n完成 16"]),
        ("我的任务", ["我的任务"]),
    ],
)
def test_split(dispatcher, text, pieces):
    assert dispatcher.split(text) == pieces


@pytest.mark.parametrize(
    "text,kept",
    [
        ("说明 12 一、总体情况\n（一）开展抽查；\n（二）公示结果。", "一、总体情况\n（一）开展抽查；\n（二）公示结果。"),
        ("说明 12，我局：“双随机”抽查 36 次（含联合抽查）。", "我局：“双随机”抽查 36 次（含联合抽查）。"),
        ("说明 12\r\n一、总体情况\r\n二、问题  ", "一、总体情况\r\n二、问题"),
        ("说明 １２　全角：ＡＢＣ　１２３", "全角：ＡＢＣ　１２３"),
    ],
)  # fmt: skip
def test_free_text_is_taken_as_typed(registry, catalog, text, kept):
    cmd, rest = registry.match(Rest.of(text))
    _, value = cmd.parse(rest, catalog)
    assert value == kept
