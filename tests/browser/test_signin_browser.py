"""/m/signin in Chromium on a phone (390×844): one button per configured platform, and a whole
sign-in driven by clicks, the stub platform server playing DingTalk's sign-in page, ending on
the department's fill-in page; an unbound person ends on the page that says how to bind."""

from __future__ import annotations

import socket
import threading

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from bot.messages import Incoming
from tests.e2e.background import use_env
from tests.http import conftest as web
from tests.http.test_signin import signin_env
from tests.stubs.platform_server import PlatformStub

PHONE = {"width": 390, "height": 844}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def stub():
    with PlatformStub() as server:
        yield server


@pytest.fixture
def live(redis_url, redis_client, stub, monkeypatch, clock):
    """The app with sign-in on, served where its DUBAN_PUBLIC_URL says (the platform sends the
    browser back there)."""
    port = _free_port()
    env = signin_env(redis_url, stub.url, "dingtalk,wecom,feishu")
    env["DUBAN_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    settings = use_env(monkeypatch, env)
    for rt in web.runtime_for(settings, clock):
        server = make_server("127.0.0.1", port, web.testing_app(rt), threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield rt, f"http://127.0.0.1:{port}"
        server.shutdown()
        thread.join(5)


def test_signin_page_on_a_phone_and_a_dingtalk_sign_in(page, live, stub, shot):
    rt, url = live
    page.set_viewport_size(PHONE)
    page.goto(f"{url}/m/signin")
    buttons = page.locator("ul.signin-buttons a")
    expect(buttons).to_have_count(3)
    expect(buttons.nth(0)).to_have_text("用钉钉登录")
    for i in range(3):  # thumb-sized, side by side with nothing: a full-width column
        box = buttons.nth(i).bounding_box()
        assert box["height"] >= 44 and box["width"] >= 300
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"
    shot(page, "signin-phone")

    reply = rt.dispatcher.handle(Incoming("dingtalk", "ding-1", "绑定 司法局", mentioned=True))
    assert "司法局" in reply.text
    stub.oauth_sign_in("dingtalk", "ding-1", "张三")
    page.click("#signin-dingtalk")
    page.wait_for_url(f"{url}/m/*")
    expect(page.locator("body")).to_contain_text("司法局 · 共")
    assert "/signin" not in page.url
    shot(page, "signin-phone-done")

    stub.oauth_sign_in("dingtalk", "ding-2")
    page.goto(f"{url}/m/signin")
    page.click("#signin-dingtalk")
    expect(page.locator("#unbound h1")).to_have_text("尚未绑定部门")
    expect(page.locator("#how")).to_contain_text("在部门工作群发送「绑定 部门名称」")
    shot(page, "signin-phone-unbound")
