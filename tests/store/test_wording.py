"""Replies read as a colleague would write them (issue 10 item 11): no internal words or ids,
the ranking's rule stated where it is shown, one 完成率."""

from __future__ import annotations

from bot import texts

URL = "https://www.jinfeng.gov.cn/a.html"
INTERNAL = ("加权", "dns", "refused_private", "console:", "http_")


def clean(text: str) -> str:
    for word in INTERNAL:
        assert word not in text, (word, text)
    return text


def test_progress_names_no_weights_and_states_the_rule(sfj):
    sfj("说明 4 已公布")
    sfj("完成 4")
    out = clean(sfj("进度"))
    assert "司法局 进度：2%" in out and "全区排名：第 1 /" in out and texts.RANKING_RULE in out


def test_a_shared_rank_says_so(sfj, chat):
    out = clean(sfj("进度"))
    assert "全区排名：第 1 /" in out and "个部门并列）" in out
    rank = clean(chat("u-sp")("排行"))
    assert rank.splitlines()[-1] == texts.RANKING_RULE
    assert {line.split(".")[0] for line in rank.splitlines()[1:-1] if line[0].isdigit()} == {"1"}


def test_a_link_that_does_not_open_says_why_in_words(rt, sfj):
    sfj(f"提交 12 {URL} 方案")
    rt.store.links.record(URL, {"ok": False, "status": None, "error": "dns"})
    assert "⚠️ 链接无法打开（域名无法解析）" in clean(sfj("查看 12"))
    rt.store.links.record(URL, {"ok": False, "status": None, "error": "refused_private"})
    assert "网址指向内网或保留地址" in clean(sfj("查看 12"))
    rt.store.links.record(URL, {"ok": False, "status": 503, "error": ""})
    assert "网站返回错误（HTTP 503）" in clean(sfj("查看 12"))


def test_the_office_is_not_told_to_send_my_tasks(admin):
    out = admin("通过 8 司法局")
    assert "司法局 不负责第 8 项" in out and "查看 8" in out and "我的任务" not in out


def test_repeated_marks_read_naturally(sfj, admin):
    sfj("说明 12 见附件")
    sfj("完成 12")
    assert "第12项已经标记完成，无需重复标记" in sfj("完成 12")
    admin("通过 12 司法局")
    assert "第12项已经审核通过，无需再标记完成" in sfj("完成 12")
    assert "司法局第12项已经审核通过，无需重复操作" in admin("通过 12 司法局")


def test_the_overview_counts_a_tie_at_the_back_and_uses_the_weighted_rate(sfj, admin):
    assert "各部门完成率相同，均为 0%" in admin("总览")
    sfj("说明 12 见附件")
    sfj("完成 12")
    out = clean(admin("总览"))
    assert "已完成 1 项，完成率 0%" in out  # weighted: 2 of the district's weight
    assert "进度靠前：司法局 " in out
    assert "个部门完成率均为 0%，发送「排行」可看名单" in out and texts.RANKING_RULE in out
