"""Rendering the neutral Markdown subset into each platform dialect (the `markup` of each platform
package), and byte-limited splitting."""

from __future__ import annotations

import random

import pytest

from bot.platforms import dingtalk, wecom
from bot.platforms.dingtalk import DINGTALK_BODY_LIMIT
from bot.platforms.wecom import WECOM_MARKDOWN_LIMIT, WECOM_TEXT_LIMIT
from bot.render import (
    has_markup,
    inert,
    link,
    split_message,
    strip_part_prefix,
    title_of,
    to_plain,
    truncate_message,
)

SAMPLE = "\n".join(
    [
        "**我的任务** (司法局)",
        "- 第 12 项 ★ 未开始",
        "- 第 30 项 已退回",
        "> 退回原因: 缺少链接",
        "详见 [说明文档](https://example.cn/doc?id=1)",
    ]
)


def utf8(s: str) -> int:
    return len(s.encode("utf-8"))


def reassemble(parts: list[str]) -> str:
    return "".join(strip_part_prefix(p) for p in parts)


# --- dialects ------------------------------------------------------------------------------------------


DIALECTS = {"dingtalk": dingtalk.markup, "wecom": wecom.markup, "wecom_app": wecom.markup}


def render(text: str, platform: str, kind: str, mentions=()) -> str:
    """The dialect of the platform's own package (the WeCom app speaks WeCom's)."""
    return DIALECTS[platform](text, kind, mentions)


def test_limits():
    assert (WECOM_TEXT_LIMIT, WECOM_MARKDOWN_LIMIT, DINGTALK_BODY_LIMIT) == (2048, 4096, 20000)
    assert wecom.LIMITS == {"text": 2048, "markdown": 4096, "markdown_v2": 4096}
    assert wecom.WECOM_STREAM_LIMIT == 20480 and dingtalk.DINGTALK_MSGPARAM_LIMIT == 15000
    assert dingtalk.KINDS == ("text", "markdown")


def test_to_plain_strips_markup_and_keeps_urls():
    assert to_plain(SAMPLE) == "\n".join(
        [
            "我的任务 (司法局)",
            "- 第 12 项 ★ 未开始",
            "- 第 30 项 已退回",
            "退回原因: 缺少链接",
            "详见 说明文档 https://example.cn/doc?id=1",
        ]
    )


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("[https://a.cn](https://a.cn)", "https://a.cn"),
        ("[](https://a.cn)", "https://a.cn"),
        ("a **b** c **d**", "a b c d"),
        (">90% 完成", ">90% 完成"),  # not a quote
        (">", ""),
        ("2 ** 3", "2 ** 3"),
        ("见 https://a.cn/x_(y)", "见 https://a.cn/x_(y)"),
    ],
)
def test_to_plain_edge_cases(text, plain):
    assert to_plain(text) == plain


def test_has_markup():
    assert has_markup(SAMPLE)
    assert has_markup("- 一项")
    assert has_markup("> 引用")
    assert not has_markup("已绑定 司法局\n第 2 行")
    assert not has_markup("链接 https://a.cn 和 3-2=1")


def test_dingtalk_text():
    assert render(SAMPLE, "dingtalk", "text") == to_plain(SAMPLE)
    assert render("请提交", "dingtalk", "text", ["u1", "u2"]) == "请提交\n@u1 @u2"
    assert render("请提交", "dingtalk", "text", ["@all"]) == "请提交"


def test_dingtalk_markdown_breaks_every_line_with_a_blank_line():
    out = render(SAMPLE, "dingtalk", "markdown", ["u1"])
    assert out == "\n\n".join(SAMPLE.split("\n")) + "\n\n@u1"
    # blank and trailing-space lines do not pile up
    assert render("a  \n\n\nb\n", "dingtalk", "markdown") == "a\n\nb"


def test_wecom_markdown_keeps_the_subset_and_mentions_inline():
    # no lists in WeCom markdown (消息推送配置说明, developer.work.weixin.qq.com/document/path/91770): items
    # become "· " lines; the rest of the subset stays
    wecom = SAMPLE.replace("- 第", "· 第")
    assert render(SAMPLE, "wecom", "markdown") == wecom
    assert render(SAMPLE, "wecom", "markdown", ["u1", "u2"]) == wecom + "\n<@u1><@u2>"
    assert render("x", "wecom", "markdown", ["@all"]) == "x"
    assert render("a\n  - b\nx - y", "wecom", "markdown") == "a\n  · b\nx - y"


def test_wecom_text_and_markdown_v2():
    assert render(SAMPLE, "wecom", "text", ["u1"]) == to_plain(SAMPLE)  # mentions: mentioned_list
    assert render(SAMPLE + "\n", "wecom", "markdown_v2", ["u1"]) == SAMPLE  # v2 cannot mention
    assert render(SAMPLE, "wecom_app", "text") == to_plain(SAMPLE)


def test_unknown_kind():
    with pytest.raises(ValueError):
        render("x", "dingtalk", "markdown_v2")
    with pytest.raises(ValueError):
        render("x", "wecom", "news")


def test_title_of():
    assert title_of(SAMPLE) == "我的任务 (司法局)"
    assert title_of("\n\n- 第一项") == "第一项"
    assert title_of("(1/3)\n**排行**\n...") == "排行"
    assert title_of("") == "消息"
    long = title_of("长" * 50)
    assert len(long) == 30 and long.endswith("…")


# --- splitting -------------------------------------------------------------------------------------------


def test_short_text_is_not_split():
    assert split_message("短消息", 100) == ["短消息"]
    assert split_message("", 10) == [""]
    exact = "a" * 50
    assert split_message(exact, 50) == [exact]


