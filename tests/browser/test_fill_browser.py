"""The fill-in page in Chromium, on a phone (390×844) and a desktop (1366×900), opened from the
link in a real 填报 reply: filter, add a link and a paper item, write a multi-line explanation
(stored byte for byte), mark done, undo; a tampered link gets the refusal page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from bot.messages import Incoming
from bot.progress import Role, Status

DEPT = "司法局"
SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1366, "height": 900}}
EXPLANATION = "我局2019年以来：\n一、开展“双随机、一公开”抽查36次；\n\n二、（详见附件）——全部公开！"


def no_sideways_scroll(page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"


def send(page, form: str, fields: dict[str, str], said: str) -> None:
    """Fill in one of the item's forms as a person types, send it, and see its answer."""
    for selector, value in fields.items():
        page.fill(selector, value)
    page.click(f"#form-{form} button[type=submit]")
    expect(page.locator("#flash")).to_contain_text(said)


@pytest.mark.parametrize("size", SIZES)
def test_fill_page_from_a_chat_reply(page, live_url, web_rt, shot, size):
    page.set_viewport_size(SIZES[size])
    reply = web_rt.dispatcher.handle(Incoming("sandbox", "zhangsan", "填报", mentioned=True)).text
    url = re.search(r"https?://\S+/m/\S+", reply).group(0)
    assert url.startswith(web_rt.settings.public_url)
    # the reply's link, served by this test's server
    url = live_url + url.removeprefix(web_rt.settings.public_url)
    lead = min(i for (i, d), r in web_rt.assignments.items() if d == DEPT and r is Role.LEAD)

    page.goto(url)
    expect(page.locator("#heading")).to_contain_text(f"{DEPT} · 共")
    expect(page.locator("#filters [aria-current=page]")).to_contain_text("未完成")
    no_sideways_scroll(page)
    shot(page, f"fill-{size}-open")

    page.click("#filters [data-filter=all]")
    expect(page.locator("#filters [aria-current=page]")).to_contain_text("全部")
    shot(page, f"fill-{size}-all")

    page.click(f'#items li[data-id="{lead}"] a')
    expect(page.locator("#heading")).to_contain_text(f"第{lead}项")
    expect(page.locator("#evidence")).not_to_be_empty()
    no_sideways_scroll(page)
    shot(page, f"fill-{size}-item")

    link = {"#url": "https://www.example.gov.cn/sfj/plan.html", "#link-name": "2020年普法工作方案"}
    send(page, "link", link, "已添加")
    expect(page.locator("#materials")).to_contain_text("2020年普法工作方案")
    shot(page, f"fill-{size}-link")
    paper = {"#paper-title": "2019年执法案卷评查记录", "#paper-place": "档案室3号柜"}
    send(page, "paper", paper, "已登记")
    expect(page.locator("#materials")).to_contain_text("存放：档案室3号柜")
    send(page, "explain", {"#text": EXPLANATION}, "已保存")
    a = web_rt.store.assignments.get(lead, DEPT)[0]
    assert a.explanation.encode() == EXPLANATION.encode()
    assert page.input_value("#text") == EXPLANATION
    shot(page, f"fill-{size}-explained")

    page.click("#form-done button[type=submit]")
    expect(page.locator("#status")).to_have_text("已完成")
    assert web_rt.store.assignments.get(lead, DEPT)[0].status is Status.DONE
    shot(page, f"fill-{size}-done")

    page.click("#undo")
    expect(page.locator("#flash")).to_contain_text("已撤销「标记完成」")
    expect(page.locator("#status")).to_have_text("进行中")
    assert web_rt.store.assignments.get(lead, DEPT)[0].status is Status.IN_PROGRESS
    shot(page, f"fill-{size}-undone")

    # the list shows the item's materials; chat sees the same state
    page.click("#back")
    expect(page.locator(f'#items li[data-id="{lead}"]')).to_contain_text("材料 2 份")

    head, _, sig = url.rpartition(".")
    page.goto(f"{head}.{'A' if sig[0] != 'A' else 'B'}{sig[1:]}")
    expect(page.locator("#refused h1")).to_have_text("链接无效")
    expect(page.locator("body")).not_to_contain_text(DEPT)
    shot(page, f"fill-{size}-tampered")
