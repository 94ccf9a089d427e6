"""绑定 in headless Chromium on a phone (390×844) and a desktop (1366×900), with
DUBAN_BIND_APPROVAL on: approve a request, then unbind someone (after the confirmation)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from bot.messages import Incoming
from tests.browser.test_admin_browser import login
from tests.http.conftest import runtime_for
from tests.http.conftest import testing_app as app_for

SIZES = [("phone", {"width": 390, "height": 844}), ("desktop", {"width": 1366, "height": 900})]


@pytest.fixture
def web_rt(web_settings, redis_client, clock):  # the shared app's runtime, with approval on
    yield from runtime_for(web_settings.with_(bind_approval=True), clock)


@pytest.fixture
def web_app(web_rt):
    return app_for(web_rt)


def say(rt, user: str, text: str, name: str) -> str:
    msg = Incoming(
        "sandbox", user, text, user_name=name, mentioned=True, message_id=f"{user}-{text}"
    )
    return rt.dispatcher.handle(msg).text


@pytest.mark.parametrize(("label", "size"), SIZES)
def test_approve_a_request_and_unbind(page, live_url, web_rt, shot, label, size):
    assert "已提交绑定到**司法局**的申请" in say(web_rt, "u-li", "绑定 司法局", "李四")
    admin = Incoming("sandbox", "u-wang", "绑定 教育局", user_name="王五", mentioned=True,
                     message_id="w", is_admin=True)  # fmt: skip
    web_rt.dispatcher.handle(admin)
    page.set_viewport_size(size)
    login(page, live_url)
    page.goto(f"{live_url}/admin/bindings")
    request = page.locator('article.bind-request[data-person="sandbox:u-li"]')
    expect(request).to_contain_text("李四 申请绑定到 司法局")
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    shot(page, f"bindings-{label}")
    request.locator("button.approve").click()
    expect(page.locator(".flash li.ok")).to_have_text(
        "已同意「李四」绑定到司法局，并已在该部门群里通知。"
    )
    row = page.locator('#bindings tr[data-person="sandbox:u-li"]')
    expect(row).to_contain_text("管理后台")
    unbind = page.locator('#bindings tr[data-person="sandbox:u-wang"] button.unbind')
    box = unbind.bounding_box()  # within the page's width: no sideways scrolling to reach it
    assert box and box["x"] + box["width"] <= size["width"], box
    page.once("dialog", lambda d: d.accept())
    unbind.click()
    expect(page.locator(".flash li.ok")).to_contain_text("已解除「王五」与教育局的绑定")
    expect(page.locator('#bindings tr[data-person="sandbox:u-wang"]')).to_have_count(0)
    assert web_rt.store.bindings.get("sandbox", "u-wang") is None
    shot(page, f"bindings-{label}-after")