def test_split_at_line_boundaries_with_numbered_parts():
    lines = [f"第{i:02d}行 进度" for i in range(1, 21)]  # 18 bytes + newline each
    text = "\n".join(lines)
    parts = split_message(text, 100)
    n = len(parts)
    assert n > 1
    for i, part in enumerate(parts, 1):
        assert part.startswith(f"({i}/{n})\n")
        assert utf8(part) <= 100
        body = strip_part_prefix(part)
        # every part holds whole lines only
        assert all(line in lines for line in body.split("\n") if line)
    assert reassemble(parts) == text


def test_chinese_at_the_boundary_is_never_cut():
    text = "汉" * 1000  # one 3000-byte line: must be cut at characters
    parts = split_message(text, 100)
    for part in parts:
        encoded = part.encode("utf-8")
        assert len(encoded) <= 100
        encoded.decode("utf-8")  # whole characters only
    assert reassemble(parts) == text


@pytest.mark.parametrize("limit", range(20, 40))
def test_multibyte_boundaries_for_every_offset(limit):
    text = "a汉🙂b\n" * 7 + "é" * 30
    parts = split_message(text, limit)
    assert all(utf8(p) <= limit for p in parts)
    assert reassemble(parts) == text


def test_overlong_line_between_short_lines():
    text = "开头\n" + "长" * 200 + "\n结尾"
    parts = split_message(text, 120)
    assert all(utf8(p) <= 120 for p in parts)
    assert reassemble(parts) == text
    assert strip_part_prefix(parts[0]).startswith("开头\n")
    assert strip_part_prefix(parts[-1]).endswith("结尾")


def test_prefix_grows_with_the_part_count():
    text = "\n".join("x" * 20 for _ in range(200))
    parts = split_message(text, 40)
    n = len(parts)
    assert n >= 100
    assert parts[0].startswith(f"(1/{n})\n") and parts[-1].startswith(f"({n}/{n})\n")
    assert all(utf8(p) <= 40 for p in parts)
    assert reassemble(parts) == text


def test_limit_too_small_to_split():
    with pytest.raises(ValueError):
        split_message("x" * 100, 8)


@pytest.mark.parametrize("seed", range(40))
def test_random_texts_split_and_reassemble(seed):
    rnd = random.Random(seed)
    alphabet = ["a", "b", " ", "汉", "字", "🙂", "é", "\n", "\n", "**", "- "]
    text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 600)))
    limit = rnd.randint(16, 300)
    parts = split_message(text, limit)
    assert all(utf8(p) <= limit for p in parts)
    assert reassemble(parts) == text
    if len(parts) > 1:
        assert [p.split("\n", 1)[0] for p in parts] == [
            f"({i}/{len(parts)})" for i in range(1, len(parts) + 1)
        ]


def test_truncate_message():
    assert truncate_message("短", 10) == "短"
    text = "第一行内容\n第二行内容\n第三行内容"
    cut = truncate_message(text, 40)
    assert utf8(cut) <= 40 and cut == "第一行内容\n第二行内容\n…"
    cut = truncate_message("汉" * 100, 31)
    assert utf8(cut) <= 31 and cut.endswith("\n…")


# --- render + split -----------------------------------------------------------------------------------


def test_fit_message_accounts_for_rendering_growth():
    # DingTalk markdown doubles every newline, so a naive split at the limit would overflow.
    text = "\n".join(f"- 第{i}项" for i in range(1, 400))
    parts = dingtalk.fit_markup(text, "markdown", 1000, ["u1"], utf8)
    assert len(parts) > 1
    assert all(utf8(p) <= 1000 for p in parts)
    assert parts[0].endswith("@u1") and not any("@u1" in p for p in parts[1:])
    assert parts[0].startswith(f"(1/{len(parts)})\n\n- 第1项")


def test_fit_message_uses_platform_limits_by_default():
    text = "\n".join(f"**第{i}项** [链接](https://example.cn/{i})" for i in range(1, 300))
    for kind, limit in [("text", 2048), ("markdown", 4096)]:
        parts = wecom.fit_markup(text, kind)
        assert all(utf8(p) <= limit for p in parts)
    assert wecom.fit_markup("短", "text") == ["短"]


def test_fit_message_with_a_custom_measure():
    parts = wecom.fit_markup("汉" * 300, "text", 200, measure=lambda s: utf8(s) + 50)
    assert all(utf8(p) + 50 <= 200 for p in parts)


# --- text someone else wrote ---------------------------------------------------------------------


def test_inert_text_is_readable_and_no_markup_in_any_dialect():
    hostile = "<@wcadmin> <@all> [领取](http://evil.example) ![i](x) @138 <font>a</font>\n# h &lt;"
    out = inert(hostile)
    assert out == (
        "＜＠wcadmin＞ ＜＠all＞ ［领取］(http://evil.example) !［i］(x) ＠138 ＜font＞a＜/font＞ ＃ h ＆lt;"
    )
    line = f"- 第1项 {out}"
    for platform, kind in (("wecom", "markdown"), ("wecom", "text"), ("dingtalk", "markdown")):
        assert render(line, platform, kind) in (line, line.replace("- ", "· ", 1))
    assert not has_markup(out) and to_plain(out) == out


def test_a_link_to_a_submitted_url_cannot_be_closed_early():
    url = "https://www.example.gov.cn/a](http://evil.example/u) [x](y"
    text = link("方案", url)
    assert (
        text == "[方案](https://www.example.gov.cn/a%5D%28http://evil.example/u%29%20%5Bx%5D%28y)"
    )
    assert (
        to_plain(text)
        == "方案 https://www.example.gov.cn/a%5D%28http://evil.example/u%29%20%5Bx%5D%28y"
    )
    assert (
        link("", "https://例子.cn/路径?a=1")
        == "[https://例子.cn/路径?a=1](https://例子.cn/路径?a=1)"
    )
