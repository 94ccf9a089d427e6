"""The parser: normalising, indicator numbers, links, tokens; no I/O."""

import pytest

from bot.commands import (
    IndicatorParam,
    LinksParam,
    Rest,
    TextParam,
    UserError,
    chinese_number,
    normalize,
)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("  我的任务  ", "我的任务"),
        ("@督办 我的任务", "我的任务"),
        ("@督办助手\u3000提交　１２　ｈｔｔｐｓ://a.cn", "提交 12 https://a.cn"),
        ("完成\t12", "完成 12"),
    ],
)
def test_normalize(text, expected):
    assert normalize(text) == expected


@pytest.mark.parametrize(
    "s,n",
    [
        ("十二", 12),
        ("十", 10),
        ("九十九", 99),
        ("二十", 20),
        ("一百零五", 105),
        ("五", 5),
        ("二〇", 20),
    ],
)
def test_chinese_number(s, n):
    assert chinese_number(s) == n


@pytest.mark.parametrize(
    "rest",
    [
        "12",
        "第12项",
        "#12",
        "12号",
        "第 12 项",
        "十二",
        "第十二项",
        "12 后面",
        "十二 后面",
        "十二，后面",
    ],
)
def test_indicator_forms(rest, catalog):
    ind, _ = IndicatorParam().parse(Rest.of(rest), catalog)
    assert ind.id == 12


def test_indicator_fullwidth(catalog):
    ind, rest = IndicatorParam().parse(Rest.of("１２，材料"), catalog)
    assert ind.id == 12 and rest.text == "材料"


@pytest.mark.parametrize("rest", ["120", "0", "一百二十"])
def test_indicator_out_of_range(rest, catalog):
    with pytest.raises(UserError, match="指标编号为 1–99"):
        IndicatorParam().parse(Rest.of(rest), catalog)


@pytest.mark.parametrize("rest", ["abc", "一下情况", "一些材料", "了吗"])
def test_indicator_missing(rest, catalog):
    # A Chinese numeral that runs on into a word is not a number: 「说明一下情况」 is chat.
    with pytest.raises(UserError, match="请写上指标编号"):
        IndicatorParam().parse(Rest.of(rest), catalog)


def test_links_repeat_in_one_message_kept_once(catalog):
    groups, _ = LinksParam().parse(Rest.of("https://a.cn/1 https://a.cn/1"), catalog)
    assert [g.urls for g in groups] == [("https://a.cn/1",)]


@pytest.mark.parametrize(
    "rest,needle",
    [
        ("www.jinfeng.gov.cn/a.html 方案", "www.jinfeng.gov.cn"),
        ("ftp://files.example.cn/a", "ftp://"),
        ("javascript://alert(1)", "javascript"),
        ("只有名称没有链接", "请附上材料的网址"),
    ],
)
def test_links_refusals(rest, needle, catalog):
    with pytest.raises(UserError) as e:
        LinksParam().parse(Rest.of(rest), catalog)
    assert needle in str(e.value)


def test_text_required_and_limited(catalog):
    with pytest.raises(UserError, match="请写"):
        TextParam("x", missing="请写原因").parse(Rest.of("  "), catalog)
    with pytest.raises(UserError, match="内容过长"):
        TextParam("x", max_len=5).parse(Rest.of("一二三四五六"), catalog)


def test_short_texts_are_folded_once_and_long_ones_are_not_kept():
    from bot import commands

    short = "提交 12 https://www.jinfeng.gov.cn/a.html 材料"
    assert Rest.of(short) is Rest.of(short)  # the same immutable Rest, folded once
    before = commands._rest_of.cache_info().currsize
    long = "说明 12 " + "依法行政，" * 100
    once, again = Rest.of(long), Rest.of(long)
    assert once is not again and (once.folded, once.at) == (again.folded, again.at)
    assert commands._rest_of.cache_info().currsize == before
