"""The door a group sees (a page link in a group message) in Chromium, on a phone and a desktop,
opened from the button of a real 我的任务 reply in a group: the department's name and how to
get one's own link, no item and no form."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from bot.messages import Incoming
from bot.render import split_actions

DEPT = "司法局"
SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1366, "height": 900}}


@pytest.mark.parametrize("size", SIZES)
def test_door_from_a_group_reply(page, live_url, web_rt, shot, size):
    page.set_viewport_size(SIZES[size])
    msg = Incoming("sandbox", "zhangsan", "我的任务", chat_id="g1", is_group=True, mentioned=True)
    _, buttons = split_actions(web_rt.dispatcher.handle(msg).text)
    (label, url), *items = buttons
    assert label == "打开填报页" and "/m/d/" in url
    page.goto(live_url + url.removeprefix(web_rt.settings.public_url))
    expect(page.locator("#door h1")).to_have_text(f"{DEPT}填报页")
    expect(page.locator("#how")).to_contain_text("私聊机器人")
    assert page.locator("form").count() == 0 and page.locator("[data-id]").count() == 0
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"
    shot(page, f"door-{size}")
    page.goto(live_url + re.sub(r"^https?://[^/]+", "", url) + "?n=12")
    expect(page.locator("#item")).to_contain_text("查看 12")
    shot(page, f"door-{size}-item")
